package config

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/ctlsup/ctlsup/supervisor"
)

var socketKeys = []string{"listen", "mode", "owner", "backlog", "reuseport"}

// defaultBacklog is the kernel's SOMAXCONN, systemd's default Backlog=:
// connections wait there while a program restarts.
const defaultBacklog = 4096

// socketDef is a [socket.NAME] table: a listening socket the daemon owns.
type socketDef struct {
	def
	spec supervisor.SocketSpec
}

// read parses the socket: listen = "host:port", ":port" or "unix:/path"
// (a path alone is a unix socket too).
func (s *socketDef) read() error {
	r := s.r
	r.checkKeys(socketKeys)
	listen := r.str("listen", "")
	sp := supervisor.SocketSpec{Name: s.name, Backlog: r.integer("backlog", defaultBacklog, 1), ReusePort: r.boolean("reuseport", false)}
	switch {
	case listen == "":
		r.fail("listen", `listen is required: "127.0.0.1:8000" or "unix:/run/app.sock"`)
	case strings.HasPrefix(listen, "unix:") || strings.HasPrefix(listen, "/"):
		sp.Network, sp.Address = "unix", r.f.abs(strings.TrimPrefix(listen, "unix:"))
		checkSocketPath(r, "listen", sp.Address)
		if mode := r.str("mode", ""); mode != "" {
			m, err := strconv.ParseUint(mode, 8, 32)
			if err != nil || m > 0o777 {
				r.fail("mode", "mode = %q is not an octal mode such as \"0660\"", mode)
			}
			sp.Mode = uint32(m)
		}
		sp.Owner = r.str("owner", "")
	default:
		if _, port, err := net.SplitHostPort(listen); err != nil || port == "" {
			r.fail("listen", "listen = %q is not host:port or unix:/path", listen)
		}
		if r.has("mode") || r.has("owner") {
			r.fail("mode", "mode and owner apply to unix sockets only")
		}
		sp.Network, sp.Address = "tcp", listen
	}
	s.spec = sp
	return r.err
}

// programSockets resolves a program's sockets = [...] (names may use
// ${instance}, so each instance gets its own).
func (l *loader) programSockets(r *reader, x *expander) []supervisor.SocketSpec {
	var out []supervisor.SocketSpec
	for _, n := range r.strings("sockets") {
		name := expandKey(r, x, "sockets", n)
		sd := l.socketsByName[name]
		if sd == nil {
			r.fail("sockets", "socket %q is not defined (define it with [socket.%s])", name, name)
			continue
		}
		out = append(out, sd.spec)
	}
	return out
}

// readiness reads ready = "notify" | "tcp:HOST:PORT" | "http://..." |
// "exec:COMMAND"; unset keeps supervisord's startsecs rule.
func readiness(r *reader, x *expander) supervisor.Readiness {
	v := expandKey(r, x, "ready", r.str("ready", ""))
	switch {
	case v == "":
		return supervisor.Readiness{}
	case v == "notify":
		return supervisor.Readiness{Kind: supervisor.ReadyNotify}
	case strings.HasPrefix(v, "tcp:"):
		addr := strings.TrimPrefix(v, "tcp:")
		if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
			r.fail("ready", "ready = %q: want tcp:HOST:PORT", v)
		}
		return supervisor.Readiness{Kind: supervisor.ReadyTCP, Target: addr}
	case strings.HasPrefix(v, "http://") || strings.HasPrefix(v, "https://"):
		if u, err := url.Parse(v); err != nil || u.Host == "" {
			r.fail("ready", "ready = %q is not a URL", v)
		}
		return supervisor.Readiness{Kind: supervisor.ReadyHTTP, Target: v}
	case strings.HasPrefix(v, "exec:"):
		argv, err := splitWords(strings.TrimPrefix(v, "exec:"))
		if err != nil || len(argv) == 0 {
			r.fail("ready", "ready = %q: want exec:COMMAND", v)
		}
		return supervisor.Readiness{Kind: supervisor.ReadyExec, Argv: argv}
	}
	r.fail("ready", `ready = %q is not "notify", "tcp:HOST:PORT", "http://..." or "exec:COMMAND"`, v)
	return supervisor.Readiness{}
}

// checkDependencies refuses a depends_on that names nothing, or that
// closes a cycle, with the file and line of a program in it.
func checkDependencies(groups []supervisor.GroupSpec, where map[string]*reader) error {
	var all []*supervisor.ProcessSpec
	for gi := range groups {
		for pi := range groups[gi].Processes {
			all = append(all, &groups[gi].Processes[pi])
		}
	}
	deps := map[string][]string{}
	for _, p := range all {
		for _, pat := range p.DependsOn {
			n := 0
			for _, q := range all {
				if q != p && supervisor.MatchDependency(pat, q) {
					deps[p.FullName()] = append(deps[p.FullName()], q.FullName())
					n++
				}
			}
			if n == 0 {
				r := where[p.FullName()]
				return &Error{File: r.f.name, Line: r.f.line(append(r.path, "depends_on")...), Table: r.desc,
					Msg: fmt.Sprintf("depends_on: %q names no process", pat)}
			}
		}
	}
	const (
		unseen = iota
		visiting
		done
	)
	state := map[string]int{}
	var stack []string
	var visit func(n string) []string
	visit = func(n string) []string {
		state[n] = visiting
		stack = append(stack, n)
		for _, d := range deps[n] {
			switch state[d] {
			case visiting:
				return append(slices.Clone(stack[slices.Index(stack, d):]), d)
			case unseen:
				if c := visit(d); c != nil {
					return c
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = done
		return nil
	}
	for _, p := range all {
		if state[p.FullName()] == unseen {
			if cycle := visit(p.FullName()); cycle != nil {
				r := where[cycle[0]]
				return &Error{File: r.f.name, Line: r.f.line(append(r.path, "depends_on")...), Table: r.desc,
					Msg: "depends_on makes a cycle: " + strings.Join(cycle, " -> ")}
			}
		}
	}
	return nil
}

// checkProbeTarget refuses a tcp or http probe aimed at a socket the
// daemon holds for the program: the kernel accepts connections into the
// held socket's backlog whether the program serves or not (and on a shared
// socket its siblings answer), so such a probe would find it ready at once.
func checkProbeTarget(r *reader, s supervisor.ProcessSpec) {
	target := s.Ready.Target
	if s.Ready.Kind == supervisor.ReadyHTTP {
		if u, err := url.Parse(target); err == nil {
			target = u.Host
		}
	}
	if s.Ready.Kind != supervisor.ReadyTCP && s.Ready.Kind != supervisor.ReadyHTTP {
		return
	}
	for _, sock := range s.Sockets {
		if sock.Network == "tcp" && sameTCP(sock.Address, target) {
			r.fail("ready", "ready probes %s, the socket %q ctlsupd holds for the program: it would answer before the program does; use ready = \"notify\", or probe another port", target, sock.Name)
		}
	}
}

// sameTCP compares host:port addresses, a wildcard host matching any.
func sameTCP(a, b string) bool {
	ha, pa, err1 := net.SplitHostPort(a)
	hb, pb, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil || pa != pb {
		return false
	}
	wild := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	local := func(h string) bool { return h == "localhost" || h == "127.0.0.1" || h == "::1" }
	return ha == hb || wild(ha) || wild(hb) || (local(ha) && local(hb))
}
