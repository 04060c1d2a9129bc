package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"

	"github.com/ctlsup/ctlsup/api/xmlrpc"
)

func faultString(err error) string {
	var f *xmlrpc.Fault
	if errors.As(err, &f) {
		return f.String
	}
	return err.Error()
}

// noArgs rejects arguments for commands that take none.
func (m *Main) noArgs(cmd, arg string, help func(*Main)) bool {
	if arg == "" {
		return true
	}
	m.out("Error: " + cmd + " accepts no arguments")
	m.exit = exitGeneric
	help(m)
	return false
}

func doAvail(m *Main, arg string) error {
	if !m.noArgs("avail", arg, helpAvail) {
		return nil
	}
	infos, err := m.call("supervisor.getAllConfigInfo")
	if faultCode(err) == fShutdownState {
		m.out("ERROR: supervisor shutting down")
		m.exit = exitGeneric
		return nil
	}
	if err != nil {
		return err
	}
	for _, c := range list(infos) {
		inuse, auto := "avail", "manual"
		if fbool(c, "inuse") {
			inuse = "in use"
		}
		if fbool(c, "autostart") {
			auto = "auto"
		}
		name := makeNamespec(fstr(c, "group"), fstr(c, "name"), true)
		m.out(fmt.Sprintf("%-32s %-9s %-9s %d:%d", name, inuse, auto, fint(c, "group_prio"), fint(c, "process_prio")))
	}
	return nil
}

// changes reads reloadConfig's [[added, changed, removed]].
func changes(v any) (added, changed, removed []string) {
	outer := list(v)
	if len(outer) != 1 {
		return
	}
	parts := list(outer[0])
	conv := func(i int) []string {
		var out []string
		if i < len(parts) {
			for _, s := range list(parts[i]) {
				str, _ := s.(string)
				out = append(out, str)
			}
		}
		return out
	}
	return conv(0), conv(1), conv(2)
}

func doReread(m *Main, arg string) error {
	if !m.noArgs("reread", arg, helpReread) {
		return nil
	}
	v, err := m.call("supervisor.reloadConfig")
	if err != nil {
		switch faultCode(err) {
		case fShutdownState:
			m.out("ERROR: supervisor shutting down")
		case fCantReread:
			m.out("ERROR: " + faultString(err))
		default:
			return err
		}
		m.exit = exitGeneric
		return nil
	}
	added, changed, removed := changes(v)
	kind := map[string]string{}
	for _, n := range added {
		kind[n] = "available"
	}
	for _, n := range changed {
		kind[n] = "changed"
	}
	for _, n := range removed {
		kind[n] = "disappeared"
	}
	if len(kind) == 0 {
		m.out("No config updates to processes")
		return nil
	}
	names := make([]string, 0, len(kind))
	for n := range kind {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		m.out(n + ": " + kind[n])
	}
	return nil
}

func doUpdate(m *Main, arg string) error {
	v, err := m.call("supervisor.reloadConfig")
	if faultCode(err) == fShutdownState {
		m.out("ERROR: already shutting down")
		m.exit = exitGeneric
		return nil
	}
	if err != nil {
		return err
	}
	added, changed, removed := changes(v)
	wanted := map[string]bool{}
	for _, g := range strings.Fields(arg) {
		wanted[g] = true
	}
	if wanted["all"] {
		wanted = map[string]bool{}
	}
	if len(wanted) > 0 {
		all, err := m.call("supervisor.getAllProcessInfo")
		if err != nil {
			return err
		}
		groups := map[string]bool{}
		for _, info := range list(all) {
			groups[fstr(info, "group")] = true
		}
		for _, g := range added {
			groups[g] = true
		}
		for _, g := range strings.Fields(arg) {
			if !groups[g] {
				m.out("ERROR: no such group: " + g)
				m.exit = exitGeneric
			}
		}
	}
	skip := func(g string) bool { return len(wanted) > 0 && !wanted[g] }
	for _, g := range removed {
		if skip(g) {
			continue
		}
		rs, err := m.call("supervisor.stopProcessGroup", g)
		if err != nil {
			return err
		}
		m.out(g + ": stopped")
		if slices.ContainsFunc(list(rs), func(r any) bool { return fint(r, "status") == fFailed }) {
			m.out(g + ": has problems; not removing")
			m.exit = exitGeneric
			continue
		}
		if _, err := m.call("supervisor.removeProcessGroup", g); err != nil {
			return err
		}
		m.out(g + ": removed process group")
	}
	for _, g := range changed {
		if skip(g) {
			continue
		}
		if err := updateGroup(m, g); err != nil {
			return err
		}
		m.out(g + ": updated process group")
	}
	for _, g := range added {
		if skip(g) {
			continue
		}
		if _, err := m.call("supervisor.addProcessGroup", g); err != nil {
			return err
		}
		m.out(g + ": added process group")
	}
	return nil
}

