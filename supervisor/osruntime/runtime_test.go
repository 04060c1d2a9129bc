package osruntime

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ctlsup/ctlsup/supervisor"
	"github.com/ctlsup/ctlsup/supervisor/internal/proc"
	"github.com/ctlsup/ctlsup/supervisor/testhelper"
)

// helperSpec is a process running a test helper, logging under dir.
func helperSpec(dir, name string, argv []string, mod func(*supervisor.ProcessSpec)) *supervisor.ProcessSpec {
	s := testSpec()
	s.Name, s.Group, s.Program = name, name, name
	s.Argv = argv
	s.Umask = -1
	s.StartSecs = 0
	s.Stdout = supervisor.LogSpec{Path: filepath.Join(dir, name+".log")}
	s.Stderr = supervisor.LogSpec{Path: filepath.Join(dir, name+".err.log")}
	if mod != nil {
		mod(s)
	}
	return s
}

type osHarness struct {
	t   *testing.T
	dir string
	log *testhelper.SyncBuffer
	rt  *Runtime
	s   *supervisor.Supervisor
}

func openOS(t *testing.T, specs ...*supervisor.ProcessSpec) *osHarness {
	t.Helper()
	return openOSWith(t, nil, specs...)
}

// openOSWith opens an engine over specs after set has adjusted it.
func openOSWith(t *testing.T, set func(*supervisor.Supervisor), specs ...*supervisor.ProcessSpec) *osHarness {
	t.Helper()
	h := &osHarness{t: t, dir: t.TempDir(), log: &testhelper.SyncBuffer{}}
	logger := slog.New(slog.NewTextHandler(h.log, nil))
	rt := New(filepath.Join(h.dir, "state"), logger)
	var groups []supervisor.GroupSpec
	for _, s := range specs {
		groups = append(groups, supervisor.GroupSpec{Name: s.Group, Priority: s.Priority, Processes: []supervisor.ProcessSpec{*s}})
	}
	h.rt, h.s = rt, supervisor.New(rt, groups)
	h.s.Logger = logger
	if set != nil {
		set(h.s)
	}
	if err := h.s.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.s.Close(context.Background()) })
	return h
}

func (h *osHarness) wait(name string, cond func(*supervisor.ProcessInfo) bool) *supervisor.ProcessInfo {
	h.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		changed := h.s.Changed()
		info, err := h.s.Process(name)
		if err != nil {
			h.t.Fatal(err)
		}
		if cond(info) {
			return info
		}
		select {
		case <-changed:
		case <-timeout:
			h.t.Fatalf("%s: timed out; state %s; daemon log:\n%s", name, info.State, h.log)
		}
	}
}

func inState(st supervisor.State) func(*supervisor.ProcessInfo) bool {
	return func(i *supervisor.ProcessInfo) bool { return i.State == st }
}

// eventually polls cond for up to 10 s: for effects outside the engine
// (files written by pumps, processes dying).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func readFile(path string) string { b, _ := os.ReadFile(path); return string(b) }

func alive(pid int) bool {
	st, err := proc.ReadStat(pid)
	return err == nil && st.State != 'Z'
}

func TestOS_IgnoreTermIsKilledAfterStopWait(t *testing.T) {
	spec := helperSpec(t.TempDir(), "stubborn", testhelper.Argv("ignore-term"), func(s *supervisor.ProcessSpec) {
		s.StopWait = 500 * time.Millisecond
	})
	h := openOS(t, spec)
	info := h.wait("stubborn", inState(supervisor.Running))
	eventually(t, "the helper to ignore TERM", func() bool { return strings.Contains(readFile(spec.Stdout.Path), "ignoring TERM") })
	t0 := time.Now()
	if err := supervisor.Err(h.s.Stop(context.Background(), supervisor.Process("stubborn"), supervisor.WaitForDone)); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(t0); took < 500*time.Millisecond || took > 3*time.Second {
		t.Errorf("stop took %s, want stopwaitsecs 0.5s then SIGKILL", took)
	}
	after, _ := h.s.Process("stubborn")
	if after.State != supervisor.Stopped || after.ExitStatus != -1 || alive(info.Pid) {
		t.Errorf("state %s exitstatus %d alive %v", after.State, after.ExitStatus, alive(info.Pid))
	}
	if !strings.Contains(h.log.String(), `status="terminated by SIGKILL"`) {
		t.Errorf("daemon log lacks the signal death:\n%s", h.log)
	}
}

