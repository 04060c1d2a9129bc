// Package config turns ctlsupd's daemon file and its conf.d includes into
// validated process specs, or one error naming the file, line, table and
// key. Loading never touches a running process.
package config

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/ctlsup/ctlsup/supervisor"
)

// DefaultPath is where ctlsupd and ctlsup look for the daemon file.
const DefaultPath = "/etc/ctlsup/ctlsupd.toml"

// Config is a loaded configuration.
type Config struct {
	Daemon Daemon
	Groups []supervisor.GroupSpec
	Files  []string // every file read, daemon file first
	// userAt is where each user a program runs as is first named, for
	// Check's errors.
	userAt map[string]*Error
	// commandAt is where each program's command is set, for
	// CheckCommands' warnings.
	commandAt map[string]*Error
}

// Daemon holds the daemon file's own settings.
type Daemon struct {
	File     string // absolute path of the daemon file
	LogDir   string // log directory of programs of no instance
	StateDir string // pid file, locks, state of running children
	LogFile  string // the daemon's own log file, "" for stderr only
	// LogFileMaxBytes and LogFileBackups rotate LogFile, as supervisord's
	// own logfile_maxbytes and logfile_backups do (0 bytes: never).
	LogFileMaxBytes int64
	LogFileBackups  int
	LogLevel        string // debug, info, warn, error
	// LogFormat is the daemon log's format: "logfmt" (slog's key=value
	// text) or "supervisord" (supervisord.log's lines, for what reads it).
	LogFormat string
	Control   Control
	Metrics   Metrics
	Webhook   Webhook
	Cluster   Cluster
}

// Cluster is the [cluster] table: the coordination service that keeps a
// singleton = "cluster" program to one node, and the peers status shows.
type Cluster struct {
	Backend string        // etcd://h:2379[,h...], redis://h:6379/N, postgres://...; "" for none
	Node    string        // this daemon's name in the cluster; the hostname by default
	TTL     time.Duration // how long a lease outlives its holder's last renewal
	Margin  time.Duration // how long before the lease's end the program must be gone
	Peers   []string      // control URLs of the other nodes, for status
}

// Webhook is the [webhook] table: events POSTed as JSON to a URL.
type Webhook struct {
	URL    string
	Events []string // event types, abstract ones included; PROCESS_STATE by default
}

// Control is the [control] table: the supervisorctl-compatible API.
type Control struct {
	Socket      string
	SocketMode  os.FileMode
	SocketOwner string
	HTTPListen  string
	// Username and Password lock both listeners; the Socket* and HTTP*
	// pairs, when set, lock one listener instead, as supervisord's
	// [unix_http_server] and [inet_http_server] each have their own.
	Username, Password             string
	SocketUsername, SocketPassword string
	HTTPUsername, HTTPPassword     string
}

// SocketAuth is the credentials the unix socket requires ("" for none).
func (c Control) SocketAuth() (username, password string) {
	if c.SocketUsername != "" {
		return c.SocketUsername, c.SocketPassword
	}
	return c.Username, c.Password
}

// HTTPAuth is the credentials http_listen requires ("" for none).
func (c Control) HTTPAuth() (username, password string) {
	if c.HTTPUsername != "" {
		return c.HTTPUsername, c.HTTPPassword
	}
	return c.Username, c.Password
}

// Metrics is the [metrics] table.
type Metrics struct {
	Listen string
}

// ServerURL is the URL supervisorctl would use for this daemon.
func (d *Daemon) ServerURL() string { return "unix://" + d.Control.Socket }

var daemonKeys = []string{"include", "log_dir", "state_dir", "logfile", "logfile_maxbytes", "logfile_backups", "loglevel", "log_format", "control", "metrics", "webhook", "cluster", "program", "instance", "socket", "eventlistener"}
var clusterKeys = []string{"backend", "node", "lease_ttl", "fence_margin", "peers"}
var includedKeys = []string{"include", "program", "instance", "socket", "eventlistener"}
var controlKeys = []string{"socket", "socket_mode", "socket_owner", "http_listen", "username", "password",
	"socket_username", "socket_password", "http_username", "http_password"}
var metricsKeys = []string{"listen"}
var webhookKeys = []string{"url", "events"}

// file is one parsed TOML file.
type file struct {
	name string // as shown in errors: absolute, as supervisord shows it (the daemon's working directory means nothing to whoever reads its faults)
	dir  string
	// text is what it says, indexed by line only for an error's sake: the
	// index of a file of 10,000 programs costs a fifth of its load.
	text  string
	lines lineIndex
	m     map[string]any
	keys  []toml.Key // definition order
	// unknownKeys, when set, collects the unknown keys instead of failing
	// on them: a client that looks for the control socket reads past a
	// typo the running daemon never loaded.
	unknownKeys *[]error
}

