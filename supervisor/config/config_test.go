package config_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ctlsup/ctlsup/supervisor"
	"github.com/ctlsup/ctlsup/supervisor/config"
)

// writeConfig writes a daemon file and conf.d files into a temp dir and
// returns the daemon file's path.
func writeConfig(t testing.TB, daemon string, confd map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "conf.d"), 0o755)
	for name, text := range confd {
		os.WriteFile(filepath.Join(dir, "conf.d", name), []byte(text), 0o644)
	}
	path := filepath.Join(dir, "ctlsupd.toml")
	os.WriteFile(path, []byte(daemon), 0o644)
	return path
}

const daemonFile = "include = [\"conf.d/*.toml\"]\nlog_dir = \"/var/log/x\"\nstate_dir = \"/run/x\"\n"

func TestLoad_Errors(t *testing.T) {
	t.Setenv("CTLSUP_TEST_HOME", "/srv/home")
	for name, tc := range map[string]struct {
		daemon, file, want string
	}{
		"unknown key with suggestion": {daemonFile, "[program.web]\ncommand = \"/bin/true\"\nautorestrat = true\n",
			`conf.d/app.toml:3: program "web": unknown key "autorestrat" (did you mean "autorestart"?)`},
		"user without password": {daemonFile + "[control]\nhttp_listen = \"127.0.0.1:9001\"\nhttp_username = \"ops\"\n", "[program.web]\ncommand = \"/bin/true\"\n",
			`ctlsupd.toml:6: control: http_username without http_password: set both`},
		"http_listen off loopback without credentials": {daemonFile + "[control]\nhttp_listen = \"0.0.0.0:9001\"\n", "[program.web]\ncommand = \"/bin/true\"\n",
			`ctlsupd.toml:5: control: http_listen = "0.0.0.0:9001": off loopback it needs username and password (or http_username and http_password)`},
		"http_listen not host:port": {daemonFile + "[control]\nhttp_listen = \"9001\"\n", "[program.web]\ncommand = \"/bin/true\"\n",
			`ctlsupd.toml:5: control: http_listen = "9001": not host:port`},
		"bad log format": {daemonFile + "log_format = \"json\"\n", "[program.web]\ncommand = \"/bin/true\"\n",
			`ctlsupd.toml:4: daemon: log_format = "json" is not logfmt or supervisord`},
		"supervisord key": {daemonFile, "[program.web]\ncommand = \"/bin/true\"\nstdout_logfile_maxbytes = \"1MB\"\n",
			`conf.d/app.toml:3: program "web": unknown key "stdout_logfile_maxbytes" (did you mean logfile_maxbytes?)`},
		"singleton numprocs": {daemonFile, "[program.celery-beat]\ncommand = \"/bin/true\"\nsingleton = true\n\nnumprocs = 2\n",
			`conf.d/app.toml:5: program "celery-beat": numprocs = 2, but a singleton program runs exactly one process`},
		"unknown instance": {daemonFile, "[instance.turkey]\n[program.web]\ninstances = [\"turkey\", \"irak\"]\ncommand = \"/bin/true\"\n",
			`conf.d/app.toml:3: program "web": instance "irak" is not defined (define it with [instance.irak])`},
		"unknown expansion": {daemonFile, "[program.web]\ncommand = \"/bin/gunicorn --bind :${PORT}\"\n",
			`conf.d/app.toml:2: program "web": command: unknown name ${PORT}`},
		"bad signal": {daemonFile, "[program.web]\ncommand = \"/bin/true\"\nstopsignal = \"TERMINATE\"\n",
			`conf.d/app.toml:3: program "web": stopsignal = "TERMINATE" is not one of TERM, HUP, INT, QUIT, KILL, USR1, USR2`},
		"bad size": {daemonFile, "[program.web]\ncommand = \"/bin/true\"\nlogfile_maxbytes = \"50 megs\"\n",
			`conf.d/app.toml:3: program "web": logfile_maxbytes = "50 megs": not a size`},
		"wrong type": {daemonFile, "[program.web]\ncommand = \"/bin/true\"\nstartsecs = \"ten\"\n",
			`conf.d/app.toml:3: program "web": startsecs must be an integer, not a string`},
		"missing command": {daemonFile, "[program.web]\nautostart = false\n",
			`conf.d/app.toml:1: program "web": command is required`},
		"listener redirect_stderr": {daemonFile, "[eventlistener.crashmail]\ncommand = \"/bin/cat\"\nevents = [\"PROCESS_STATE_EXITED\"]\nredirect_stderr = true\n",
			`conf.d/app.toml:4: eventlistener "crashmail": an event listener's stdout is its protocol: redirect_stderr would break it`},
		"listener unknown event": {daemonFile, "[eventlistener.crashmail]\ncommand = \"/bin/cat\"\nevents = [\"PROCESS_STATE\", \"PROCESS_STATE_EXITTED\"]\n",
			`conf.d/app.toml:3: eventlistener "crashmail": events: "PROCESS_STATE_EXITTED" is not an event type`},
		"listener tick of no such period": {daemonFile, "[eventlistener.memmon]\ncommand = \"/bin/cat\"\nevents = [\"TICK_10\"]\nnumprocs = 2\n",
			`conf.d/app.toml:3: eventlistener "memmon": events: "TICK_10" is not an event type`},
		"listener without events": {daemonFile, "[eventlistener.memmon]\ncommand = \"/bin/cat\"\n",
			`conf.d/app.toml:1: eventlistener "memmon": events is required: the event types the pool listens to, such as ["PROCESS_STATE"]`},
		"listener result_handler": {daemonFile, "[eventlistener.memmon]\ncommand = \"/bin/cat\"\nevents = [\"TICK_5\"]\nresult_handler = \"mine:handler\"\n",
			`conf.d/app.toml:4: eventlistener "memmon": result_handler "mine:handler": only supervisord's default (OK acknowledges, anything else rejects) is supported`},
		"group clash": {daemonFile, "[instance.web]\n[program.api]\ninstances = [\"web\"]\ncommand = \"/bin/true\"\n[program.web]\ncommand = \"/bin/true\"\n",
			`conf.d/app.toml:5: program "web": its group "web" has the name of instance "web"`},
		"toml syntax": {daemonFile, "[program.web]\ncommand = \"/bin/true\nautostart = true\n",
			`conf.d/app.toml:2: `},
		"daemon key in conf.d": {daemonFile, "log_dir = \"/tmp\"\n",
			`conf.d/app.toml:1: unknown key "log_dir"`},
		"daemon keys in conf.d, all told": {daemonFile, "state_dir = \"/x\"\nlog_dir = \"/tmp\"\n",
			"conf.d/app.toml:1: unknown key \"state_dir\" (daemon settings belong in the daemon file)\n" +
				"conf.d/app.toml:2: unknown key \"log_dir\" (daemon settings belong in the daemon file)"},
		"unknown keys, all told in the file's order": {daemonFile, "[program.web]\ncommand = \"/bin/true\"\nstopwaitsec = 3\nautorestrat = true\n",
			"conf.d/app.toml:3: program \"web\": unknown key \"stopwaitsec\" (did you mean stopwaitsecs?)\n" +
				"conf.d/app.toml:4: program \"web\": unknown key \"autorestrat\" (did you mean \"autorestart\"?)"},
		"unclosed table name": {daemonFile, "[program.web\ncommand = \"/bin/true\"\n",
			`conf.d/app.toml:1: expected '.' or ']' to end table name`},
		"unknown socket": {daemonFile, "[program.web]\ncommand = \"/bin/true\"\nsockets = [\"http\"]\n",
			`conf.d/app.toml:3: program "web": socket "http" is not defined (define it with [socket.http])`},
		"bad listen": {daemonFile, "[socket.http]\nlisten = \"8000\"\n",
			`conf.d/app.toml:2: socket "http": listen = "8000" is not host:port or unix:/path`},
		"bad ready": {daemonFile, "[program.web]\ncommand = \"/bin/true\"\nready = \"port 8000\"\n",
			`conf.d/app.toml:3: program "web": ready = "port 8000" is not "notify", "tcp:HOST:PORT", "http://..." or "exec:COMMAND"`},
		"dependency on nothing": {daemonFile, "[program.web]\ncommand = \"/bin/true\"\ndepends_on = [\"redsi\"]\n",
			`conf.d/app.toml:3: program "web": depends_on: "redsi" names no process`},
		"dependency cycle": {daemonFile, "[program.a]\ncommand = \"/bin/true\"\ndepends_on = [\"b\"]\n[program.b]\ncommand = \"/bin/true\"\ndepends_on = [\"c\"]\n[program.c]\ncommand = \"/bin/true\"\ndepends_on = [\"a\"]\n",
			`conf.d/app.toml:3: program "a": depends_on makes a cycle: a -> b -> c -> a`},
		"socket path too long": {daemonFile + "[control]\nsocket = \"/run/" + strings.Repeat("x/", 2500) + "s.sock\"\n", "",
			`ctlsupd.toml:5: control: socket is 5011 bytes long; a unix socket's path may have at most 107`},
		"socket path past sun_path": {daemonFile + "[control]\nsocket = \"/run/" + strings.Repeat("x", 100) + ".sock\"\n", "",
			`ctlsupd.toml:5: control: socket is 110 bytes long; a unix socket's path may have at most 107`},
		"held socket path past sun_path": {daemonFile, "[socket.app]\nlisten = \"unix:/run/" + strings.Repeat("x", 100) + ".sock\"\n",
			`conf.d/app.toml:2: socket "app": listen is 110 bytes long; a unix socket's path may have at most 107`},
		"log name too long": {daemonFile, "[program.web]\ncommand = \"/bin/true\"\nstdout_logfile = \"/var/log/" + strings.Repeat("x", 300) + ".log\"\n",
			`conf.d/app.toml:3: program "web": stdout_logfile has a name of 304 bytes`},
		"log in /proc": {daemonFile, "[program.web]\ncommand = \"/bin/true\"\nstderr_logfile = \"/proc/self/mem\"\n",
			`conf.d/app.toml:3: program "web": stderr_logfile = "/proc/self/mem": a file of /proc or /sys is not a log`},
		"daemon log in /sys": {daemonFile + "logfile = \"/sys/kernel/x\"\n", "",
			`ctlsupd.toml:4: daemon: logfile = "/sys/kernel/x": a file of /proc or /sys is not a log`},
		"daemon unknown key": {daemonFile + "[control]\nsocket = \"/run/x.sock\"\nsocket_mod = \"0700\"\n", "",
			`ctlsupd.toml:6: control: unknown key "socket_mod" (did you mean "socket_mode"?)`},
	} {
		t.Run(name, func(t *testing.T) {
			path := writeConfig(t, tc.daemon, map[string]string{"app.toml": tc.file})
			_, err := config.Load(path)
			if err == nil {
				t.Fatal("no error")
			}
			dir := filepath.Dir(path) + "/"
			if got := strings.ReplaceAll(err.Error(), dir, ""); !strings.HasPrefix(got, tc.want) {
				t.Errorf("error\n got %s\nwant %s...", got, tc.want)
			}
		})
	}
}