// TestOS_ExitLineBeforeItsRestart: an exit's line is written once its
// restart has forked, yet before the restart's own line, with the time
// of the exit.
func TestOS_ExitLineBeforeItsRestart(t *testing.T) {
	h := openOS(t, helperSpec(t.TempDir(), "sleeper", testhelper.Argv("sleep"), func(s *supervisor.ProcessSpec) {
		s.AutoRestart = supervisor.RestartAlways
	}))
	first := h.wait("sleeper", inState(supervisor.Running))
	syscall.Kill(first.Pid, syscall.SIGKILL)
	second := h.wait("sleeper", func(i *supervisor.ProcessInfo) bool { return i.State == supervisor.Running && i.Pid != first.Pid })
	var exited, spawned int
	var exitedAt, spawnedAt string
	for i, line := range strings.Split(h.log.String(), "\n") {
		switch {
		case strings.Contains(line, "msg=exited") && strings.Contains(line, fmt.Sprintf("pid=%d ", first.Pid)):
			exited, exitedAt = i, line[:strings.Index(line, " ")]
		case strings.Contains(line, "msg=spawned") && strings.Contains(line, fmt.Sprintf("pid=%d", second.Pid)):
			spawned, spawnedAt = i, line[:strings.Index(line, " ")]
		}
	}
	if exited == 0 || spawned == 0 || exited > spawned {
		t.Fatalf("want the exit of %d logged before the spawn of %d:\n%s", first.Pid, second.Pid, h.log)
	}
	if exitedAt > spawnedAt {
		t.Errorf("exit logged at %s, after the spawn at %s", exitedAt, spawnedAt)
	}
}

