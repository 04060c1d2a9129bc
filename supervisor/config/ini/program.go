package ini

import (
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/ctlsup/ctlsup/supervisor"
)

// program converts one [program:x]. Its processes keep supervisord's names:
// a program of no group with one process is a program of its own group; a
// program in a [group:g], or with numprocs, becomes instances whose
// programs are the processes, named as supervisord names them.
func (c *converter) program(s *Section, name string, groups []string, declared map[string]bool) error {
	num := 1
	if k, ok := s.Get("numprocs"); ok {
		n, err := strconv.Atoi(k.Value)
		if err != nil || n < 1 {
			return fmt.Errorf("%s:%d: [%s] numprocs = %q", k.In(s), k.Line, s.Name, k.Value)
		}
		num = n
	}
	start := 0
	if k, ok := s.Get("numprocs_start"); ok {
		start, _ = strconv.Atoi(k.Value)
	}
	procPattern := "%(program_name)s"
	if k, ok := s.Get("process_name"); ok {
		procPattern = k.Value
	}
	if err := needsProcessNum(s, num, procPattern); err != nil {
		return err
	}
	instances := groups
	for i := range num {
		vars := c.withDaemonEnv(map[string]string{"program_name": name, "process_num": strconv.Itoa(start + i),
			"group_name": name, "here": filepath.Dir(s.File), "host_node_name": c.host, "numprocs": strconv.Itoa(num)})
		if len(groups) > 0 {
			vars["group_name"] = groups[0]
		}
		proc, err := expand(procPattern, vars)
		if err != nil {
			return fmt.Errorf("%s:%d: [%s] process_name: %v", s.File, s.Line, s.Name, err)
		}
		if len(groups) == 0 && (num > 1 || proc != name) {
			instances = []string{name}
		}
		for _, inst := range instances {
			if !declared["instance\x00"+inst] {
				declared["instance\x00"+inst] = true
				fmt.Fprintf(&c.progs, "\n[instance.%s]\n", TOMLKey(inst))
				// The group's priority: a [group:x]'s own, or for the
				// group supervisord makes of one program, the program's.
				prio, ok := c.groupPrio[inst]
				if k, has := s.Get("priority"); !ok && has && len(groups) == 0 {
					prio, ok = k.Value, true
				}
				if ok {
					if _, err := strconv.Atoi(strings.TrimSpace(prio)); err != nil {
						return fmt.Errorf("%s:%d: [%s] priority = %q", s.File, s.Line, s.Name, prio)
					}
					fmt.Fprintf(&c.progs, "priority = %s\n", strings.TrimSpace(prio))
				}
			}
		}
		if declared["program\x00"+proc] {
			return fmt.Errorf("%s:%d: [%s]: process %q is defined twice", s.File, s.Line, s.Name, proc)
		}
		declared["program\x00"+proc] = true
		fmt.Fprintf(&c.progs, "\n[program.%s]\n", TOMLKey(proc))
		if len(instances) > 0 {
			q := make([]string, len(instances))
			for j, in := range instances {
				q[j] = TOMLString(in)
			}
			fmt.Fprintf(&c.progs, "instances = [%s]\n", strings.Join(q, ", "))
		}
		if err := c.programKeys(s, vars, i == 0); err != nil {
			return err
		}
		// What ctlsupd guards that supervisord left to care: one beat.
		// Of a beat given numprocs each copy would hold a lock of its own.
		if k, ok := s.Get("command"); ok && num == 1 {
			if command, err := expand(k.Value, vars); err == nil && RunsCeleryBeat(command) {
				fmt.Fprintln(&c.progs, "singleton = true # celery beat: a second one would send every periodic task twice")
			}
		}
		if k, ok := s.Get("command"); ok && i == 0 && uwsgiReloadsOnStop(k.Value, s) {
			why := uwsgiStopNote
			fmt.Fprintf(&c.progs, "# %s\n", why)
			c.res.Notes = append(c.res.Notes, Omission{File: s.fileOf("command", k.Line), Line: k.Line, Section: s.Name, Key: "stopsignal", Why: why})
		}
	}
	return nil
}

