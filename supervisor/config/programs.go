package config

import (
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ctlsup/ctlsup/procfile"
	"github.com/ctlsup/ctlsup/supervisor"
)

var programKeys = []string{
	"command", "directory", "user", "umask", "environment", "numprocs", "priority",
	"autostart", "autorestart", "exitcodes", "startsecs", "startretries", "stopsignal",
	"stopwaitsecs", "stopasgroup", "killasgroup", "redirect_stderr", "stdout_logfile",
	"stderr_logfile", "logfile_maxbytes", "logfile_backups", "instances", "singleton",
	"restart_max_delay", "procfile",
	"memory_max", "memory_high", "cpu_max", "pids_max", "oom_score_adj", "memory_restart",
	"sockets", "ready", "depends_on", "stdin", "stdout_events_enabled", "stderr_events_enabled",
	"on_fatal", "on_exit", "stdout_capture_maxbytes", "stderr_capture_maxbytes",
	"rolling_update", "start_before_stop",
}

// listenerKeys are what an [eventlistener.X] takes beyond a program's.
var listenerKeys = []string{"events", "buffer_size", "result_handler"}

// listenerSpec reads a pool's events (required), buffer_size (10, as
// supervisord's) and result_handler (only supervisord's default).
func listenerSpec(r *reader) *supervisor.ListenerSpec {
	spec := &supervisor.ListenerSpec{BufferSize: r.integer("buffer_size", 10, 1)}
	for _, e := range r.strings("events") {
		spec.Events = append(spec.Events, strings.ToUpper(strings.TrimSpace(e))) // as supervisord reads them
	}
	if r.boolean("redirect_stderr", false) {
		r.fail("redirect_stderr", "an event listener's stdout is its protocol: redirect_stderr would break it")
	}
	if len(spec.Events) == 0 {
		r.fail("events", "events is required: the event types the pool listens to, such as [\"PROCESS_STATE\"]")
	}
	for _, e := range spec.Events {
		if !supervisor.ValidEventType(e) {
			r.fail("events", "events: %q is not an event type", e)
		}
	}
	if h := r.str("result_handler", "supervisor.dispatchers:default_handler"); h != "supervisor.dispatchers:default_handler" {
		r.fail("result_handler", "result_handler %q: only supervisord's default (OK acknowledges, anything else rejects) is supported", h)
	}
	return spec
}

var instanceKeys = []string{"log_dir", "environment", "logfile_maxbytes", "logfile_backups", "priority"}

// Defaults that differ from a zero value.
const (
	defaultPriority        = 999
	defaultMaxBytes        = 50 << 20
	defaultBackups         = 10
	defaultStartSecs       = 1
	defaultStartRetries    = 3
	defaultStopWaitSecs    = 10
	defaultRestartMaxDelay = 60
)

type def struct {
	kind string // "program" or "instance"
	name string
	r    *reader
}

type instanceDef struct {
	def
	logDir   string
	env      map[string]string
	maxBytes int64
	backups  int
	priority int
}

type programDef struct {
	def
	listener bool // an [eventlistener.X]: a pool of its processes
}

// collect records the file's instances and programs in definition order.
func (l *loader) collect(f *file) error {
	for _, kind := range []string{"program", "instance", "socket", "eventlistener"} {
		if v, ok := f.m[kind]; ok {
			if _, ok := v.(map[string]any); !ok {
				return &Error{File: f.name, Line: f.line(kind), Msg: fmt.Sprintf("%s must be tables such as [%s.NAME]", kind, kind)}
			}
		}
	}
	for _, k := range f.keys {
		if len(k) != 2 || (k[0] != "program" && k[0] != "instance" && k[0] != "socket" && k[0] != "eventlistener") {
			continue
		}
		m, ok := f.m[k[0]].(map[string]any)[k[1]].(map[string]any)
		if !ok {
			return &Error{File: f.name, Line: f.line(k...), Msg: fmt.Sprintf("%s.%s must be a table", k[0], k[1])}
		}
		d := def{kind: k[0], name: k[1], r: &reader{f: f, path: []string{k[0], k[1]}, desc: fmt.Sprintf("%s %q", k[0], k[1]), m: m}}
		// Programs and event listeners share their names; instances and
		// sockets each have their own.
		space := d.kind
		if space == "eventlistener" {
			space = "program"
		}
		if prev, ok := l.defined[space+"\x00"+d.name]; ok {
			return l.redefined(d, prev)
		}
		l.defined[space+"\x00"+d.name] = d
		if d.kind == "socket" {
			l.sockets = append(l.sockets, &socketDef{def: d})
			continue
		}
		switch d.kind {
		case "instance":
			l.instances = append(l.instances, &instanceDef{def: d})
			l.order = append(l.order, "instance\x00"+d.name)
		default:
			l.programs = append(l.programs, &programDef{def: d, listener: d.kind == "eventlistener"})
			l.order = append(l.order, "program\x00"+d.name)
		}
	}
	return nil
}

