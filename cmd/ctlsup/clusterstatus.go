package main

import (
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/ctlsup/ctlsup/api/client"
)

// nodeStatus is what one server answered for a cluster status.
type nodeStatus struct {
	url   string
	node  string
	infos []any
	err   error
}

// doClusterStatus shows the processes of several servers (more than one
// -s, or [cluster] peers) in one table with a node column: the node name
// ctlsupd reports, else the server's host. A server that cannot be
// reached gets an error line and exit status 1.
func doClusterStatus(m *Main, names []string, asJSON bool) error {
	urls := append([]string{m.ServerURL}, m.Peers...)
	results := make([]nodeStatus, len(urls))
	var wg sync.WaitGroup
	for i, u := range urls {
		wg.Go(func() { results[i] = m.fetchNode(u) })
	}
	wg.Wait()
	if asJSON {
		return clusterJSON(m, results, names)
	}
	width, nodeWidth := 30, 8
	for _, r := range results {
		nodeWidth = max(nodeWidth, len(r.node))
		for _, info := range r.infos {
			width = max(width, len(makeNamespec(fstr(info, "group"), fstr(info, "name"), true)))
		}
	}
	for _, r := range results {
		if r.err != nil {
			m.out(fmt.Sprintf("%-*s%s", nodeWidth+3, r.node, "ERROR ("+withoutPassword(r.err.Error())+")"))
			m.exit = exitGeneric
			continue
		}
		for _, info := range r.infos {
			spec := makeNamespec(fstr(info, "group"), fstr(info, "name"), true)
			if !matchesStatus(info, names) {
				continue
			}
			m.out(fmt.Sprintf("%-*s%-*s%-10s%s", nodeWidth+3, r.node, width+3, spec, fstr(info, "statename"), fstr(info, "description")))
			if slices.Contains(stoppedStates, fstr(info, "statename")) && m.exit == 0 {
				m.exit = exitNotRunning3
			}
		}
	}
	return nil
}

// matchesStatus reports whether status NAME... shows info.
func matchesStatus(info any, names []string) bool {
	if len(names) == 0 || slices.Contains(names, "all") {
		return true
	}
	for _, name := range names {
		group, process, hasProcess := splitNamespec(name)
		if fstr(info, "group") == group && (!hasProcess || fstr(info, "name") == process) {
			return true
		}
	}
	return false
}

// fetchNode asks one server; one that cannot be reached is named by its
// URL, which says which of several sockets on one host is down.
func (m *Main) fetchNode(u string) nodeStatus {
	r := nodeStatus{url: u, node: hostOf(u)}
	c, err := client.New(u, m.Username, m.Password)
	if err != nil {
		r.err, r.node = err, withoutPassword(u)
		return r
	}
	if ci, err := c.Call("ctlsup.getClusterInfo"); err == nil && fstr(ci, "node") != "" {
		r.node = fstr(ci, "node")
	}
	all, err := c.Call("supervisor.getAllProcessInfo")
	if err != nil {
		r.err = err
		if r.node == hostOf(u) {
			r.node = withoutPassword(u)
		}
		return r
	}
	r.infos = list(all)
	return r
}

// userinfo is what precedes a URL's host: user, password and '@'.
var userinfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)[^/\s]*@`) // to the last '@': a password may hold one

// withoutPassword is text (a URL, or an error quoting one, parsable or
// not) with no credentials in it, to be shown.
func withoutPassword(text string) string { return userinfo.ReplaceAllString(text, "$1") }

// hostOf names a server by its URL: its host, or this host for a socket.
func hostOf(u string) string {
	if p, err := url.Parse(u); err == nil && p.Host != "" && p.Scheme != "unix" {
		return p.Host
	}
	h, _ := os.Hostname()
	return h
}

func clusterJSON(m *Main, results []nodeStatus, names []string) error {
	type row struct {
		Node        string `json:"node"`
		Name        string `json:"name"`
		Group       string `json:"group"`
		State       string `json:"state"`
		Pid         int    `json:"pid"`
		Description string `json:"description"`
		Error       string `json:"error,omitempty"`
	}
	out := []row{}
	for _, r := range results {
		if r.err != nil {
			out = append(out, row{Node: r.node, Error: withoutPassword(r.err.Error())})
			m.exit = exitGeneric
			continue
		}
		for _, info := range r.infos {
			if matchesStatus(info, names) {
				out = append(out, row{r.node, fstr(info, "name"), fstr(info, "group"), fstr(info, "statename"), fint(info, "pid"), fstr(info, "description"), ""})
			}
		}
	}
	b, _ := jsonIndent(out)
	m.out(strings.TrimSpace(string(b)))
	return nil
}
