package ini

import (
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Omission is a setting convert could not carry over.
type Omission struct {
	File    string
	Line    int
	Section string
	Key     string
	Why     string
}

func (o Omission) String() string {
	return fmt.Sprintf("%s:%d: [%s] %s: %s", o.File, o.Line, o.Section, o.Key, o.Why)
}

// Result is the TOML convert writes.
type Result struct {
	Daemon   string     // ctlsupd.toml
	Programs string     // conf.d/supervisord.toml
	Omitted  []Omission // what was left out, in file order
	// Notes are what was carried over as it was but likely needs a
	// change (each also a comment in the TOML), in file order.
	Notes []Omission
}

// dropped are supervisord program keys ctlsup has no use for, with why.
var dropped = map[string]string{
	"stdout_syslog": "syslog output is not supported; logs go to files",
	"stderr_syslog": "syslog output is not supported; logs go to files",
}

// Convert reads supervisord configuration files (following [include]) and
// returns the equivalent ctlsup TOML.
func Convert(paths []string) (*Result, error) {
	var all []Section
	seen := map[string]bool{}
	for len(paths) > 0 {
		path, err := filepath.Abs(paths[0])
		paths = paths[1:]
		if err != nil || seen[path] {
			continue
		}
		seen[path] = true
		secs, err := ParseFile(path)
		if err != nil {
			return nil, err
		}
		for _, s := range secs {
			if s.Name == "include" {
				if k, ok := s.Get("files"); ok {
					// supervisord expands %(here)s and %(ENV_X)s in it first.
					files, err := ExpandNow(k.Value, filepath.Dir(path))
					if err != nil {
						return nil, fmt.Errorf("%s:%d: [include] files: %v", path, k.Line, err)
					}
					for _, pat := range strings.Fields(files) {
						if !filepath.IsAbs(pat) {
							pat = filepath.Join(filepath.Dir(path), pat)
						}
						matches, err := filepath.Glob(pat)
						if err != nil {
							return nil, fmt.Errorf("%s:%d: [include] files: %q: %v", path, k.Line, pat, err)
						}
						slices.Sort(matches)
						paths = append(paths, matches...)
					}
				}
			}
		}
		all = append(all, secs...)
	}
	c := &converter{host: hostname()}
	return c.run(Merge(all))
}

func hostname() string { h, _ := os.Hostname(); return h }

type converter struct {
	host     string
	res      Result
	daemon   strings.Builder
	settings strings.Builder // [supervisord] settings, written after the header
	progs    strings.Builder
	logDir   string
	control  []string
	// groupPrio is each [group:x]'s priority, which its instance keeps.
	groupPrio map[string]string
	// stateDir is the converted state_dir: beside supervisord's pid file.
	stateDir string
	// daemonEnv is [supervisord] environment, which every program gets;
	// daemonEnvVars its converted values as %(ENV_X)s finds them.
	daemonEnv     [][2]string
	daemonEnvVars map[string]string
	// spawnDir is where supervisord resolved the relative paths it uses
	// as it spawns (a program's directory and logs, childlogdir) from:
	// [supervisord] directory when it daemonizes, else the / its service
	// starts it in. Its own paths (logfile, pidfile, socket) it made
	// absolute as it read them, from where it started: /.
	spawnDir string
}

// startDir is where supervisord's service starts it.
const startDir = "/"

// rooted makes a relative path absolute from base, as supervisord
// resolved it, and says so: ctlsupd reads a relative path from the
// directory of the file that holds it, where a converted one would name
// another place. With tilde, a leading ~ or ~user is expanded as
// supervisord expanded it (here, for the user converting: supervisord's
// service runs as root). A path that starts with an expansion is left as
// it is.
func (c *converter) rooted(s *Section, k Key, v, base string, tilde, report bool) string {
	if v == "" || filepath.IsAbs(v) || strings.HasPrefix(v, "$") {
		return v
	}
	if tilde && strings.HasPrefix(v, "~") {
		name, rest, _ := strings.Cut(v[1:], "/")
		home, err := lookupHome(name)
		if err != nil || home == "" {
			if report {
				c.omit(s, k.Name, fmt.Sprintf("%q names a home directory this host does not know: write it out", v), k.Line)
			}
			return v
		}
		abs := filepath.Join(home, rest)
		if report {
			c.omit(s, k.Name, fmt.Sprintf("%q: supervisord expanded ~ to its user's home; written as %s (check it is the place meant)", v, abs), k.Line)
		}
		return abs
	}
	abs := filepath.Join(base, v)
	if report {
		c.omit(s, k.Name, fmt.Sprintf("%q is relative: supervisord resolved it from %s; written as %s (check it is the place meant)", v, base, abs), k.Line)
	}
	return abs
}

// lookupHome is the home directory of name, or of the user converting
// when name is empty.
func lookupHome(name string) (string, error) {
	u, err := user.Current()
	if name != "" {
		u, err = user.Lookup(name)
	}
	if err != nil {
		return "", err
	}
	return u.HomeDir, nil
}

func (c *converter) omit(s *Section, key, why string, line int) {
	c.res.Omitted = append(c.res.Omitted, Omission{File: s.fileOf(key, line), Line: line, Section: s.Name, Key: key, Why: why})
}

func (c *converter) run(all []Section) (*Result, error) {
	groupOf := map[string][]string{} // program -> groups listing it
	for i := range all {
		s := &all[i]
		if name, ok := strings.CutPrefix(s.Name, "group:"); ok {
			if k, ok := s.Get("programs"); ok {
				for _, p := range strings.Split(k.Value, ",") {
					groupOf[strings.TrimSpace(p)] = append(groupOf[strings.TrimSpace(p)], name)
				}
			}
			for _, k := range s.Keys {
				if k.Name == "priority" {
					if c.groupPrio == nil {
						c.groupPrio = map[string]string{}
					}
					c.groupPrio[name] = k.Value
				} else if k.Name != "programs" {
					c.omit(s, k.Name, "unknown group key", k.Line)
				}
			}
		}
	}
	c.logDir, c.spawnDir = "", startDir
	for i := range all {
		if all[i].Name != "supervisord" {
			continue
		}
		k, ok := all[i].Get("directory")
		nodaemon, _ := all[i].Get("nodaemon")
		if b, _ := boolean(nodaemon.Value); !ok || b {
			continue
		}
		if v, err := expand(k.Value, map[string]string{"here": filepath.Dir(all[i].File)}); err == nil && filepath.IsAbs(v) {
			c.spawnDir = v
		}
	}
	for i := range all {
		s := &all[i]
		switch kind, _, _ := strings.Cut(s.Name, ":"); kind {
		case "supervisord":
			c.supervisord(s)
		case "unix_http_server", "inet_http_server":
			c.httpServer(s)
		case "rpcinterface":
			// Every supervisord.conf names supervisord's own interface,
			// which ctlsupd serves; a plugin's methods it does not have.
			if f, _ := s.Get("supervisor.rpcinterface_factory"); strings.TrimSpace(f.Value) != "supervisor.rpcinterface:make_main_rpcinterface" {
				c.omit(s, "", "RPC interface plugins are not supported: clients calling its methods get UNKNOWN_METHOD", s.Line)
			}
		case "supervisorctl", "include", "group", "program", "eventlistener":
		case "fcgi-program", "ctlplugin":
			c.omit(s, "", kind+" sections are not supported", s.Line)
		default:
			c.omit(s, "", "unknown section", s.Line)
		}
	}
	if c.stateDir == "" {
		c.stateDir = "/run/ctlsup"
	}
	logDirNote := ""
	if c.logDir == "" {
		// Debian's own supervisord.conf names this one; without it,
		// supervisord kept AUTO logs in the temporary directory.
		c.logDir = "/var/log/supervisor"
		logDirNote = "  # no childlogdir was set: supervisord kept AUTO logs in $TMPDIR or /tmp"
	}
	// The daemon's log keeps supervisord.log's lines, for what reads them.
	fmt.Fprintf(&c.daemon, "# Converted by ctlsup convert from supervisord configuration.\ninclude = [\"conf.d/*.toml\"]\nlog_dir = %s%s\nstate_dir = %s\nlog_format = \"supervisord\"\n",
		TOMLString(c.logDir), logDirNote, TOMLString(c.stateDir))
	c.daemon.WriteString(c.settings.String())
	c.daemon.WriteString(strings.Join(c.control, ""))
	c.progs.WriteString("# Converted by ctlsup convert from supervisord configuration.\n")
	declared := map[string]bool{}
	for i := range all {
		s := &all[i]
		if name, ok := strings.CutPrefix(s.Name, "program:"); ok {
			if err := c.program(s, name, groupOf[name], declared); err != nil {
				return nil, err
			}
		}
		if name, ok := strings.CutPrefix(s.Name, "eventlistener:"); ok {
			if err := c.eventListener(s, name, declared); err != nil {
				return nil, err
			}
		}
	}
	c.res.Daemon, c.res.Programs = c.daemon.String(), c.progs.String()
	slices.SortStableFunc(c.res.Omitted, func(a, b Omission) int {
		if a.File != b.File {
			return strings.Compare(a.File, b.File)
		}
		return a.Line - b.Line
	})
	return &c.res, nil
}

func (c *converter) supervisord(s *Section) {
	var logLevel string
	for _, k := range s.Keys {
		if k.Name == "environment" {
			pairs, err := parseEnvironment(k.Value)
			if err != nil {
				c.omit(s, k.Name, err.Error(), k.Line)
				continue
			}
			// supervisord's children inherit it: it goes into each
			// program's environment.
			c.daemonEnv = pairs
			c.daemonEnvVars = map[string]string{}
			for _, p := range pairs {
				v, err := expand(p[1], map[string]string{"here": filepath.Dir(s.File)})
				if err != nil {
					c.omit(s, k.Name, err.Error(), k.Line)
					continue
				}
				c.daemonEnvVars["ENV_"+p[0]] = v
			}
			continue
		}
		// supervisord expands %(here)s and %(ENV_X)s in this section.
		v, err := expand(k.Value, map[string]string{"here": filepath.Dir(s.File)})
		if err != nil {
			c.omit(s, k.Name, err.Error(), k.Line)
			continue
		}
		switch k.Name {
		case "childlogdir":
			c.logDir = c.rooted(s, k, v, c.spawnDir, true, true)
		case "logfile":
			if v != "AUTO" && v != "NONE" && v != "syslog" {
				fmt.Fprintf(&c.settings, "logfile = %s\n", TOMLString(c.rooted(s, k, v, startDir, true, true)))
			}
		case "directory":
			// ctlsupd keeps the directory it is started in; what
			// supervisord resolved from this one is written absolute.
			c.omit(s, k.Name, "supervisord moves to it only when it daemonizes (not under -n, as Debian's service runs it); ctlsupd does not move: relative program paths are written from "+c.spawnDir, k.Line)
		case "loglevel":
			logLevel = map[string]string{"critical": "error", "error": "error", "warn": "warn", "info": "info",
				"debug": "debug", "trace": "debug", "blather": "debug"}[strings.ToLower(k.Value)]
		case "logfile_maxbytes":
			if !sizeRE.MatchString(v) {
				c.omit(s, k.Name, fmt.Sprintf("%q is not a size such as 50MB", v), k.Line)
				continue
			}
			fmt.Fprintf(&c.settings, "logfile_maxbytes = %s\n", sizeValue(strings.TrimSpace(v)))
		case "logfile_backups":
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < 0 {
				c.omit(s, k.Name, fmt.Sprintf("%q is not a number of files", v), k.Line)
				continue
			}
			fmt.Fprintf(&c.settings, "logfile_backups = %d\n", n)
		case "minfds":
			// supervisord raises its soft limit to it, and its children
			// inherit that; ctlsupd's children get the limit ctlsupd
			// started with. Above supervisord's default, say so.
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err != nil || n > 1024 {
				c.omit(s, k.Name, "programs get the limit of open files ctlsupd starts with: its unit's LimitNOFILE= must be at least "+
					strings.TrimSpace(v)+" (the shipped unit's is 65536)", k.Line)
			}
		case "pidfile":
			// ctlsupd keeps its pid file (ctlsupd.pid) with its other
			// state, in a directory beside supervisord's pid file: a
			// configuration that runs without root keeps doing so, and two
			// converted daemons do not share one state directory.
			c.stateDir = filepath.Join(filepath.Dir(c.rooted(s, k, v, startDir, true, false)), "ctlsup")
		case "umask":
			c.omit(s, k.Name, "supervisord gives its umask to programs only when it daemonizes (not under -n, as Debian's service runs it); ctlsupd gives its own: set umask in a program to keep "+strings.TrimSpace(v), k.Line)
		case "nodaemon", "silent", "nocleanup", "minprocs":
			// ctlsupd manages these itself: pid file in state_dir, runs in
			// the foreground under systemd. minprocs only ever raises a
			// soft limit of processes that is far higher already.
		default:
			c.omit(s, k.Name, "no ctlsupd equivalent", k.Line)
		}
	}
	if logLevel != "" {
		fmt.Fprintf(&c.settings, "loglevel = %s\n", TOMLString(logLevel))
	}
}

// sizeRE is a size supervisord reads: bytes, or a number of KB, MB or GB.
var sizeRE = regexp.MustCompile(`(?i)^\s*[0-9]+\s*(kb|mb|gb)?\s*$`)

func (c *converter) httpServer(s *Section) {
	var b strings.Builder
	b.WriteString("\n[control]\n")
	for _, key := range s.Keys {
		// supervisord expands %(here)s and %(ENV_X)s in these too.
		v, err := expand(key.Value, map[string]string{"here": filepath.Dir(s.File)})
		if err != nil {
			c.omit(s, key.Name, err.Error(), key.Line)
			continue
		}
		// ctlsupd expands ${NAME} in the socket path and the credentials
		// (a password from the environment stays there); the others are
		// taken as written.
		if expanded := key.Name == "username" || key.Name == "password" || (s.Name == "unix_http_server" && key.Name == "file"); !expanded {
			if strings.Contains(strings.ReplaceAll(v, "$$", ""), "${") {
				c.omit(s, key.Name, "an %(ENV_X)s expansion is read only in the socket path and the credentials", key.Line)
				continue
			}
			v = strings.ReplaceAll(v, "$$", "$")
		}
		k := key
		k.Value = v
		switch {
		case s.Name == "unix_http_server" && k.Name == "file":
			fmt.Fprintf(&b, "socket = %s\n", TOMLString(c.rooted(s, k, k.Value, startDir, true, true)))
		case k.Name == "chmod":
			fmt.Fprintf(&b, "socket_mode = %s\n", TOMLString(strings.TrimPrefix(k.Value, "0o")))
		case k.Name == "chown":
			fmt.Fprintf(&b, "socket_owner = %s\n", TOMLString(k.Value))
		case k.Name == "port":
			addr := strings.Replace(k.Value, "*:", ":", 1)
			if !strings.Contains(addr, ":") {
				addr = ":" + addr // a bare port: every interface, as supervisord reads it
			}
			if port, open := openWithoutCredentials(s, addr); open {
				// supervisord serves it to anyone with a CRIT in its log;
				// ctlsupd refuses to. Kept for local clients (supervisorctl
				// in the same container), and said.
				addr = "127.0.0.1:" + port
				c.omit(s, k.Name, fmt.Sprintf("port = %s without username and password: ctlsupd does not serve its control to other hosts unauthenticated; written as %s (add username and password to keep it open)", k.Value, addr), k.Line)
			}
			fmt.Fprintf(&b, "http_listen = %s\n", TOMLString(addr))
		case k.Name == "username" || k.Name == "password":
			// Each server keeps its own credentials, as in supervisord.
			prefix := "socket_"
			if s.Name == "inet_http_server" {
				prefix = "http_"
			}
			fmt.Fprintf(&b, "%s%s = %s\n", prefix, k.Name, TOMLString(k.Value))
		default:
			c.omit(s, k.Name, "no ctlsupd equivalent", k.Line)
		}
	}
	if len(c.control) == 0 {
		c.control = append(c.control, b.String())
	} else {
		// Both servers share ctlsupd's one [control] table.
		c.control = append(c.control, strings.TrimPrefix(b.String(), "\n[control]\n"))
	}
}

// openWithoutCredentials reports whether [inet_http_server] would listen
// off loopback (addr as host:port) without both credentials, and its port.
func openWithoutCredentials(s *Section, addr string) (port string, open bool) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", false
	}
	user, hasUser := s.Get("username")
	pass, hasPass := s.Get("password")
	if hasUser && hasPass && user.Value != "" && pass.Value != "" {
		return port, false
	}
	ip := net.ParseIP(host)
	return port, host != "localhost" && (ip == nil || !ip.IsLoopback())
}
