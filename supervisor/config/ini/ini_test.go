package ini_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctlsup/ctlsup/supervisor"
	"github.com/ctlsup/ctlsup/supervisor/config"
	"github.com/ctlsup/ctlsup/supervisor/config/ini"
	"github.com/ctlsup/ctlsup/supervisor/testhelper"
)

// load writes a conversion result and loads it as ctlsupd would.
func load(t *testing.T, res *ini.Result) *config.Config {
	t.Helper()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "conf.d"), 0o755)
	os.WriteFile(filepath.Join(dir, "ctlsupd.toml"), []byte(res.Daemon), 0o644)
	os.WriteFile(filepath.Join(dir, "conf.d", "supervisord.toml"), []byte(res.Programs), 0o644)
	cfg, err := config.Load(filepath.Join(dir, "ctlsupd.toml"))
	if err != nil {
		t.Fatalf("converted TOML does not load: %v\n%s\n%s", err, res.Daemon, res.Programs)
	}
	return cfg
}

func TestConvert_Deployments(t *testing.T) {
	t.Setenv("HOME", "/home/cts")
	res, err := ini.Convert([]string{"testdata/supervisord.conf"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := load(t, res)
	procs := map[string]string{}
	var names []string
	for _, g := range cfg.Groups {
		for _, p := range g.Processes {
			names = append(names, p.FullName())
			procs[p.FullName()] = strings.Join(p.Argv, " ")
		}
	}
	// supervisord's names, groups and order of definition.
	if got := strings.Join(names, " "); got != "turkey:gunicorn-turkey turkey:celery-worker-turkey_00 turkey:celery-worker-turkey_01 turkey:celery-beat-turkey kano_konnect-uwsgi kano_konnect-celeryd memmon" {
		t.Errorf("processes: %s", got)
	}
	if got := procs["turkey:celery-worker-turkey_01"]; got != "/var/www/cts/env/bin/celery -A cts worker -n turkey-01@%h" {
		t.Errorf("expanded command %q", got)
	}
	find := func(name string) (p struct {
		env          map[string]string
		kill, stop   bool
		out, err     string
		maxB         int64
		backups      int
		stopWait     float64
		exit         []int
		sig          string
		priority     int
		startsecs    float64
		redirect     bool
		stdoutEvents bool
	}) {
		for _, g := range cfg.Groups {
			for _, s := range g.Processes {
				if s.FullName() == name {
					p.env, p.kill, p.stop, p.out, p.err = s.Environment, s.KillAsGroup, s.StopAsGroup, s.Stdout.Path, s.Stderr.Path
					p.maxB, p.backups, p.stopWait, p.exit, p.sig = s.Stdout.MaxBytes, s.Stdout.Backups, s.StopWait.Seconds(), s.ExitCodes, s.StopSignal.String()
					p.priority, p.startsecs, p.redirect = s.Priority, s.StartSecs.Seconds(), s.RedirectStderr
					p.stdoutEvents = s.StdoutEvents
				}
			}
		}
		return
	}
	g := find("turkey:gunicorn-turkey")
	if g.env["SECRET_KEY"] != "a%b$c" || g.out != "/var/www/cts/log/turkey/gunicorn.log" || g.maxB != 100<<20 || g.backups != 14 || !g.redirect || g.kill {
		t.Errorf("gunicorn: %+v", g)
	}
	w := find("turkey:celery-worker-turkey_00")
	if w.env["HOME"] != "/home/cts" || !w.kill || w.stop || w.stopWait != 600 || w.startsecs != 10 || w.priority != 998 ||
		w.err != "/var/www/cts/log/turkey/celery-worker-turkey_00.err.log" {
		t.Errorf("worker: %+v", w)
	}
	if b := find("turkey:celery-beat-turkey"); b.err != "" || b.out != "/var/log/supervisor/turkey/celery-beat-turkey.log" || len(b.exit) != 2 {
		t.Errorf("beat: %+v", b)
	}
	if u := find("kano_konnect-uwsgi"); u.sig != "quit" {
		t.Errorf("uwsgi stop signal %q", u.sig)
	}
	if c := find("kano_konnect-celeryd"); !c.stop || !c.kill {
		t.Errorf("celeryd stopasgroup: %+v", c)
	}
	d := cfg.Daemon
	if d.Control.Socket != "/var/run/supervisor.sock" || d.Control.SocketMode != 0o770 || d.Control.SocketOwner != "root:www-data" ||
		d.Control.HTTPListen != "127.0.0.1:9001" || d.Control.HTTPUsername != "ops" || d.Control.Username != "" || d.LogLevel != "warn" || d.LogDir != "/var/log/supervisor" {
		t.Errorf("daemon: %+v", d)
	}
	var omitted []string
	for _, o := range res.Omitted {
		omitted = append(omitted, strings.TrimPrefix(o.String(), mustAbs("testdata")+"/"))
	}
	// [group:turkey] priority carries over as its instance's priority;
	// a program's own group has the program's.
	for _, g := range cfg.Groups {
		want := map[string]int{"turkey": 100, "kano_konnect-uwsgi": 999}
		if p, ok := want[g.Name]; ok && g.Priority != p {
			t.Errorf("group %s priority %d, want %d", g.Name, g.Priority, p)
		}
	}
	// Events carry over now: the memmon listener pool, stdout_events_enabled.
	for _, g := range cfg.Groups {
		if g.Name == "memmon" && (g.Listener == nil || fmt.Sprint(g.Listener.Events) != "[TICK_60]" || !g.Processes[0].Stdin) {
			t.Errorf("memmon pool: %+v", g.Listener)
		}
	}
	if b := find("turkey:celery-beat-turkey"); !b.stdoutEvents {
		t.Error("celery-beat-turkey's stdout_events_enabled was dropped")
	}
	want := []string{}
	if strings.Join(omitted, "\n") != strings.Join(want, "\n") {
		t.Errorf("omissions\n got %s\nwant %s", strings.Join(omitted, "\n"), strings.Join(want, "\n"))
	}
}

func mustAbs(p string) string { a, _ := filepath.Abs(p); return a }

// TestConvert_DebianConfigs converts the configuration files Debian's
// supervisor package ships, when it is installed (CI installs it).
func TestConvert_DebianConfigs(t *testing.T) {
	for _, path := range []string{"/etc/supervisor/supervisord.conf", "/usr/lib/python3/dist-packages/supervisor/skel/sample.conf"} {
		testhelper.RequireReference(t, path)
		res, err := ini.Convert([]string{path})
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		cfg := load(t, res)
		if cfg.Daemon.Control.Socket == "" || len(res.Omitted) != 0 {
			t.Errorf("%s: socket %q, omitted %v", path, cfg.Daemon.Control.Socket, res.Omitted)
		}
	}
}

func TestParseFile_Errors(t *testing.T) {
	dir := t.TempDir()
	for text, want := range map[string]string{
		"key=value\n":             ":1: \"key=value\" comes before any [section]",
		"[program:x\ncommand=a\n": ":1: section header",
		"[program:x]\njunk\n":     ":2: \"junk\" is not \"key = value\"",
	} {
		p := filepath.Join(dir, "bad.conf")
		os.WriteFile(p, []byte(text), 0o644)
		if _, err := ini.ParseFile(p); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", text, err, want)
		}
	}
	p := filepath.Join(dir, "bad.conf")
	os.WriteFile(p, []byte("[program:x]\ncommand=/bin/a %(nosuch)s\n"), 0o644)
	if _, err := ini.Convert([]string{p}); err == nil || !strings.Contains(err.Error(), "bad.conf:2: [program:x] command: %(nosuch) cannot be expanded") {
		t.Errorf("unknown expansion: %v", err)
	}
}

// TestConvert_OneStreamsRotation: ctlsup rotates a program's two logs at
// one size and backup count. Given for stdout only, where stderr has a
// log of its own, the stderr log would get them where supervisord gives
// it its defaults (50MB, 10): the conversion says so. With stderr
// redirected, or given the same for both, there is nothing to say.
func TestConvert_OneStreamsRotation(t *testing.T) {
	res, _ := convertText(t, `[program:split]
command=/bin/sleep 1000
stdout_logfile=/var/log/app/split.log
stdout_logfile_maxbytes=50KB
stdout_logfile_backups=2
stderr_logfile=/var/log/app/split.err
[program:redirected]
command=/bin/sleep 1000
stdout_logfile=/var/log/app/redirected.log
stdout_logfile_maxbytes=50KB
stdout_logfile_backups=2
redirect_stderr=true
[program:both]
command=/bin/sleep 1000
stdout_logfile_maxbytes=50KB
stderr_logfile_maxbytes=50KB
stdout_logfile_backups=2
stderr_logfile_backups=2
`)
	load(t, res)
	var got []string
	for _, o := range res.Omitted {
		got = append(got, o.Section+" "+o.Key+": "+o.Why)
	}
	want := []string{
		"program:split stdout_logfile_maxbytes: ctlsup keeps one size for both streams: the stderr log gets 50KB too, not supervisord's default 50MB",
		"program:split stdout_logfile_backups: ctlsup keeps one backup count for both streams: the stderr log gets 2 too, not supervisord's default 10",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("omissions\n got %s\nwant %s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestConvert_DaemonEnvironment: supervisord's children inherit its
// [supervisord] environment, so every program gets it, under its own
// environment, which wins a name they share.
func TestConvert_DaemonEnvironment(t *testing.T) {
	res, _ := convertText(t, `[supervisord]
environment=LANG="C.UTF-8",APP="shared"
[program:plain]
command=/bin/sleep 1000
[program:own]
command=/bin/sleep 1000
environment=APP="own",ONLY="%(program_name)s"
`)
	if len(res.Omitted) != 0 {
		t.Errorf("omitted: %v", res.Omitted)
	}
	cfg := load(t, res)
	want := map[string]string{
		"plain": "map[APP:shared LANG:C.UTF-8]",
		"own":   "map[APP:own LANG:C.UTF-8 ONLY:own]",
	}
	for _, g := range cfg.Groups {
		for _, p := range g.Processes {
			if got := fmt.Sprint(p.Environment); got != want[p.Name] {
				t.Errorf("%s: environment %s, want %s", p.Name, got, want[p.Name])
			}
		}
	}
}

// TestConvert_EnvOfTheConfiguration: %(ENV_X)s finds, as under
// supervisord, the program's own environment= (in its other keys), then
// [supervisord] environment=, then the environment; a value the
// configuration gives is split into arguments as supervisord splits it,
// and one from the environment that would be several words is named.
func TestConvert_EnvOfTheConfiguration(t *testing.T) {
	t.Setenv("CTLSUP_TEST_OPTS", "--loglevel info")
	t.Setenv("CTLSUP_TEST_ONE", "one")
	t.Setenv("CTLSUP_TEST_LIST", "a")
	res, dir := convertText(t, `[supervisord]
environment=APP_ENV="staging",OPTS="--workers 3 --name 'my app'",COST="$5",CTLSUP_TEST_LIST="z:%(ENV_CTLSUP_TEST_LIST)s"
[program:web]
command=/bin/echo %(ENV_APP_ENV)s %(ENV_OPTS)s %(ENV_COST)s %(ENV_CTLSUP_TEST_ONE)s
directory=%(ENV_HOME_DIR)s
environment=HOME_DIR="%(here)s",SEEN="%(ENV_APP_ENV)s-%(ENV_CTLSUP_TEST_ONE)s"
[program:worker]
command=/bin/echo %(ENV_CTLSUP_TEST_OPTS)s
`)
	cfg := load(t, res)
	want := map[string]string{
		"web":    "[/bin/echo staging --workers 3 --name my app $5 one] dir " + dir + " env map[APP_ENV:staging COST:$5 CTLSUP_TEST_LIST:z:a HOME_DIR:" + dir + " OPTS:--workers 3 --name 'my app' SEEN:staging-one]",
		"worker": "[/bin/echo --loglevel info] dir  env map[APP_ENV:staging COST:$5 CTLSUP_TEST_LIST:z:a OPTS:--workers 3 --name 'my app']",
	}
	for _, g := range cfg.Groups {
		for _, p := range g.Processes {
			got := fmt.Sprintf("%v dir %s env %v", p.Argv, p.Directory, p.Environment)
			if p.Name == "web" && len(p.Argv) != 8 {
				t.Errorf("web: %d arguments %q, want supervisord's 8", len(p.Argv), p.Argv)
			}
			if got != want[p.Name] {
				t.Errorf("%s:\n got %s\nwant %s", p.Name, got, want[p.Name])
			}
		}
	}
	if len(res.Omitted) != 1 || res.Omitted[0].Key != "command" || res.Omitted[0].Section != "program:worker" ||
		!strings.Contains(res.Omitted[0].Why, "%(ENV_CTLSUP_TEST_OPTS)s is 2 words") {
		t.Errorf("want one note that worker's CTLSUP_TEST_OPTS is two words, got %v", res.Omitted)
	}
}

// TestConvert_LogDirDefault: without childlogdir, the logs go where
// Debian's supervisord.conf puts them, and the file says supervisord's
// own default was the temporary directory; with it, nothing is said.
func TestConvert_LogDirDefault(t *testing.T) {
	res, _ := convertText(t, "[supervisord]\n[program:web]\ncommand=/bin/sleep 1000\n")
	if d := load(t, res).Daemon; d.LogDir != "/var/log/supervisor" {
		t.Errorf("log_dir %s, want /var/log/supervisor", d.LogDir)
	}
	if !strings.Contains(res.Daemon, "no childlogdir was set: supervisord kept AUTO logs in $TMPDIR or /tmp") {
		t.Errorf("the default is not explained:\n%s", res.Daemon)
	}
	res, _ = convertText(t, "[supervisord]\nchildlogdir=/srv/logs\n[program:web]\ncommand=/bin/sleep 1000\n")
	if strings.Contains(res.Daemon, "childlogdir") {
		t.Errorf("a childlogdir given is explained as missing:\n%s", res.Daemon)
	}
}

// TestConvert_DaemonLogAndLimits: the daemon's own log keeps its rotation;
// limits above supervisord's defaults, which its children inherit and
// ctlsupd's do not, are named with the unit setting that gives them.
func TestConvert_DaemonLogAndLimits(t *testing.T) {
	res, dir := convertText(t, `[supervisord]
logfile=%(here)s/logs/supervisord.log
logfile_maxbytes=20MB
logfile_backups=5
minfds=65535
minprocs=4096
childlogdir=%(here)s/logs
pidfile=%(here)s/run/supervisord.pid
[program:web]
command=/bin/sleep 1000
`)
	cfg := load(t, res)
	d := cfg.Daemon
	if d.LogFileMaxBytes != 20<<20 || d.LogFileBackups != 5 {
		t.Errorf("daemon log rotation %d bytes, %d backups; want 20MB, 5", d.LogFileMaxBytes, d.LogFileBackups)
	}
	if d.LogFile != filepath.Join(dir, "logs", "supervisord.log") || d.LogDir != filepath.Join(dir, "logs") {
		t.Errorf("logfile %s, log_dir %s: want %%(here)s expanded to %s", d.LogFile, d.LogDir, dir)
	}
	if d.LogFormat != "supervisord" {
		t.Errorf("log_format %q, want supervisord's lines kept", d.LogFormat)
	}
	if d.StateDir != filepath.Join(dir, "run", "ctlsup") {
		t.Errorf("state_dir %s, want ctlsup beside the pid file", d.StateDir)
	}
	got := omittedLines(res)
	want := "5 minfds: programs get the limit of open files ctlsupd starts with: its unit's LimitNOFILE= must be at least 65535 (the shipped unit's is 65536)"
	if got != want {
		t.Errorf("omissions\n got %s\nwant %s", got, want)
	}
}

// TestConvert_BadDaemonLogSettings are listed as not carried over, and the
// rest converts: they do not make a TOML that fails to load.
func TestConvert_BadDaemonLogSettings(t *testing.T) {
	res, _ := convertText(t, `[supervisord]
logfile_maxbytes=lots
logfile_backups=%(ENV_BACKUPS)s
[program:web]
command=/bin/sleep 1000
`)
	load(t, res)
	got := omittedLines(res)
	want := `2 logfile_maxbytes: "lots" is not a size such as 50MB
3 logfile_backups: "${BACKUPS}" is not a number of files`
	if got != want {
		t.Errorf("omissions\n got %s\nwant %s", got, want)
	}
}

// TestConvert_BadValuesNameTheINILine: a value supervisord would refuse
// is an error that names the INI file and line, not a line of the TOML
// convert wrote (which it removes when the result does not load).
func TestConvert_BadValuesNameTheINILine(t *testing.T) {
	for key, value := range map[string]string{
		"umask":                   "9x",
		"exitcodes":               "0,x",
		"stopsignal":              "BOGUS",
		"stdout_logfile_maxbytes": "lots",
		"stderr_logfile_backups":  "many",
		"stdout_capture_maxbytes": "1 megabyte",
	} {
		conf := filepath.Join(t.TempDir(), "supervisord.conf")
		os.WriteFile(conf, []byte("[program:web]\ncommand=/bin/sleep 1000\n"+key+"="+value+"\n"), 0o644)
		_, err := ini.Convert([]string{conf})
		if err == nil || !strings.HasPrefix(err.Error(), conf+":3: [program:web] "+key) {
			t.Errorf("%s=%s: error %v, want one naming %s:3", key, value, err, conf)
		}
	}
}

// TestConvert_ServerSectionsExpand: supervisord expands %(here)s in the
// socket path; a literal $ in a password stays one.
func TestConvert_ServerSectionsExpand(t *testing.T) {
	t.Setenv("CTLSUP_TEST_PASSWORD", "from the environment")
	res, dir := convertText(t, `[unix_http_server]
file=%(here)s/run/supervisor.sock
username=ops
password=pa$s%%
[inet_http_server]
port=127.0.0.1:9001
username=admin
password=%(ENV_CTLSUP_TEST_PASSWORD)s
[program:web]
command=/bin/sleep 1000
`)
	if len(res.Omitted) != 0 {
		t.Errorf("omitted: %v", res.Omitted)
	}
	c := load(t, res).Daemon.Control
	if c.Socket != filepath.Join(dir, "run", "supervisor.sock") {
		t.Errorf("socket %s, want %%(here)s expanded", c.Socket)
	}
	if c.SocketPassword != "pa$s%" {
		t.Errorf("password %q, want pa$s%%", c.SocketPassword)
	}
	// A password kept in the environment stays there, and is required.
	if c.HTTPUsername != "admin" || c.HTTPPassword != "from the environment" {
		t.Errorf("TCP credentials %q, %q: want admin and the environment's password", c.HTTPUsername, c.HTTPPassword)
	}
}

// TestConvert_OpenHTTPServerStaysLocal: an [inet_http_server] on every
// interface without credentials, which supervisord serves with a CRIT in
// its log and ctlsupd refuses, converts to the same port on loopback (a
// supervisorctl in the same host or container still reaches it), said at
// the INI's line; with credentials, or on loopback, it converts as is.
func TestConvert_OpenHTTPServerStaysLocal(t *testing.T) {
	for _, tc := range []struct{ section, listen, omitted string }{
		{"[inet_http_server]\nport=*:9001\n", "127.0.0.1:9001", "supervisord.conf:2 port"},
		{"[inet_http_server]\nport=0.0.0.0:9001\nusername=ops\n", "127.0.0.1:9001", "supervisord.conf:2 port"},
		{"[inet_http_server]\nport=*:9001\nusername=ops\npassword=x\n", ":9001", ""},
		{"[inet_http_server]\nport=127.0.0.1:9001\n", "127.0.0.1:9001", ""},
		// A bare port is every interface to supervisord.
		{"[inet_http_server]\nport=9001\n", "127.0.0.1:9001", "supervisord.conf:2 port"},
		{"[inet_http_server]\nport=9001\nusername=ops\npassword=x\n", ":9001", ""},
	} {
		res, _ := convertText(t, tc.section+"[program:web]\ncommand=/bin/sleep 1000\n")
		var omitted []string
		for _, o := range res.Omitted {
			omitted = append(omitted, fmt.Sprintf("%s:%d %s", filepath.Base(o.File), o.Line, o.Key))
		}
		if got := strings.Join(omitted, "; "); got != tc.omitted {
			t.Errorf("%q: omitted %q, want %q", tc.section, got, tc.omitted)
		}
		if tc.section == "[inet_http_server]\nport=0.0.0.0:9001\nusername=ops\n" {
			continue // half a pair of credentials: the load refuses it, as supervisord does
		}
		if got := load(t, res).Daemon.Control.HTTPListen; got != tc.listen {
			t.Errorf("%q: http_listen %q, want %q", tc.section, got, tc.listen)
		}
	}
}

// TestConvert_IncludeExpands: [include] files expands %(here)s and
// %(ENV_X)s as supervisord does; an unset name is an error, not an
// include that silently matches nothing.
func TestConvert_IncludeExpands(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "conf.d"), 0o755)
	os.MkdirAll(filepath.Join(dir, "more"), 0o755)
	os.WriteFile(filepath.Join(dir, "conf.d", "web.conf"), []byte("[program:web]\ncommand=/bin/sleep 1000\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "more", "worker.conf"), []byte("[program:worker]\ncommand=/bin/sleep 1000\n"), 0o644)
	t.Setenv("CTLSUP_TEST_MORE", filepath.Join(dir, "more"))
	conf := filepath.Join(dir, "supervisord.conf")
	os.WriteFile(conf, []byte("[include]\nfiles = %(here)s/conf.d/*.conf %(ENV_CTLSUP_TEST_MORE)s/*.conf\n"), 0o644)
	res, err := ini.Convert([]string{conf})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range load(t, res).Groups {
		names = append(names, g.Name)
	}
	if strings.Join(names, " ") != "web worker" {
		t.Errorf("programs %v, want web and worker from both includes", names)
	}
	os.WriteFile(conf, []byte("[include]\nfiles = %(ENV_CTLSUP_TEST_UNSET)s/*.conf\n"), 0o644)
	if _, err := ini.Convert([]string{conf}); err == nil || !strings.Contains(err.Error(), "CTLSUP_TEST_UNSET is not set") {
		t.Errorf("an unset name: %v, want an error naming it", err)
	}
}

// omittedLines is what convert left out, a "LINE KEY: WHY" line each.
func omittedLines(res *ini.Result) string {
	var lines []string
	for _, o := range res.Omitted {
		lines = append(lines, fmt.Sprintf("%d %s: %s", o.Line, o.Key, o.Why))
	}
	return strings.Join(lines, "\n")
}

// TestConvert_ListenerPoolNumbersItsProcesses: an [eventlistener] with
// numprocs stays one pool, so what differs by process (%(process_num)d in
// its command or logs) becomes ${process_num}; it was 0 for all of them,
// and both listeners wrote one file. What ${process_num} cannot say (a
// padded number, numbering from numprocs_start) is reported.
func TestConvert_ListenerPoolNumbersItsProcesses(t *testing.T) {
	res, dir := convertText(t, `[eventlistener:lis]
command=/usr/bin/python3 listener.py %(here)s/events_%(process_num)d.log %(numprocs)d
process_name=%(program_name)s_%(process_num)02d
numprocs=2
events=PROCESS_STATE
stderr_logfile=/var/log/lis%(process_num)d.err
`)
	cfg := load(t, res)
	got := map[string]string{}
	for _, g := range cfg.Groups {
		for _, p := range g.Processes {
			got[p.FullName()] = strings.Join(p.Argv, " ") + " | " + p.Stderr.Path
		}
	}
	want := map[string]string{
		"lis:lis_00": "/usr/bin/python3 listener.py " + dir + "/events_0.log 2 | /var/log/lis0.err",
		"lis:lis_01": "/usr/bin/python3 listener.py " + dir + "/events_1.log 2 | /var/log/lis1.err",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("pool's processes\n got %v\nwant %v\n%s", got, want, res.Programs)
	}
	if len(res.Omitted) != 0 {
		t.Errorf("omitted: %+v", res.Omitted)
	}

	res, _ = convertText(t, "[eventlistener:lis]\ncommand=/bin/cat\nprocess_name=%(program_name)s_%(process_num)02d\nnumprocs=2\nnumprocs_start=1\nevents=TICK_5\n")
	if len(res.Omitted) != 1 || res.Omitted[0].Key != "numprocs_start" {
		t.Errorf("numprocs_start of a pool: %+v, want it reported", res.Omitted)
	}
	conf := filepath.Join(t.TempDir(), "supervisord.conf")
	os.WriteFile(conf, []byte("[eventlistener:lis]\ncommand=/bin/cat %(process_num)02d\nprocess_name=%(program_name)s_%(process_num)02d\nnumprocs=2\nevents=TICK_5\n"), 0o644)
	if _, err := ini.Convert([]string{conf}); err == nil || !strings.Contains(err.Error(), "has no width or padding") {
		t.Errorf("a padded process_num in a pool: %v, want an error that says why", err)
	}
}

// convertText converts a supervisord.conf holding text, in a directory of
// its own, which it returns with the result.
func convertText(t *testing.T, text string) (*ini.Result, string) {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "supervisord.conf")
	os.WriteFile(conf, []byte(text), 0o644)
	res, err := ini.Convert([]string{conf})
	if err != nil {
		t.Fatal(err)
	}
	return res, dir
}

// TestConvert_RepeatsMergeAsSupervisordReadsThem: supervisord's parser
// (strict = False) takes a key given twice in a section, and a section
// given twice (in one file or in two of an include), as one: the later
// value wins. A merged key's %(here)s is its own file's directory, and a
// note about it names that file.
func TestConvert_RepeatsMergeAsSupervisordReadsThem(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "conf.d"), 0o755)
	os.MkdirAll(filepath.Join(dir, "more"), 0o755)
	os.WriteFile(filepath.Join(dir, "conf.d", "a.conf"), []byte("[program:web]\ncommand=/bin/sleep 1000\nstartsecs=1\nstartsecs=2\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "more", "b.conf"), []byte("[program:web]\ncommand=/bin/sleep 1020\nstdout_syslog=true\ndirectory=%(here)s\n"), 0o644)
	conf := filepath.Join(dir, "supervisord.conf")
	os.WriteFile(conf, []byte("[include]\nfiles = conf.d/*.conf more/*.conf\n"), 0o644)
	res, err := ini.Convert([]string{conf})
	if err != nil {
		t.Fatal(err)
	}
	cfg := load(t, res)
	if len(cfg.Groups) != 1 || len(cfg.Groups[0].Processes) != 1 {
		t.Fatalf("groups %+v, want web once", cfg.Groups)
	}
	p := cfg.Groups[0].Processes[0]
	if strings.Join(p.Argv, " ") != "/bin/sleep 1020" || p.StartSecs.Seconds() != 2 || p.Directory != filepath.Join(dir, "more") {
		t.Errorf("web: %v, startsecs %v, directory %q; want the later command, startsecs = 2 and b.conf's %%(here)s", p.Argv, p.StartSecs, p.Directory)
	}
	if len(res.Omitted) != 1 || res.Omitted[0].File != filepath.Join(dir, "more", "b.conf") || res.Omitted[0].Line != 3 {
		t.Errorf("notes %+v, want stdout_syslog at b.conf:3", res.Omitted)
	}
}

// TestConvert_CeleryBeatIsASingleton: a program that runs celery's beat
// (alone, embedded in a worker, or the older commands) becomes a
// singleton, as one beat per application is what its operators need;
// other programs, and a beat given numprocs, do not.
func TestConvert_CeleryBeatIsASingleton(t *testing.T) {
	commands := map[string]bool{
		"/srv/env/bin/celery -A proj beat -l info":        true,
		"celery -A proj worker -B --loglevel=INFO":        true,
		"/srv/env/bin/celery worker --beat":               true,
		"/srv/env/bin/celerybeat --schedule=/tmp/sched":   true,
		"/srv/env/bin/python manage.py celery beat":       true,
		"/bin/sh -c 'exec celery -A proj beat'":           true,
		"/srv/env/bin/celery -A proj worker -n beat@%%h":  false,
		"/srv/env/bin/gunicorn proj.wsgi -b :8000":        false,
		"/srv/env/bin/python manage.py heartbeat --beat":  false,
		"/srv/env/bin/celery -A proj worker -c 4 -Q beat": true, // a queue named beat reads as the subcommand: a false singleton is safe
	}
	var text strings.Builder
	i := 0
	names := map[string]string{}
	for cmd := range commands {
		name := fmt.Sprintf("p%d", i)
		names[name] = cmd
		fmt.Fprintf(&text, "[program:%s]\ncommand=%s\n", name, cmd)
		i++
	}
	text.WriteString("[program:beats]\ncommand=celery -A proj beat\nprocess_name=%(program_name)s_%(process_num)d\nnumprocs=2\n")
	res, _ := convertText(t, text.String())
	cfg := load(t, res)
	for _, g := range cfg.Groups {
		for _, p := range g.Processes {
			want := commands[names[p.Name]]
			if p.Program == "beats" {
				want = false
			}
			if p.Singleton != want {
				t.Errorf("%s (%s): singleton %v, want %v", p.FullName(), strings.Join(p.Argv, " "), p.Singleton, want)
			}
		}
	}
}

// TestConvert_ServerURLBecomesEnvironment: a program's serverurl= is the
// SUPERVISOR_SERVER_URL supervisord gives it (memmon and httpok, run as a
// user the daemon's socket refuses, reach it over TCP), which ctlsupd
// takes from the program's environment. supervisord applies the
// environment after it: the program's environment= wins, then
// [supervisord] environment=, then serverurl=.
func TestConvert_ServerURLBecomesEnvironment(t *testing.T) {
	programs := `[eventlistener:memmon]
command=python3 -m superlance.memmon -p hog=40MB
events=TICK_5
user=nobody
serverurl=http://127.0.0.1:9001
environment=SUPERVISOR_USERNAME="admin",SUPERVISOR_PASSWORD="s3cret"
[program:auto]
command=/bin/cat
serverurl=AUTO
[program:own]
command=/bin/cat
serverurl=http://127.0.0.1:9001
environment=SUPERVISOR_SERVER_URL="http://127.0.0.1:9002"
[program:only]
command=/bin/cat
serverurl = http://127.0.0.1:9003
`
	for _, tc := range []struct {
		daemon string
		want   map[string]map[string]string
	}{
		{"", map[string]map[string]string{
			"memmon": {"SUPERVISOR_SERVER_URL": "http://127.0.0.1:9001", "SUPERVISOR_USERNAME": "admin"},
			"auto":   {"SUPERVISOR_SERVER_URL": ""}, // ctlsupd's own
			"own":    {"SUPERVISOR_SERVER_URL": "http://127.0.0.1:9002"},
			"only":   {"SUPERVISOR_SERVER_URL": "http://127.0.0.1:9003"},
		}},
		{"[supervisord]\nenvironment=SUPERVISOR_SERVER_URL=\"unix:///from/daemon.sock\",APP=\"x\"\n", map[string]map[string]string{
			"memmon": {"SUPERVISOR_SERVER_URL": "unix:///from/daemon.sock", "SUPERVISOR_USERNAME": "admin", "APP": "x"},
			"auto":   {"SUPERVISOR_SERVER_URL": "unix:///from/daemon.sock", "APP": "x"},
			"own":    {"SUPERVISOR_SERVER_URL": "http://127.0.0.1:9002", "APP": "x"},
			"only":   {"SUPERVISOR_SERVER_URL": "unix:///from/daemon.sock"},
		}},
	} {
		res, _ := convertText(t, tc.daemon+programs)
		for _, o := range res.Omitted {
			if o.Key == "serverurl" {
				t.Errorf("reported as not carried over: %s", o)
			}
		}
		cfg := load(t, res)
		want := tc.want
		for _, g := range cfg.Groups {
			for _, p := range g.Processes {
				for k, v := range want[p.Name] {
					if p.Environment[k] != v {
						t.Errorf("%q: %s: %s=%q, want %q\n%s", tc.daemon, p.Name, k, p.Environment[k], v, res.Programs)
					}
				}
				delete(want, p.Name)
			}
		}
		if len(want) > 0 {
			t.Errorf("not converted: %v", want)
		}
	}
}

// TestConvert_RefusesWhatSupervisordRefuses: an event listener with
// redirect_stderr, an event type supervisord does not know, or numprocs
// without %(process_num) in process_name stops supervisord at start;
// convert says so at the INI's line, where it used to write TOML that
// did not load.
func TestConvert_RefusesWhatSupervisordRefuses(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"[eventlistener:crashmail]\ncommand=/bin/cat\nevents=PROCESS_STATE_EXITED\nredirect_stderr=true\n",
			`:4: [eventlistener:crashmail] redirect_stderr = true: an event listener's stdout is its protocol`},
		{"[eventlistener:crashmail]\ncommand=/bin/cat\nevents=PROCESS_STATE,PROCESS_STATE_EXITTED\n",
			`:3: [eventlistener:crashmail] events: "PROCESS_STATE_EXITTED" is not an event type`},
		{"[eventlistener:memmon]\ncommand=/bin/cat\nevents=TICK_10\n",
			`:3: [eventlistener:memmon] events: "TICK_10" is not an event type`},
		{"[eventlistener:memmon]\ncommand=/bin/cat\nevents=tick_60\n", // supervisord's names are exact
			`:3: [eventlistener:memmon] events: "tick_60" is not an event type`},
		{"[program:web]\ncommand=/bin/cat\nnumprocs=2\n",
			`:3: [program:web] numprocs = 2: process_name ("%(program_name)s") must contain %(process_num)`},
		{"[program:web]\ncommand=/bin/cat\nprocess_name=web_%(program_name)s\nnumprocs=3\n",
			`:4: [program:web] numprocs = 3: process_name ("web_%(program_name)s") must contain %(process_num)`},
		{"[eventlistener:lis]\ncommand=/bin/cat\nevents=TICK_5\nnumprocs=2\n",
			`:4: [eventlistener:lis] numprocs = 2: process_name ("%(program_name)s") must contain %(process_num)`},
	} {
		dir := t.TempDir()
		conf := filepath.Join(dir, "supervisord.conf")
		os.WriteFile(conf, []byte(tc.text), 0o644)
		_, err := ini.Convert([]string{conf})
		if err == nil || !strings.Contains(err.Error(), conf+tc.want) {
			t.Errorf("%q: error %v, want it to contain %s", tc.text, err, conf+tc.want)
		}
	}
}

// TestConvert_RelativePathsAreRooted: supervisord makes its own relative
// paths (socket, log, pid file) absolute as it reads them, from where it
// starts (/ under Debian's service), and resolves a program's directory
// and logs as it spawns, from [supervisord] directory when it daemonizes
// (not under nodaemon), else from where it started; it expands ~ in log
// and socket paths. ctlsupd would read a relative path from the converted
// file's directory: convert writes it absolute, and says so at its line.
func TestConvert_RelativePathsAreRooted(t *testing.T) {
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatal(err)
	}
	const programs = "[unix_http_server]\nfile=run/s.sock\n[program:web]\ncommand=/bin/sleep 1000\ndirectory=app\n" +
		"stdout_logfile=logs/%(program_name)s.log\nstderr_logfile=/var/log/web.err\n" +
		"[program:home]\ncommand=/bin/sleep 1000\nstdout_logfile=~/home.log\n"
	for _, tc := range []struct{ daemon, root string }{
		{"", "/"},
		{"[supervisord]\ndirectory=/srv/cts\n", "/srv/cts"},
		{"[supervisord]\ndirectory=/srv/cts\nnodaemon=true\n", "/"},
	} {
		res, _ := convertText(t, tc.daemon+programs)
		cfg := load(t, res)
		var web, hm supervisor.ProcessSpec
		for _, g := range cfg.Groups {
			for _, p := range g.Processes {
				if p.Name == "web" {
					web = p
				} else {
					hm = p
				}
			}
		}
		if web.Directory != filepath.Join(tc.root, "app") || web.Stdout.Path != filepath.Join(tc.root, "logs/web.log") ||
			web.Stderr.Path != "/var/log/web.err" || cfg.Daemon.Control.Socket != "/run/s.sock" || hm.Stdout.Path != filepath.Join(home, "home.log") {
			t.Errorf("root %s: directory %q, stdout %q, stderr %q, socket %q, ~ log %q", tc.root, web.Directory, web.Stdout.Path,
				web.Stderr.Path, cfg.Daemon.Control.Socket, hm.Stdout.Path)
		}
		var said []string
		for _, o := range res.Omitted {
			if strings.Contains(o.Why, "is relative") || strings.Contains(o.Why, "expanded ~") {
				said = append(said, o.Section+" "+o.Key)
			}
		}
		if got := strings.Join(said, "; "); got != "unix_http_server file; program:web directory; program:web stdout_logfile; program:home stdout_logfile" {
			t.Errorf("root %s: said for %q", tc.root, got)
		}
	}
}

