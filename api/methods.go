package api

import (
	"context"
	"os"
	"slices"
	"syscall"
	"time"

	"github.com/ctlsup/ctlsup/api/xmlrpc"
	"github.com/ctlsup/ctlsup/supervisor"
)

// method is one entry of the method table: its handler, signature (return
// type first, as system.methodSignature reports it) and help text.
type method struct {
	fn   func(ctx context.Context, a args) (any, error)
	sig  []string
	help string
}

// args reads positional parameters; a missing or mistyped one becomes
// INCORRECT_PARAMETERS.
type args struct {
	p   []any
	err error
}

func (a *args) str(i int) string {
	if i < len(a.p) {
		if s, ok := a.p[i].(string); ok {
			return s
		}
	}
	a.err = fault(faultIncorrectParameters, "")
	return ""
}

func (a *args) integer(i int) int {
	if i < len(a.p) {
		if n, ok := a.p[i].(int); ok {
			return n
		}
	}
	a.err = fault(faultIncorrectParameters, "")
	return 0
}

// wait reads the optional wait flag (default true).
func (a *args) wait(i int) supervisor.Wait {
	if i >= len(a.p) {
		return supervisor.WaitForDone
	}
	switch v := a.p[i].(type) {
	case bool:
		return supervisor.Wait(v)
	case int:
		return supervisor.Wait(v != 0)
	}
	a.err = fault(faultIncorrectParameters, "")
	return supervisor.WaitForDone
}

// count checks the number of parameters: between lo and hi.
func (a *args) count(lo, hi int) bool {
	if len(a.p) < lo || len(a.p) > hi {
		a.err = fault(faultIncorrectParameters, "")
		return false
	}
	return true
}