// TestOS_ExitLinesSayWhetherExpected: the daemon's line for an exit says
// what supervisord's says, at its level: "expected" or "not expected"
// after the exit status, and "stopped" for the exit that ends a stop.
func TestOS_ExitLinesSayWhetherExpected(t *testing.T) {
	dir := t.TempDir()
	once := func(s *supervisor.ProcessSpec) { s.AutoRestart = supervisor.RestartNever }
	h := openOS(t,
		helperSpec(dir, "clean", []string{"/bin/sh", "-c", "sleep 0.2; exit 0"}, once),
		helperSpec(dir, "dirty", []string{"/bin/sh", "-c", "sleep 0.2; exit 3"}, once),
		helperSpec(dir, "early", []string{"/bin/sh", "-c", "exit 0"}, func(s *supervisor.ProcessSpec) {
			s.StartSecs, s.StartRetries = 10*time.Second, 0
		}),
		helperSpec(dir, "sleeper", testhelper.Argv("sleep"), nil),
		helperSpec(dir, "deaf", []string{"/bin/sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.05; done"}, func(s *supervisor.ProcessSpec) {
			s.StopWait = 300 * time.Millisecond
		}))
	h.wait("clean", inState(supervisor.Exited))
	h.wait("dirty", inState(supervisor.Exited))
	h.wait("early", inState(supervisor.Fatal))
	h.wait("sleeper", inState(supervisor.Running))
	h.wait("deaf", inState(supervisor.Running))
	eventually(t, "deaf's trap", func() bool { return strings.Contains(readFile(filepath.Join(dir, "deaf.log")), "ready") })
	for _, name := range []string{"sleeper", "deaf"} {
		if err := supervisor.Err(h.s.Stop(context.Background(), supervisor.Process(name), supervisor.WaitForDone)); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{
		`level=INFO msg=exited process=clean pid=\d+ status="exit status 0; expected"`,
		`level=WARN msg=exited process=dirty pid=\d+ status="exit status 3; not expected"`,
		`level=WARN msg=exited process=early pid=\d+ status="exit status 0; not expected"`, // before startsecs
		`level=INFO msg=stopped process=sleeper pid=\d+ status="terminated by SIGTERM"`,    // by its stop signal
		`level=WARN msg=stopped process=deaf pid=\d+ status="terminated by SIGKILL"`,       // after stopwaitsecs
	} {
		if !regexp.MustCompile(want).MatchString(h.log.String()) {
			t.Errorf("no line matches %s:\n%s", want, h.log)
		}
	}
}

func TestOS_SignalDeathIsReportedAsSupervisordDoes(t *testing.T) {
	h := openOS(t, helperSpec(t.TempDir(), "sleeper", testhelper.Argv("sleep"), nil))
	h.wait("sleeper", inState(supervisor.Running))
	if err := supervisor.Err(h.s.Stop(context.Background(), supervisor.Process("sleeper"), supervisor.WaitForDone)); err != nil {
		t.Fatal(err)
	}
	info, _ := h.s.Process("sleeper")
	if info.ExitStatus != -1 || !strings.Contains(h.log.String(), `status="terminated by SIGTERM"`) {
		t.Errorf("exitstatus %d, log:\n%s", info.ExitStatus, h.log)
	}
}

func grandchildren(log string) []int {
	var pids []int
	for _, line := range strings.Split(log, "\n") {
		if f := strings.Fields(line); len(f) == 2 && (f[0] == "grandchild" || f[0] == "worker") {
			n, _ := strconv.Atoi(f[1])
			pids = append(pids, n)
		}
	}
	return pids
}

// TestOS_OrphansAreKilledAfterGrace: a child that forks grandchildren and
// exits leaves nothing behind once its grace period (stopwaitsecs) is over.
func TestOS_OrphansAreKilledAfterGrace(t *testing.T) {
	spec := helperSpec(t.TempDir(), "forker", testhelper.Argv("orphans", "3"), func(s *supervisor.ProcessSpec) {
		s.AutoRestart = supervisor.RestartNever
		s.StopWait = 300 * time.Millisecond
		// Sent to the grandchildren at the exit (see
		// TestSweep_LeftoversAreAskedToEnd): one they ignore.
		s.StopSignal = syscall.SIGWINCH
	})
	h := openOS(t, spec)
	h.wait("forker", inState(supervisor.Exited))
	var kids []int
	eventually(t, "three grandchildren in the log", func() bool {
		kids = grandchildren(readFile(spec.Stdout.Path))
		return len(kids) == 3
	})
	eventually(t, "the grandchildren to be killed", func() bool {
		for _, pid := range kids {
			if alive(pid) {
				return false
			}
		}
		return true
	})
	eventually(t, "the sweep and the reaped orphans in the daemon log", func() bool {
		log := h.log.String()
		return strings.Contains(log, "asking the leftover processes of an ended main process to end") &&
			strings.Contains(log, "killing leftover processes") && strings.Count(log, "reaped orphan") == 3
	})
}

// TestOS_GrandchildHoldingStdout: the leader's exit is seen at once although
// a grandchild keeps its stdout open, and what the grandchild writes later
// still reaches the log.
func TestOS_GrandchildHoldingStdout(t *testing.T) {
	spec := helperSpec(t.TempDir(), "holder", testhelper.Argv("hold-stdout"), func(s *supervisor.ProcessSpec) {
		s.AutoRestart = supervisor.RestartNever
		s.StopWait = 5 * time.Second
		s.StopSignal = syscall.SIGWINCH // the grandchild lives on to write
	})
	h := openOS(t, spec)
	t0 := time.Now()
	h.wait("holder", inState(supervisor.Exited))
	// The grandchild holds the pipe forever: waiting for it would never end.
	// The bound only leaves room for a loaded machine.
	if took := time.Since(t0); took > 3*time.Second {
		t.Errorf("exit seen after %s: exit detection waited for the pipe", took)
	}
	eventually(t, "the grandchild's late line", func() bool {
		return strings.Contains(readFile(spec.Stdout.Path), "late line")
	})
}

func TestOS_ExitAtOnceIsFatalAfterRetries(t *testing.T) {
	h := openOS(t, helperSpec(t.TempDir(), "crash", testhelper.Argv("exit", "3"), func(s *supervisor.ProcessSpec) {
		s.StartSecs, s.StartRetries, s.AutoStart = time.Second, 1, false
	}))
	err := supervisor.Err(h.s.Start(context.Background(), supervisor.Process("crash"), supervisor.WaitForDone))
	if !errors.Is(err, supervisor.ErrSpawn) {
		t.Fatalf("start: %v, want spawn error", err)
	}
	info := h.wait("crash", inState(supervisor.Fatal))
	if info.SpawnErr != "Exited too quickly (process log may have details)" || info.ExitStatus != 0 {
		t.Errorf("description %q exitstatus %d", info.SpawnErr, info.ExitStatus)
	}
}

func TestOS_SpawnErrors(t *testing.T) {
	dir := t.TempDir()
	h := openOS(t,
		helperSpec(dir, "missing", []string{"/no/such/binary"}, func(s *supervisor.ProcessSpec) { s.AutoStart = false }),
		helperSpec(dir, "notexec", []string{filepath.Join(dir, "plain.txt")}, func(s *supervisor.ProcessSpec) { s.AutoStart = false }),
		helperSpec(dir, "nodir", testhelper.Argv("sleep"), func(s *supervisor.ProcessSpec) {
			s.AutoStart, s.StartRetries, s.Directory = false, 0, "/no/such/dir"
		}),
		helperSpec(dir, "nouser", testhelper.Argv("sleep"), func(s *supervisor.ProcessSpec) {
			s.AutoStart, s.StartRetries, s.User = false, 0, "no-such-user-ctlsup"
		}),
		helperSpec(dir, "badinterp", []string{filepath.Join(dir, "script")}, func(s *supervisor.ProcessSpec) {
			s.AutoStart, s.StartRetries, s.Stderr, s.RedirectStderr = false, 0, supervisor.LogSpec{}, true
		}),
		helperSpec(dir, "logisdir", testhelper.Argv("sleep"), func(s *supervisor.ProcessSpec) {
			s.AutoStart, s.StartRetries, s.Stdout.Path = false, 0, dir
		}),
		helperSpec(dir, "bystander", testhelper.Argv("sleep"), nil))
	bystander := h.wait("bystander", inState(supervisor.Running))
	defer func() {
		if now, _ := h.s.Process("bystander"); now.Pid != bystander.Pid || now.State != supervisor.Running {
			t.Errorf("spawn errors disturbed another program: %s pid %d", now.State, now.Pid)
		}
	}()
	os.WriteFile(filepath.Join(dir, "plain.txt"), []byte("not a program"), 0o644)
	os.WriteFile(filepath.Join(dir, "script"), []byte("#!/no/such/interpreter\n"), 0o755)
	ctx := context.Background()
	if err := supervisor.Err(h.s.Start(ctx, supervisor.Process("missing"), supervisor.WaitForDone)); !errors.Is(err, supervisor.ErrNoFile) {
		t.Errorf("missing binary: %v", err)
	}
	if err := supervisor.Err(h.s.Start(ctx, supervisor.Process("notexec"), supervisor.WaitForDone)); !errors.Is(err, supervisor.ErrNotExecutable) {
		t.Errorf("not executable: %v", err)
	}
	for name, text := range map[string]string{
		"nodir":     "couldn't chdir to /no/such/dir: ENOENT",
		"nouser":    "can't find user 'no-such-user-ctlsup'",
		"badinterp": "couldn't exec " + filepath.Join(dir, "script") + ": ENOENT",
		// Its output could go nowhere: supervisord's words.
		"logisdir": "unknown error making dispatchers for 'logisdir': EISDIR",
	} {
		if err := supervisor.Err(h.s.Start(ctx, supervisor.Process(name), supervisor.WaitForDone)); !errors.Is(err, supervisor.ErrSpawn) {
			t.Errorf("%s: %v, want spawn error", name, err)
		}
		info := h.wait(name, inState(supervisor.Fatal))
		if !strings.Contains(info.SpawnErr, text) {
			t.Errorf("%s: description %q, want %q", name, info.SpawnErr, text)
		}
	}
	// A child that failed before its exec says why in its stderr log (in
	// stdout's when redirected), as supervisord's child does; a spawn
	// that never forked has no child to say it.
	for path, line := range map[string]string{
		filepath.Join(dir, "nodir.err.log"): "ctlsupd: couldn't chdir to /no/such/dir: ENOENT\n",
		filepath.Join(dir, "badinterp.log"): "ctlsupd: couldn't exec " + filepath.Join(dir, "script") + ": ENOENT\n",
	} {
		eventually(t, path+" saying why", func() bool { return readFile(path) == line })
	}
	for _, name := range []string{"missing", "nouser"} {
		if b, err := os.ReadFile(filepath.Join(dir, name+".err.log")); err == nil {
			t.Errorf("%s: a spawn without a child wrote its stderr log: %q", name, b)
		}
	}
}

// TestOS_AutostartOfAMissingCommandGoesFatal: a program that starts by
// itself (here at the engine's open) and whose command cannot be run
// goes through BACKOFF to FATAL, saying why in its status and the log, as
// under supervisord's autostart; it was left STOPPED, "Not started", with
// nothing logged. An operator's start of it is still refused at once.
func TestOS_AutostartOfAMissingCommandGoesFatal(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "plain.txt"), []byte("not a program"), 0o644)
	h := openOS(t,
		helperSpec(dir, "missing", []string{"/no/such/binary", "worker"}, func(s *supervisor.ProcessSpec) { s.StartRetries = 1 }),
		helperSpec(dir, "notexec", []string{filepath.Join(dir, "plain.txt")}, func(s *supervisor.ProcessSpec) { s.StartRetries = 1 }))
	for name, text := range map[string]string{
		"missing": "can't find command '/no/such/binary'",
		"notexec": "command at '" + filepath.Join(dir, "plain.txt") + "' is not executable",
	} {
		info := h.wait(name, inState(supervisor.Fatal))
		if info.SpawnErr != text {
			t.Errorf("%s: description %q, want %q", name, info.SpawnErr, text)
		}
		if !strings.Contains(h.log.String(), "process="+name) || !strings.Contains(h.log.String(), text) {
			t.Errorf("%s: the log does not say why:\n%s", name, h.log)
		}
	}
	err := supervisor.Err(h.s.Start(context.Background(), supervisor.Process("missing"), supervisor.WaitForDone))
	if !errors.Is(err, supervisor.ErrNoFile) {
		t.Errorf("the operator's start: %v, want no such file", err)
	}
}

