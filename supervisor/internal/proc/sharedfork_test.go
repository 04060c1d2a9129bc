//go:build linux && (amd64 || arm64)

package proc

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// newSharedSpawner is a spawner whose children the daemon forks with a
// shared descriptor table.
func newSharedSpawner(t *testing.T) *Spawner {
	t.Helper()
	s := newSpawner(t)
	if s.shared == nil {
		t.Fatal("no slots reserved: the test daemon's table is small")
	}
	s.SharedFork.Store(true)
	return s
}

// TestSharedFork_ChildIsAsGoForksIt: forked from the daemon with its
// table shared until the child unshares it, the child holds only its own
// descriptors however many the daemon holds, has no signal blocked,
// ignored or caught, is the daemon's own, and the daemon's slots hold
// nothing of it afterwards.
func TestSharedFork_ChildIsAsGoForksIt(t *testing.T) {
	s := newSharedSpawner(t)
	devNull() // opened now, low: a later test's table stays small
	defer closeAll(holdPipes(t, 300))
	orphans, forks := Orphans(), s.SharedForks()
	// The shell (and grep) catch signals of their own: cat, a child forked,
	// tells what the spawn gave.
	// No pipe in the shell while ls lists its descriptors: the shell
	// would hold the pipe's ends until it had forked the other side.
	script := `echo "$PPID"; ls -m /proc/$$/fd; cat /proc/self/status | grep -E '^Sig(Blk|Ign|Cgt)'; exit 7`
	ws, out := spawnShell(t, s, script)
	if s.SharedForks() != forks+1 || s.Forks() != 0 {
		t.Fatalf("shared forks %d, helper forks %d: want the daemon to fork", s.SharedForks()-forks, s.Forks())
	}
	if !ws.Exited() || ws.ExitStatus() != 7 {
		t.Errorf("status %v, want exit 7", Describe(ws))
	}
	lines := strings.Split(out, "\n")
	if len(lines) < 5 {
		t.Fatalf("output %q", out)
	}
	if lines[0] != strconv.Itoa(os.Getpid()) {
		t.Errorf("parent %s, want the daemon (%d)", lines[0], os.Getpid())
	}
	if fds := strings.ReplaceAll(lines[1], ",", ""); fds != "0 1 2" {
		t.Errorf("child holds fds %q, want 0 1 2", fds)
	}
	for _, line := range lines[2:5] {
		if !strings.HasSuffix(line, "\t0000000000000000") {
			t.Errorf("%q: want no signal blocked, ignored or caught", line)
		}
	}
	// Between spawns each slot holds /dev/null again.
	reaper.mu.Lock()
	slots := append([]int(nil), s.shared.slots...)
	reaper.mu.Unlock()
	for _, fd := range slots {
		if target, _ := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd)); target != "/dev/null" {
			t.Errorf("slot %d holds %q after the spawn", fd, target)
		}
	}
	if Orphans() != orphans {
		t.Error("the child was reaped as an orphan")
	}
}

// lowNofileProbe, set in a re-executed test binary, says it started with
// a soft descriptor limit below its hard one.
const lowNofileProbe = "CTLSUP_TEST_LOW_NOFILE"

// TestSharedFork_ChildGetsTheLimitGoGives: Go raises its own soft
// RLIMIT_NOFILE at start and gives children the one it started with; a
// child forked with a shared table gets that one too. The test binary
// runs again with a soft limit below the hard one, for Go to raise.
func TestSharedFork_ChildGetsTheLimitGoGives(t *testing.T) {
	if os.Getenv(lowNofileProbe) == "" {
		cmd := exec.Command("/bin/sh", "-c", `ulimit -Sn 1000 && exec "$0" -test.run='^TestSharedFork_ChildGetsTheLimitGoGives$' -test.v`, os.Args[0])
		cmd.Env = append(os.Environ(), lowNofileProbe+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS") {
			t.Fatalf("with a low soft limit: %v\n%s", err, out)
		}
		return
	}
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); lim.Cur == 1000 {
		t.Fatal("Go did not raise its soft limit: the test cannot tell")
	}
	s := newSharedSpawner(t)
	_, out := spawnShell(t, s, `cat /proc/self/limits | grep 'Max open files'`)
	if s.SharedForks() != 1 {
		t.Fatal("the daemon did not fork the child")
	}
	r, w, _ := os.Pipe()
	defer r.Close()
	direct, err := Start(Attr{Path: "/bin/sh", Argv: []string{"sh", "-c", "read _"}, Umask: -1, Files: []*os.File{r}})
	if err != nil {
		t.Fatal(err)
	}
	want := readLimit(t, direct.Pid)
	w.Close()
	if got := strings.Join(strings.Fields(out), " "); got != want || !strings.Contains(got, " 1000 ") {
		t.Errorf("descriptor limit %q, Go's fork gives %q", got, want)
	}
}

