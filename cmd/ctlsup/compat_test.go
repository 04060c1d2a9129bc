package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ctlsup/ctlsup/api/client"
	"github.com/ctlsup/ctlsup/supervisor/testhelper"
)

var ctlsupdBin, ctlsupBin string

func TestMain(m *testing.M) {
	testhelper.Run() // the test binary is also the helpers' (stand-ins for servers)
	dir, err := os.MkdirTemp("", "ctlsup-compat")
	if err != nil {
		panic(err)
	}
	ctlsupdBin, ctlsupBin = filepath.Join(dir, "ctlsupd"), filepath.Join(dir, "ctlsup")
	for bin, pkg := range map[string]string{ctlsupdBin: "../ctlsupd", ctlsupBin: "."} {
		if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "go build %s: %v\n%s", pkg, err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// fixture is one program both daemons run.
type fixture struct {
	name, command string
	group         string // a [group:x] in supervisord, an instance in ctlsup
	numprocs      int
	autostart     bool
	startsecs     int
	priority      int  // 0: the default, 999
	fatal         bool // an autostart that ends FATAL
	autoLog       bool // logs at the daemon's own paths (AUTO), not configured ones
}

var fixtures = []fixture{
	{name: "sleeper", command: "/bin/sleep 1000", autostart: true, priority: 200},
	{name: "manual", command: "/bin/sleep 1000"},
	{name: "chatty", command: "/bin/sh -c 'echo out; echo err >&2; exec /bin/sleep 1000'", autostart: true},
	{name: "alpha", command: "/bin/sleep 1000", group: "grp", autostart: true, priority: 510},
	{name: "beta", command: "/bin/sleep 1000", group: "grp", autostart: true},
	{name: "worker", command: "/bin/sleep 1000", numprocs: 2, autostart: true, priority: 20},
	{name: "failing", command: "/bin/sh -c 'exit 1'", startsecs: 1},
	// `start all` refuses missing at once (NO_FILE) and waits for crashing
	// to fail (SPAWN_ERROR): supervisord answers refusals before the starts
	// it waits for, whatever their priority, and supervisorctl's exit
	// status is the last failure's. (failing exits too soon to tell: it is
	// answered as it is reaped, before or after its spawn returned.)
	{name: "crashing", command: "/bin/sh -c 'sleep 0.3; exit 1'", startsecs: 1},
	{name: "missing", command: "/no/such/binary"},
	// Autostarted, it goes FATAL without ever having a process: it has no
	// log (NO_FILE), where a process that ran and wrote nothing has one.
	{name: "vanished", command: "/no/such/binary", autostart: true, fatal: true},
	// Never started, with AUTO logs, which supervisord makes at its start:
	// they read empty.
	{name: "idle", command: "/bin/sleep 1000", autoLog: true},
}

// daemon is a running supervisord or ctlsupd with the fixtures.
type daemon struct {
	kind string // "supervisord" or "ctlsupd"
	dir  string
	url  string
	cmd  *exec.Cmd
	out  bytes.Buffer
}

func (d *daemon) confd() string { return filepath.Join(d.dir, "conf.d") }

// program renders one fixture in the daemon's configuration language.
func (d *daemon) program(f fixture) string {
	var b strings.Builder
	if d.kind == "supervisord" {
		fmt.Fprintf(&b, "[program:%s]\ncommand=%s\nautostart=%v\nstartsecs=%d\nstartretries=0\nstopwaitsecs=2\n",
			f.name, f.command, f.autostart, f.startsecs)
		name := f.name
		if f.numprocs > 1 {
			fmt.Fprintf(&b, "numprocs=%d\nprocess_name=%%(program_name)s_%%(process_num)02d\n", f.numprocs)
			name = "%(program_name)s_%(process_num)02d"
		}
		if f.priority != 0 {
			fmt.Fprintf(&b, "priority=%d\n", f.priority)
		}
		if !f.autoLog {
			fmt.Fprintf(&b, "stdout_logfile=%s\nstderr_logfile=%s\n",
				filepath.Join(d.dir, "log", name+".log"), filepath.Join(d.dir, "log", name+".err.log"))
		}
		b.WriteString("\n")
		return b.String()
	}
	fmt.Fprintf(&b, "[program.%s]\ncommand = %q\nautostart = %v\nstartsecs = %d\nstartretries = 0\nstopwaitsecs = 2\n",
		f.name, f.command, f.autostart, f.startsecs)
	if f.numprocs > 1 {
		fmt.Fprintf(&b, "numprocs = %d\n", f.numprocs)
	}
	if f.priority != 0 {
		fmt.Fprintf(&b, "priority = %d\n", f.priority)
	}
	if f.group != "" {
		fmt.Fprintf(&b, "instances = [%q]\n", f.group)
	}
	if !f.autoLog {
		// The paths are the daemon's own, configured as supervisord's are.
		fmt.Fprintf(&b, "stdout_logfile = %q\nstderr_logfile = %q\n",
			filepath.Join(d.dir, "log", "${process_name}.log"), filepath.Join(d.dir, "log", "${process_name}.err.log"))
	}
	b.WriteString("\n")
	return b.String()
}

// writePrograms writes the program files: one file per fixture, so tests
// can add, change and remove them.
func (d *daemon) writePrograms(t *testing.T, fs []fixture) {
	t.Helper()
	os.RemoveAll(d.confd())
	os.MkdirAll(d.confd(), 0o755)
	groups := map[string][]string{}
	for _, f := range fs {
		text := d.program(f)
		ext := ".toml"
		if d.kind == "supervisord" {
			ext = ".conf"
			if f.group != "" {
				groups[f.group] = append(groups[f.group], f.name)
			}
		} else if f.group != "" {
			text = fmt.Sprintf("[instance.%s]\n", f.group) + text
			if len(groups[f.group]) > 0 {
				text = d.program(f)
			}
			groups[f.group] = append(groups[f.group], f.name)
		}
		if err := os.WriteFile(filepath.Join(d.confd(), f.name+ext), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if d.kind == "supervisord" {
		for g, members := range groups {
			text := fmt.Sprintf("[group:%s]\nprograms=%s\n", g, strings.Join(members, ","))
			os.WriteFile(filepath.Join(d.confd(), "group-"+g+".conf"), []byte(text), 0o644)
		}
	}
}

func startDaemon(t *testing.T, kind string) *daemon {
	t.Helper()
	d := &daemon{kind: kind, dir: t.TempDir()}
	os.MkdirAll(filepath.Join(d.dir, "log"), 0o755)
	sock := filepath.Join(d.dir, "ctl.sock")
	d.url = "unix://" + sock
	d.writePrograms(t, fixtures)
	var conf string
	if kind == "supervisord" {
		bin := testhelper.RequireReference(t, "supervisord")
		conf = filepath.Join(d.dir, "supervisord.conf")
		os.WriteFile(conf, []byte(fmt.Sprintf(`[unix_http_server]
file=%[1]s
[supervisord]
logfile=%[2]s/supervisord.log
pidfile=%[2]s/supervisord.pid
childlogdir=%[2]s/log
nodaemon=true
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[supervisorctl]
serverurl=unix://%[1]s
[include]
files = %[2]s/conf.d/*.conf
`, sock, d.dir)), 0o644)
		d.cmd = exec.Command(bin, "-n", "-c", conf)
	} else {
		conf = filepath.Join(d.dir, "ctlsupd.toml")
		os.WriteFile(conf, []byte(fmt.Sprintf("include = [\"conf.d/*.toml\"]\nlog_dir = %q\nstate_dir = %q\nlogfile = %q\n[control]\nsocket = %q\n",
			filepath.Join(d.dir, "log"), filepath.Join(d.dir, "state"), filepath.Join(d.dir, "supervisord.log"), sock)), 0o644)
		d.cmd = exec.Command(ctlsupdBin, "-c", conf)
	}
	d.cmd.Stdout, d.cmd.Stderr = &d.out, &d.out
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { testhelper.Stop(d.cmd) })
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not open its socket:\n%s", kind, d.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return d
}

// waitAutostarted waits until every autostart fixture process is RUNNING:
// supervisord gets there on its next one-second tick, ctlsupd at once.
// settled waits until a process has left STARTING and BACKOFF: what status
// shows then does not depend on how busy the machine is.
func settled(names ...string) func(t *testing.T, d *daemon) {
	return func(t *testing.T, d *daemon) {
		t.Helper()
		c, _ := client.New(d.url, "", "")
		defer c.Close()
		for _, name := range names {
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				info, err := c.Call("supervisor.getProcessInfo", name)
				if st := fstr(info, "statename"); err == nil && st != "STARTING" && st != "BACKOFF" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: %s did not settle", d.kind, name)
				}
			}
		}
	}
}

func (d *daemon) waitAutostarted(t *testing.T) {
	t.Helper()
	want, wantFatal := 0, 0
	for _, f := range fixtures {
		switch {
		case f.autostart && f.fatal:
			wantFatal++
		case f.autostart:
			want += max(f.numprocs, 1)
		}
	}
	c, _ := client.New(d.url, "", "")
	deadline := time.Now().Add(15 * time.Second)
	for {
		running, fatal := 0, 0
		all, _ := c.Call("supervisor.getAllProcessInfo")
		for _, p := range list(all) {
			switch fstr(p, "statename") {
			case "RUNNING":
				running++
			case "FATAL":
				fatal++
			}
		}
		if running == want && fatal == wantFatal {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d of %d autostart processes running, %d of %d FATAL", d.kind, running, want, fatal, wantFatal)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// run runs one command line with a client against a daemon.
func run(t *testing.T, clientBin string, d *daemon, line string) (string, int) {
	t.Helper()
	args := append([]string{"-s", d.url}, strings.Fields(line)...)
	cmd := exec.Command(clientBin, args...)
	cmd.Env = append(os.Environ(), "LANG=C", "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %s: %v", clientBin, line, err)
	}
	return string(out), code
}

var normalizers = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`pid \d+, uptime \d+:\d\d:\d\d`), "pid PID, uptime UPTIME"},
	{regexp.MustCompile(`(?m)^\d+$`), "NUMBER"},
	{regexp.MustCompile(`[A-Z][a-z]{2} \d\d \d\d:\d\d [AP]M`), "DATE"},
	{regexp.MustCompile(`unix://\S+?/ctl\.sock`), "SOCKET"},
	{regexp.MustCompile(`: file: \S+ line: \d+`), ""},
}

