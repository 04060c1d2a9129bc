package holder

import (
	"errors"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctlsup/ctlsup/supervisor/internal/proc"
)

func inode(t *testing.T, fd int) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

func holderPid(dir string) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && string(b) == Arg0+"\x00"+dir+"\x00" {
			if st, err := proc.ReadStat(atoi(e.Name())); err == nil && st.State != 'Z' {
				return atoi(e.Name())
			}
		}
	}
	return 0
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// The holder keeps what it is given, hands duplicates back to a new
// client, forgets what is dropped, survives its client, and when it dies
// the client starts another and gives it everything again.
func TestHolder_KeepsHandsBackAndIsReplaced(t *testing.T) {
	if err := proc.Acquire(slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	defer proc.Release()
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	c := Connect(dir, log)
	var p1, p2 [2]int
	syscall.Pipe2(p1[:], syscall.O_CLOEXEC)
	syscall.Pipe2(p2[:], syscall.O_CLOEXEC)
	c.Store("one", p1[0])
	c.Store("two", p2[0])
	c.Drop("two")
	c.Detach() // the daemon dies

	// The pipe keeps a reader in the holder: a write does not fail.
	syscall.Close(p1[0])
	if _, err := syscall.Write(p1[1], []byte("kept")); err != nil {
		t.Fatalf("write with only the holder reading: %v", err)
	}

	c2 := Connect(dir, log)
	got, err := c2.Take()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got["one"] == 0 {
		t.Fatalf("take: %v, want only one", got)
	}
	if inode(t, got["one"]) != inode(t, p1[1]) {
		t.Fatal("the descriptor handed back is not the stored pipe")
	}
	buf := make([]byte, 8)
	if n, _ := syscall.Read(got["one"], buf); string(buf[:n]) != "kept" {
		t.Fatalf("read %q through the handed-back read end", buf[:n])
	}
	c2.Store("one", got["one"])

	// The holder dies: another is started and given the pipe again.
	old := holderPid(dir)
	syscall.Kill(old, syscall.SIGKILL)
	deadline := time.Now().Add(10 * time.Second)
	for pid := holderPid(dir); pid == 0 || pid == old; pid = holderPid(dir) {
		if time.Now().After(deadline) {
			t.Fatal("no new holder")
		}
		time.Sleep(5 * time.Millisecond)
	}
	var again map[string]int
	for len(again) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the new holder did not get the pipe")
		}
		again, _ = c2.Take()
		time.Sleep(5 * time.Millisecond)
	}
	if inode(t, again["one"]) != inode(t, p1[1]) {
		t.Fatal("the new holder holds another pipe")
	}
	c2.Quit()
	if pid := holderPid(dir); pid != 0 {
		t.Fatalf("holder %d still runs once Quit returned", pid)
	}
}

// connected starts a holder of its own for the test, with the reaper
// that starting it needs, and its client.
func connected(t *testing.T) (*Client, string) {
	if err := proc.Acquire(slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := Connect(dir, slog.New(slog.DiscardHandler))
	t.Cleanup(func() {
		c.Quit()
		proc.Release()
	})
	return c, dir
}

// A drop while detached (a process of a detach that is undone ends before
// the holder is reached again) reaches the holder once it is: else the
// holder keeps the descriptor for as long as it lives.
func TestHolder_DropWhileDetachedReachesIt(t *testing.T) {
	c, _ := connected(t)
	var p [2]int
	syscall.Pipe2(p[:], syscall.O_CLOEXEC)
	defer syscall.Close(p[1])
	c.Store("gone", p[0])
	c.Detach()
	c.Drop("gone")
	syscall.Close(p[0])
	c.Reattach()
	got, err := c.Take()
	if err != nil {
		t.Fatal(err)
	}
	for id, fd := range got {
		syscall.Close(fd)
		if id == "gone" {
			t.Error("the holder still keeps what was dropped while detached")
		}
	}
}

// When descriptors run short in the holder, spares (pidfds) give way to
// what Store gives it: a pipe's read end keeps its program alive while
// no daemon runs, a pidfd only tells how it ended.
func TestHolder_PipesComeBeforeSpares(t *testing.T) {
	c, dir := connected(t)
	pid := holderPid(dir)
	if pid == 0 {
		t.Fatal("no holder")
	}
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: 32, Max: 32}, nil); err != nil {
		t.Fatal(err)
	}
	pipe := func(id string) {
		var p [2]int
		if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { syscall.Close(p[0]); syscall.Close(p[1]) })
		c.Store(id, p[0])
	}
	spare := func(id string) {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		c.Hand(id, f)
	}
	check := func(want []string, someSpare bool) {
		t.Helper()
		got, err := c.Take()
		if err != nil {
			t.Fatal(err)
		}
		spares := 0
		for id, fd := range got {
			syscall.Close(fd)
			if strings.HasPrefix(id, "spare") {
				spares++
			}
		}
		for _, id := range want {
			if _, ok := got[id]; !ok {
				t.Errorf("%s is lost (%d spares kept)", id, spares)
			}
		}
		if someSpare && spares == 0 {
			t.Error("no spare kept: they should have the room the pipes leave")
		}
	}
	// With the holder's own ten, more than 32 with a spare each.
	var pipes []string
	for i := range 14 {
		pipes = append(pipes, "pipe"+strconv.Itoa(i))
		pipe(pipes[i])
		spare("spare" + strconv.Itoa(i))
	}
	check(pipes, true)
	// Programs go, leaving holes; spawns of two pipes and a spare each
	// fill them, and past them.
	for _, id := range pipes[:6] {
		c.Drop(id)
	}
	pipes = pipes[6:]
	for i := range 4 {
		for _, s := range []string{"a", "b"} {
			pipes = append(pipes, "pipe"+strconv.Itoa(i)+s)
			pipe(pipes[len(pipes)-1])
		}
		spare("spare" + strconv.Itoa(100+i))
	}
	check(pipes, false)
}