// programKeys writes one process's settings; omissions are reported once.
func (c *converter) programKeys(s *Section, vars map[string]string, report bool) error {
	w := &c.progs
	stopAsGroup, killAsGroup := false, false
	envWritten := false
	var maxBytes, backups *Key
	own, err := c.ownEnvVars(s, vars)
	if err != nil {
		return err
	}
	serverURL := c.serverURLEnv(s)
	for _, key := range s.Keys {
		k := key
		val := func() (string, error) {
			v, err := expand(k.Value, own)
			if err != nil {
				return "", fmt.Errorf("%s:%d: [%s] %s: %v", k.In(s), k.Line, s.Name, k.Name, err)
			}
			return v, nil
		}
		switch k.Name {
		case "command", "directory", "user":
			v, err := val()
			if err != nil {
				return err
			}
			if k.Name == "command" && report {
				c.envWords(s, k, own)
			}
			if k.Name == "directory" {
				v = c.rooted(s, k, v, c.spawnDir, false, report) // (no ~ expansion: supervisord makes none here)
			}
			fmt.Fprintf(w, "%s = %s\n", k.Name, TOMLString(v))
		case "umask":
			if _, err := strconv.ParseUint(strings.TrimPrefix(k.Value, "0o"), 8, 32); err != nil {
				return fmt.Errorf("%s:%d: [%s] umask = %q is not an octal mode such as 022", k.In(s), k.Line, s.Name, k.Value)
			}
			fmt.Fprintf(w, "umask = %s\n", TOMLString(k.Value))
		case "priority", "startsecs", "startretries", "stopwaitsecs":
			n, err := strconv.Atoi(k.Value)
			if err != nil {
				return fmt.Errorf("%s:%d: [%s] %s = %q is not a number", k.In(s), k.Line, s.Name, k.Name, k.Value)
			}
			fmt.Fprintf(w, "%s = %d\n", k.Name, n)
		case "autostart", "redirect_stderr":
			b, err := boolean(k.Value)
			if err != nil {
				return fmt.Errorf("%s:%d: [%s] %s: %v", k.In(s), k.Line, s.Name, k.Name, err)
			}
			fmt.Fprintf(w, "%s = %v\n", k.Name, b)
		case "stopasgroup":
			stopAsGroup, _ = boolean(k.Value)
		case "killasgroup":
			killAsGroup, _ = boolean(k.Value)
		case "autorestart":
			switch v := strings.ToLower(k.Value); v {
			case "unexpected":
				fmt.Fprintln(w, `autorestart = "unexpected"`)
			default:
				b, err := boolean(v)
				if err != nil {
					return fmt.Errorf("%s:%d: [%s] autorestart: %v", k.In(s), k.Line, s.Name, err)
				}
				fmt.Fprintf(w, "autorestart = %v\n", b)
			}
		case "exitcodes":
			var codes []string
			for _, p := range strings.Split(k.Value, ",") {
				n, err := strconv.Atoi(strings.TrimSpace(p))
				if err != nil {
					return fmt.Errorf("%s:%d: [%s] exitcodes = %q: %q is not an exit code", k.In(s), k.Line, s.Name, k.Value, p)
				}
				codes = append(codes, strconv.Itoa(n))
			}
			fmt.Fprintf(w, "exitcodes = [%s]\n", strings.Join(codes, ", "))
		case "stopsignal":
			sig := strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(k.Value)), "SIG")
			if !slices.Contains(stopSignals, sig) {
				return fmt.Errorf("%s:%d: [%s] stopsignal = %q: ctlsupd stops a program with one of %s",
					k.In(s), k.Line, s.Name, k.Value, strings.Join(stopSignals, ", "))
			}
			fmt.Fprintf(w, "stopsignal = %s\n", TOMLString(sig))
		case "stdout_logfile", "stderr_logfile":
			switch strings.ToUpper(k.Value) {
			case "AUTO":
				// ctlsup's auto: <log_dir>/<process>.log rather than a random name.
			case "NONE":
				fmt.Fprintf(w, "%s = \"none\"\n", k.Name)
			case "SYSLOG":
				if report {
					c.omit(s, k.Name, "syslog output is not supported; logs go to files", k.Line)
				}
			default:
				v, err := val()
				if err != nil {
					return err
				}
				fmt.Fprintf(w, "%s = %s\n", k.Name, TOMLString(c.rooted(s, k, v, c.spawnDir, true, report)))
			}
		case "stdout_logfile_maxbytes", "stderr_logfile_maxbytes":
			if maxBytes == nil {
				maxBytes = &k
			} else if report && !strings.EqualFold(maxBytes.Value, k.Value) {
				c.omit(s, k.Name, "ctlsup rotates stdout and stderr at one size: "+maxBytes.Name+" is used", k.Line)
			}
		case "stdout_logfile_backups", "stderr_logfile_backups":
			if backups == nil {
				backups = &k
			} else if report && backups.Value != k.Value {
				c.omit(s, k.Name, "ctlsup keeps one backup count for both streams: "+backups.Name+" is used", k.Line)
			}
		case "environment":
			pairs, err := parseEnvironment(k.Value)
			if err != nil {
				return fmt.Errorf("%s:%d: [%s] %v", k.In(s), k.Line, s.Name, err)
			}
			pairs = append(serverURL, pairs...)
			if err := c.environment(w, s, k.Line, pairs, vars); err != nil {
				return err
			}
			envWritten = true
		case "stdout_capture_maxbytes", "stderr_capture_maxbytes":
			if !sizeRE.MatchString(k.Value) {
				return fmt.Errorf("%s:%d: [%s] %s = %q is not a size such as 1MB", k.In(s), k.Line, s.Name, k.Name, k.Value)
			}
			fmt.Fprintf(w, "%s = %s\n", k.Name, sizeValue(strings.TrimSpace(k.Value)))
		case "stdout_events_enabled", "stderr_events_enabled":
			b, err := boolean(k.Value)
			if err != nil {
				return fmt.Errorf("%s:%d: [%s] %s: %v", k.In(s), k.Line, s.Name, k.Name, err)
			}
			fmt.Fprintf(w, "%s = %v\n", k.Name, b)
		case "events", "buffer_size", "result_handler":
			if !strings.HasPrefix(s.Name, "eventlistener:") && report {
				c.omit(s, k.Name, "an event listener's key, in a program", k.Line)
			}
		case "numprocs", "numprocs_start", "process_name", "serverurl":
		default:
			if report {
				why, ok := dropped[k.Name]
				if !ok {
					why = "unknown program key"
				}
				c.omit(s, k.Name, why, k.Line)
			}
		}
	}
	if !envWritten && (len(c.daemonEnv) > 0 || serverURL != nil) {
		if err := c.environment(w, s, s.Line, serverURL, vars); err != nil {
			return err
		}
	}
	if maxBytes != nil {
		if !sizeRE.MatchString(maxBytes.Value) {
			return fmt.Errorf("%s:%d: [%s] %s = %q is not a size such as 50MB", maxBytes.In(s), maxBytes.Line, s.Name, maxBytes.Name, maxBytes.Value)
		}
		fmt.Fprintf(w, "logfile_maxbytes = %s\n", sizeValue(strings.TrimSpace(maxBytes.Value)))
	}
	if backups != nil {
		n, err := strconv.Atoi(strings.TrimSpace(backups.Value))
		if err != nil || n < 0 {
			return fmt.Errorf("%s:%d: [%s] %s = %q is not a number of files", backups.In(s), backups.Line, s.Name, backups.Name, backups.Value)
		}
		fmt.Fprintf(w, "logfile_backups = %d\n", n)
	}
	if report {
		c.oneStreamsRotation(s, maxBytes, "50MB", "size", "maxbytes")
		c.oneStreamsRotation(s, backups, "10", "backup count", "backups")
	}
	// supervisord's defaults, written out: ctlsup's own default kills the
	// whole group.
	fmt.Fprintf(w, "stopasgroup = %v\nkillasgroup = %v\n", stopAsGroup, killAsGroup || stopAsGroup)
	return nil
}