func (s *Server) methods() map[string]method {
	sup := s.Supervisor
	m := map[string]method{
		"supervisor.getAPIVersion": {sig: []string{"string"}, help: "Return the version of the RPC API used by supervisord",
			fn: func(context.Context, args) (any, error) { return apiVersion, nil }},
		"supervisor.getSupervisorVersion": {sig: []string{"string"}, help: "Return the version of the supervisor package in use by supervisord",
			fn: func(context.Context, args) (any, error) { return s.Version, nil }},
		"supervisor.getIdentification": {sig: []string{"string"}, help: "Return identifying string of supervisord",
			fn: func(context.Context, args) (any, error) { return s.Identification, nil }},
		"supervisor.getState": {sig: []string{"struct"}, help: "Return current state of supervisord as a struct",
			fn: func(context.Context, args) (any, error) {
				return xmlrpc.Struct{{Name: "statecode", Value: 1}, {Name: "statename", Value: "RUNNING"}}, nil
			}},
		"supervisor.getPID": {sig: []string{"int"}, help: "Return the PID of supervisord",
			fn: func(context.Context, args) (any, error) { return os.Getpid(), nil }},
		"supervisor.readLog": {sig: []string{"string", "int", "int"}, help: "Read length bytes from the main log starting at offset",
			fn: func(ctx context.Context, a args) (any, error) {
				off, n := a.integer(0), a.integer(1)
				if a.err != nil {
					return nil, a.err
				}
				if s.MainLog == "" {
					return nil, fault(faultNoFile, "")
				}
				return readLog(ctx, s.MainLog, off, n)
			}},
		"supervisor.clearLog": {sig: []string{"boolean"}, help: "Clear the main log",
			fn: func(context.Context, args) (any, error) {
				if s.MainLog == "" {
					return nil, fault(faultNoFile, "")
				}
				if err := truncateNoFollow(s.MainLog); err != nil {
					return nil, fault(faultFailed, err.Error())
				}
				return true, nil
			}},
		"supervisor.shutdown": {sig: []string{"boolean"}, help: "Shut down the supervisor process",
			fn: func(ctx context.Context, _ args) (any, error) {
				s.stopping.Store(true)
				afterResponse(ctx, s.Shutdown)
				return true, nil
			}},
		"supervisor.restart": {sig: []string{"boolean"}, help: "Restart the supervisor process",
			fn: func(ctx context.Context, _ args) (any, error) {
				s.stopping.Store(true)
				afterResponse(ctx, s.Restart)
				return true, nil
			}},
		"ctlsup.upgrade": {sig: []string{"boolean"}, help: "Re-execute the daemon's binary on disk in place, keeping every program, pipe and the control socket",
			fn: func(ctx context.Context, _ args) (any, error) {
				if s.Upgrade == nil {
					return nil, fault(faultFailed, "upgrade is not available")
				}
				then, err := s.Upgrade()
				if err != nil {
					return nil, fault(faultFailed, err.Error())
				}
				afterResponse(ctx, then)
				return true, nil
			}},
		"supervisor.reloadConfig": {sig: []string{"array"}, help: "Reload the configuration: [[added, changed, removed]]",
			fn: func(ctx context.Context, _ args) (any, error) {
				d, err := sup.Reread()
				if err != nil {
					return nil, fault(faultCantReread, err.Error())
				}
				return []any{[]any{strs(d.Added), strs(d.Changed), strs(d.Removed)}}, nil
			}},
		"supervisor.addProcessGroup": {sig: []string{"boolean", "string"}, help: "Update the config for a running process from config file",
			fn: func(ctx context.Context, a args) (any, error) {
				name := a.str(0)
				if a.err != nil {
					return nil, a.err
				}
				if err := sup.AddGroup(ctx, name); err != nil {
					return nil, toFault(err, name)
				}
				return true, nil
			}},
		"supervisor.removeProcessGroup": {sig: []string{"boolean", "string"}, help: "Remove a stopped process from the active configuration",
			fn: func(ctx context.Context, a args) (any, error) {
				name := a.str(0)
				if a.err != nil {
					return nil, a.err
				}
				if err := sup.RemoveGroup(ctx, name); err != nil {
					return nil, toFault(err, name)
				}
				return true, nil
			}},
		"supervisor.startProcess": {sig: []string{"boolean", "string", "boolean"}, help: "Start a process",
			fn: func(ctx context.Context, a args) (any, error) { return s.single(ctx, a, sup.Start) }},
		"supervisor.startProcessGroup": {sig: []string{"array", "string", "boolean"}, help: "Start all processes in the group named 'name'",
			fn: func(ctx context.Context, a args) (any, error) { return s.group(ctx, a, sup.StartGroup) }},
		"supervisor.startAllProcesses": {sig: []string{"array", "boolean"}, help: "Start all processes listed in the configuration file",
			fn: func(ctx context.Context, a args) (any, error) { return s.all(ctx, a, sup.StartAll) }},
		"supervisor.stopProcess": {sig: []string{"boolean", "string", "boolean"}, help: "Stop a process named by name",
			fn: func(ctx context.Context, a args) (any, error) { return s.single(ctx, a, sup.Stop) }},
		"supervisor.stopProcessGroup": {sig: []string{"array", "string", "boolean"}, help: "Stop all processes in the process group named 'name'",
			fn: func(ctx context.Context, a args) (any, error) { return s.group(ctx, a, sup.StopGroup) }},
		// ctlsup's own update, as ctlsup update uses it: after reloadConfig,
		// stop only what changed in a group, then make its new spec the
		// running one (untouched processes keep running with their pids).
		// The standard methods always mean what they mean to supervisord.
		"ctlsup.stopChangedProcesses": {sig: []string{"array", "string", "boolean"}, help: "Stop the processes of a group that the reread configuration changes or drops",
			fn: func(ctx context.Context, a args) (any, error) { return s.group(ctx, a, sup.StopChanged) }},
		"ctlsup.updateProcessGroup": {sig: []string{"boolean", "string"}, help: "Make the reread configuration of a group the running one, restarting only its changed processes",
			fn: func(ctx context.Context, a args) (any, error) {
				a.count(1, 1)
				name := a.str(0)
				if a.err != nil {
					return nil, a.err
				}
				if err := sup.ApplyGroup(ctx, name); err != nil {
					return nil, toFault(err, name)
				}
				return true, nil
			}},
		"ctlsup.getAllProcessUsage": {sig: []string{"array"}, help: "What every process uses: CPU seconds (a counter across its restarts), memory, tasks, OOM kills and its cgroup",
			fn: func(context.Context, args) (any, error) { return s.usage(sup), nil }},
		"supervisor.stopAllProcesses": {sig: []string{"array", "boolean"}, help: "Stop all processes in the process list",
			fn: func(ctx context.Context, a args) (any, error) { return s.all(ctx, a, sup.StopAll) }},
		"supervisor.signalProcess": {sig: []string{"boolean", "string", "string"}, help: "Send an arbitrary UNIX signal to the process named by name",
			fn: func(ctx context.Context, a args) (any, error) { return s.signal(ctx, a, false) }},
		"supervisor.signalProcessGroup": {sig: []string{"array", "string", "string"}, help: "Send a signal to all processes in the group named 'name'",
			fn: func(ctx context.Context, a args) (any, error) { return s.signal(ctx, a, true) }},
		"supervisor.signalAllProcesses": {sig: []string{"array", "string"}, help: "Send a signal to all processes in the process list",
			fn: func(ctx context.Context, a args) (any, error) {
				a.count(1, 1)
				sig := s.parseSignal(&a, 0)
				if a.err != nil {
					return nil, a.err
				}
				if sig < 0 {
					return s.badSignalAll(sup.Processes(), a.str(0)), nil
				}
				rs, err := sup.SignalAll(ctx, syscall.Signal(sig))
				if err != nil {
					return nil, toFault(err, "")
				}
				return results(rs), nil
			}},
		"supervisor.getAllConfigInfo": {sig: []string{"array"}, help: "Get info about all available process configurations",
			fn: func(context.Context, args) (any, error) { return configInfo(sup, s.ServerURL), nil }},
		"supervisor.getProcessInfo": {sig: []string{"struct", "string"}, help: "Get info about a process named name",
			fn: func(_ context.Context, a args) (any, error) {
				name := a.str(0)
				if a.err != nil {
					return nil, a.err
				}
				p, err := sup.Process(name)
				if err != nil {
					return nil, toFault(err, name)
				}
				return processInfo(p, time.Now()), nil
			}},
		"supervisor.getAllProcessInfo": {sig: []string{"array"}, help: "Get info about all processes",
			fn: func(context.Context, args) (any, error) {
				now := time.Now()
				procs := sup.Processes()
				out := make([]any, len(procs))
				for i, p := range procs {
					out[i] = processInfo(p, now)
				}
				return out, nil
			}},
		"supervisor.readProcessStdoutLog": {sig: []string{"string", "string", "int", "int"}, help: "Read length bytes from name's stdout log starting at offset",
			fn: func(ctx context.Context, a args) (any, error) { return s.readProcLog(ctx, a, stdoutPath) }},
		"supervisor.readProcessStderrLog": {sig: []string{"string", "string", "int", "int"}, help: "Read length bytes from name's stderr log starting at offset",
			fn: func(ctx context.Context, a args) (any, error) { return s.readProcLog(ctx, a, stderrPath) }},
		"supervisor.tailProcessStdoutLog": {sig: []string{"array", "string", "int", "int"}, help: "Provides a more efficient way to tail the (stdout) log than readProcessStdoutLog",
			fn: func(ctx context.Context, a args) (any, error) { return s.tailProcLog(ctx, a, stdoutPath) }},
		"supervisor.tailProcessStderrLog": {sig: []string{"array", "string", "int", "int"}, help: "Provides a more efficient way to tail the (stderr) log than readProcessStderrLog",
			fn: func(ctx context.Context, a args) (any, error) { return s.tailProcLog(ctx, a, stderrPath) }},
		"supervisor.clearProcessLogs": {sig: []string{"boolean", "string"}, help: "Clear the stdout and stderr logs for the named process and reopen them",
			fn: func(_ context.Context, a args) (any, error) {
				name := a.str(0)
				if a.err != nil {
					return nil, a.err
				}
				if supervisor.ParseName(name).Group != "" {
					return nil, fault(faultBadName, name)
				}
				if err := sup.ClearLogs(name); err != nil {
					return nil, toFault(err, name)
				}
				return true, nil
			}},
		"supervisor.clearAllProcessLogs": {sig: []string{"array"}, help: "Clear all process log files",
			fn: func(context.Context, args) (any, error) {
				var rs []supervisor.Result
				for _, p := range sup.Processes() {
					rs = append(rs, supervisor.Result{Name: p.Name, Group: p.Group, Err: sup.ClearLogs(p.FullName())})
				}
				return results(rs), nil
			}},
		"supervisor.sendProcessStdin": {sig: []string{"boolean", "string", "string"}, help: "Send a string of chars to the stdin of the process name",
			fn: func(_ context.Context, a args) (any, error) {
				name := a.str(0)
				a.str(1)
				if a.err != nil {
					return nil, a.err
				}
				p, err := sup.Process(name)
				if err != nil {
					return nil, toFault(err, name)
				}
				if !p.State.IsRunning() {
					return nil, fault(faultNotRunning, name)
				}
				// ctlsup gives programs /dev/null as stdin.
				return nil, fault(faultNoFile, name)
			}},
		"supervisor.sendRemoteCommEvent": {sig: []string{"boolean", "string", "string"}, help: "Send an event that will be received by event listener subprocesses",
			fn: func(_ context.Context, a args) (any, error) {
				a.str(0)
				a.str(1)
				if a.err != nil {
					return nil, a.err
				}
				return true, nil
			}},
	}
	// Aliases supervisord keeps for old clients.
	m["supervisor.getVersion"] = m["supervisor.getAPIVersion"]
	m["supervisor.readMainLog"] = m["supervisor.readLog"]
	m["supervisor.readProcessLog"] = m["supervisor.readProcessStdoutLog"]
	m["supervisor.tailProcessLog"] = m["supervisor.tailProcessStdoutLog"]
	m["supervisor.clearProcessLog"] = m["supervisor.clearProcessLogs"]
	m["system.listMethods"] = method{sig: []string{"array"}, help: "Return an array listing the available method names",
		fn: func(context.Context, args) (any, error) { return strs(s.methodNames()), nil }}
	m["system.methodHelp"] = method{sig: []string{"string", "string"}, help: "Return a string showing the method's documentation",
		fn: func(_ context.Context, a args) (any, error) {
			name := a.str(0)
			mm, ok := s.table[name]
			if a.err != nil || !ok {
				return nil, fault(faultSignatureUnsupported, "")
			}
			return mm.help, nil
		}}
	m["system.methodSignature"] = method{sig: []string{"array", "string"}, help: "Return an array describing the method signature",
		fn: func(_ context.Context, a args) (any, error) {
			name := a.str(0)
			mm, ok := s.table[name]
			if a.err != nil || !ok {
				return nil, fault(faultSignatureUnsupported, "")
			}
			return []any{strs(mm.sig)}, nil
		}}
	m["system.multicall"] = method{sig: []string{"array", "array"}, help: "Process an array of calls, and return an array of results",
		fn: func(ctx context.Context, a args) (any, error) { return s.multicall(ctx, a) }}
	return m
}

func strs(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func (s *Server) methodNames() []string {
	names := make([]string, 0, len(s.table))
	for n := range s.table {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
