package osruntime

import (
	"context"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ctlsup/ctlsup/supervisor"
	"github.com/ctlsup/ctlsup/supervisor/internal/cgroup"
	"github.com/ctlsup/ctlsup/supervisor/internal/proc"
	"github.com/ctlsup/ctlsup/supervisor/testhelper"
)

// TestSpawner_ForksProgramsInProcessGroupMode: without cgroups the
// spawner forks the program, which is still the daemon's child; stopping
// it leaves the helper alone.
func TestSpawner_ForksProgramsInProcessGroupMode(t *testing.T) {
	t.Setenv("CTLSUP_CGROUPS", "off")
	spec := helperSpec(t.TempDir(), "plain", testhelper.Argv("sleep"), func(s *supervisor.ProcessSpec) { s.AutoStart = false })
	h := openOS(t, spec)
	if h.rt.spawner == nil || h.rt.spawner.Pid() == 0 {
		t.Fatal("no spawner runs")
	}
	helper := h.rt.spawner.Pid()
	info := h.startHelped("plain")
	if h.rt.spawner.Forks() == 0 {
		t.Error("the spawner forked nothing")
	}
	st, err := proc.ReadStat(info.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if st.Ppid != os.Getpid() {
		t.Errorf("child's parent is %d, want the daemon (%d), not the helper (%d)", st.Ppid, os.Getpid(), helper)
	}
	if err := supervisor.Err(h.s.Stop(context.Background(), supervisor.Process("plain"), supervisor.WaitForDone)); err != nil {
		t.Fatal(err)
	}
	if !alive(helper) {
		t.Error("stopping the program killed the helper")
	}
}

// startHelped starts name with the helper forking, however few
// descriptors the test daemon holds, and waits until it runs.
func (h *osHarness) startHelped(name string) *supervisor.ProcessInfo {
	h.t.Helper()
	h.rt.spawner.SmallTable.Store(0)
	h.rt.spawner.SharedFork.Store(false)
	if err := supervisor.Err(h.s.Start(context.Background(), supervisor.Process(name), supervisor.WaitForDone)); err != nil {
		h.t.Fatal(err)
	}
	return h.wait(name, inState(supervisor.Running))
}

// TestSpawner_ClonesCgroupChildrenIntoTheirCgroup: a child bound for a
// cgroup is cloned straight into it (clone3 with CLONE_INTO_CGROUP),
// either by the daemon with a shared descriptor table or by the helper
// (with CLONE_PARENT), and is the daemon's child as Go's own fork would
// make it: no signal of the forker's caught or blocked, the descriptor
// limit Go gives children, only its own descriptors.
func TestSpawner_ClonesCgroupChildrenIntoTheirCgroup(t *testing.T) {
	for _, shared := range []bool{true, false} {
		name := map[bool]string{true: "shared table", false: "helper"}[shared]
		t.Run(name, func(t *testing.T) {
			spec := helperSpec(t.TempDir(), "contained", []string{"/bin/sleep", "1000"}, func(s *supervisor.ProcessSpec) { s.AutoStart = false })
			h := openOS(t, spec)
			requireCgroups(t, h)
			var info *supervisor.ProcessInfo
			if shared {
				if err := supervisor.Err(h.s.Start(context.Background(), supervisor.Process("contained"), supervisor.WaitForDone)); err != nil {
					t.Fatal(err)
				}
				info = h.wait("contained", inState(supervisor.Running))
				if h.rt.spawner.SharedForks() == 0 || h.rt.spawner.Forks() != 0 {
					t.Error("the daemon did not fork the child")
				}
			} else {
				info = h.startHelped("contained")
				if h.rt.spawner.Forks() == 0 {
					t.Error("the helper forked nothing")
				}
			}
			checkClonedChild(t, h, info)
		})
	}
}

func checkClonedChild(t *testing.T, h *osHarness, info *supervisor.ProcessInfo) {
	t.Helper()
	u := h.s.Usage()["contained"]
	if l, ok := h.rt.cgroups.Open(u.Cgroup); u.Cgroup == "" || !ok || !l.Contains(info.Pid) {
		t.Errorf("pid %d is not in its cgroup %q", info.Pid, u.Cgroup)
	}
	st, err := proc.ReadStat(info.Pid)
	if err != nil || st.Ppid != os.Getpid() || st.Pgrp != info.Pid {
		t.Errorf("stat %+v, %v: want the daemon's child leading its own group", st, err)
	}
	status := readFile("/proc/" + strconv.Itoa(info.Pid) + "/status")
	for _, field := range []string{"SigBlk", "SigIgn", "SigCgt"} {
		if !strings.Contains(status, field+":\t0000000000000000\n") {
			t.Errorf("%s not empty in the child:\n%s", field, status)
		}
	}
	// The dynamic loader holds a library open for a moment after exec.
	eventually(t, "the child to hold only its own 3 descriptors", func() bool {
		fds, _ := os.ReadDir("/proc/" + strconv.Itoa(info.Pid) + "/fd")
		return len(fds) == 3
	})
	// What Go's own fork gives a child.
	direct, err := proc.Start(proc.Attr{Path: "/bin/sleep", Argv: []string{"sleep", "1000"}, Umask: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Signal(syscall.SIGKILL)
	if got, want := nofileLine(t, info.Pid), nofileLine(t, direct.Pid); got != want {
		t.Errorf("descriptor limit %q, Go's fork gives %q", got, want)
	}
}

func nofileLine(t *testing.T, pid int) string {
	t.Helper()
	for line := range strings.SplitSeq(readFile("/proc/"+strconv.Itoa(pid)+"/limits"), "\n") {
		if strings.HasPrefix(line, "Max open files") {
			return line
		}
	}
	t.Fatalf("no descriptor limit for %d", pid)
	return ""
}

// TestSpawner_GoForkChildFailureIsLogged: Go's fork reports a child's
// failure as a bare errno; the child's stderr log says why all the same.
func TestSpawner_GoForkChildFailureIsLogged(t *testing.T) {
	dir := t.TempDir()
	spec := helperSpec(dir, "nodir", testhelper.Argv("sleep"), func(s *supervisor.ProcessSpec) {
		s.AutoStart, s.StartRetries, s.Directory = false, 0, "/no/such/dir"
	})
	h := openOS(t, spec)
	h.rt.spawner.SharedFork.Store(false)
	h.rt.spawner.SmallTable.Store(math.MaxInt32) // Go's fork, not the helper
	if err := supervisor.Err(h.s.Start(context.Background(), supervisor.Process("nodir"), supervisor.WaitForDone)); !errors.Is(err, supervisor.ErrSpawn) {
		t.Fatalf("start: %v, want a spawn error", err)
	}
	if info := h.wait("nodir", inState(supervisor.Fatal)); info.SpawnErr != "couldn't chdir to /no/such/dir: ENOENT" {
		t.Errorf("description %q", info.SpawnErr)
	}
	eventually(t, "the stderr log saying why", func() bool {
		return readFile(spec.Stderr.Path) == "ctlsupd: couldn't chdir to /no/such/dir: ENOENT\n"
	})
	if h.rt.spawner.SharedForks() != 0 {
		t.Error("forked by the daemon's own fork, not Go's")
	}
}

// TestSpawner_CgroupExecFailure: a child that cannot exec reports why, and
// its exit is the failed fork's, not an orphan's, whoever forked it.
func TestSpawner_CgroupExecFailure(t *testing.T) {
	for _, shared := range []bool{true, false} {
		name := map[bool]string{true: "shared table", false: "helper"}[shared]
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			bad := filepath.Join(dir, "garbage")
			os.WriteFile(bad, []byte("\x7fELF not really"), 0o755)
			spec := helperSpec(dir, "garbage", []string{bad}, func(s *supervisor.ProcessSpec) { s.AutoStart, s.StartRetries = false, 0 })
			h := openOS(t, spec)
			requireCgroups(t, h)
			h.rt.spawner.SmallTable.Store(0)
			h.rt.spawner.SharedFork.Store(shared)
			orphans := proc.Orphans()
			err := supervisor.Err(h.s.Start(context.Background(), supervisor.Process("garbage"), supervisor.WaitForDone))
			if !errors.Is(err, supervisor.ErrSpawn) {
				t.Fatalf("start: %v, want a spawn error", err)
			}
			// Both forks tell the step that failed (the helper in its reply).
			if info := h.wait("garbage", inState(supervisor.Fatal)); info.SpawnErr != "couldn't exec "+bad+": ENOEXEC" {
				t.Errorf("description %q, want the exec's error as supervisord words it", info.SpawnErr)
			}
			eventually(t, "the stderr log saying why", func() bool {
				return readFile(spec.Stderr.Path) == "ctlsupd: couldn't exec "+bad+": ENOEXEC\n"
			})
			// The failed child was waited for before its cgroup was removed.
			if left, _ := filepath.Glob(filepath.Join(h.rt.cgroups.Base, "garbage@*")); len(left) != 0 {
				t.Errorf("the failed spawn's cgroup remains: %v", left)
			}
			time.Sleep(200 * time.Millisecond) // the failed child's exit is reaped
			if n := proc.Orphans() - orphans; n != 0 {
				t.Errorf("%d orphans reaped: the failed child was not expected", n)
			}
			if h.rt.spawner.Forks() != 0 || h.rt.spawner.SharedForks() != 0 {
				t.Error("a failed fork counted as forked")
			}
		})
	}
}

// TestSpawner_DaemonRunsWhileAChildIsBeforeItsExec: the daemon's fork
// waits for its child's exec as a system call does, so with a single P
// (as ctlsupd runs) its other goroutines run meanwhile. The child is
// cloned into a frozen cgroup, where it stops before it runs; a goroutine
// of the daemon's sees it there and thaws it. A fork that kept the P would
// let that goroutine run only after a shell thawed the child 10 s later.
func TestSpawner_DaemonRunsWhileAChildIsBeforeItsExec(t *testing.T) {
	spec := helperSpec(t.TempDir(), "frozen", []string{"/bin/sleep", "1000"}, func(s *supervisor.ProcessSpec) { s.AutoStart = false })
	h := openOS(t, spec)
	requireCgroups(t, h)
	leaf, dir, err := h.rt.cgroups.NewLeaf("frozen", 1<<40, cgroup.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer leaf.Remove()
	defer dir.Close()
	freeze := filepath.Join(leaf.Path, "cgroup.freeze")
	if err := os.WriteFile(freeze, []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	fallback := exec.Command("/bin/sh", "-c", `sleep 10; echo 0 > "$0"`, freeze)
	if err := fallback.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { fallback.Process.Kill(); fallback.Wait() }()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))

	sawChildWaiting := make(chan bool, 1)
	go func() {
		events := ""
		for !strings.Contains(events, "populated 1") {
			time.Sleep(time.Millisecond)
			events = readFile(filepath.Join(leaf.Path, "cgroup.events"))
		}
		// Still frozen: the shell has not thawed it, so the fork has
		// not returned.
		sawChildWaiting <- strings.Contains(events, "frozen 1")
		os.WriteFile(freeze, []byte("0"), 0)
	}()
	shared := h.rt.spawner.SharedForks()
	exited := make(chan struct{})
	p, err := h.rt.spawner.Start(proc.Attr{Path: "/bin/sleep", Argv: []string{"sleep", "1000"}, Umask: -1, CgroupDir: dir,
		OnExit: func(int, syscall.WaitStatus, bool) { close(exited) }})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { p.Signal(syscall.SIGKILL); <-exited }()
	if h.rt.spawner.SharedForks() != shared+1 {
		t.Fatal("the daemon did not fork the child itself")
	}
	if !<-sawChildWaiting {
		t.Error("the daemon ran nothing else while its child waited before its exec")
	}
}