// TestOS_ChildGetsOnlyStdioFds looks at a non-Go child from outside: it
// holds fds 0, 1, 2, plus the lock as fd 3 for a singleton, even though the
// test process inherited other descriptors from its own parent.
func TestOS_ChildGetsOnlyStdioFds(t *testing.T) {
	leak, err := syscall.Dup(1) // a descriptor without close-on-exec
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(leak)
	dir := t.TempDir()
	cLocale := func(s *supervisor.ProcessSpec) { s.Environment = map[string]string{"LC_ALL": "C"} }
	h := openOS(t,
		helperSpec(dir, "plain", []string{"/bin/sleep", "1000"}, cLocale),
		helperSpec(dir, "single", []string{"/bin/sleep", "1000"}, func(s *supervisor.ProcessSpec) { cLocale(s); s.Singleton = true }))
	for name, want := range map[string]string{"plain": "[0 1 2]", "single": "[0 1 2 3]"} {
		info := h.wait(name, inState(supervisor.Running))
		// A starting program opens files of its own (libraries, locales):
		// compare once it has settled. A leaked descriptor never goes away.
		var got string
		var targets []string
		deadline := time.Now().Add(5 * time.Second)
		for got != want && time.Now().Before(deadline) {
			ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", info.Pid))
			if err != nil {
				t.Fatal(err)
			}
			var fds []int
			targets = targets[:0]
			for _, e := range ents {
				n, _ := strconv.Atoi(e.Name())
				fds = append(fds, n)
				target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", info.Pid, n))
				targets = append(targets, fmt.Sprintf("%d=%s", n, target))
			}
			slices.Sort(fds)
			got = fmt.Sprint(fds)
			time.Sleep(5 * time.Millisecond)
		}
		if got != want {
			t.Errorf("%s holds fds %s, want %s: %v", name, got, want, targets)
		}
	}
}

