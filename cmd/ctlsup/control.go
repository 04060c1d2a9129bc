package main

import (
	"slices"
	"strconv"
	"strings"
)

// Fault codes the commands react to.
const (
	fBadName             = 10
	fBadSignal           = 11
	fNoFile              = 20
	fNotExecutable       = 21
	fFailed              = 30
	fUnknownMethod       = 1
	fAbnormalTermination = 40
	fSpawnError          = 50
	fAlreadyStarted      = 60
	fNotRunning          = 70
	fSuccess             = 80
	fAlreadyAdded        = 90
	fStillRunning        = 91
	fCantReread          = 92
	fShutdownState       = 6
)

// setExitFromFault is supervisorctl's set_exitstatus_from_xmlrpc_fault.
func (m *Main) setExitFromFault(code, ignored int) {
	switch code {
	case ignored, fSuccess:
	case fSpawnError, fAbnormalTermination, fNotRunning:
		m.exit = exitNotRunning
	default:
		m.exit = exitGeneric
	}
}

// result is one outcome: a group result struct, or a fault on one name.
type result struct {
	group, name string
	hasName     bool
	code        int
	desc        string
}

func fromStruct(v any) result {
	return result{group: fstr(v, "group"), name: fstr(v, "name"), hasName: true,
		code: fint(v, "status"), desc: fstr(v, "description")}
}

// operation describes start, stop or signal for runOperation.
type operation struct {
	one, group, all string // method names
	extra           []any  // the signal, for signal
	// faults maps a fault code to supervisorctl's words for it; a code
	// not listed shows the fault's own description.
	faults map[int]string
	// failedAsIs prints a FAILED fault's description alone, as
	// supervisorctl's stop and signal do.
	failedAsIs   bool
	ignored      int // fault that does not change the exit status
	done         string
	badGroupExit int
}

// text is supervisorctl's line for one result.
func (op operation) text(r result) string {
	name := makeNamespec(r.group, r.name, r.hasName)
	switch {
	case r.code == fSuccess:
		return name + ": " + op.done
	case r.code == fFailed && op.failedAsIs:
		return r.desc
	}
	if words, ok := op.faults[r.code]; ok {
		return name + ": ERROR (" + words + ")"
	}
	return name + ": ERROR (" + r.desc + ")"
}

// runOperation is the shared body of supervisorctl's start, stop and signal.
func (m *Main) runOperation(op operation, names []string) error {
	if slices.Contains(names, "all") {
		rs, err := m.call(op.all, op.extra...)
		if err != nil {
			return err
		}
		m.printResults(op, rs)
		return nil
	}
	for _, name := range names {
		group, process, hasProcess := splitNamespec(name)
		if !hasProcess {
			rs, err := m.call(op.group, append([]any{group}, op.extra...)...)
			if faultCode(err) == fBadName {
				m.out(group + ": ERROR (no such group)")
				m.exit = op.badGroupExit
				continue
			}
			if err != nil {
				m.exit = exitGeneric
				return err
			}
			m.printResults(op, rs)
			continue
		}
		_, err := m.call(op.one, append([]any{name}, op.extra...)...)
		if code := faultCode(err); code != 0 {
			r := result{group: group, name: process, hasName: true, code: code, desc: err.Error()}
			r.desc = faultString(err)
			m.out(op.text(r))
			m.setExitFromFault(code, op.ignored)
			continue
		}
		if err != nil {
			return err
		}
		m.out(makeNamespec(group, process, true) + ": " + op.done)
	}
	return nil
}

func (m *Main) printResults(op operation, rs any) {
	for _, v := range list(rs) {
		r := fromStruct(v)
		m.out(op.text(r))
		m.setExitFromFault(r.code, op.ignored)
	}
}

var startOp = operation{one: "supervisor.startProcess", group: "supervisor.startProcessGroup",
	all: "supervisor.startAllProcesses", ignored: fAlreadyStarted, done: "started",
	badGroupExit: exitInvalidArgs, faults: map[int]string{
		fBadName: "no such process", fNoFile: "no such file", fNotExecutable: "file is not executable",
		fAlreadyStarted: "already started", fSpawnError: "spawn error", fAbnormalTermination: "abnormal termination",
	}}

var stopOp = operation{one: "supervisor.stopProcess", group: "supervisor.stopProcessGroup",
	all: "supervisor.stopAllProcesses", ignored: fNotRunning, done: "stopped",
	badGroupExit: exitGeneric, failedAsIs: true, faults: map[int]string{
		fBadName: "no such process", fNotRunning: "not running",
	}}

var signalOp = operation{one: "supervisor.signalProcess", group: "supervisor.signalProcessGroup",
	all: "supervisor.signalAllProcesses", ignored: -1, done: "signalled",
	badGroupExit: exitGeneric, failedAsIs: true, faults: map[int]string{
		fBadName: "no such process", fBadSignal: "bad signal name", fNotRunning: "not running",
	}}

func doStart(m *Main, arg string) error {
	if ok, err := m.upcheck(); !ok {
		return err
	}
	names := strings.Fields(arg)
	if len(names) == 0 {
		m.out("Error: start requires a process name")
		m.exit = exitInvalidArgs
		helpStart(m)
		return nil
	}
	return m.runOperation(startOp, names)
}

func doStop(m *Main, arg string) error {
	if ok, err := m.upcheck(); !ok {
		return err
	}
	names := strings.Fields(arg)
	if len(names) == 0 {
		m.out("Error: stop requires a process name")
		m.exit = exitGeneric
		helpStop(m)
		return nil
	}
	return m.runOperation(stopOp, names)
}

func doRestart(m *Main, arg string) error {
	if slices.Contains(strings.Fields(arg), "--rolling") {
		return doRollingRestart(m, strings.Fields(arg))
	}
	if len(strings.Fields(arg)) == 0 {
		m.out("Error: restart requires a process name")
		m.exit = exitGeneric
		helpRestart(m)
		return nil
	}
	if err := doStop(m, arg); err != nil {
		return err
	}
	return doStart(m, arg)
}

func doSignal(m *Main, arg string) error {
	if ok, err := m.upcheck(); !ok {
		return err
	}
	args := strings.Fields(arg)
	if len(args) < 2 {
		m.out("Error: signal requires a signal name and a process name")
		helpSignal(m)
		m.exit = exitGeneric
		return nil
	}
	op := signalOp
	op.extra = []any{args[0]}
	return m.runOperation(op, args[1:])
}

func doPid(m *Main, arg string) error {
	if ok, err := m.upcheck(); !ok {
		return err
	}
	names := strings.Fields(arg)
	switch {
	case len(names) == 0:
		pid, err := m.call("supervisor.getPID")
		if err != nil {
			return err
		}
		m.out(strconv.Itoa(pid.(int)))
	case slices.Contains(names, "all"):
		all, err := m.call("supervisor.getAllProcessInfo")
		if err != nil {
			return err
		}
		for _, info := range list(all) {
			m.out(strconv.Itoa(fint(info, "pid")))
		}
	default:
		for _, name := range names {
			info, err := m.call("supervisor.getProcessInfo", name)
			if err != nil {
				m.exit = exitGeneric
				if faultCode(err) == fBadName {
					m.out("No such process " + name)
					continue
				}
				return err
			}
			pid := fint(info, "pid")
			m.out(strconv.Itoa(pid))
			if pid == 0 {
				m.exit = exitNotRunning
			}
		}
	}
	return nil
}