func normalize(s, dir string) string {
	s = strings.ReplaceAll(s, dir, "DIR")
	for _, n := range normalizers {
		s = n.re.ReplaceAllString(s, n.repl)
	}
	return s
}

// step is one command of the differential sequence; prepare, if set, runs
// on each daemon before it.
type step struct {
	line    string
	prepare func(t *testing.T, d *daemon)
	// unordered: the lines come from a group or all operation, which both
	// daemons report in completion order (it varies from run to run);
	// compare them as a set.
	unordered bool
	exits     bool // the daemon exits after this command: wait for it
}

var changed = func(t *testing.T, d *daemon) {
	fs := []fixture{}
	for _, f := range fixtures {
		switch f.name {
		case "chatty": // removed
			continue
		case "sleeper": // changed
			f.command = "/bin/sleep 1001"
		}
		fs = append(fs, f)
	}
	fs = append(fs, fixture{name: "newprog", command: "/bin/sleep 1000", autostart: true})
	d.writePrograms(t, fs)
}

var withLate = func(t *testing.T, d *daemon) {
	f := fixture{name: "late", command: "/bin/sleep 1000", autostart: true}
	os.WriteFile(filepath.Join(d.confd(), "late"+map[string]string{"supervisord": ".conf", "ctlsupd": ".toml"}[d.kind]),
		[]byte(d.program(f)), 0o644)
}