const serverURLVar = "SUPERVISOR_SERVER_URL"

// serverURLEnv is what a program's serverurl= becomes: the variable
// supervisord sets from it, which ctlsupd takes from the program's
// environment. AUTO or empty, as unset, leaves the daemon's own URL.
// supervisord applies the program's environment (its own environment=
// over [supervisord]'s) after setting it, so a SUPERVISOR_SERVER_URL
// in either wins, and serverurl= then says nothing.
func (c *converter) serverURLEnv(s *Section) [][2]string {
	k, ok := s.Get("serverurl")
	v := strings.TrimSpace(k.Value)
	if !ok || v == "" || strings.EqualFold(v, "AUTO") {
		return nil
	}
	named := func(pairs [][2]string) bool {
		return slices.ContainsFunc(pairs, func(p [2]string) bool { return p[0] == serverURLVar })
	}
	if named(c.daemonEnv) {
		return nil
	}
	if e, ok := s.Get("environment"); ok {
		if pairs, err := parseEnvironment(e.Value); err == nil && named(pairs) {
			return nil
		}
	}
	return [][2]string{{serverURLVar, v}}
}

// withDaemonEnv adds to a program's expansions the variables of
// [supervisord] environment, which supervisord's %(ENV_X)s finds before
// its own environment's: their converted values, as ctlsupd would not
// find them in its environment.
func (c *converter) withDaemonEnv(vars map[string]string) map[string]string {
	maps.Copy(vars, c.daemonEnvVars)
	return vars
}