func (l *loader) redefined(d, prev def) error {
	return &Error{File: d.r.f.name, Line: d.r.f.line(d.r.path...), Table: d.r.desc,
		Msg: fmt.Sprintf("already defined at %s:%d", prev.r.f.name, prev.r.f.line(prev.r.path...))}
}

// build turns the collected definitions into groups: one per instance, and
// one per program of no instance, in order of definition.
func (l *loader) build(d *Daemon) ([]supervisor.GroupSpec, error) {
	instances := map[string]*instanceDef{}
	for _, in := range l.instances {
		if err := l.readInstance(in, d); err != nil {
			return nil, err
		}
		instances[in.name] = in
	}
	sockets := map[string]*socketDef{}
	addrs := map[string]*socketDef{}
	for _, sd := range l.sockets {
		if err := sd.read(); err != nil {
			return nil, err
		}
		key := sd.spec.Network + " " + sd.spec.Address
		if prev := addrs[key]; prev != nil {
			return nil, &Error{File: sd.r.f.name, Line: sd.r.f.line(append(sd.r.path, "listen")...), Table: sd.r.desc,
				Msg: fmt.Sprintf("listen = %q is socket %q's too: name it once", sd.spec.Address, prev.name)}
		}
		addrs[key] = sd
		sockets[sd.name] = sd
	}
	l.socketsByName = sockets
	groups := map[string]*supervisor.GroupSpec{}
	groupLine := map[string]string{}
	var order []string
	addGroup := func(name, where string) *supervisor.GroupSpec {
		if g := groups[name]; g != nil {
			return g
		}
		g := &supervisor.GroupSpec{Name: name, Priority: defaultPriority}
		groups[name], groupLine[name] = g, where
		order = append(order, name)
		return g
	}
	for _, in := range l.instances {
		addGroup(in.name, in.r.desc).Priority = in.priority
	}
	for _, p := range l.programs {
		specs, err := l.readProgram(p, instances, d)
		if err != nil {
			return nil, err
		}
		var listener *supervisor.ListenerSpec
		if p.listener {
			if listener = listenerSpec(p.r); p.r.err != nil {
				return nil, p.r.err
			}
		}
		for i, s := range specs {
			if s.Instance == "" {
				if prev, clash := groupLine[s.Group]; clash && prev != p.r.desc {
					return nil, &Error{File: p.r.f.name, Line: p.r.f.line(p.r.path...), Table: p.r.desc,
						Msg: fmt.Sprintf("its group %q has the name of %s", s.Group, prev)}
				}
			}
			g := addGroup(s.Group, p.r.desc)
			for _, o := range g.Processes {
				if o.Name == s.Name {
					return nil, &Error{File: p.r.f.name, Line: p.r.f.line(p.r.path...), Table: p.r.desc,
						Msg: fmt.Sprintf("process %q is defined twice", s.FullName())}
				}
			}
			if g.Processes == nil {
				// The spec stays where it was read: a copy would leave
				// the read one's 512 bytes as garbage between every two
				// programs' specs, holes that outlive the load.
				g.Processes = specs[i : i+1 : i+1]
			} else {
				g.Processes = append(g.Processes, s)
			}
			if s.Instance == "" {
				g.Priority = s.Priority // a program's own group: supervisord's homogeneous group
				if p.listener && !p.r.has("priority") {
					// As supervisord's: a pool without a priority starts
					// first and stops last, its processes keep 999.
					g.Priority = -1
				}
			}
			if listener != nil {
				g.Listener = listener
			}
		}
	}
	// Groups in definition order: instances where defined, programs of no
	// instance where defined.
	out := make([]supervisor.GroupSpec, 0, len(order))
	for _, key := range l.order {
		name := key[len("program\x00"):]
		if key[0] == 'i' {
			name = key[len("instance\x00"):]
		}
		if g := groups[name]; g != nil && len(g.Processes) > 0 {
			out = append(out, *g)
			delete(groups, name)
		}
	}
	return out, nil
}