var sequence = []step{
	{line: "status"},
	{line: "status sleeper"},
	{line: "status grp:*"},
	{line: "status grp"},
	{line: "status nosuch"},
	{line: "status nosuch:*"},
	{line: "status sleeper nosuch manual"},
	{line: "start manual"},
	{line: "start manual"},
	{line: "start nosuch"},
	{line: "start nosuch:*"},
	{line: "start"},
	{line: "stop manual"},
	{line: "stop manual"},
	{line: "stop nosuch"},
	{line: "stop nosuch:*"},
	{line: "stop"},
	{line: "restart sleeper"},
	{line: "restart manual"},
	{line: "stop grp:*", unordered: true},
	{line: "start grp:*", unordered: true},
	{line: "start grp:*", unordered: true},
	{line: "stop worker:*", unordered: true},
	{line: "status"},
	{line: "start all", unordered: true},
	// In (group priority, priority) order, once the programs that fail
	// have: a BACKOFF on its way to FATAL answers either way.
	{line: "signal CONT all", prepare: settled("failing", "crashing")},
	{line: "signal HUP manual"},
	{line: "signal HUP manual"},
	{line: "stop manual"},
	{line: "signal HUP manual"},
	{line: "signal BOGUS sleeper"},
	{line: "signal HUP nosuch"},
	{line: "signal HUP"},
	{line: "pid sleeper"},
	{line: "pid manual"},
	{line: "pid nosuch"},
	{line: "pid grp:*"},
	{line: "fg"},
	{line: "fg nosuch"},
	{line: "fg a b"},
	{line: "fg failing"},
	{line: "open bogus://x"},
	{line: "tail chatty"},
	{line: "tail chatty stderr"},
	{line: "tail -4 chatty"},
	{line: "tail nosuch"},
	{line: "tail failing"},
	{line: "tail vanished"},
	{line: "tail vanished stderr"},
	{line: "tail idle"},
	{line: "tail idle stderr"},
	{line: "tail chatty bogus"},
	{line: "tail"},
	{line: "clear chatty"},
	{line: "clear all"}, // in priority order, as supervisord
	{line: "clear nosuch"},
	{line: "tail chatty"},
	{line: "avail"},
	{line: "avail x"},
	{line: "start failing"},
	{line: "status failing", prepare: settled("failing")},
	{line: "reread"},
	{line: "update"},
	{line: "reread", prepare: changed},
	{line: "avail"},
	{line: "update"},
	{line: "status"},
	{line: "reread", prepare: withLate},
	{line: "add late"},
	{line: "add late"},
	{line: "remove late"},
	{line: "stop late"},
	{line: "remove late"},
	{line: "remove nosuch"},
	{line: "add nosuch"},
	{line: "update nosuch"},
	{line: "frobnicate"},
	{line: "shutdown x"},
	{line: "shutdown", exits: true},
	{line: "status"},
}