// ownEnvVars is vars with the program's own environment= variables,
// which supervisord lets the program's other keys name as %(ENV_X)s.
func (c *converter) ownEnvVars(s *Section, vars map[string]string) (map[string]string, error) {
	k, ok := s.Get("environment")
	if !ok {
		return vars, nil
	}
	pairs, err := parseEnvironment(k.Value)
	if err != nil {
		return nil, fmt.Errorf("%s:%d: [%s] %v", k.In(s), k.Line, s.Name, err)
	}
	own := maps.Clone(vars)
	for _, p := range pairs {
		v, err := expand(p[1], vars)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: [%s] environment: %v", k.In(s), k.Line, s.Name, err)
		}
		own["ENV_"+p[0]] = v
	}
	return own, nil
}

// envWords reports %(ENV_X)s in a command where X comes from the
// environment ctlsupd will have and holds several words now: supervisord
// split the value into arguments when it read the file, ctlsupd passes
// ${X} as one.
func (c *converter) envWords(s *Section, k Key, vars map[string]string) {
	for _, m := range envRefRE.FindAllStringSubmatch(k.Value, -1) {
		if _, known := vars["ENV_"+m[1]]; known {
			continue
		}
		if v, set := os.LookupEnv(m[1]); set && len(strings.Fields(v)) > 1 {
			c.omit(s, k.Name, fmt.Sprintf("%%(ENV_%s)s is %d words here, which supervisord passed as %d arguments; ctlsupd passes ${%s} as one: write them into command", m[1], len(strings.Fields(v)), len(strings.Fields(v)), m[1]), k.Line)
		}
	}
}

var envRefRE = regexp.MustCompile(`%\(ENV_([A-Za-z0-9_]+)\)`)

// environment writes a program's environment: [supervisord]'s, which
// supervisord's children inherit, then the program's own, which wins.
func (c *converter) environment(w io.Writer, s *Section, line int, own [][2]string, vars map[string]string) error {
	pairs := slices.DeleteFunc(slices.Clone(c.daemonEnv), func(d [2]string) bool {
		return slices.ContainsFunc(own, func(o [2]string) bool { return o[0] == d[0] })
	})
	var parts []string
	for _, p := range pairs {
		// As supervisord read it, once, for the daemon: expanding it again
		// here would find its own %(ENV_X)s among the daemon's variables.
		if v, ok := c.daemonEnvVars["ENV_"+p[0]]; ok {
			parts = append(parts, TOMLKey(p[0])+" = "+TOMLString(v))
		}
	}
	for _, p := range own {
		v, err := expand(p[1], vars)
		if err != nil {
			return fmt.Errorf("%s:%d: [%s] environment: %v", s.fileOf("environment", line), line, s.Name, err)
		}
		parts = append(parts, TOMLKey(p[0])+" = "+TOMLString(v))
	}
	fmt.Fprintf(w, "environment = { %s }\n", strings.Join(parts, ", "))
	return nil
}

// oneStreamsRotation reports a rotation setting given for one stream
// only, where the other stream has a log file of its own: ctlsup rotates
// both at one setting, so that log gets the one given where supervisord
// gives it its default (def).
func (c *converter) oneStreamsRotation(s *Section, given *Key, def, what, suffix string) {
	if given == nil || strings.EqualFold(given.Value, def) {
		return
	}
	other := "stderr"
	if strings.HasPrefix(given.Name, "stderr_") {
		other = "stdout"
	}
	if _, ok := s.Get(other + "_logfile_" + suffix); ok {
		return // both given: a difference is reported where it is read
	}
	if logfile, ok := s.Get(other + "_logfile"); ok && strings.EqualFold(strings.TrimSpace(logfile.Value), "NONE") {
		return
	}
	if other == "stderr" {
		if r, ok := s.Get("redirect_stderr"); ok {
			if b, err := boolean(r.Value); err == nil && b {
				return
			}
		}
	}
	c.omit(s, given.Name, fmt.Sprintf("ctlsup keeps one %s for both streams: the %s log gets %s too, not supervisord's default %s",
		what, other, given.Value, def), given.Line)
}

func sizeValue(v string) string {
	if n, err := strconv.Atoi(v); err == nil {
		return strconv.Itoa(n)
	}
	return TOMLString(v)
}