func (l *loader) readInstance(in *instanceDef, d *Daemon) error {
	r := in.r
	r.checkKeys(instanceKeys)
	x := &expander{builtins: map[string]string{"instance": in.name, "here": r.f.dir}, daemon: l.env}
	in.logDir = r.f.abs(expandKey(r, x, "log_dir", r.str("log_dir", "")))
	if in.logDir == "" {
		in.logDir = filepath.Join(d.LogDir, in.name)
	}
	in.env = r.env("environment")
	for k, v := range in.env {
		in.env[k] = expandKey(r, x, "environment", v)
	}
	in.maxBytes = r.size("logfile_maxbytes", defaultMaxBytes)
	in.backups = r.integer("logfile_backups", defaultBackups, 0)
	in.priority = r.integer("priority", defaultPriority, -1<<31)
	return r.err
}

func expandKey(r *reader, x *expander, key, s string) string {
	out, err := x.expand(s)
	if err != nil {
		r.fail(key, "%s: %v", key, err)
	}
	return out
}

// readProgram reads one program table and expands it into its processes:
// maxNumprocs bounds one program's processes: a typo of a few zeros must be
// an error, not a daemon that allocates for a hundred million processes.
const maxNumprocs = 10000

// one copy per instance (or one of no instance), numprocs each.
func (l *loader) readProgram(p *programDef, instances map[string]*instanceDef, d *Daemon) ([]supervisor.ProcessSpec, error) {
	r := p.r
	if p.listener {
		r.checkKeys(append(slices.Clone(programKeys), listenerKeys...))
		if r.has("instances") {
			r.fail("instances", "an event listener pool is a group of its own: it takes no instances")
		}
	} else {
		r.checkKeys(programKeys)
	}
	var words []string
	// A Procfile's commands run where it is, as foreman runs them,
	// unless directory says otherwise.
	defaultDir := ""
	shellStays := false // a Procfile command's shell keeps it as a child
	switch {
	case r.has("procfile") && r.has("command"):
		r.fail("procfile", "set command or procfile, not both")
	case r.has("procfile"):
		words, defaultDir, shellStays = procfileCommand(r)
	case !r.has("command"):
		r.fail("command", "command is required (or procfile = \"Procfile:TYPE\")")
	}
	switch c := r.m["command"].(type) {
	case string:
		w, err := splitWords(c)
		if err != nil {
			r.fail("command", "command: %v", err)
		}
		words = w
	case []any:
		words = r.strings("command")
	case nil:
		if r.has("command") {
			r.fail("command", "command must be a string or an array of strings")
		}
	default:
		r.fail("command", "command must be a string or an array of strings, not %s", typeName(c))
	}
	if len(words) == 0 && r.err == nil {
		r.fail("command", "command is empty")
	}
	numprocs := r.integer("numprocs", 1, 1)
	if numprocs > maxNumprocs {
		r.fail("numprocs", "numprocs = %d, but a program may run at most %d processes", numprocs, maxNumprocs)
		numprocs = 1
	}
	singleton, cluster := singletonKind(r)
	if cluster && d.Cluster.Backend == "" {
		r.fail("singleton", `singleton = "cluster" needs a [cluster] backend in the daemon file`)
	}
	if stop := time.Duration(r.integer("stopwaitsecs", defaultStopWaitSecs, 0)) * time.Second; cluster && stop+d.Cluster.Margin > d.Cluster.TTL/2 {
		r.fail("stopwaitsecs", "stopwaitsecs (%s) + fence_margin (%s) must be at most half of lease_ttl (%s): a cluster singleton must stop before its lease can end elsewhere, with renewals to spare",
			stop, d.Cluster.Margin, d.Cluster.TTL)
	}
	if singleton && numprocs > 1 {
		r.fail("numprocs", "numprocs = %d, but a singleton program runs exactly one process", numprocs)
	}
	startBeforeStop := r.boolean("start_before_stop", false)
	if startBeforeStop && singleton {
		r.fail("start_before_stop", "start_before_stop runs two of the program at once for a moment, which singleton forbids")
	}
	base := supervisor.ProcessSpec{
		Program:      p.name,
		User:         r.str("user", ""),
		Umask:        r.octal("umask"),
		Priority:     r.integer("priority", defaultPriority, -1<<31),
		AutoStart:    r.boolean("autostart", true),
		AutoRestart:  autoRestart(r),
		ExitCodes:    r.ints("exitcodes", []int{0}),
		StartSecs:    time.Duration(r.integer("startsecs", defaultStartSecs, 0)) * time.Second,
		StartRetries: r.integer("startretries", defaultStartRetries, -1),
		StopSignal:   r.signal("stopsignal", syscall.SIGTERM),
		StopWait:     time.Duration(r.integer("stopwaitsecs", defaultStopWaitSecs, 0)) * time.Second,
		// A Procfile's command that is more than one simple command
		// runs under a shell that stays: its stop signal goes to the
		// group, as foreman's, to reach the command.
		StopAsGroup:           r.boolean("stopasgroup", shellStays),
		KillAsGroup:           r.boolean("killasgroup", true),
		RestartMaxDelay:       time.Duration(r.integer("restart_max_delay", defaultRestartMaxDelay, 0)) * time.Second,
		Singleton:             singleton,
		ClusterSingleton:      cluster,
		RedirectStderr:        r.boolean("redirect_stderr", false),
		Limits:                limits(r),
		Stdin:                 r.boolean("stdin", false) || p.listener,
		StdoutEvents:          r.boolean("stdout_events_enabled", false),
		OnFatal:               r.str("on_fatal", ""),
		StdoutCaptureMaxBytes: r.size("stdout_capture_maxbytes", 0),
		StderrCaptureMaxBytes: r.size("stderr_capture_maxbytes", 0),
		OnExit:                r.str("on_exit", ""),
		StderrEvents:          r.boolean("stderr_events_enabled", false),
		RollingUpdate:         int32(min(r.integer("rolling_update", 0, 0), math.MaxInt32)),
		StartBeforeStop:       startBeforeStop,
	}
	if base.StopAsGroup {
		base.KillAsGroup = true // as supervisord: stopping the group implies killing it
	}
	names := r.strings("instances")
	if r.err != nil {
		return nil, r.err
	}
	type target struct{ in *instanceDef }
	targets := []target{{nil}}
	if r.has("instances") {
		if len(names) == 0 {
			r.fail("instances", "instances is empty: name at least one instance, or remove the key")
		}
		targets = targets[:0]
		for _, n := range names {
			in := instances[n]
			if in == nil {
				r.fail("instances", "instance %q is not defined (define it with [instance.%s])", n, n)
				return nil, r.err
			}
			targets = append(targets, target{in})
		}
	}
	var specs []supervisor.ProcessSpec
	for _, t := range targets {
		for i := range numprocs {
			s := base
			s.ExitCodes = append([]int(nil), base.ExitCodes...)
			s.Name = p.name
			if numprocs > 1 {
				s.Name = fmt.Sprintf("%s_%02d", p.name, i)
			}
			logDir, maxBytes, backups := d.LogDir, int64(defaultMaxBytes), defaultBackups
			x := &expander{builtins: map[string]string{
				"program": p.name, "process_name": s.Name, "process_num": strconv.Itoa(i), "here": r.f.dir,
			}, daemon: l.env}
			s.Group = p.name
			s.Environment = map[string]string{}
			if in := t.in; in != nil {
				s.Instance, s.Group = in.name, in.name
				x.builtins["instance"] = in.name
				x.instance = in.env
				logDir, maxBytes, backups = in.logDir, in.maxBytes, in.backups
				maps.Copy(s.Environment, in.env)
			}
			for k, v := range r.env("environment") {
				s.Environment[k] = expandKey(r, x, "environment", v)
			}
			if len(s.Environment) == 0 {
				s.Environment = nil // most programs set none: no empty map each
			}
			s.Argv = make([]string, len(words))
			for j, w := range words {
				s.Argv[j] = expandKey(r, x, "command", w)
			}
			s.Directory = r.f.abs(expandKey(r, x, "directory", r.str("directory", defaultDir)))
			checkPathLength(r, "directory", s.Directory)
			if _, ok := l.commandAt[s.Program]; !ok {
				l.commandAt[s.Program] = &Error{File: r.f.name, Line: r.f.line(append(slices.Clone(r.path), "command")...), Table: r.desc, Key: "command"}
			}
			s.User = expandKey(r, x, "user", s.User)
			if _, ok := l.userAt[s.User]; !ok && s.User != "" {
				l.userAt[s.User] = &Error{File: r.f.name, Line: r.f.line(append(slices.Clone(r.path), "user")...), Table: r.desc, Key: "user"}
			}
			maxBytes = r.size("logfile_maxbytes", maxBytes)
			backups = r.integer("logfile_backups", backups, 0)
			s.Stdout = logSpec(r, x, "stdout_logfile", filepath.Join(logDir, s.Name+".log"), maxBytes, backups)
			s.Stderr = logSpec(r, x, "stderr_logfile", filepath.Join(logDir, s.Name+".err.log"), maxBytes, backups)
			if s.RedirectStderr {
				s.Stderr = supervisor.LogSpec{}
			}
			s.Sockets = l.programSockets(r, x)
			s.Ready = readiness(r, x)
			checkProbeTarget(r, s)
			for _, d := range r.strings("depends_on") {
				s.DependsOn = append(s.DependsOn, expandKey(r, x, "depends_on", d))
			}
			l.where[s.FullName()] = r
			specs = append(specs, s)
		}
	}
	return specs, r.err
}