func TestOS_UmaskIsSetInTheChild(t *testing.T) {
	spec := helperSpec(t.TempDir(), "masked", testhelper.Argv("umask"), func(s *supervisor.ProcessSpec) { s.Umask = 0o027 })
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	openOS(t, spec)
	eventually(t, "the umask line", func() bool { return readFile(spec.Stdout.Path) != "" })
	if got := strings.TrimSpace(readFile(spec.Stdout.Path)); got != "umask 027" {
		t.Errorf("child says %q, want umask 027", got)
	}
	if now := syscall.Umask(0o022); now != 0o022 {
		t.Errorf("the daemon's umask changed to %03o", now)
	}
}

func TestOS_ChildEnvironment(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "/run/systemd/notify")
	t.Setenv("LISTEN_FDS", "2")
	t.Setenv("WATCHDOG_USEC", "1000")
	t.Setenv("CTLSUP_FROM_DAEMON", "kept")
	dir := t.TempDir()
	spec := helperSpec(dir, "envy", testhelper.Argv("env"), func(s *supervisor.ProcessSpec) {
		s.Group, s.Directory = "inst", dir
		s.Environment = map[string]string{"DJANGO_SETTINGS_MODULE": "cts.settings.turkey", "CTLSUP_FROM_DAEMON": "overridden"}
	})
	h := openOS(t, spec)
	var env string
	defer func() {
		if t.Failed() {
			info, _ := h.s.Process("inst:envy")
			t.Logf("process: %+v\nstdout so far (%d bytes):\n%s\ndaemon log:\n%s", info, len(env), env, h.log)
		}
	}()
	eventually(t, "the environment", func() bool { env = readFile(spec.Stdout.Path); return strings.HasSuffix(env, "END\n") })
	for _, want := range []string{"SUPERVISOR_ENABLED=1\n", "SUPERVISOR_PROCESS_NAME=envy\n", "SUPERVISOR_GROUP_NAME=inst\n",
		"DJANGO_SETTINGS_MODULE=cts.settings.turkey\n", "CTLSUP_FROM_DAEMON=overridden\n", "WD=" + dir + "\n", "\nPWD=" + dir + "\n"} {
		if !strings.Contains(env, want) {
			t.Errorf("environment lacks %q", want)
		}
	}
	for _, bad := range []string{"NOTIFY_SOCKET=", "LISTEN_FDS=", "WATCHDOG_USEC="} {
		if strings.Contains(env, bad) {
			t.Errorf("environment leaks %s", bad)
		}
	}
}

// TestOS_SingletonLock: while a singleton runs, a second daemon on the same
// state directory cannot start another, and the error names the holder.
func TestOS_SingletonLock(t *testing.T) {
	dir := t.TempDir()
	spec := helperSpec(dir, "beat", testhelper.Argv("sleep"), func(s *supervisor.ProcessSpec) { s.Singleton = true })
	rt := New(filepath.Join(dir, "state"), quietLogger())
	if err := rt.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	first, err := rt.Start(spec, rt.NewOutput(spec))
	if err != nil {
		t.Fatal(err)
	}
	second, err := rt.Start(spec, rt.NewOutput(spec))
	if err == nil {
		second.Signal(syscall.SIGKILL, false)
		t.Fatal("a second singleton started")
	}
	if want := fmt.Sprintf("singleton beat is still running as pid %d", first.Pid()); err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	first.Signal(syscall.SIGTERM, false)
	exitOf(first)
	third, err := rt.Start(spec, rt.NewOutput(spec))
	if err != nil {
		t.Fatalf("lock not released by the exit: %v", err)
	}
	third.Signal(syscall.SIGTERM, false)
	exitOf(third)
}