// Limits on what a configuration file may be: a file that breaks one is an
// error with its name, never a daemon that runs out of memory or waits for
// ever (an include matching /dev/zero or a FIFO, 500,000 nested tables).
const (
	maxFileSize = 4 << 20
	maxNesting  = 32
)

// readConfigFile reads a regular file of at most maxFileSize bytes. It
// opens without blocking (a FIFO with no writer would block the open) and
// looks at what it opened before reading.
func readConfigFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if st.Size() > maxFileSize {
		return nil, fmt.Errorf("%s is %d bytes; a configuration file may have at most %d", path, st.Size(), maxFileSize)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err == nil && len(b) > maxFileSize {
		err = fmt.Errorf("%s grew past %d bytes while read", path, maxFileSize)
	}
	return b, err
}

// tooDeep finds the first line where arrays and inline tables nest deeper
// than maxNesting (the TOML parser would recurse that deep), skipping
// strings and comments; 0 if none.
func tooDeep(text string) int {
	depth, line := 0, 1
	for i := 0; i < len(text); i++ {
		switch c := text[i]; c {
		case '\n':
			line++
		case '#':
			for i < len(text) && text[i] != '\n' {
				i++
			}
			i--
		case '"', '\'':
			quote := string(c)
			if strings.HasPrefix(text[i:], strings.Repeat(quote, 3)) {
				quote = strings.Repeat(quote, 3)
			}
			i += len(quote)
			for i < len(text) && !strings.HasPrefix(text[i:], quote) {
				if text[i] == '\n' {
					line++
				}
				if text[i] == '\\' && c == '"' {
					i++
				}
				i++
			}
			i += len(quote) - 1
		case '[', '{':
			if depth++; depth > maxNesting {
				return line
			}
		case ']', '}':
			depth = max(depth-1, 0)
		}
	}
	return 0
}

func parseFile(path string) (*file, error) {
	b, err := readConfigFile(path)
	if err != nil {
		return nil, &Error{File: path, Msg: err.Error()}
	}
	f := &file{name: path, dir: filepath.Dir(path), text: string(b)}
	if line := tooDeep(f.text); line > 0 {
		return nil, &Error{File: f.name, Line: line, Msg: fmt.Sprintf("arrays and tables nest more than %d deep", maxNesting)}
	}
	md, err := toml.Decode(f.text, &f.m)
	if err != nil {
		msg := err.Error()
		line := 0
		var pe toml.ParseError
		if errors.As(err, &pe) {
			msg, line = pe.Message, pe.Position.Line
			// The parser counts a line's newline as the next line's: an
			// unclosed [table at a line's end is on that line.
			if at := pe.Position.Start; at >= 0 && at < len(f.text) && f.text[at] == '\n' {
				line = 1 + strings.Count(f.text[:at], "\n")
			}
		}
		if looksLikeSupervisordINI(f.text) {
			msg += " (this is supervisord's INI: `ctlsup convert " + path + "` writes it as ctlsup's TOML)"
		}
		return nil, &Error{File: f.name, Line: line, Msg: msg}
	}
	f.keys = md.Keys()
	return f, nil
}

// supervisordSection matches the section headers only supervisord's INI
// has: [supervisord], [program:x], [group:x], [include], ...
var supervisordSection = regexp.MustCompile(`(?m)^\s*\[(supervisord|supervisorctl|include|unix_http_server|inet_http_server|(program|group|eventlistener|fcgi-program|rpcinterface):[^\]]*)\]`)

// looksLikeSupervisordINI reports whether a file that is not TOML is a
// supervisord configuration, handed to ctlsupd as it is.
func looksLikeSupervisordINI(text string) bool { return supervisordSection.MatchString(text) }

// line is the line that sets path, or its nearest enclosing table.
func (f *file) line(path ...string) int {
	if f.lines == nil {
		f.lines = indexLines(f.text)
	}
	return f.lines.line(path...)
}

// abs resolves p relative to the directory of the file that holds it.
func (f *file) abs(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(f.dir, p)
}

