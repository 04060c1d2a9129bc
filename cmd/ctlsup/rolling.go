package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// doRollingRestart restarts the processes named (a group, "group:*", a
// program's processes, all) a batch at a time, in status order: each
// batch is stopped, started and waited for until RUNNING (ready, for a
// program with a readiness rule) before the next batch stops. With the
// programs sharing a socket the daemon holds, the others serve meanwhile.
//
//	restart --rolling [--batch N] NAME...
func doRollingRestart(m *Main, args []string) error {
	batch := 1
	var names []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--rolling":
		case a == "--batch" && i+1 < len(args):
			n, err := strconv.Atoi(args[i+1])
			if err != nil || n < 1 {
				m.out("Error: --batch takes a positive number")
				m.exit = exitGeneric
				return nil
			}
			batch = n
			i++
		default:
			names = append(names, a)
		}
	}
	if len(names) == 0 {
		m.out("Error: restart --rolling requires a group or process name")
		m.exit = exitGeneric
		return nil
	}
	if ok, err := m.upcheck(); !ok {
		return err
	}
	all, err := m.call("supervisor.getAllProcessInfo")
	if err != nil {
		return err
	}
	var members []string
	for _, name := range names {
		group, process, hasProcess := splitNamespec(name)
		if !strings.Contains(name, ":") {
			hasProcess = false // a bare name is its group: a program's processes
		}
		found := false
		for _, info := range list(all) {
			g, n := fstr(info, "group"), fstr(info, "name")
			// A bare name is a group, or a program's processes in every
			// instance (its name, or its numprocs names NAME_00, ...).
			bare := !strings.Contains(name, ":") && (n == name || strings.HasPrefix(n, name+"_"))
			if name == "all" || (g == group && (!hasProcess || n == process)) || bare {
				spec := makeNamespec(g, n, true)
				if !slices.Contains(members, spec) {
					members = append(members, spec)
				}
				found = true
			}
		}
		if !found {
			m.out(name + ": ERROR (no such process)")
			m.exit = exitGeneric
		}
	}
	for start := 0; start < len(members); start += batch {
		part := members[start:min(start+batch, len(members))]
		var wg sync.WaitGroup
		lines := make([]string, len(part))
		for i, name := range part {
			wg.Go(func() { lines[i] = m.restartOne(name) })
		}
		wg.Wait()
		for _, l := range lines {
			m.out(l)
		}
		if slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, "ERROR") }) {
			m.out("rolling restart stopped: the others keep their old processes")
			m.exit = exitGeneric
			return nil
		}
	}
	return nil
}

// restartOne restarts a process and waits until it is RUNNING: through
// ctlsupd's own restart, which honours start_before_stop, or by a stop and
// a start against a daemon without it (supervisord).
func (m *Main) restartOne(name string) string {
	_, err := m.call("ctlsup.restartProcess", name, true)
	if err == nil {
		return name + ": restarted"
	}
	if faultCode(err) != fUnknownMethod {
		return fmt.Sprintf("%s: ERROR (%v)", name, err)
	}
	if _, err := m.call("supervisor.stopProcess", name, true); err != nil && !strings.Contains(err.Error(), "NOT_RUNNING") {
		return fmt.Sprintf("%s: ERROR (%v)", name, err)
	}
	if _, err := m.call("supervisor.startProcess", name, true); err != nil {
		return fmt.Sprintf("%s: ERROR (%v)", name, err)
	}
	return name + ": restarted"
}