// singletonKind reads singleton: true (or "host") keeps the program to one
// process on this host; "cluster" to one in the whole cluster, and on
// this host too.
func singletonKind(r *reader) (singleton, cluster bool) {
	switch v := r.m["singleton"].(type) {
	case nil:
		return false, false
	case bool:
		return v, false
	case string:
		switch v {
		case "host":
			return true, false
		case "cluster":
			return true, true
		}
	}
	r.fail("singleton", `singleton = %v: want true, false, "host" or "cluster"`, r.m["singleton"])
	return false, false
}

func autoRestart(r *reader) supervisor.AutoRestart {
	switch v := r.m["autorestart"].(type) {
	case nil:
		return supervisor.RestartUnexpected
	case bool:
		if v {
			return supervisor.RestartAlways
		}
		return supervisor.RestartNever
	case string:
		switch v {
		case "unexpected":
			return supervisor.RestartUnexpected
		case "true":
			return supervisor.RestartAlways
		case "false":
			return supervisor.RestartNever
		}
	}
	r.fail("autorestart", `autorestart must be true, false or "unexpected"`)
	return supervisor.RestartUnexpected
}

// logSpec reads stdout_logfile or stderr_logfile: "auto" (the default) is
// auto, "none" discards, anything else is a path. A discarded stream
// keeps its rotation settings, unused, for getAllConfigInfo to show as
// supervisord does.
func logSpec(r *reader, x *expander, key, auto string, maxBytes int64, backups int) supervisor.LogSpec {
	v := expandKey(r, x, key, r.str(key, "auto"))
	switch v {
	case "auto", "AUTO":
		return supervisor.AutoLog(auto, maxBytes, backups)
	case "none", "NONE":
		return supervisor.LogSpec{MaxBytes: maxBytes, Backups: backups}
	default:
		v = r.f.abs(v)
		checkLogPath(r, key, v)
	}
	return supervisor.LogSpec{Path: v, MaxBytes: maxBytes, Backups: backups}
}

