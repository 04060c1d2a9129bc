package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/ctlsup/ctlsup/api/xmlrpc"
)

var stoppedStates = []string{"STOPPED", "EXITED", "FATAL", "UNKNOWN"}

func doStatus(m *Main, arg string) error {
	names := strings.Fields(arg)
	asJSON := slices.Contains(names, "--json")
	names = slices.DeleteFunc(names, func(n string) bool { return n == "--json" })
	if len(m.Peers) > 0 {
		return doClusterStatus(m, names, asJSON)
	}
	ok, err := m.upcheck()
	if err != nil || !ok {
		m.exit = exitPrivileges
		return err
	}
	if !asJSON {
		rows, ok := m.statusRows()
		if !ok {
			all, err := m.call("supervisor.getAllProcessInfo")
			if err != nil {
				return err
			}
			for _, info := range list(all) {
				rows = append(rows, statusRow{fstr(info, "group"), fstr(info, "name"), fstr(info, "statename"), fstr(info, "description")})
			}
		}
		m.showRows(names, rows)
		return nil
	}
	all, err := m.call("supervisor.getAllProcessInfo")
	if err != nil {
		return err
	}
	matching := selectNamed(m, names, list(all), func(info any) (string, string) { return fstr(info, "group"), fstr(info, "name") })
	showJSON(m, matching)
	for _, info := range matching {
		if slices.Contains(stoppedStates, fstr(info, "statename")) {
			m.exit = exitNotRunning3
		}
	}
	return nil
}

// selectNamed keeps the items the namespecs name (all of them for none, or
// "all"), and reports each namespec that names nothing as supervisorctl
// does.
func selectNamed[T any](m *Main, names []string, items []T, groupAndName func(T) (string, string)) []T {
	if len(names) == 0 || slices.Contains(names, "all") {
		return items
	}
	var out []T
	for _, name := range names {
		group, process, hasProcess := splitNamespec(name)
		bad := true
		for _, it := range items {
			if g, n := groupAndName(it); g == group && (!hasProcess || n == process) {
				bad = false
				out = append(out, it)
			}
		}
		if bad {
			if hasProcess {
				m.out(name + ": ERROR (no such process)")
			} else {
				m.out(group + ": ERROR (no such group)")
			}
			m.exit = exitPrivileges
		}
	}
	return out
}

// showJSON prints the processes as a JSON array, for scripts.
func showJSON(m *Main, infos []any) {
	type usage struct {
		CPUSeconds      float64 `json:"cpu_seconds"`
		MemoryBytes     int64   `json:"memory_bytes"`
		MemoryPeakBytes int64   `json:"memory_peak_bytes"`
		RSSBytes        int64   `json:"rss_bytes"`
		Tasks           int     `json:"tasks"`
		OOMKills        int     `json:"oom_kills"`
		Cgroup          string  `json:"cgroup,omitempty"`
		ClusterHolder   *string `json:"cluster_holder,omitempty"` // singleton = "cluster": the node holding its lease
	}
	type proc struct {
		Name        string `json:"name"`
		Group       string `json:"group"`
		State       string `json:"state"`
		Pid         int    `json:"pid"`
		Start       int    `json:"start"`
		Stop        int    `json:"stop"`
		ExitStatus  int    `json:"exitstatus"`
		SpawnErr    string `json:"spawnerr"`
		Description string `json:"description"`
		Stdout      string `json:"stdout_logfile"`
		Stderr      string `json:"stderr_logfile"`
		Usage       *usage `json:"usage,omitempty"` // ctlsupd only: supervisord measures nothing
	}
	// ctlsupd's own method; supervisord answers it with a fault, and then
	// the usage is left out.
	used := map[[2]string]*usage{}
	if all, err := m.call("ctlsup.getAllProcessUsage"); err == nil {
		for _, u := range list(all) {
			used[[2]string{fstr(u, "group"), fstr(u, "name")}] = &usage{ffloat(u, "cpu_seconds"),
				int64(ffloat(u, "memory_bytes")), int64(ffloat(u, "memory_peak_bytes")), int64(ffloat(u, "rss_bytes")),
				fint(u, "tasks"), fint(u, "oom_kills"), fstr(u, "cgroup"), nil}
			if st, _ := u.(xmlrpc.Struct); st != nil {
				if h, ok := st.Get("cluster_holder"); ok {
					s, _ := h.(string)
					used[[2]string{fstr(u, "group"), fstr(u, "name")}].ClusterHolder = &s
				}
			}
		}
	}
	out := []proc{}
	for _, i := range infos {
		out = append(out, proc{fstr(i, "name"), fstr(i, "group"), fstr(i, "statename"), fint(i, "pid"),
			fint(i, "start"), fint(i, "stop"), fint(i, "exitstatus"), fstr(i, "spawnerr"),
			fstr(i, "description"), fstr(i, "stdout_logfile"), fstr(i, "stderr_logfile"),
			used[[2]string{fstr(i, "group"), fstr(i, "name")}]})
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	m.out(string(b))
}

func jsonIndent(v any) ([]byte, error) { return json.MarshalIndent(v, "", "  ") }

// statusRow is what `status` shows of a process: group, name, statename
// and description.
type statusRow [4]string

// statusRows reads the table through ctlsupd's compact method; false
// against a daemon without it (supervisord), which getAllProcessInfo then
// serves.
func (m *Main) statusRows() ([]statusRow, bool) {
	v, err := m.call("ctlsup.getAllProcessStatus")
	text, _ := v.(string)
	var rows []statusRow
	if err != nil || json.Unmarshal([]byte(text), &rows) != nil {
		return nil, false
	}
	return rows, true
}

// showRows prints supervisorctl's status table of the processes names
// names: the name column is at least 30 wide, plus 3; one write.
func (m *Main) showRows(names []string, rows []statusRow) {
	matching := selectNamed(m, names, rows, func(r statusRow) (string, string) { return r[0], r[1] })
	width := 30
	specs := make([]string, len(matching))
	for i, r := range matching {
		specs[i] = makeNamespec(r[0], r[1], true)
		width = max(width, len(specs[i]))
	}
	var b strings.Builder
	for i, r := range matching {
		fmt.Fprintf(&b, "%-*s%-10s%s\n", width+3, specs[i], r[2], r[3])
		if slices.Contains(stoppedStates, r[2]) {
			m.exit = exitNotRunning3
		}
	}
	m.outBlock(b.String())
}