// Load reads the daemon file at path and every file its include globs name,
// and returns the processes they define.
func Load(path string) (*Config, error) {
	path, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	df, err := parseFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read configuration: %w", err)
	}
	l := &loader{env: os.LookupEnv, seen: map[string]bool{path: true}, where: map[string]*reader{}, defined: map[string]def{}, userAt: map[string]*Error{}, commandAt: map[string]*Error{}}
	cfg := &Config{Files: []string{path}}
	if err := l.daemon(df, &cfg.Daemon); err != nil {
		return nil, err
	}
	cfg.Daemon.File = path
	work := []*file{df}
	for len(work) > 0 {
		f := work[0]
		work = work[1:]
		incs, err := l.includes(f)
		if err != nil {
			return nil, err
		}
		for _, inc := range incs {
			nf, err := parseFile(inc)
			if err != nil {
				return nil, err
			}
			r := &reader{f: nf, desc: "", m: nf.m}
			r.checkKeys(includedKeys)
			if r.err != nil {
				each(r.err, func(e *Error) { e.Msg += " (daemon settings belong in the daemon file)" })
				return nil, r.err
			}
			cfg.Files = append(cfg.Files, inc)
			work = append(work, nf)
		}
		if err := l.collect(f); err != nil {
			return nil, err
		}
	}
	if cfg.Groups, err = l.build(&cfg.Daemon); err != nil {
		return nil, err
	}
	if err := checkDependencies(cfg.Groups, l.where); err != nil {
		return nil, err
	}
	cfg.userAt, cfg.commandAt = l.userAt, l.commandAt
	detachStrings(cfg)
	return cfg, nil
}

type loader struct {
	env  func(string) (string, bool)
	seen map[string]bool
	// locating: read for a client, which needs only where the daemon
	// listens: what only the daemon refuses (an unsafe http_listen) does
	// not keep the client from the running daemon.
	locating  bool
	instances []*instanceDef
	programs  []*programDef
	sockets   []*socketDef
	// defined are the definitions collected, by kind's namespace and
	// name: a redefinition is found in one lookup, not a scan.
	defined map[string]def
	order   []string // group names in order of first definition
	// socketsByName are the sockets read, for the programs naming them.
	socketsByName map[string]*socketDef
	// userAt is where each user is first named (Config.userAt).
	userAt map[string]*Error
	// commandAt is where each program's command is set (Config.commandAt).
	commandAt map[string]*Error
	// where is each process's program table, for errors found later.
	where map[string]*reader
}

func (l *loader) daemon(f *file, d *Daemon) error {
	r := &reader{f: f, desc: "daemon", m: f.m}
	r.checkKeys(daemonKeys)
	here := &expander{builtins: map[string]string{"here": f.dir}, daemon: l.env}
	expandPath := func(key, def string) string {
		s, err := here.expand(r.str(key, def))
		if err != nil {
			r.fail(key, "%s: %v", key, err)
		}
		s = f.abs(s)
		checkPathLength(r, key, s)
		return s
	}
	d.LogDir = expandPath("log_dir", "/var/log/ctlsup")
	d.StateDir = expandPath("state_dir", "/run/ctlsup")
	d.LogFile = expandPath("logfile", "")
	if d.LogFile != "" {
		checkLogPath(r, "logfile", d.LogFile)
	}
	d.LogFileMaxBytes = r.size("logfile_maxbytes", defaultMaxBytes)
	d.LogFileBackups = r.integer("logfile_backups", defaultBackups, 0)
	d.LogLevel = r.str("loglevel", "info")
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, d.LogLevel) {
		r.fail("loglevel", "loglevel = %q is not one of debug, info, warn, error", d.LogLevel)
	}
	d.LogFormat = r.str("log_format", "logfmt")
	if d.LogFormat != "logfmt" && d.LogFormat != "supervisord" {
		r.fail("log_format", "log_format = %q is not logfmt or supervisord", d.LogFormat)
	}
	c := r.table("control")
	c.desc = "control"
	c.checkKeys(controlKeys)
	socket := filepath.Join(d.StateDir, "ctlsup.sock") // state_dir is expanded already
	if c.has("socket") {
		var err error
		if socket, err = here.expand(c.str("socket", "")); err != nil {
			c.fail("socket", "socket: %v", err)
		}
	}
	d.Control.Socket = f.abs(socket)
	checkSocketPath(c, "socket", d.Control.Socket)
	mode := c.str("socket_mode", "0700")
	if m, err := strconv.ParseUint(mode, 8, 32); err != nil || m > 0o777 {
		c.fail("socket_mode", "socket_mode = %q is not an octal mode such as \"0700\"", mode)
	} else {
		d.Control.SocketMode = os.FileMode(m)
	}
	d.Control.SocketOwner = c.str("socket_owner", "")
	d.Control.HTTPListen = c.str("http_listen", "")
	// Credentials take ${NAME} from the daemon's environment, so that a
	// password need not be written in the file.
	credential := func(key string) string {
		v, err := here.expand(c.str(key, ""))
		if err != nil {
			c.fail(key, "%s: %v", key, err)
		}
		return v
	}
	d.Control.Username = credential("username")
	d.Control.Password = credential("password")
	d.Control.SocketUsername = credential("socket_username")
	d.Control.SocketPassword = credential("socket_password")
	d.Control.HTTPUsername = credential("http_username")
	d.Control.HTTPPassword = credential("http_password")
	for _, pair := range []struct {
		userKey, passKey string
		user, pass       string
	}{
		{"username", "password", d.Control.Username, d.Control.Password},
		{"socket_username", "socket_password", d.Control.SocketUsername, d.Control.SocketPassword},
		{"http_username", "http_password", d.Control.HTTPUsername, d.Control.HTTPPassword},
	} {
		// Half a pair would leave the listener open to anyone who sends
		// the user name: supervisord refuses it too.
		switch {
		case c.has(pair.passKey) && !c.has(pair.userKey):
			c.fail(pair.passKey, "%s without %s: set both", pair.passKey, pair.userKey)
		case pair.user != "" && pair.pass == "":
			c.fail(pair.userKey, "%s without %s: set both", pair.userKey, pair.passKey)
		}
	}
	if addr := d.Control.HTTPListen; addr != "" && !l.locating {
		user, pass := d.Control.HTTPAuth()
		if err := checkHTTPListen(addr, user, pass); err != nil {
			c.fail("http_listen", "http_listen = %q: %v", addr, err)
		}
	}
	m := r.table("metrics")
	m.desc = "metrics"
	m.checkKeys(metricsKeys)
	d.Metrics.Listen = m.str("listen", "")
	h := r.table("webhook")
	h.desc = "webhook"
	h.checkKeys(webhookKeys)
	d.Webhook.URL = h.str("url", "")
	if u, err := url.Parse(d.Webhook.URL); d.Webhook.URL != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		h.fail("url", "url = %q is not an http:// or https:// URL", d.Webhook.URL)
	}
	d.Webhook.Events = h.strings("events")
	if len(d.Webhook.Events) == 0 {
		d.Webhook.Events = []string{"PROCESS_STATE"}
	}
	for _, e := range d.Webhook.Events {
		if !supervisor.ValidEventType(e) {
			h.fail("events", "events: %q is not an event type", e)
		}
	}
	cl := l.cluster(r, d)
	return errors.Join(r.err, c.err, m.err, h.err, cl.err)
}