// TestOS_RestartSingletonNeverOverlaps restarts a singleton whose process
// takes its time to stop, and checks the new one starts after the old died.
func TestOS_RestartSingletonNeverOverlaps(t *testing.T) {
	spec := helperSpec(t.TempDir(), "beat", testhelper.Argv("ignore-term"), func(s *supervisor.ProcessSpec) {
		s.Singleton, s.StopWait = true, 300*time.Millisecond
	})
	h := openOS(t, spec)
	old := h.wait("beat", inState(supervisor.Running))
	if err := supervisor.Err(h.s.Restart(context.Background(), supervisor.Process("beat"), supervisor.WaitForDone)); err != nil {
		t.Fatal(err)
	}
	now, _ := h.s.Process("beat")
	if now.Pid == old.Pid || alive(old.Pid) || now.State != supervisor.Running {
		t.Errorf("old pid %d (alive %v), new pid %d state %s", old.Pid, alive(old.Pid), now.Pid, now.State)
	}
}

// TestOS_UserSwitch runs a program as nobody: its uid, groups and login
// environment come from passwd. Switching users needs a root daemon.
func TestOS_UserSwitch(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("switching users needs root; CI runs as root")
	}
	spec := helperSpec(t.TempDir(), "nobody", []string{"/bin/sh", "-c", `echo "$(id -u) $(id -g) HOME=$HOME USER=$USER LOGNAME=$LOGNAME SHELL=$SHELL"; exec sleep 1000`},
		func(s *supervisor.ProcessSpec) { s.User = "nobody" })
	openOS(t, spec)
	cred, err := proc.LookupUser("nobody")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%d %d HOME=%s USER=nobody LOGNAME=nobody SHELL=%s\n", cred.Uid, cred.Gid, cred.Home, cred.Shell)
	eventually(t, "the child's identity", func() bool { return readFile(spec.Stdout.Path) != "" })
	if got := readFile(spec.Stdout.Path); got != want {
		t.Errorf("child says %q, want %q", got, want)
	}
}

// TestOS_SpawnErrorNamesTheStep: a user who may not enter the program's
// directory is told that, as supervisord tells it, where the message was
// that the command could not be run (with Go's "fork/exec" in it).
func TestOS_SpawnErrorNamesTheStep(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("switching users needs root; CI runs as root")
	}
	private := filepath.Join(t.TempDir(), "private")
	if err := os.Mkdir(private, 0o700); err != nil {
		t.Fatal(err)
	}
	h := openOS(t, helperSpec(t.TempDir(), "denied", []string{"/bin/sleep", "1000"}, func(s *supervisor.ProcessSpec) {
		s.StartRetries, s.User, s.Directory = 0, "nobody", private
	}))
	info := h.wait("denied", inState(supervisor.Fatal))
	if want := "couldn't chdir to " + private + ": EACCES"; info.SpawnErr != want {
		t.Errorf("description %q, want %q", info.SpawnErr, want)
	}
}

// TestOS_SingletonRestartsPastItsLeftovers: a singleton run by a shell whose
// child inherits the lock starts again at once after a stop, although the
// shell's child outlives it until the grace period.
func TestOS_SingletonRestartsPastItsLeftovers(t *testing.T) {
	spec := helperSpec(t.TempDir(), "beat", []string{"/bin/sh", "-c", "while true; do echo tick; sleep 10; done"},
		func(s *supervisor.ProcessSpec) { s.Singleton, s.StopWait = true, 30*time.Second })
	h := openOS(t, spec)
	old := h.wait("beat", inState(supervisor.Running))
	if err := supervisor.Err(h.s.Stop(context.Background(), supervisor.Process("beat"), supervisor.WaitForDone)); err != nil {
		t.Fatal(err)
	}
	if err := supervisor.Err(h.s.Start(context.Background(), supervisor.Process("beat"), supervisor.WaitForDone)); err != nil {
		t.Fatalf("start after stop: %v\n%s", err, h.log)
	}
	if now, _ := h.s.Process("beat"); now.Pid == old.Pid || now.State != supervisor.Running {
		t.Errorf("pid %d state %s", now.Pid, now.State)
	}
}