func readLimit(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/limits")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if strings.HasPrefix(line, "Max open files") {
			return strings.Join(strings.Fields(line), " ")
		}
	}
	t.Fatalf("no descriptor limit for %d", pid)
	return ""
}

// TestSharedFork_PipeClosesWithTheChild: the daemon keeps no copy of
// the child's output pipe, so its reader sees the end when the child
// ends.
func TestSharedFork_PipeClosesWithTheChild(t *testing.T) {
	s := newSharedSpawner(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := s.Start(Attr{Path: "/bin/echo", Argv: []string{"echo", "out"}, Umask: -1, Files: []*os.File{nil, w, w}}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	got := make(chan string, 1)
	go func() {
		b, _ := readAll(r)
		got <- string(b)
	}()
	select {
	case out := <-got:
		if out != "out\n" {
			t.Errorf("output %q", out)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the pipe stayed open after the child ended")
	}
}

func readAll(f *os.File) ([]byte, error) {
	var b []byte
	buf := make([]byte, 512)
	for {
		n, err := f.Read(buf)
		b = append(b, buf[:n]...)
		if err != nil {
			return b, err
		}
	}
}

// TestSharedFork_ExecFailure: a child that cannot exec is an error for
// the caller and is collected at once, not reported as an orphan.
func TestSharedFork_ExecFailure(t *testing.T) {
	s := newSharedSpawner(t)
	orphans := Orphans()
	bad := filepath.Join(t.TempDir(), "garbage")
	os.WriteFile(bad, []byte("\x7fELF not really"), 0o755)
	_, err := s.Start(Attr{Path: bad, Argv: []string{"garbage"}, Umask: -1})
	if !errors.Is(err, syscall.ENOEXEC) || !failedAt(err, StepExec) {
		t.Fatalf("err %v, want ENOEXEC at the exec", err)
	}
	_, err = s.Start(Attr{Path: "/bin/true", Argv: []string{"true"}, Dir: "/nonexistent/dir", Umask: -1})
	if !errors.Is(err, syscall.ENOENT) || !failedAt(err, StepChdir) {
		t.Fatalf("err %v, want ENOENT at the chdir", err)
	}
	if s.SharedForks() != 0 {
		t.Error("a failed fork counted as forked")
	}
	noOrphanSince(t, orphans, "a failed child was reaped as an orphan")
}

// TestSharedFork_RefusedFallsBackToTheHelper: where the kernel refuses
// the unshare (before 5.9), the first child exits having touched
// nothing, and that spawn and every later one go to the helper.
func TestSharedFork_RefusedFallsBackToTheHelper(t *testing.T) {
	s := newSharedSpawner(t)
	unshareFlags = 1 << 30 // no such flag: EINVAL, as an old kernel answers
	defer func() { unshareFlags = closeRangeUnshare }()
	orphans := Orphans()
	for i := range 2 {
		if ws, out := spawnShell(t, s, "echo helped"); ws.ExitStatus() != 0 || out != "helped\n" {
			t.Fatalf("spawn %d: status %v, output %q", i, Describe(ws), out)
		}
	}
	if s.Forks() != 2 || s.SharedForks() != 0 {
		t.Errorf("helper forks %d, shared forks %d: want the helper to fork both", s.Forks(), s.SharedForks())
	}
	noOrphanSince(t, orphans, "the refused child was reaped as an orphan")
}

// TestSharedFork_TooManyDescriptorsGoToTheHelper: a child with more
// descriptors than there are slots is forked by the helper.
func TestSharedFork_TooManyDescriptorsGoToTheHelper(t *testing.T) {
	s := newSharedSpawner(t)
	out, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	files := []*os.File{nil, out, out}
	for len(files) <= sharedSlots {
		files = append(files, out)
	}
	exited := make(chan syscall.WaitStatus, 1)
	_, err = s.Start(Attr{Path: "/bin/sh", Argv: []string{"sh", "-c", "ls -m /proc/$$/fd; exit 0"}, Umask: -1, Files: files,
		OnExit: func(_ int, ws syscall.WaitStatus, _ bool) { exited <- ws }})
	if err != nil {
		t.Fatal(err)
	}
	<-exited
	b, _ := os.ReadFile(out.Name())
	if got := len(strings.Split(string(b), ",")); got != len(files) {
		t.Errorf("the child held %d descriptors (%s), want %d", got, b, len(files))
	}
	if s.Forks() != 1 || s.SharedForks() != 0 {
		t.Errorf("helper forks %d, shared forks %d", s.Forks(), s.SharedForks())
	}
}

// TestCStrings: each string NUL-terminated in one buffer, the array
// NULL-terminated; an empty string is an empty C string; a NUL inside
// is refused.
func TestCStrings(t *testing.T) {
	ptrs, err := cStrings([]string{"A=1", "", "PATH=/bin"})
	if err != nil || len(ptrs) != 4 || ptrs[3] != nil {
		t.Fatalf("%v, %v", ptrs, err)
	}
	for i, want := range []string{"A=1", "", "PATH=/bin"} {
		if got := unix.BytePtrToString(ptrs[i]); got != want {
			t.Errorf("string %d is %q, want %q", i, got, want)
		}
	}
	if _, err := cStrings([]string{"A=1\x00B=2"}); err != syscall.EINVAL {
		t.Errorf("a NUL inside: %v, want EINVAL", err)
	}
	if ptrs, _ := cStrings(nil); len(ptrs) != 1 || ptrs[0] != nil {
		t.Errorf("no strings: %v", ptrs)
	}
}

// TestSharedFork_LimitRefusedFallsBack: a child that cannot take the
// descriptor limit learnt at start (its hard limit lowered since) exits
// having done nothing else, and the helper forks from then on.
func TestSharedFork_LimitRefusedFallsBack(t *testing.T) {
	s := newSharedSpawner(t)
	reaper.mu.Lock()
	s.shared.nofile = [2]uint64{2, 1} // soft above hard: refused
	reaper.mu.Unlock()
	orphans := Orphans()
	if ws, out := spawnShell(t, s, "echo helped"); ws.ExitStatus() != 0 || out != "helped\n" {
		t.Fatalf("status %v, output %q", Describe(ws), out)
	}
	reaper.mu.Lock()
	off := s.shared.off
	reaper.mu.Unlock()
	if !off || s.Forks() != 1 || s.SharedForks() != 0 {
		t.Errorf("shared fork off %v, helper forks %d, shared forks %d: want the helper to take over", off, s.Forks(), s.SharedForks())
	}
	noOrphanSince(t, orphans, "the refused child was reaped as an orphan")
}

// noOrphanSince fails if the reaper, given a moment to collect what a
// failed fork left, reaped an orphan since the count was orphans.
func noOrphanSince(t *testing.T, orphans int64, msg string) {
	t.Helper()
	time.Sleep(100 * time.Millisecond)
	if Orphans() != orphans {
		t.Error(msg)
	}
}

// TestInChild_UmaskAndListenPID: every fork gives the child its umask and
// LISTEN_PID, its own pid, once in its environment. The daemon's raw fork
// sets them in the child; Go's fork and the helper's run the shim, a Go
// runtime's start more before the program.
func TestInChild_UmaskAndListenPID(t *testing.T) {
	s := newSharedSpawner(t)
	// The test's own umask is not the child's, whatever it was.
	before := syscall.Umask(0o022)
	defer syscall.Umask(before)
	env := append(os.Environ(), "AFTER=1")
	script := `umask; echo "$LISTEN_PID $$"; env | grep -c '^LISTEN_PID='; echo "$AFTER"`
	for _, fork := range []struct {
		name           string
		shared, helper bool
		start          func(Attr) (*Process, error)
		shim           bool
	}{
		{"the daemon's raw fork", true, false, s.Start, false},
		{"the helper's fork", false, true, s.Start, true},
		{"Go's fork", false, false, Start, true},
	} {
		t.Run(fork.name, func(t *testing.T) {
			s.SharedFork.Store(fork.shared)
			shims, shared, helped := shimmed.Load(), s.SharedForks(), s.Forks()
			ws, out := spawnShellWith(t, fork.start, script, Attr{Env: env, Umask: 0o027, ListenPID: true})
			if !ws.Exited() || ws.ExitStatus() != 0 {
				t.Fatalf("status %v, output %q", Describe(ws), out)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 4 || lines[3] != "1" {
				t.Fatalf("output %q: want 4 lines, the environment's variables included", out)
			}
			if lines[0] != "0027" {
				t.Errorf("umask %s, want 0027", lines[0])
			}
			if pids := strings.Fields(lines[1]); len(pids) != 2 || pids[0] != pids[1] {
				t.Errorf("LISTEN_PID and pid %q, want the same", lines[1])
			}
			if lines[2] != "1" {
				t.Errorf("LISTEN_PID is in the environment %s times, want once", lines[2])
			}
			if got := shimmed.Load() - shims; got != map[bool]int64{true: 1, false: 0}[fork.shim] {
				t.Errorf("%d children through the shim, want %v", got, fork.shim)
			}
			if fork.shared && s.SharedForks() != shared+1 {
				t.Error("the daemon did not fork the child itself")
			}
			if fork.helper && s.Forks() != helped+1 {
				t.Error("the helper did not fork the child")
			}
		})
	}
	if now := syscall.Umask(0o022); now != 0o022 {
		t.Errorf("the daemon's umask changed to %03o", now)
	}
}

// failedAt reports whether err says the child failed at step.
func failedAt(err error, step ChildStep) bool {
	var child *ChildError
	return errors.As(err, &child) && child.Step == step
}