// transcript runs the sequence with one client against a fresh daemon.
func transcript(t *testing.T, kind, clientBin string) []string {
	d := startDaemon(t, kind)
	d.waitAutostarted(t)
	var out []string
	for _, s := range sequence {
		if s.prepare != nil {
			s.prepare(t, d)
		}
		text, code := run(t, clientBin, d, s.line)
		text = normalize(text, d.dir)
		if s.unordered {
			lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
			slices.Sort(lines)
			text = strings.Join(lines, "\n") + "\n"
		}
		out = append(out, fmt.Sprintf("$ %s\n%s[exit %d]", s.line, text, code))
		if s.exits {
			d.cmd.Wait()
		}
	}
	return out
}

// TestCompat_Differential drives supervisord 4.2.5 with the real
// supervisorctl (the reference) and compares, command by command, what
// supervisorctl and ctlsup print against ctlsupd, and what ctlsup prints
// against supervisord.
func TestCompat_Differential(t *testing.T) {
	supervisorctl := testhelper.RequireReference(t, "supervisorctl")
	want := transcript(t, "supervisord", supervisorctl)
	for _, c := range []struct{ name, daemon, client string }{
		{"supervisorctl->ctlsupd", "ctlsupd", supervisorctl},
		{"ctlsup->ctlsupd", "ctlsupd", ctlsupBin},
		{"ctlsup->supervisord", "supervisord", ctlsupBin},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := transcript(t, c.daemon, c.client)
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("step %d differs\n--- supervisorctl->supervisord\n%s\n--- %s\n%s", i, want[i], c.name, got[i])
				}
			}
		})
	}
}

// TestCompat_RPCEdges calls both daemons through Python's xmlrpc.client
// (supervisor's own unix transport), as Ansible, Salt and dashboards do:
// parameter counts, method signatures and the tags of method help must
// answer alike. The daemon's state must survive calls that supervisord
// refuses (shutdown('x') shuts nothing down).
func TestCompat_RPCEdges(t *testing.T) {
	testhelper.RequireReference(t, "supervisorctl")
	python := "/usr/bin/python3" // Debian's, which has the supervisor module
	outputs := map[string]string{}
	for _, kind := range []string{"supervisord", "ctlsupd"} {
		d := startDaemon(t, kind)
		d.waitAutostarted(t)
		out, err := exec.Command(python, "testdata/rpc_edges.py", d.url).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", kind, err, out)
		}
		outputs[kind] = string(out)
		if code := run2(t, d, "status sleeper"); code != 0 {
			t.Errorf("%s: sleeper not running after the calls (exit %d)", kind, code)
		}
	}
	want := strings.Split(outputs["supervisord"], "\n")
	got := strings.Split(outputs["ctlsupd"], "\n")
	if len(got) != len(want) {
		t.Errorf("%d lines against supervisord's %d", len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Errorf("supervisord: %s\nctlsupd:     %s", want[i], got[i])
		}
	}
}

func run2(t *testing.T, d *daemon, line string) int {
	_, code := run(t, ctlsupBin, d, line)
	return code
}