// TestOS_NastyChildrenStopInTime: a flood of stderr, 200 orphaned
// grandchildren, a process that ignores every signal but KILL and one that
// closed its output: shutdown takes stopwaitsecs plus a bounded margin and
// leaves no process behind.
func TestOS_NastyChildrenStopInTime(t *testing.T) {
	dir := t.TempDir()
	stop := func(s *supervisor.ProcessSpec) { s.StopWait = time.Second }
	h := openOS(t,
		helperSpec(dir, "flood", testhelper.Argv("flood"), func(s *supervisor.ProcessSpec) {
			stop(s)
			s.Stderr.MaxBytes, s.Stderr.Backups = 1<<20, 1
		}),
		// Cheap grandchildren: under -race every test-binary helper is slow to start.
		helperSpec(dir, "forker", []string{"/bin/sh", "-c", "for i in $(seq 200); do /bin/sleep 1000 & echo grandchild $!; done"},
			func(s *supervisor.ProcessSpec) { stop(s); s.AutoRestart = supervisor.RestartNever }),
		helperSpec(dir, "stubborn", testhelper.Argv("ignore-all"), stop),
		helperSpec(dir, "closer", testhelper.Argv("close-stdio"), stop),
		helperSpec(dir, "bystander", testhelper.Argv("sleep"), stop))
	h.wait("forker", inState(supervisor.Exited))
	var kids []int
	eventually(t, "200 grandchildren", func() bool {
		kids = grandchildren(readFile(filepath.Join(dir, "forker.log")))
		return len(kids) == 200
	})
	eventually(t, "the stubborn helper to ignore signals", func() bool {
		return strings.Contains(readFile(filepath.Join(dir, "stubborn.log")), "ignoring everything")
	})
	// Identify processes by pid and start time: pids are reused quickly
	// on a busy machine.
	starts := map[int]uint64{}
	for _, pid := range kids {
		if st, err := proc.ReadStat(pid); err == nil {
			starts[pid] = st.StartTime
		}
	}
	for _, p := range h.s.Processes() {
		if p.Pid != 0 {
			if st, err := proc.ReadStat(p.Pid); err == nil {
				starts[p.Pid] = st.StartTime
			}
		}
		if p.Name != "forker" && p.State != supervisor.Running {
			t.Errorf("%s is %s: the flood disturbed it", p.Name, p.State)
		}
	}
	t0 := time.Now()
	if err := h.s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(t0); took > 4*time.Second {
		t.Errorf("shutdown took %s, want stopwaitsecs (1s) plus a bounded margin", took)
	}
	for pid, start := range starts {
		if proc.Alive(pid, start) {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			t.Errorf("pid %d survived the shutdown: %q", pid, b)
		}
	}
	t.Logf("shutdown with nasty children took %s", time.Since(t0))
}

// TestOS_UpdateCompletesWhenTheCallerGivesUp: a client that hangs up in the
// middle of an update (its context ends while the old process takes its
// time to stop) does not abandon it: the old process is stopped and the
// changed program runs with its new settings.
func TestOS_UpdateCompletesWhenTheCallerGivesUp(t *testing.T) {
	spec := helperSpec(t.TempDir(), "slow", testhelper.Argv("ignore-term"), func(s *supervisor.ProcessSpec) {
		s.StopWait = 500 * time.Millisecond
		s.StartSecs = 0
	})
	h := openOS(t, spec)
	old := h.wait("slow", inState(supervisor.Running)).Pid
	eventually(t, "the TERM handler", func() bool { return strings.Contains(readFile(spec.Stdout.Path), "ignoring TERM") })
	changed := *spec
	changed.Environment = map[string]string{"NEW": "1"}
	h.s.Loader = func() ([]supervisor.GroupSpec, error) {
		return []supervisor.GroupSpec{{Name: spec.Group, Processes: []supervisor.ProcessSpec{changed}}}, nil
	}
	if _, err := h.s.Reread(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := h.s.ApplyGroup(ctx, spec.Group); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ApplyGroup with a context that ends first: %v", err)
	}
	var info *supervisor.ProcessInfo
	eventually(t, "the changed program running", func() bool {
		info, _ = h.s.Process("slow")
		return info != nil && info.State == supervisor.Running && info.Pid != old && info.Pid != 0
	})
	if info.Spec.Environment["NEW"] != "1" {
		t.Error("the new settings were not applied")
	}
	if alive(old) {
		t.Errorf("the old process %d runs on, untracked", old)
	}
}

// TestOS_MilestonesInTheMainLog: supervisord's "success:" and "gave up:"
// lines, which people grep for, are in the daemon's log at its default
// level.
func TestOS_MilestonesInTheMainLog(t *testing.T) {
	dir := t.TempDir()
	ok := helperSpec(dir, "steady", testhelper.Argv("sleep"), func(s *supervisor.ProcessSpec) { s.StartSecs = 100 * time.Millisecond })
	bad := helperSpec(dir, "broken", testhelper.Argv("exit", "3"), func(s *supervisor.ProcessSpec) {
		s.StartSecs = time.Second
		s.StartRetries = 0
	})
	h := openOS(t, ok, bad)
	h.wait("steady", inState(supervisor.Running))
	h.wait("broken", inState(supervisor.Fatal))
	for _, want := range []string{
		"success: steady entered RUNNING state, process has stayed up for > than 0.1 seconds (startsecs)",
		"gave up: broken entered FATAL state, too many start retries too quickly",
	} {
		if !strings.Contains(h.log.String(), want) {
			t.Errorf("daemon log lacks %q:\n%s", want, h.log)
		}
	}
}