// TestConvert_SaysWhatItCannotKeep: an RPC interface plugin (its methods
// will be missing) and [supervisord] umask (which reaches programs only
// when supervisord daemonizes) are said; supervisord's own interface is
// not.
func TestConvert_SaysWhatItCannotKeep(t *testing.T) {
	res, _ := convertText(t, "[supervisord]\numask=027\n"+
		"[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n"+
		"[rpcinterface:twiddler]\nsupervisor.rpcinterface_factory = supervisor_twiddler.rpcinterface:make_twiddler_rpcinterface\n"+
		"[program:web]\ncommand=/bin/sleep 1000\n")
	var got []string
	for _, o := range res.Omitted {
		got = append(got, o.Section+" "+o.Key)
	}
	if strings.Join(got, "; ") != "supervisord umask; rpcinterface:twiddler " {
		t.Errorf("said %q", got)
	}
	for _, o := range res.Omitted {
		if o.Key == "umask" && !strings.Contains(o.Why, "set umask in a program to keep 027") {
			t.Errorf("umask: %s", o.Why)
		}
	}
}

// TestConvert_NotesAUWSGIStoppedWithTERM: uWSGI 2.0 reloads on TERM,
// supervisord's default stop signal: the stop waits stopwaitsecs and
// kills it. Convert carries it over as it is, and says so, in the TOML
// and in its notes; not where the command or stopsignal has it stop.
func TestConvert_NotesAUWSGIStoppedWithTERM(t *testing.T) {
	res, _ := convertText(t, `[supervisord]
[program:kano_konnect-uwsgi]
command=/srv/env/bin/uwsgi --http :9090 --wsgi-file wsgi.py
[program:dies]
command=uwsgi --http :9091 --die-on-term
[program:hooked]
command=uwsgi --master --hook-master-start "unix_signal:15 gracefully_kill_them_all"
[program:quit]
command=uwsgi --http :9092
stopsignal=QUIT
[program:term]
command=uwsgi --http :9093
stopsignal=SIGTERM
[program:web]
command=gunicorn app:app
`)
	load(t, res)
	var got []string
	for _, o := range res.Notes {
		got = append(got, o.Section+" "+o.Key)
	}
	if want := "program:kano_konnect-uwsgi stopsignal\nprogram:term stopsignal"; strings.Join(got, "\n") != want {
		t.Errorf("notes %q, want %q", got, want)
	}
	if n := strings.Count(res.Programs, "# uWSGI 2.0 reloads on SIGTERM"); n != 2 {
		t.Errorf("%d notes in the TOML:\n%s", n, res.Programs)
	}
	if len(res.Omitted) != 0 {
		t.Errorf("omitted %v", res.Omitted)
	}
}