// procfileCommand reads `procfile = "PATH:TYPE"`: the command of process
// type TYPE in the Procfile at PATH (relative to this file), run with
// /bin/sh -c as foreman runs it (exec'd where it is one simple command:
// procfile.Shell), and the Procfile's directory (its $ doubled, as a
// directory value's). A server's TOML then adds only what differs from
// the Procfile.
func procfileCommand(r *reader) (words []string, dir string, shellStays bool) {
	ref := r.str("procfile", "")
	i := strings.LastIndex(ref, ":")
	if i <= 0 || i == len(ref)-1 {
		r.fail("procfile", "procfile = %q is not \"PATH:TYPE\", such as \"Procfile:web\"", ref)
		return nil, "", false
	}
	path, typ := r.f.abs(ref[:i]), ref[i+1:]
	f, err := os.Open(path)
	if err != nil {
		r.fail("procfile", "procfile: %v", err)
		return nil, "", false
	}
	defer f.Close()
	entries, err := procfile.Parse(f)
	if err != nil {
		r.fail("procfile", "procfile %s: %v", path, err)
		return nil, "", false
	}
	for _, e := range entries {
		if e.Name == typ {
			argv, grouped := procfile.Shell(e.Command)
			// $ belongs to the shell here, not to ${NAME} expansion.
			for i := range argv {
				argv[i] = strings.ReplaceAll(argv[i], "$", "$$")
			}
			return argv, strings.ReplaceAll(filepath.Dir(path), "$", "$$"), grouped
		}
	}
	r.fail("procfile", "procfile %s has no process type %q", path, typ)
	return nil, "", false
}