// A spare handed again under its id replaces the one kept, even with no
// room for another: the swap takes no descriptor, and the one handed
// last is the one that names the spawn's process.
func TestHolder_SpareIsReplacedWhenShort(t *testing.T) {
	c, dir := connected(t)
	pid := holderPid(dir)
	if pid == 0 {
		t.Fatal("no holder")
	}
	// opened counts the holder's descriptors on each file.
	opened := func() map[string]int {
		n := map[string]int{}
		fdDir := "/proc/" + strconv.Itoa(pid) + "/fd/"
		ents, _ := os.ReadDir(fdDir)
		for _, e := range ents {
			if l, err := os.Readlink(fdDir + e.Name()); err == nil {
				n[l]++
			}
		}
		return n
	}
	waitOpened := func(path string, want int) map[string]int {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for n := opened(); ; n = opened() {
			if n[path] == want {
				return n
			}
			if time.Now().After(deadline) {
				t.Fatalf("the holder has %d descriptors on %s, want %d: %v", n[path], path, want, n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	hand := func(path string) {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		c.Hand("spare", f)
	}
	sockets := func(n map[string]int) (count int) {
		for l, c := range n {
			if strings.HasPrefix(l, "socket:") {
				count += c
			}
		}
		return count
	}
	nulls := opened()[os.DevNull]
	hand(os.DevNull)
	// A listing answers after what was handed before it is settled: the
	// descriptor is seen in the holder's table from the moment it is
	// received, before the holder decides to keep it.
	got, err := c.Take()
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range got {
		syscall.Close(fd)
	}
	if _, ok := got["spare"]; !ok {
		t.Fatalf("the spare was not kept while there was room: %v", got)
	}
	waitOpened(os.DevNull, nulls+1)
	// The listing's own connection must be gone before the room is
	// measured, or it would leave one free: the holder's sockets are then
	// its listener and the client's one connection.
	for deadline := time.Now().Add(5 * time.Second); sockets(opened()) != 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the listing's connection stays open: %v", opened())
		}
	}
	// No room for another spare: the holder's descriptors, and two free
	// (one for the spare as it arrives), below its reserve of four.
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	limit := uint64(len(ents) + 2)
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: limit, Max: limit}, nil); err != nil {
		t.Fatal(err)
	}
	hand("/dev/zero")
	// The new spare is installed as it is received, before the old one
	// is closed: wait for both, rather than judge the instant between.
	deadline := time.Now().Add(5 * time.Second)
	for n := opened(); n["/dev/zero"] != 1 || n[os.DevNull] != nulls; n = opened() {
		if time.Now().After(deadline) {
			t.Fatalf("the spare handed again was not kept in place of the one it replaces: %v", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestHolder_ReplacedAfterAFailedSend: a send that fails drops the
// connection (the holder died under it: a reconnect that reached the dying
// holder fails so); the client reaches a holder again without waiting for
// another send, and gives it what it holds.
func TestHolder_ReplacedAfterAFailedSend(t *testing.T) {
	if err := proc.Acquire(slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	defer proc.Release()
	dir := t.TempDir()
	c := Connect(dir, slog.New(slog.DiscardHandler))
	t.Cleanup(c.Quit)
	var p [2]int
	syscall.Pipe2(p[:], syscall.O_CLOEXEC)
	c.Store("one", p[0])
	old := holderPid(dir)
	if old == 0 {
		t.Fatal("no holder")
	}
	syscall.Kill(old, syscall.SIGKILL)
	c.mu.Lock()
	if c.conn != nil {
		c.dropConnLocked(errors.New("a send failed")) // as sendLocked does
	}
	c.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if h := holderPid(dir); h != 0 && h != old {
			c.mu.Lock()
			reached := c.conn != nil
			c.mu.Unlock()
			if reached {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no holder reached again after a failed send")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