// TestOS_SingletonErrorNamesTheHolder: when what holds a singleton's lock
// is not the process it was spawned as (a previous daemon's spawn left a
// child holding it), the error names the holder's pid.
func TestOS_SingletonErrorNamesTheHolder(t *testing.T) {
	dir := t.TempDir()
	spec := helperSpec(dir, "beat", testhelper.Argv("sleep"), func(s *supervisor.ProcessSpec) { s.Singleton = true })
	rt := New(filepath.Join(dir, "state"), quietLogger())
	if err := rt.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	// A stranger to this daemon holds the lock, with another pid recorded.
	lock := filepath.Join(dir, "state", "locks", "beat.beat.lock")
	holder := exec.Command("/bin/sh", "-c", "exec 3<>"+lock+"; flock -x 3; echo locked; exec sleep 1000")
	out, _ := holder.StdoutPipe()
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { holder.Process.Kill(); holder.Wait() }()
	bufio.NewReader(out).ReadString('\n')
	os.WriteFile(lock, []byte("1\n"), 0o644)
	_, err := rt.Start(spec, rt.NewOutput(spec))
	if want := fmt.Sprintf("singleton beat is still running as pid %d", holder.Process.Pid); err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
	// A spawn that failed leaves no cgroup behind.
	if rt.useCgroups() {
		if left, _ := filepath.Glob(filepath.Join(rt.cgroups.Base, "beat@*")); len(left) != 0 {
			t.Errorf("the failed spawn's cgroup remains: %v", left)
		}
	} else if os.Getenv("CTLSUP_REQUIRE_CGROUPS") == "1" {
		t.Error("cgroups required (CTLSUP_REQUIRE_CGROUPS=1) but not in use")
	}
}

// exitOf waits for c's exit status.
func exitOf(c supervisor.Child) supervisor.ExitStatus {
	ch := make(chan supervisor.ExitStatus, 1)
	c.OnExit(func(st supervisor.ExitStatus) { ch <- st })
	return <-ch
}

// TestChildEnv_ProgramSetsSupervisorVariables: a program's environment
// wins over the SUPERVISOR_* variables, as supervisord applies it last:
// memmon or httpok run as another user than the daemon's reach it over
// TCP through their own SUPERVISOR_SERVER_URL.
func TestChildEnv_ProgramSetsSupervisorVariables(t *testing.T) {
	r := New(t.TempDir(), quietLogger())
	r.ServerURL = "unix:///run/ctlsup.sock"
	spec := &supervisor.ProcessSpec{Name: "memmon", Group: "memmon",
		Environment: map[string]string{"SUPERVISOR_SERVER_URL": "http://127.0.0.1:9001", "SUPERVISOR_USERNAME": "ops"}}
	got := map[string]string{}
	for _, kv := range r.childEnv(spec, nil) {
		k, v, _ := strings.Cut(kv, "=")
		got[k] = v
	}
	for k, want := range map[string]string{"SUPERVISOR_SERVER_URL": "http://127.0.0.1:9001", "SUPERVISOR_USERNAME": "ops",
		"SUPERVISOR_PROCESS_NAME": "memmon", "SUPERVISOR_ENABLED": "1"} {
		if got[k] != want {
			t.Errorf("%s=%q, want %q", k, got[k], want)
		}
	}
	spec.Environment = nil
	for _, kv := range r.childEnv(spec, nil) {
		if k, v, _ := strings.Cut(kv, "="); k == "SUPERVISOR_SERVER_URL" && v != r.ServerURL {
			t.Errorf("without its own, a program gets SUPERVISOR_SERVER_URL=%q, want the daemon's %q", v, r.ServerURL)
		}
	}
}

// TestChildEnv_OneOfEachName: a name the spawn sets replaces the daemon's
// own rather than following it (Go programs keep the first of two, glibc
// getenv too), and the environment is sorted by name.
func TestChildEnv_OneOfEachName(t *testing.T) {
	t.Setenv("CTLSUP_FROM_DAEMON", "kept")
	t.Setenv("PWD", "/daemon")
	r := New(t.TempDir(), quietLogger())
	spec := &supervisor.ProcessSpec{Name: "envy", Group: "inst", Directory: "/srv",
		Environment: map[string]string{"CTLSUP_FROM_DAEMON": "overridden", "AAA_FIRST": "1", "zzz_last": "1"}}
	env := r.childEnv(spec, nil)
	seen := map[string]string{}
	for i, kv := range env {
		name, value, _ := strings.Cut(kv, "=")
		if _, twice := seen[name]; twice {
			t.Errorf("%s is set twice", name)
		}
		seen[name] = value
		if i > 0 {
			if prev, _, _ := strings.Cut(env[i-1], "="); prev >= name {
				t.Errorf("%s follows %s", name, prev)
			}
		}
	}
	for name, want := range map[string]string{"CTLSUP_FROM_DAEMON": "overridden", "PWD": "/srv", "AAA_FIRST": "1", "zzz_last": "1", "SUPERVISOR_GROUP_NAME": "inst"} {
		if seen[name] != want {
			t.Errorf("%s=%q, want %q", name, seen[name], want)
		}
	}
}