// TestLoad_SupervisordINI: supervisord's INI handed to ctlsupd as it is
// gets the parse error and the command that converts it; a TOML file with
// a syntax error gets no such hint.
func TestLoad_SupervisordINI(t *testing.T) {
	path := writeConfig(t, "; supervisor config file\n[supervisord]\nlogfile=/var/log/supervisor/supervisord.log\n\n[program:web]\ncommand=/bin/true\n", nil)
	_, err := config.Load(path)
	if err == nil || !strings.Contains(err.Error(), "ctlsup convert "+path) {
		t.Errorf("INI: %v, want the convert hint", err)
	}
	path = writeConfig(t, daemonFile+"[control]\nsocket = \"/run/x.sock\n", nil)
	if _, err := config.Load(path); err == nil || strings.Contains(err.Error(), "convert") {
		t.Errorf("TOML with a syntax error: %v, want no convert hint", err)
	}
}

// TestLoad_DuplicateAcrossFiles: programs and event listeners share
// their names, sockets have their own, and a second definition names the
// first one's line.
func TestLoad_DuplicateAcrossFiles(t *testing.T) {
	for _, tc := range []struct{ name, a, b, want string }{
		{"program", "[program.web]\ncommand = \"/bin/true\"\n", "\n[program.web]\ncommand = \"/bin/false\"\n",
			`conf.d/b.toml:2: program "web": already defined at conf.d/a.toml:1`},
		{"event listener after a program", "[program.web]\ncommand = \"/bin/true\"\n", "\n\n[eventlistener.web]\ncommand = \"/bin/cat\"\nevents = [\"TICK_5\"]\n",
			`conf.d/b.toml:3: eventlistener "web": already defined at conf.d/a.toml:1`},
		{"socket", "[socket.http]\nlisten = \"127.0.0.1:8000\"\n", "\n[socket.http]\nlisten = \"127.0.0.1:8001\"\n",
			`conf.d/b.toml:2: socket "http": already defined at conf.d/a.toml:1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, daemonFile, map[string]string{"a.toml": tc.a, "b.toml": tc.b})
			_, err := config.Load(path)
			dir := filepath.Dir(path) + "/"
			if err == nil || strings.ReplaceAll(err.Error(), dir, "") != tc.want {
				t.Errorf("error %v\nwant %s", err, tc.want)
			}
		})
	}
	// A socket may be named as a program is.
	path := writeConfig(t, daemonFile, map[string]string{
		"a.toml": "[program.web]\ncommand = \"/bin/true\"\nsockets = [\"web\"]\n[socket.web]\nlisten = \"127.0.0.1:8000\"\n",
	})
	if _, err := config.Load(path); err != nil {
		t.Errorf("a socket named as its program: %v", err)
	}
}

func TestLoad_Program(t *testing.T) {
	t.Setenv("CTLSUP_TEST_ROOT", "/srv")
	path := writeConfig(t, daemonFile, map[string]string{"cts.toml": `
[instance.turkey]
environment = { PORT = 8001, SETTINGS = "cts.settings.${instance}" }
logfile_maxbytes = "100MB"

[program.worker]
instances = ["turkey"]
numprocs = 2
command = "${CTLSUP_TEST_ROOT}/bin/celery -A cts worker -n '${instance} ${process_num}@%h' --price $$5"
environment = { WORKER = "${process_name}" }
umask = "027"
startsecs = 10
stopwaitsecs = 600
autorestart = true
exitcodes = [0, 2]
stopsignal = "int"
logfile_backups = 3
priority = 5

[program.solo]
command = ["/bin/echo", "a b", "${here}"]
autorestart = false
stdout_logfile = "none"
stderr_logfile = "err/solo.log"
stopasgroup = true
killasgroup = false
`})
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Groups) != 2 || cfg.Groups[0].Name != "turkey" || cfg.Groups[1].Name != "solo" {
		t.Fatalf("groups %+v", cfg.Groups)
	}
	w := cfg.Groups[0].Processes[1]
	want := supervisor.ProcessSpec{
		Name: "worker_01", Group: "turkey", Program: "worker", Instance: "turkey",
		Argv:        []string{"/srv/bin/celery", "-A", "cts", "worker", "-n", "turkey 1@%h", "--price", "$5"},
		Umask:       0o27,
		Environment: map[string]string{"PORT": "8001", "SETTINGS": "cts.settings.turkey", "WORKER": "worker_01"},
		Priority:    5, AutoStart: true, AutoRestart: supervisor.RestartAlways, ExitCodes: []int{0, 2},
		StartSecs: 10 * time.Second, StartRetries: 3, StopSignal: syscall.SIGINT, StopWait: 600 * time.Second,
		KillAsGroup: true, RestartMaxDelay: 60 * time.Second,
		Stdout: supervisor.AutoLog("/var/log/x/turkey/worker_01.log", 100<<20, 3),
		Stderr: supervisor.AutoLog("/var/log/x/turkey/worker_01.err.log", 100<<20, 3),
	}
	if !w.Equal(&want) {
		t.Errorf("worker_01\n got %+v\nwant %+v", w, want)
	}
	solo := cfg.Groups[1].Processes[0]
	confd := filepath.Join(filepath.Dir(path), "conf.d")
	if strings.Join(solo.Argv, "|") != "/bin/echo|a b|"+confd || solo.Stdout.Path != "" ||
		solo.Stderr.Path != filepath.Join(confd, "err/solo.log") || !solo.StopAsGroup || !solo.KillAsGroup ||
		solo.AutoRestart != supervisor.RestartNever || solo.Umask != -1 || solo.Group != "solo" {
		t.Errorf("solo %+v", solo)
	}
	// A discarded stream keeps its rotation settings, for getAllConfigInfo
	// to show as supervisord does.
	if solo.Stdout.MaxBytes == 0 || solo.Stdout.MaxBytes != solo.Stderr.MaxBytes || solo.Stdout.Backups != solo.Stderr.Backups {
		t.Errorf("solo's discarded stdout: rotation %d/%d, want its stderr's %d/%d",
			solo.Stdout.MaxBytes, solo.Stdout.Backups, solo.Stderr.MaxBytes, solo.Stderr.Backups)
	}
	if cfg.Daemon.Control.Socket != "/run/x/ctlsup.sock" || cfg.Daemon.Control.SocketMode != 0o700 {
		t.Errorf("daemon %+v", cfg.Daemon)
	}
}

func TestSplitWords(t *testing.T) {
	path := writeConfig(t, daemonFile, map[string]string{"a.toml": `[program.a]
command = '''sh -c "echo \"hi\" \$x" 'it''s' a\ b'''
`})
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.Groups[0].Processes[0].Argv, "|"); got != `sh|-c|echo "hi" $x|its|a b` {
		t.Errorf("argv %s", got)
	}
}

func TestLoad_ProcfileKey(t *testing.T) {
	path := writeConfig(t, daemonFile, map[string]string{"app.toml": `
[instance.local]
environment = { PORT = "5000" }

[program.web]
instances = ["local"]
procfile = "../Procfile:web"
stopsignal = "INT"
`})
	os.WriteFile(filepath.Join(filepath.Dir(path), "Procfile"), []byte("web: gunicorn app:app --bind :$PORT\nworker: celery worker\n"), 0o644)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Groups[0].Processes[0]
	// One simple command: the shell execs it, so its signals (the stop,
	// gunicorn's HUP) reach it, and the stop is its alone.
	if strings.Join(p.Argv, "|") != "/bin/sh|-c|exec gunicorn app:app --bind :$PORT" || p.StopSignal != syscall.SIGINT {
		t.Errorf("web %+v", p)
	}
	// It runs where the Procfile is; both can be set otherwise.
	if p.Directory != filepath.Dir(path) || p.StopAsGroup || !p.KillAsGroup {
		t.Errorf("web runs in %q, stopasgroup %v, killasgroup %v", p.Directory, p.StopAsGroup, p.KillAsGroup)
	}
	// A list keeps its shell: the stop signal goes to the group to reach
	// the command, as under foreman.
	os.WriteFile(filepath.Join(filepath.Dir(path), "Procfile"), []byte("web: ./migrate; gunicorn app:app --bind :$PORT\n"), 0o644)
	if cfg, err = config.Load(path); err != nil {
		t.Fatal(err)
	}
	if p := cfg.Groups[0].Processes[0]; strings.Join(p.Argv, "|") != "/bin/sh|-c|./migrate; gunicorn app:app --bind :$PORT" || !p.StopAsGroup {
		t.Errorf("a list: argv %q, stopasgroup %v", p.Argv, p.StopAsGroup)
	}
	path = writeConfig(t, daemonFile, map[string]string{"app.toml": "[program.web]\nprocfile = \"../Procfile:web\"\ndirectory = \"/tmp\"\nstopasgroup = false\n"})
	os.WriteFile(filepath.Join(filepath.Dir(path), "Procfile"), []byte("web: ./migrate; gunicorn app:app\n"), 0o644)
	if cfg, err = config.Load(path); err != nil {
		t.Fatal(err)
	}
	if p := cfg.Groups[0].Processes[0]; p.Directory != "/tmp" || p.StopAsGroup {
		t.Errorf("set: web runs in %q, stopasgroup %v", p.Directory, p.StopAsGroup)
	}
	for text, want := range map[string]string{
		"[program.web]\nprocfile = \"../Procfile:nosuch\"\n":                    `conf.d/app.toml:2: program "web": procfile `,
		"[program.web]\nprocfile = \"../Procfile:web\"\ncommand = \"/bin/x\"\n": `conf.d/app.toml:2: program "web": set command or procfile, not both`,
		"[program.web]\nprocfile = \"Procfile\"\n":                              `conf.d/app.toml:2: program "web": procfile = "Procfile" is not "PATH:TYPE"`,
	} {
		os.WriteFile(filepath.Join(filepath.Dir(path), "conf.d", "app.toml"), []byte(text), 0o644)
		_, err := config.Load(path)
		if got := strings.ReplaceAll(fmt.Sprint(err), filepath.Dir(path)+"/", ""); !strings.HasPrefix(got, want) {
			t.Errorf("got %s\nwant %s...", got, want)
		}
	}
}

// TestLoad_SocketsReadinessDependencies: a program's sockets (per
// instance through ${instance}), readiness and dependencies.
func TestLoad_SocketsReadinessDependencies(t *testing.T) {
	path := writeConfig(t, daemonFile, map[string]string{"app.toml": `
[socket.web-turkey]
listen = "127.0.0.1:8001"
[socket.web-iraq]
listen = "unix:/run/cts/iraq.sock"
mode = "0660"
backlog = 64
[instance.turkey]
environment = { PORT = "8001" }
[instance.iraq]
environment = { PORT = "8002" }
[program.redis]
command = "/usr/bin/redis-server"
ready = "tcp:127.0.0.1:6379"
[program.web]
instances = ["turkey", "iraq"]
command = "/usr/bin/gunicorn app:app"
sockets = ["web-${instance}"]
ready = "notify"
depends_on = ["redis"]
[program.worker]
instances = ["turkey", "iraq"]
command = "/usr/bin/celery worker"
ready = "exec:celery inspect ping"
depends_on = ["${instance}:web"]
`})
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	specs := map[string]supervisor.ProcessSpec{}
	for _, g := range cfg.Groups {
		for _, p := range g.Processes {
			specs[p.FullName()] = p
		}
	}
	if s := specs["turkey:web"].Sockets; len(s) != 1 || s[0].Address != "127.0.0.1:8001" || s[0].Network != "tcp" || s[0].Backlog != 4096 {
		t.Errorf("turkey's socket %+v", s)
	}
	if s := specs["iraq:web"].Sockets; len(s) != 1 || s[0].Address != "/run/cts/iraq.sock" || s[0].Mode != 0o660 || s[0].Backlog != 64 {
		t.Errorf("iraq's socket %+v", s)
	}
	if r := specs["redis"].Ready; r.Kind != supervisor.ReadyTCP || r.Target != "127.0.0.1:6379" {
		t.Errorf("redis ready %+v", r)
	}
	if r := specs["iraq:worker"].Ready; r.Kind != supervisor.ReadyExec || fmt.Sprint(r.Argv) != "[celery inspect ping]" {
		t.Errorf("worker ready %+v", r)
	}
	if d := specs["iraq:worker"].DependsOn; fmt.Sprint(d) != "[iraq:web]" {
		t.Errorf("worker depends on %v", d)
	}
}

// TestLoad_NoEnvironmentNoMap: a program that sets no environment (most
// do) holds no empty map: one fewer allocation per program.
func TestLoad_NoEnvironmentNoMap(t *testing.T) {
	path := writeConfig(t, daemonFile, map[string]string{"app.toml": "[instance.t]\n[program.web]\ninstances = [\"t\"]\ncommand = \"/bin/true\"\n[program.env]\ncommand = \"/bin/true\"\nenvironment = { A = \"1\" }\n"})
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range cfg.Groups {
		for _, p := range g.Processes {
			if (p.Environment == nil) != (p.Program == "web") {
				t.Errorf("%s: environment %#v", p.FullName(), p.Environment)
			}
		}
	}
}

// TestCheck_MissingCommandWarnsOnceWithItsLine: a command this host
// lacks is a warning (supervisord starts with it, and so must an
// upgrade's --check), once per program, at the line that sets it.
func TestCheck_MissingCommandWarnsOnceWithItsLine(t *testing.T) {
	path := writeConfig(t, daemonFile, map[string]string{"app.toml": "[instance.a]\n[instance.b]\n" +
		"[program.web]\ninstances = [\"a\", \"b\"]\ncommand = \"/srv/venv/bin/gunicornn app\"\nnumprocs = 2\n" +
		"[program.ok]\ncommand = \"/bin/true\"\n"})
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var asked []string
	warnings := cfg.CheckCommands(func(p *supervisor.ProcessSpec) error {
		asked = append(asked, p.Argv[0])
		if p.Argv[0] == "/bin/true" {
			return nil
		}
		return fmt.Errorf("can't find command '%s'", p.Argv[0])
	})
	want := filepath.Join(filepath.Dir(path), "conf.d", "app.toml") + `:5: program "web": command: can't find command '/srv/venv/bin/gunicornn' (on this host)`
	if len(warnings) != 1 || warnings[0].Error() != want {
		t.Errorf("warnings:\n got %v\nwant %s", warnings, want)
	}
	if len(asked) != 2 {
		t.Errorf("commands looked up %v, want each program's once", asked)
	}
}

// TestCheck_MissingUserOnceWithItsLine: --check reports a user missing on
// this host once, at the file and line that first names it, however many
// processes run as it.
func TestCheck_MissingUserOnceWithItsLine(t *testing.T) {
	path := writeConfig(t, daemonFile, map[string]string{"app.toml": "[instance.a]\n[instance.b]\n" +
		"[program.web]\ninstances = [\"a\", \"b\"]\ncommand = \"/bin/true\"\nuser = \"no-such-user-ctlsup\"\nnumprocs = 2\n" +
		"[program.ok]\ncommand = \"/bin/true\"\nuser = \"root\"\n"})
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var asked []string
	err = cfg.Check(func(name string) error {
		asked = append(asked, name)
		if name == "root" {
			return nil
		}
		return fmt.Errorf("can't find user '%s'", name)
	})
	want := filepath.Join(filepath.Dir(path), "conf.d", "app.toml") + `:6: program "web": user = "no-such-user-ctlsup": can't find user 'no-such-user-ctlsup' (on this host)`
	if err == nil || err.Error() != want {
		t.Errorf("check:\n got %v\nwant %s", err, want)
	}
	if len(asked) != 2 {
		t.Errorf("users looked up %v, want each once", asked)
	}
}

// TestLoad_ErrorsNameFilesAbsolute: an error names its file by its
// absolute path wherever the loader runs: a daemon's working directory
// (/ under systemd) means nothing to whoever reads its faults.
func TestLoad_ErrorsNameFilesAbsolute(t *testing.T) {
	path := writeConfig(t, daemonFile, map[string]string{"app.toml": "[program.web]\ncommand = \"/bin/true\"\nstopwaitsecs = \"10s\"\n"})
	want := filepath.Join(filepath.Dir(path), "conf.d", "app.toml") + ":3:"
	for _, wd := range []string{"/", filepath.Dir(path)} {
		t.Chdir(wd)
		_, err := config.Load(path)
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("in %s: %v, want it to begin %q", wd, err, want)
		}
	}
}
