package proc

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func newSpawner(t *testing.T) *Spawner {
	t.Helper()
	acquire(t)
	s, err := NewSpawner()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	s.SmallTable.Store(0) // the helper forks, however few descriptors the test holds
	s.SharedFork.Store(false)
	return s
}

// holdPipes opens n pipes, filling the test daemon's descriptor table
// with 2n descriptors, and returns them for closeAll.
func holdPipes(t *testing.T, n int) []int {
	t.Helper()
	var held []int
	for range n {
		var p [2]int
		if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
			closeAll(held)
			t.Fatal(err)
		}
		held = append(held, p[0], p[1])
	}
	return held
}

// spawnShell runs script under /bin/sh through s with its output in a
// file, and returns the exit status and the output.
func spawnShell(t *testing.T, s *Spawner, script string) (syscall.WaitStatus, string) {
	t.Helper()
	return spawnShellWith(t, s.Start, script, Attr{Umask: -1})
}

// spawnShellWith is spawnShell with a's umask and LISTEN_PID, forked by
// start.
func spawnShellWith(t *testing.T, start func(Attr) (*Process, error), script string, a Attr) (syscall.WaitStatus, string) {
	t.Helper()
	out, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	exited := make(chan syscall.WaitStatus, 1)
	a.Path, a.Argv, a.Files = "/bin/sh", []string{"sh", "-c", script}, []*os.File{nil, out, out}
	a.OnExit = func(_ int, ws syscall.WaitStatus, _ bool) { exited <- ws }
	_, err = start(a)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case ws := <-exited:
		b, _ := os.ReadFile(out.Name())
		return ws, string(b)
	case <-time.After(10 * time.Second):
		t.Fatal("the child did not exit")
	}
	return 0, ""
}

// TestSpawner_ChildIsOurs: the helper forks, but the child is the
// daemon's: its parent, reaped by the reaper with its status, holding no
// descriptor but its own three, however many the daemon holds.
func TestSpawner_ChildIsOurs(t *testing.T) {
	s := newSpawner(t)
	defer closeAll(holdPipes(t, 200))
	orphans, forks := Orphans(), s.Forks()
	ws, out := spawnShell(t, s, `echo "$PPID"; pwd -P >&2; ls /proc/$$/fd; exit 7`)
	if s.Forks() != forks+1 {
		t.Error("the helper did not fork the child")
	}
	if !ws.Exited() || ws.ExitStatus() != 7 {
		t.Errorf("status %v, want exit 7", Describe(ws))
	}
	// A child without a directory of its own starts in the daemon's.
	wd, _ := os.Getwd()
	wd, _ = filepath.EvalSymlinks(wd)
	if !strings.Contains(out, "\n"+wd+"\n") {
		t.Errorf("output %q: want the daemon's directory %s", out, wd)
	}
	out = strings.Replace(out, wd+"\n", "", 1)
	lines := strings.Fields(out)
	if len(lines) == 0 || lines[0] != strconv.Itoa(os.Getpid()) {
		t.Fatalf("output %q: want the daemon's pid (%d) as the parent", out, os.Getpid())
	}
	if fds := strings.Join(lines[1:], " "); fds != "0 1 2" {
		t.Errorf("child holds fds %q, want 0 1 2", fds)
	}
	if Orphans() != orphans {
		t.Error("the child was reaped as an orphan")
	}
}

// TestSpawner_ExecFailure: a child that fails before its exec is an error
// for the caller, and its exit is not reported as an orphan's.
func TestSpawner_ExecFailure(t *testing.T) {
	s := newSpawner(t)
	orphans := Orphans()
	_, err := s.Start(Attr{Path: "/bin/true", Argv: []string{"true"}, Dir: "/nonexistent/dir", Umask: -1})
	if !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("err %v, want ENOENT", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		reaper.mu.Lock()
		pending := reaper.failedForks
		reaper.mu.Unlock()
		if pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the failed child was never reaped")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if Orphans() != orphans {
		t.Error("the failed child counted as an orphan")
	}
}

// TestSpawner_HelperKilled: a spawn after the helper died still starts
// its child (the daemon forks it itself), and another helper takes over.
func TestSpawner_HelperKilled(t *testing.T) {
	s := newSpawner(t)
	first := s.Pid()
	if first == 0 {
		t.Fatal("no helper")
	}
	syscall.Kill(first, syscall.SIGKILL)
	for isAlive(first) {
		time.Sleep(5 * time.Millisecond)
	}
	if ws, out := spawnShell(t, s, `echo "$PPID"`); ws.ExitStatus() != 0 || strings.TrimSpace(out) != strconv.Itoa(os.Getpid()) {
		t.Fatalf("after the helper died: status %v, output %q", Describe(ws), out)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Pid() == 0 || s.Pid() == first {
		if time.Now().After(deadline) {
			t.Fatal("no new helper")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if ws, out := spawnShell(t, s, `echo "$PPID"`); ws.ExitStatus() != 0 || strings.TrimSpace(out) != strconv.Itoa(os.Getpid()) {
		t.Fatalf("with the new helper: status %v, output %q", Describe(ws), out)
	}
}

// TestSpawner_SmallTableForksDirectly: while the daemon holds few
// descriptors it forks itself, sparing the round trip to the helper.
func TestSpawner_SmallTableForksDirectly(t *testing.T) {
	s := newSpawner(t)
	s.SmallTable.Store(defaultSmallTable)
	if ws, out := spawnShell(t, s, "echo direct"); ws.ExitStatus() != 0 || out != "direct\n" {
		t.Fatalf("status %v, output %q", ws, out)
	}
	if s.Forks() != 0 {
		t.Error("the helper forked for a daemon with a small table")
	}
	// A table grown past the size keeps the helper forking, even once
	// the spawn's own descriptors land in holes far below its top.
	held := holdPipes(t, defaultSmallTable/2)
	if ws, out := spawnShell(t, s, "echo helped"); ws.ExitStatus() != 0 || out != "helped\n" {
		t.Fatalf("status %v, output %q", ws, out)
	}
	closeAll(held)
	if ws, out := spawnShell(t, s, "echo still helped"); ws.ExitStatus() != 0 || out != "still helped\n" {
		t.Fatalf("status %v, output %q", ws, out)
	}
	if s.Forks() != 2 {
		t.Errorf("the helper forked %d children, want 2", s.Forks())
	}
}

// TestKillLostChild_EveryNameOfTheFork: a child the failed helper left
// unregistered is killed under the program's name or the shim's, the names
// its fork has before and after the shim's exec; another child is not.
func TestKillLostChild_EveryNameOfTheFork(t *testing.T) {
	newSpawner(t)
	since := uptimeTicks()
	fork := func(argv0 string) int {
		pid, err := syscall.ForkExec("/bin/sleep", []string{argv0, "30"}, &syscall.ProcAttr{Sys: &syscall.SysProcAttr{Setpgid: true}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
		return pid
	}
	program, shim, other := fork("program"), fork(shimArg0), fork("stranger")
	reaper.mu.Lock()
	killLostChild(since, 0, []string{"program", shimArg0})
	reaper.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for isAlive(program) || isAlive(shim) {
		if time.Now().After(deadline) {
			t.Fatalf("left alive: program %v, shim %v", isAlive(program), isAlive(shim))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !isAlive(other) {
		t.Error("a child under another name was killed")
	}
}
