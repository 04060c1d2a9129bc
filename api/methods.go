package api

import (
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/ctlsup/ctlsup/api/xmlrpc"
	"github.com/ctlsup/ctlsup/supervisor"
)

// method is one entry of the method table: its handler, signature (return
// type first, as system.methodSignature reports it), how many trailing
// parameters are optional, and its documentation. The dispatcher checks
// every call's parameter count against it.
type method struct {
	fn      func(ctx context.Context, a args) (any, error)
	sig     []string
	opt     int
	help    string
	params  []param // one per parameter type in sig
	returns string
}

// param documents one parameter.
type param struct{ name, doc string }

// doc is system.methodHelp's text: the description, then a tag per
// parameter and for the result, the layout tools parse.
func (m method) doc() string {
	var b strings.Builder
	b.WriteString(m.help + "\n")
	for i, p := range m.params {
		fmt.Fprintf(&b, "\n@param %s %s  %s", m.sig[i+1], p.name, p.doc)
	}
	fmt.Fprintf(&b, "\n@return %s result  %s", m.sig[0], m.returns)
	return b.String()
}

// arityOK reports whether n parameters fit the signature.
func (m method) arityOK(n int) bool {
	most := len(m.sig) - 1
	return n <= most && n >= most-m.opt
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

// text reads a parameter as supervisord formats it, for methods that take
// any value: as Python's str() prints it (pyStr); base64 data must be
// UTF-8 text, as supervisord decodes it.
func (a *args) text(i int) string {
	if i < len(a.p) {
		if b, ok := a.p[i].([]byte); !ok || utf8.Valid(b) {
			return pyStr(a.p[i])
		}
	}
	a.err = fault(faultIncorrectParameters, "")
	return ""
}

// pyFloat is Python's repr of a float: shortest digits, ".0" when whole.
func pyFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if math.Abs(f) < 1e16 && math.Abs(f) >= 1e-4 || f == 0 {
		s = strconv.FormatFloat(f, 'f', -1, 64)
	}
	if !strings.ContainsAny(s, ".en") {
		s += ".0"
	}
	return s
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
		"supervisor.getAPIVersion": {sig: []string{"string"}, help: "The version of the XML-RPC interface this daemon speaks.", returns: "the API version, \"3.0\"",
			fn: func(context.Context, args) (any, error) { return apiVersion, nil }},
		"supervisor.getSupervisorVersion": {sig: []string{"string"}, help: "The version of the daemon answering.", returns: "the daemon's version",
			fn: func(context.Context, args) (any, error) { return s.Version, nil }},
		"supervisor.getIdentification": {sig: []string{"string"}, help: "The identification string of this daemon: always \"supervisor\" (supervisord's identifier option has no counterpart).", returns: "the identification string",
			fn: func(context.Context, args) (any, error) { return s.Identification, nil }},
		"supervisor.getState": {sig: []string{"struct"}, help: "The daemon's own state: RUNNING, or SHUTDOWN while it stops.", returns: "statecode and statename",
			fn: func(context.Context, args) (any, error) {
				return xmlrpc.Struct{{Name: "statecode", Value: 1}, {Name: "statename", Value: "RUNNING"}}, nil
			}},
		"supervisor.getPID": {sig: []string{"int"}, help: "The process id of the daemon.", returns: "the daemon's pid",
			fn: func(context.Context, args) (any, error) { return os.Getpid(), nil }},
		"supervisor.readLog": {sig: []string{"string", "int", "int"}, help: "Read bytes from the daemon's own log file.", params: []param{{"offset", "where to start; negative counts from the end"}, {"length", "how many bytes; 0 reads to the end"}}, returns: "the bytes read",
			fn: func(ctx context.Context, a args) (any, error) {
				off, n := a.integer(0), a.integer(1)
				if a.err != nil {
					return nil, a.err
				}
				if s.MainLog == "" {
					return nil, fault(faultNoFile, "")
				}
				return readLog(ctx, s.MainLog, off, n, false)
			}},
		"supervisor.clearLog": {sig: []string{"boolean"}, help: "Truncate the daemon's own log file.", returns: "true once the main log is truncated",
			fn: func(context.Context, args) (any, error) {
				if s.MainLog == "" {
					return nil, fault(faultNoFile, "")
				}
				if err := truncateNoFollow(s.MainLog); err != nil {
					return nil, fault(faultFailed, err.Error())
				}
				return true, nil
			}},
		"supervisor.shutdown": {sig: []string{"boolean"}, help: "Stop every program, in descending priority, then exit.", returns: "true; the daemon stops every program and exits after answering",
			fn: func(ctx context.Context, _ args) (any, error) {
				s.stopping.Store(true)
				afterResponse(ctx, s.Shutdown)
				return true, nil
			}},
		"supervisor.restart": {sig: []string{"boolean"}, help: "Stop every program, reread the configuration and start again.", returns: "true; the daemon stops every program, rereads its files and starts again after answering",
			fn: func(ctx context.Context, _ args) (any, error) {
				s.stopping.Store(true)
				afterResponse(ctx, s.Restart)
				return true, nil
			}},
		"ctlsup.upgrade": {sig: []string{"boolean"}, help: "Re-execute the daemon's binary on disk in place, keeping every program, pipe and the control socket.", returns: "true; the new image takes over after answering",
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
		"supervisor.reloadConfig": {sig: []string{"array"}, help: "Reread the configuration files and report which groups they add, change and remove, without applying anything.", returns: "[[added, changed, removed]] group names",
			fn: func(ctx context.Context, _ args) (any, error) {
				d, err := sup.Reread()
				if err != nil {
					return nil, fault(faultCantReread, err.Error())
				}
				return []any{[]any{strs(d.Added), strs(d.Changed), strs(d.Removed)}}, nil
			}},
		"supervisor.addProcessGroup": {sig: []string{"boolean", "string"}, help: "Activate a group of the reread configuration and start its autostart processes.", params: []param{{"name", "the group to add from the reread configuration"}}, returns: "true once it is active",
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
		"supervisor.removeProcessGroup": {sig: []string{"boolean", "string"}, help: "Remove a group whose processes are all stopped.", params: []param{{"name", "the stopped group to remove"}}, returns: "true once it is removed",
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
		"supervisor.startProcess": {sig: []string{"boolean", "string", "boolean"}, help: "Start one process, or every process of a group with \"group:*\".", opt: 1, params: []param{{"name", "\"group:name\", or \"group:*\""}, {"wait", "wait until it is RUNNING (default true)"}}, returns: "true once started",
			fn: func(ctx context.Context, a args) (any, error) { return s.single(ctx, a, sup.Start) }},
		"supervisor.startProcessGroup": {sig: []string{"array", "string", "boolean"}, help: "Start every process of a group, in priority order.", opt: 1, params: []param{{"name", "the group"}, {"wait", "wait until each is RUNNING (default true)"}}, returns: "a result struct per process",
			fn: func(ctx context.Context, a args) (any, error) { return s.group(ctx, a, sup.Start) }},
		"supervisor.startAllProcesses": {sig: []string{"array", "boolean"}, help: "Start every configured process, in priority order.", opt: 1, params: []param{{"wait", "wait until each is RUNNING (default true)"}}, returns: "a result struct per process",
			fn: func(ctx context.Context, a args) (any, error) { return s.all(ctx, a, sup.Start) }},
		"supervisor.stopProcess": {sig: []string{"boolean", "string", "boolean"}, help: "Stop one process, or every process of a group with \"group:*\".", opt: 1, params: []param{{"name", "\"group:name\", or \"group:*\""}, {"wait", "wait until it has stopped (default true)"}}, returns: "true once stopped",
			fn: func(ctx context.Context, a args) (any, error) { return s.single(ctx, a, sup.Stop) }},
		"supervisor.stopProcessGroup": {sig: []string{"array", "string", "boolean"}, help: "Stop every process of a group, in priority order (as supervisord; its shutdown alone stops in reverse).", opt: 1, params: []param{{"name", "the group"}, {"wait", "wait until each has stopped (default true)"}}, returns: "a result struct per process",
			fn: func(ctx context.Context, a args) (any, error) { return s.group(ctx, a, sup.Stop) }},
		// ctlsup's own update, as ctlsup update uses it: after reloadConfig,
		// stop only what changed in a group, then make its new spec the
		// running one (untouched processes keep running with their pids).
		// The standard methods always mean what they mean to supervisord.
		"ctlsup.stopChangedProcesses": {sig: []string{"array", "string", "boolean"}, help: "Stop the processes of a group that the reread configuration changes or drops.", opt: 1, params: []param{{"name", "the group"}, {"wait", "wait until each has stopped (default true)"}}, returns: "a result struct per process stopped",
			fn: func(ctx context.Context, a args) (any, error) {
				return s.group(ctx, a, func(ctx context.Context, t supervisor.Target, w supervisor.Wait) ([]supervisor.Result, error) {
					return sup.StopChanged(ctx, t.Group, w)
				})
			}},
		"ctlsup.updateProcessGroup": {sig: []string{"boolean", "string"}, help: "Make the reread configuration of a group the running one, restarting only its changed processes.", params: []param{{"name", "the group"}}, returns: "true once the group runs its reread configuration",
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
		"ctlsup.restartProcess": {sig: []string{"boolean", "string", "boolean"}, help: "Restart one process: stop, then start; a program with start_before_stop starts its replacement first and stops the old one once that is ready.", opt: 1, params: []param{{"name", "\"group:name\""}, {"wait", "wait until the replacement is RUNNING (default true)"}}, returns: "true once restarted",
			fn: func(ctx context.Context, a args) (any, error) {
				a.count(1, 2)
				name, w := a.str(0), a.wait(1)
				if a.err != nil {
					return nil, a.err
				}
				if err := supervisor.Err(sup.Restart(ctx, supervisor.Process(name), w)); err != nil {
					return nil, toFault(err, name)
				}
				return true, nil
			}},
		"ctlsup.getClusterInfo": {sig: []string{"struct"}, help: "This daemon's cluster: its node name (\"\" without [cluster]) and who holds each singleton = \"cluster\" process's lease.", returns: "a struct with node and holders",
			fn: func(context.Context, args) (any, error) {
				node := ""
				if sup.Leases != nil {
					node = sup.Leases.Node()
				}
				var holders []any
				for _, p := range sup.Processes() {
					if p.Spec.ClusterSingleton {
						holders = append(holders, xmlrpc.Struct{{Name: "name", Value: p.Name}, {Name: "group", Value: p.Group},
							{Name: "holder", Value: sup.LeaseHolders()[p.FullName()]}})
					}
				}
				if holders == nil {
					holders = []any{}
				}
				return xmlrpc.Struct{{Name: "node", Value: node}, {Name: "holders", Value: holders}}, nil
			}},
		"ctlsup.getAllProcessStatus": {sig: []string{"string"}, help: "What `status` shows of every process, compact: a JSON array of [group, name, statename, description], one per process.", returns: "the JSON text",
			fn: func(context.Context, args) (any, error) { return statusTable(sup.Processes(), time.Now()), nil }},
		"ctlsup.getAllProcessUsage": {sig: []string{"array"}, help: "What every process uses: CPU seconds (a counter across its restarts), memory, tasks, OOM kills and its cgroup.", returns: "a usage struct per process",
			fn: func(context.Context, args) (any, error) { return s.usage(sup), nil }},
		"supervisor.stopAllProcesses": {sig: []string{"array", "boolean"}, help: "Stop every process, in priority order (as supervisord; its shutdown alone stops in reverse).", opt: 1, params: []param{{"wait", "wait until each has stopped (default true)"}}, returns: "a result struct per process",
			fn: func(ctx context.Context, a args) (any, error) { return s.all(ctx, a, sup.Stop) }},
		"supervisor.signalProcess": {sig: []string{"boolean", "string", "string"}, help: "Send a signal to one process, or to every process of a group with \"group:*\".", params: []param{{"name", "\"group:name\", or \"group:*\""}, {"signal", "a name (\"HUP\", \"SIGHUP\") or a number"}}, returns: "true once sent",
			fn: func(ctx context.Context, a args) (any, error) { return s.signal(ctx, a, false) }},
		"supervisor.signalProcessGroup": {sig: []string{"array", "string", "string"}, help: "Send a signal to every process of a group.", params: []param{{"name", "the group"}, {"signal", "a name (\"HUP\", \"SIGHUP\") or a number"}}, returns: "a result struct per process",
			fn: func(ctx context.Context, a args) (any, error) { return s.signal(ctx, a, true) }},
		"supervisor.signalAllProcesses": {sig: []string{"array", "string"}, help: "Send a signal to every process.", params: []param{{"signal", "a name (\"HUP\", \"SIGHUP\") or a number"}}, returns: "a result struct per process",
			fn: func(ctx context.Context, a args) (any, error) {
				a.count(1, 1)
				sig := s.parseSignal(&a, 0)
				if a.err != nil {
					return nil, a.err
				}
				if sig < 0 {
					return s.badSignalAll(sup.ByPriority(), signalText(a.p[0])), nil
				}
				rs, err := sup.Signal(ctx, supervisor.All(), syscall.Signal(sig))
				if err != nil {
					return nil, toFault(err, "")
				}
				return results(rs), nil
			}},
		"supervisor.getAllConfigInfo": {sig: []string{"array"}, help: "The configuration of every process, active or not.", returns: "a struct per configured process",
			fn: func(context.Context, args) (any, error) { return configInfo(sup), nil }},
		"supervisor.getProcessInfo": {sig: []string{"struct", "string"}, help: "The state, pid, times and log paths of one process.", params: []param{{"name", "\"group:name\""}}, returns: "the process's info struct",
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
		"supervisor.getAllProcessInfo": {sig: []string{"array"}, help: "The state, pid, times and log paths of every process.", returns: "an info struct per process",
			fn: func(context.Context, args) (any, error) {
				now := time.Now()
				procs := sup.Processes()
				out := make([]any, len(procs))
				for i, p := range procs {
					out[i] = processInfo(p, now)
				}
				return out, nil
			}},
		"supervisor.readProcessStdoutLog": {sig: []string{"string", "string", "int", "int"}, help: "Read bytes from a process's stdout log.", params: []param{{"name", "\"group:name\""}, {"offset", "where to start; negative counts from the end"}, {"length", "how many bytes; 0 reads to the end"}}, returns: "the bytes read",
			fn: func(ctx context.Context, a args) (any, error) { return s.readProcLog(ctx, a, stdoutLog) }},
		"supervisor.readProcessStderrLog": {sig: []string{"string", "string", "int", "int"}, help: "Read bytes from a process's stderr log.", params: []param{{"name", "\"group:name\""}, {"offset", "where to start; negative counts from the end"}, {"length", "how many bytes; 0 reads to the end"}}, returns: "the bytes read",
			fn: func(ctx context.Context, a args) (any, error) { return s.readProcLog(ctx, a, stderrLog) }},
		"supervisor.tailProcessStdoutLog": {sig: []string{"array", "string", "int", "int"}, help: "Follow a process's stdout log: the bytes after offset, at most length of them.", params: []param{{"name", "\"group:name\""}, {"offset", "the offset the previous call returned"}, {"length", "the most bytes wanted"}}, returns: "[bytes, next offset, overflow]",
			fn: func(ctx context.Context, a args) (any, error) { return s.tailProcLog(ctx, a, stdoutLog) }},
		"supervisor.tailProcessStderrLog": {sig: []string{"array", "string", "int", "int"}, help: "Follow a process's stderr log: the bytes after offset, at most length of them.", params: []param{{"name", "\"group:name\""}, {"offset", "the offset the previous call returned"}, {"length", "the most bytes wanted"}}, returns: "[bytes, next offset, overflow]",
			fn: func(ctx context.Context, a args) (any, error) { return s.tailProcLog(ctx, a, stderrLog) }},
		"supervisor.clearProcessLogs": {sig: []string{"boolean", "string"}, help: "Truncate a process's stdout and stderr logs.", params: []param{{"name", "\"group:name\""}}, returns: "true once truncated",
			fn: func(_ context.Context, a args) (any, error) {
				name := a.str(0)
				if a.err != nil {
					return nil, a.err
				}
				if ParseNamespec(name).Group != "" {
					return nil, fault(faultBadName, name)
				}
				if err := sup.ClearLogs(name); err != nil {
					return nil, toFault(err, name)
				}
				return true, nil
			}},
		"supervisor.clearAllProcessLogs": {sig: []string{"array"}, help: "Truncate the logs of every process.", returns: "a result struct per process",
			fn: func(context.Context, args) (any, error) {
				var rs []supervisor.Result
				for _, p := range sup.ByPriority() { // supervisord's order

					rs = append(rs, supervisor.Result{Name: p.Name, Group: p.Group, Err: sup.ClearLogs(p.FullName())})
				}
				return results(rs), nil
			}},
		"supervisor.sendProcessStdin": {sig: []string{"boolean", "string", "string"}, help: "Write characters to a process's stdin.", params: []param{{"name", "\"group:name\""}, {"chars", "the characters to write"}}, returns: "true once written",
			fn: func(ctx context.Context, a args) (any, error) {
				if len(a.p) == 2 {
					switch v := a.p[1].(type) {
					case string:
					case []byte:
						// base64: supervisord decodes it as UTF-8 text.
						if utf8.Valid(v) {
							a.p[1] = string(v)
						}
					case nil:
						return nil, fault(faultIncorrectParameters, "")
					default:
						// supervisord names what it was given, as
						// Python's str() prints it.
						return nil, fault(faultIncorrectParameters, pyStr(v))
					}
				}
				name, chars := a.str(0), a.str(1)
				if a.err != nil {
					return nil, a.err
				}
				if err := sup.SendStdin(ctx, name, []byte(chars)); err != nil {
					return nil, toFault(err, name)
				}
				return true, nil
			}},
		"supervisor.sendRemoteCommEvent": {sig: []string{"boolean", "string", "string"}, help: "Send a REMOTE_COMMUNICATION event to event listeners.", params: []param{{"type", "the event's type string"}, {"data", "the event's data"}}, returns: "true once sent",
			fn: func(_ context.Context, a args) (any, error) {
				// Any value, as supervisord formats it into the event.
				typ, data := a.text(0), a.text(1)
				if a.err != nil {
					return nil, a.err
				}
				sup.EmitRemote(typ, data)
				return true, nil
			}},
	}
	// Aliases supervisord keeps for old clients.
	m["supervisor.getVersion"] = m["supervisor.getAPIVersion"]
	m["supervisor.readMainLog"] = m["supervisor.readLog"]
	m["supervisor.readProcessLog"] = m["supervisor.readProcessStdoutLog"]
	m["supervisor.tailProcessLog"] = m["supervisor.tailProcessStdoutLog"]
	m["supervisor.clearProcessLog"] = m["supervisor.clearProcessLogs"]
	m["system.listMethods"] = method{sig: []string{"array"}, help: "The names of every method.", returns: "the method names",
		fn: func(context.Context, args) (any, error) { return strs(s.methodNames()), nil }}
	m["system.methodHelp"] = method{sig: []string{"string", "string"}, help: "The documentation of a method.", params: []param{{"name", "a method name"}}, returns: "its documentation",
		fn: func(_ context.Context, a args) (any, error) {
			name := a.str(0)
			mm, ok := s.table[name]
			if a.err != nil || !ok {
				return nil, fault(faultSignatureUnsupported, "")
			}
			return mm.doc(), nil
		}}
	m["system.methodSignature"] = method{sig: []string{"array", "string"}, help: "The types a method returns and takes: [return type, parameter types...].", params: []param{{"name", "a method name"}}, returns: "[return type, parameter types...]",
		fn: func(_ context.Context, a args) (any, error) {
			name := a.str(0)
			mm, ok := s.table[name]
			if a.err != nil || !ok {
				return nil, fault(faultSignatureUnsupported, "")
			}
			return strs(mm.sig), nil
		}}
	m["system.multicall"] = method{sig: []string{"array", "array"}, help: "Run several calls in one request and return their results in order.", params: []param{{"calls", "structs of methodName and params"}}, returns: "per call, a one-element array with its result, or a fault struct",
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
