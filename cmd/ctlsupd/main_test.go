package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ctlsup/ctlsup/api/client"
	"github.com/ctlsup/ctlsup/supervisor"
	"github.com/ctlsup/ctlsup/supervisor/testhelper"
)

var daemonBinary string // built once by TestMain

func TestMain(m *testing.M) {
	if os.Getenv(releaseChildEnv) != "" {
		if err := releaseCheck(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	testhelper.Run()
	os.Setenv("GORACE", "atexit_sleep_ms=0")
	dir, err := os.MkdirTemp("", "ctlsupd-test")
	if err != nil {
		panic(err)
	}
	daemonBinary = filepath.Join(dir, "ctlsupd")
	if out, err := exec.Command("go", "build", "-o", daemonBinary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building ctlsupd: %v\n%s", err, out)
		os.Exit(1)
	}
	// Next to ctlsupd, where it looks for it first.
	for name, pkg := range map[string]string{LeaseHelper: "../ctlsup-lease", "ctlsup": "../ctlsup"} {
		if out, err := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n%s", name, err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// program renders a [program.NAME] table running a test helper.
func program(name, helper string, extra ...string) string {
	var argv []string
	for _, a := range testhelper.Argv(helper) {
		argv = append(argv, strconv.Quote(a))
	}
	return fmt.Sprintf("[program.%s]\ncommand = [%s]\nstartsecs = 0\nstopwaitsecs = 2\n%s\n",
		name, strings.Join(argv, ", "), strings.Join(extra, "\n"))
}

// testConfig writes a daemon file whose state and logs live in a temp dir.
func testConfig(t *testing.T, confd map[string]string) (path string) {
	t.Helper()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "conf.d"), 0o755)
	daemon := fmt.Sprintf("include = [\"conf.d/*.toml\"]\nlog_dir = %q\nstate_dir = %q\n[control]\nsocket = %q\n",
		filepath.Join(dir, "log"), filepath.Join(dir, "state"), filepath.Join(dir, "state", "ctlsup.sock"))
	path = filepath.Join(dir, "ctlsupd.toml")
	os.WriteFile(path, []byte(daemon), 0o644)
	writeConfd(t, path, confd)
	return path
}

func writeConfd(t *testing.T, daemonPath string, files map[string]string) {
	t.Helper()
	for name, text := range files {
		p := filepath.Join(filepath.Dir(daemonPath), "conf.d", name)
		if text == "" {
			os.Remove(p)
			continue
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

type runningMain struct {
	m      *Main
	sigs   chan os.Signal
	done   chan error
	exited chan struct{} // closed once Run returned
	stderr *testhelper.SyncBuffer
}

// mustRunMain runs the daemon in-process and waits until it started. A
// test that ends with it running (a failed one) stops it: its reaper
// would otherwise collect the children of the tests after it.
func mustRunMain(t *testing.T, path string) *runningMain {
	t.Helper()
	r := &runningMain{sigs: make(chan os.Signal, 1), done: make(chan error, 1), exited: make(chan struct{}), stderr: &testhelper.SyncBuffer{}}
	started := make(chan struct{})
	r.m = &Main{ConfigPath: path, Stdout: r.stderr, Stderr: r.stderr, Signals: r.sigs,
		Started: func(*Main) { close(started) }}
	go func() { r.done <- r.m.Run(context.Background()); close(r.exited) }()
	t.Cleanup(func() {
		select {
		case <-r.exited:
			return
		case r.sigs <- syscall.SIGTERM:
		case <-time.After(time.Second):
		}
		select {
		case <-r.exited:
		case <-time.After(30 * time.Second):
			t.Error("the daemon left running by the test did not stop")
		}
	})
	select {
	case <-started:
	case err := <-r.done:
		t.Fatalf("daemon exited: %v\n%s", err, r.stderr)
	case <-time.After(10 * time.Second):
		t.Fatal("daemon did not start")
	}
	return r
}

// waitFor polls the daemon's process table until cond holds.
func (r *runningMain) waitFor(t *testing.T, what string, cond func(map[string]*supervisor.ProcessInfo) bool) map[string]*supervisor.ProcessInfo {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		procs := map[string]*supervisor.ProcessInfo{}
		for _, p := range r.m.Supervisor.Processes() {
			procs[p.FullName()] = p
		}
		if cond(procs) {
			return procs
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; daemon log:\n%s", what, r.stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func allRunning(names ...string) func(map[string]*supervisor.ProcessInfo) bool {
	return func(procs map[string]*supervisor.ProcessInfo) bool {
		if len(procs) != len(names) {
			return false
		}
		for _, n := range names {
			if p := procs[n]; p == nil || p.State != supervisor.Running {
				return false
			}
		}
		return true
	}
}

// liveInGroup lists live (non-zombie) processes of a process group.
func liveInGroup(pgid int) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) > 2 && f[0] != "Z" && f[2] == strconv.Itoa(pgid) {
			pid, _ := strconv.Atoi(e.Name())
			pids = append(pids, pid)
		}
	}
	return pids
}

func TestMain_ReloadReopenAndShutdown(t *testing.T) {
	path := testConfig(t, map[string]string{
		"a.toml": program("keep", "sleep") + program("change", "sleep") + program("gone", "sleep") +
			program("pool", "pool") + program("ticker", "tick"),
	})
	r := mustRunMain(t, path)
	before := r.waitFor(t, "all running", allRunning("keep", "change", "gone", "pool", "ticker"))

	// HUP: reread + update. keep is untouched, change restarts, gone goes,
	// added arrives.
	writeConfd(t, path, map[string]string{
		"a.toml": program("keep", "sleep") + program("change", "sleep", "priority = 5") +
			program("pool", "pool") + program("ticker", "tick"),
		"b.toml": program("added", "sleep"),
	})
	r.sigs <- syscall.SIGHUP
	after := r.waitFor(t, "the update", allRunning("keep", "change", "pool", "ticker", "added"))
	if after["keep"].Pid != before["keep"].Pid {
		t.Errorf("untouched program restarted: pid %d -> %d", before["keep"].Pid, after["keep"].Pid)
	}
	if after["change"].Pid == before["change"].Pid {
		t.Errorf("changed program kept pid %d", after["change"].Pid)
	}
	if len(liveInGroup(before["gone"].Pid)) != 0 {
		t.Errorf("removed program still runs")
	}

	// A broken file: nothing changes, and the log names file and line.
	writeConfd(t, path, map[string]string{"b.toml": program("added", "sleep") + "bogus_key = 1\n"})
	r.sigs <- syscall.SIGHUP
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(r.stderr.String(), "configuration not applied") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if log := r.stderr.String(); !strings.Contains(log, `conf.d/b.toml:6: program \"added\": unknown key \"bogus_key\"`) {
		t.Errorf("config error not logged with file:line:\n%s", log)
	}
	still := r.waitFor(t, "nothing to change", allRunning("keep", "change", "pool", "ticker", "added"))
	for name, p := range still {
		if p.Pid != after[name].Pid {
			t.Errorf("%s restarted by a broken config", name)
		}
	}

	// USR2 after logrotate renamed the log: a new file appears. (The log
	// is made by the ticker's first output.)
	tickLog := after["ticker"].Spec.Stdout.Path
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(tickLog); err == nil {
			break
		}
	}
	if err := os.Rename(tickLog, tickLog+".1"); err != nil {
		t.Fatal(err)
	}
	r.sigs <- syscall.SIGUSR2
	deadline = time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(tickLog); err == nil && strings.Contains(string(b), "tick") {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if b, err := os.ReadFile(tickLog); err != nil || !strings.Contains(string(b), "tick") {
		t.Errorf("no new log after SIGUSR2: %v %q", err, b)
	}

	// TERM: everything stops, the pool's workers too, and Run returns nil.
	r.sigs <- syscall.SIGTERM
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("shutdown hung")
	}
	for name, p := range still {
		if live := liveInGroup(p.Pid); len(live) != 0 {
			t.Errorf("%s left processes behind: %v", name, live)
		}
	}
}

func TestMain_Check(t *testing.T) {
	good := testConfig(t, map[string]string{"a.toml": program("web", "sleep", "numprocs = 2")})
	var out bytes.Buffer
	m := &Main{ConfigPath: good, CheckOnly: true, Stdout: &out, Stderr: &out}
	if err := m.Run(context.Background()); err != nil || !strings.Contains(out.String(), "OK, 1 groups, 2 processes") {
		t.Errorf("check of a good config: %v\n%s", err, out.String())
	}
	bad := testConfig(t, map[string]string{"a.toml": program("web", "sleep", "numprocs = 0")})
	m = &Main{ConfigPath: bad, CheckOnly: true, Stdout: &out, Stderr: &out}
	if err := m.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "a.toml:5: program \"web\": numprocs = 0, but it must be at least 1") {
		t.Errorf("check of a bad config: %v", err)
	}
}

func TestMain_MetricsFollowUpdates(t *testing.T) {
	path := testConfig(t, map[string]string{"a.toml": program("keep", "sleep") + program("gone", "sleep")})
	b, _ := os.ReadFile(path)
	os.WriteFile(path, append(b, []byte("[metrics]\nlisten = \"127.0.0.1:0\"\n")...), 0o644)
	r := mustRunMain(t, path)
	r.waitFor(t, "both running", allRunning("keep", "gone"))
	scrape := func() string {
		resp, err := http.Get("http://" + r.m.MetricsAddr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	body := scrape()
	// A scrape waits at most 100 ms for the usage reading (the tasks).
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(body, "ctlsup_process_tasks") && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		body = scrape()
	}
	if !strings.Contains(body, `ctlsup_process_up{group="gone",name="gone"} 1`) ||
		!strings.Contains(body, "ctlsup_config_last_reload_successful 1") ||
		!strings.Contains(body, `ctlsup_containment_info{mode="`) ||
		!strings.Contains(body, `ctlsup_process_tasks{group="keep",name="keep"} 1`) {
		t.Fatalf("metrics before the update:\n%.2000s", body)
	}
	writeConfd(t, path, map[string]string{"a.toml": program("keep", "sleep")})
	r.sigs <- syscall.SIGHUP
	r.waitFor(t, "the update", allRunning("keep"))
	if body := scrape(); strings.Contains(body, `name="gone"`) {
		t.Errorf("a removed program's series remain")
	}
	writeConfd(t, path, map[string]string{"a.toml": "[program.broken\n"})
	r.sigs <- syscall.SIGHUP
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(scrape(), "ctlsup_config_last_reload_successful 0") {
		if time.Now().After(deadline) {
			t.Fatal("a failed reload does not show in the metrics")
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.sigs <- syscall.SIGTERM
	<-r.done
}

// TestMain_OwnLogRotates: the daemon's own logfile rotates at its
// logfile_maxbytes and keeps logfile_backups old files, as supervisord's.
func TestMain_OwnLogRotates(t *testing.T) {
	var progs strings.Builder
	var names []string
	for i := range 20 {
		names = append(names, fmt.Sprintf("p%02d", i))
		progs.WriteString(program(names[i], "sleep"))
	}
	path := testConfig(t, map[string]string{"a.toml": progs.String()})
	dir := filepath.Dir(path)
	daemon, _ := os.ReadFile(path)
	logPath := filepath.Join(dir, "own", "ctlsupd.log")
	os.WriteFile(path, fmt.Appendf(nil, "logfile = %q\nlogfile_maxbytes = \"1KB\"\nlogfile_backups = 1\n%s", logPath, daemon), 0o644)
	r := mustRunMain(t, path)
	r.waitFor(t, "all running", allRunning(names...))
	r.sigs <- syscall.SIGTERM
	<-r.exited
	// lumberjack prunes old backups in the background.
	var files []string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		files, _ = filepath.Glob(filepath.Join(dir, "own", "ctlsupd*"))
		if len(files) <= 2 || time.Now().After(deadline) {
			break
		}
	}
	if len(files) != 2 {
		t.Fatalf("log files %v: want the log and one backup", files)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil || len(b) > 1024 || !strings.HasPrefix(string(b), "time=") || !strings.HasSuffix(string(b), "\n") {
			t.Errorf("%s: %d bytes, want at most 1KB of whole lines:\n%s", f, len(b), b)
		}
	}
}

// TestMain_RefusesAStateDirOthersControl: a state_dir others can write to,
// a symbolic link, or (as root) one another user made is refused before
// anything in it is trusted or truncated.
func TestMain_RefusesAStateDirOthersControl(t *testing.T) {
	cases := map[string]func(dir string){
		"writable by others": func(dir string) { os.MkdirAll(dir, 0o755); os.Chmod(dir, 0o777) },
		"a symbolic link":    func(dir string) { os.MkdirAll(dir+".real", 0o755); os.Symlink(dir+".real", dir) },
	}
	if os.Geteuid() == 0 {
		cases["another user's"] = func(dir string) { os.MkdirAll(dir, 0o755); os.Chown(dir, 65534, 65534) }
	}
	for name, plant := range cases {
		path := testConfig(t, map[string]string{"a.toml": program("web", "sleep")})
		state := filepath.Join(filepath.Dir(path), "state")
		plant(state)
		sigs := make(chan os.Signal, 1)
		m := &Main{ConfigPath: path, Stdout: io.Discard, Stderr: io.Discard, Signals: sigs}
		done := make(chan error, 1)
		go func() { done <- m.Run(context.Background()) }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "state_dir") {
				t.Errorf("%s: Run returned %v, want the state_dir refused", name, err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("%s: the daemon started", name)
			sigs <- syscall.SIGTERM
			<-done
		}
		if _, err := os.Stat(filepath.Join(state, "ctlsupd.pid")); err == nil {
			t.Errorf("%s: the pid file was written", name)
		}
	}
}

// TestReload_EventSerialsGoOn: a reload (supervisorctl reload) replaces
// the engine, but event serials go on from where they were, as
// supervisord's do: a listener that drops events it has seen by serial
// must not drop the new ones.
func TestReload_EventSerialsGoOn(t *testing.T) {
	dir := t.TempDir()
	record := filepath.Join(dir, "events")
	var argv []string
	for _, a := range testhelper.Argv("listener", record, "ok") {
		argv = append(argv, strconv.Quote(a))
	}
	path := testConfig(t, map[string]string{"app.toml": fmt.Sprintf(
		"[eventlistener.rec]\ncommand = [%s]\nevents = [\"REMOTE_COMMUNICATION\"]\nstartsecs = 0\n", strings.Join(argv, ", "))})
	sock := filepath.Join(filepath.Dir(path), "state", "ctlsup.sock")
	d, log := startDaemon(t, path)
	defer func() {
		d.Process.Signal(syscall.SIGTERM)
		d.Wait()
	}()
	serialOf := func(typ string) int {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			c, err := client.New("unix://"+sock, "", "")
			if err == nil {
				c.Call("supervisor.sendRemoteCommEvent", typ, "x")
				c.Close()
			}
			b, _ := os.ReadFile(record)
			for _, line := range strings.Split(string(b), "\n") {
				if f := strings.Fields(line); len(f) > 2 && f[2] == "type:"+typ {
					n, _ := strconv.Atoi(f[0])
					return n
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("the listener got no %s event:\n%s\n%s", typ, b, log)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	before := serialOf("before")
	call(t, sock, "supervisor.restart")
	if after := serialOf("after"); after <= before {
		t.Errorf("serial %d after the reload, %d before it: serials restarted", after, before)
	}
}