// cluster reads [cluster]. The lease lasts lease_ttl seconds after a
// renewal is sent (default 30); a holder that could not renew stops its
// programs so that they are gone fence_margin seconds (default 2) before
// that.
func (l *loader) cluster(r *reader, d *Daemon) *reader {
	t := r.table("cluster")
	t.desc = "cluster"
	t.checkKeys(clusterKeys)
	c := &d.Cluster
	c.Backend = t.str("backend", "")
	if c.Backend != "" {
		u, err := url.Parse(c.Backend)
		if err != nil || !slices.Contains([]string{"etcd", "redis", "rediss", "postgres", "postgresql"}, u.Scheme) || u.Host == "" {
			t.fail("backend", "backend = %q: want etcd://HOST:PORT[,HOST:PORT...], redis://HOST:PORT/DB or postgres://USER@HOST:PORT/DB", c.Backend)
		}
	}
	host, _ := os.Hostname()
	c.Node = t.str("node", host)
	if c.Node == "" || strings.ContainsAny(c.Node, " \t\n/") {
		t.fail("node", "node = %q: a cluster node needs a name with no spaces or slashes", c.Node)
	}
	c.TTL = time.Duration(t.integer("lease_ttl", 30, 2)) * time.Second
	c.Margin = time.Duration(t.integer("fence_margin", 2, 0)) * time.Second
	if c.Margin >= c.TTL/2 {
		t.fail("fence_margin", "fence_margin (%s) must be less than half of lease_ttl (%s)", c.Margin, c.TTL)
	}
	c.Peers = t.strings("peers")
	return t
}

// includes expands the file's include globs, relative to the file; a file
// already read is skipped, so include cycles end.
func (l *loader) includes(f *file) ([]string, error) {
	r := &reader{f: f, m: f.m}
	var out []string
	for _, pattern := range r.strings("include") {
		matches, err := filepath.Glob(f.abs(pattern))
		if err != nil {
			r.fail("include", "include %q: %v", pattern, err)
		}
		slices.Sort(matches)
		for _, m := range matches {
			if !l.seen[m] {
				l.seen[m] = true
				out = append(out, m)
			}
		}
	}
	return out, r.err
}

// checkHTTPListen refuses what the daemon would refuse to listen on: an
// address that is not host:port, or one reachable from other hosts
// without credentials. Checked as the file loads, so that --check (and
// an upgrade, which runs it first) refuses it, not the new daemon.
func checkHTTPListen(addr, username, password string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("not host:port (%v)", err)
	}
	if ip := net.ParseIP(host); (ip == nil || !ip.IsLoopback()) && host != "localhost" && (username == "" || password == "") {
		return errors.New("off loopback it needs username and password (or http_username and http_password)")
	}
	return nil
}