// updateGroup applies a changed group. Against ctlsupd only its changed
// processes stop and start again (ctlsup's own methods); against
// supervisord, which lacks them, the group is stopped, removed and added
// again, as supervisorctl does. Either way it prints supervisorctl's lines;
// "stopped" only if something stopped (a group that only gained or lost
// a process stops none of those it keeps).
func updateGroup(m *Main, g string) error {
	stopped, err := m.call("ctlsup.stopChangedProcesses", g)
	if faultCode(err) == fUnknownMethod {
		if _, err := m.call("supervisor.stopProcessGroup", g); err != nil {
			return err
		}
		m.out(g + ": stopped")
		if _, err := m.call("supervisor.removeProcessGroup", g); err != nil {
			return err
		}
		_, err = m.call("supervisor.addProcessGroup", g)
		return err
	}
	if err != nil {
		return err
	}
	if len(list(stopped)) > 0 {
		m.out(g + ": stopped")
	}
	_, err = m.call("ctlsup.updateProcessGroup", g)
	return err
}

func doAdd(m *Main, arg string) error {
	for _, name := range strings.Fields(arg) {
		_, err := m.call("supervisor.addProcessGroup", name)
		switch faultCode(err) {
		case 0:
			if err != nil {
				m.exit = exitGeneric
				return err
			}
			m.out(name + ": added process group")
		case fShutdownState:
			m.out("ERROR: shutting down")
			m.exit = exitGeneric
		case fAlreadyAdded:
			m.out("ERROR: process group already active")
		case fBadName:
			m.out("ERROR: no such process/group: " + name)
			m.exit = exitGeneric
		default:
			m.exit = exitGeneric
			return err
		}
	}
	return nil
}

func doRemove(m *Main, arg string) error {
	for _, name := range strings.Fields(arg) {
		_, err := m.call("supervisor.removeProcessGroup", name)
		switch faultCode(err) {
		case 0:
			if err != nil {
				m.exit = exitGeneric
				return err
			}
			m.out(name + ": removed process group")
		case fStillRunning:
			m.out("ERROR: process/group still running: " + name)
			m.exit = exitGeneric
		case fBadName:
			m.out("ERROR: no such process/group: " + name)
			m.exit = exitGeneric
		default:
			m.exit = exitGeneric
			return err
		}
	}
	return nil
}

func doReload(m *Main, arg string) error {
	if !m.noArgs("reload", arg, helpReload) {
		return nil
	}
	if !m.confirmed("Really restart the remote supervisord process y/N? ") {
		return nil
	}
	_, err := m.call("supervisor.restart")
	if err != nil {
		m.exit = exitGeneric
		if faultCode(err) == fShutdownState {
			m.out("ERROR: already shutting down")
			return nil
		}
		return err
	}
	m.out("Restarted supervisord")
	return nil
}

// doUpgrade asks ctlsupd to execute its binary on disk in place; the
// daemon checks the binary first and answers with the reason if it
// refuses.
func doUpgrade(m *Main, arg string) error {
	if !m.noArgs("upgrade", arg, helpUpgrade) {
		return nil
	}
	if _, err := m.call("ctlsup.upgrade"); err != nil {
		m.exit = exitGeneric
		return err
	}
	m.out("Upgrading ctlsupd in place")
	return nil
}

func doShutdown(m *Main, arg string) error {
	if !m.noArgs("shutdown", arg, helpShutdown) {
		return nil
	}
	if !m.confirmed("Really shut the remote supervisord process down y/N? ") {
		return nil
	}
	_, err := m.call("supervisor.shutdown")
	switch {
	case err == nil:
		m.out("Shut down")
		return nil
	case faultCode(err) == fShutdownState:
		m.out("ERROR: already shutting down")
	case errors.Is(err, syscall.ECONNREFUSED):
		m.out("ERROR: " + m.ServerURL + " refused connection (already shut down?)")
	case errors.Is(err, syscall.ENOENT):
		m.out("ERROR: " + m.ServerURL + " no such file (already shut down?)")
	default:
		m.exit = exitGeneric
		return err
	}
	m.exit = exitGeneric
	return nil
}

func doVersion(m *Main, arg string) error {
	if !m.noArgs("version", arg, helpVersion) {
		return nil
	}
	if ok, err := m.upcheck(); !ok {
		return err
	}
	v, err := m.call("supervisor.getSupervisorVersion")
	if err != nil {
		return err
	}
	m.out(fmt.Sprint(v))
	return nil
}