// stopSignals are the signals ctlsupd stops a program with (config.go's).
var stopSignals = []string{"TERM", "HUP", "INT", "QUIT", "KILL", "USR1", "USR2"}

// boolean reads supervisord's true/false/yes/no/on/off/1/0.
func boolean(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "yes", "on", "1":
		return true, nil
	case "false", "no", "off", "0":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean", v)
}

// eventListener converts an [eventlistener:x]: a pool of its own, its
// processes named x (or x_00, x_01, ... with numprocs).
func (c *converter) eventListener(s *Section, name string, declared map[string]bool) error {
	if declared["program\x00"+name] {
		return fmt.Errorf("%s:%d: [%s]: %q is defined twice", s.File, s.Line, s.Name, name)
	}
	declared["program\x00"+name] = true
	// What supervisord refuses to start with is an error here too, at
	// its line, not a file that does not load.
	if k, ok := s.Get("redirect_stderr"); ok {
		if b, err := boolean(k.Value); err == nil && b {
			return fmt.Errorf("%s:%d: [%s] redirect_stderr = true: an event listener's stdout is its protocol, which its stderr would break", k.In(s), k.Line, s.Name)
		}
	}
	fmt.Fprintf(&c.progs, "\n[eventlistener.%s]\n", TOMLKey(name))
	if k, ok := s.Get("events"); ok {
		var q []string
		for _, e := range strings.Split(k.Value, ",") {
			if e = strings.TrimSpace(e); e != "" {
				if !supervisor.ValidEventType(e) {
					return fmt.Errorf("%s:%d: [%s] events: %q is not an event type", k.In(s), k.Line, s.Name, e)
				}
				q = append(q, TOMLString(e))
			}
		}
		fmt.Fprintf(&c.progs, "events = [%s]\n", strings.Join(q, ", "))
	}
	if k, ok := s.Get("buffer_size"); ok {
		n, err := strconv.Atoi(k.Value)
		if err != nil {
			return fmt.Errorf("%s:%d: [%s] buffer_size = %q is not a number", k.In(s), k.Line, s.Name, k.Value)
		}
		fmt.Fprintf(&c.progs, "buffer_size = %d\n", n)
	}
	if k, ok := s.Get("result_handler"); ok && k.Value != "supervisor.dispatchers:default_handler" {
		c.omit(s, k.Name, "only the default result handler (OK acknowledges, anything else rejects) is supported", k.Line)
	}
	vars := c.withDaemonEnv(map[string]string{"program_name": name, "process_num": "0", "group_name": name,
		"here": filepath.Dir(s.File), "host_node_name": c.host, "numprocs": "1"})
	if k, ok := s.Get("numprocs"); ok {
		n, err := strconv.Atoi(k.Value)
		if err != nil || n < 1 {
			return fmt.Errorf("%s:%d: [%s] numprocs = %q", k.In(s), k.Line, s.Name, k.Value)
		}
		pattern := "%(program_name)s"
		if p, ok := s.Get("process_name"); ok {
			pattern = p.Value
		}
		if err := needsProcessNum(s, n, pattern); err != nil {
			return err
		}
		if n > 1 {
			fmt.Fprintf(&c.progs, "numprocs = %d\n", n)
			if p, ok := s.Get("process_name"); ok && p.Value != "%(program_name)s_%(process_num)02d" {
				c.omit(s, p.Name, "ctlsup names a pool's processes NAME_00, NAME_01, ...", p.Line)
			}
			// One section, many processes: what differs by process is
			// ctlsup's ${process_num}, which counts from 0.
			vars["process_num"], vars["numprocs"] = poolProcessNum, strconv.Itoa(n)
			if k, ok := s.Get("numprocs_start"); ok && strings.TrimSpace(k.Value) != "0" {
				c.omit(s, k.Name, "a pool's processes are numbered from 0 (${process_num})", k.Line)
			}
		}
	}
	return c.programKeys(s, vars, true)
}

// needsProcessNum refuses, as supervisord does, numprocs above 1 with a
// process_name that does not name %(process_num): every process would
// have the same name.
func needsProcessNum(s *Section, numprocs int, processName string) error {
	if numprocs <= 1 || strings.Contains(processName, "%(process_num)") {
		return nil
	}
	k, _ := s.Get("numprocs")
	return fmt.Errorf("%s:%d: [%s] numprocs = %d: process_name (%q) must contain %%(process_num), or every process would have the same name",
		k.In(s), k.Line, s.Name, numprocs, processName)
}
