package proc

import (
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func acquire(t *testing.T) {
	t.Helper()
	if err := Acquire(slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(Release)
}

// stranger starts /bin/sleep in a process group of its own, outside the
// reaper, as some other service's process.
func stranger(t *testing.T) Identity { return strangerRunning(t, "/bin/sleep", "sleep", "30") }

// strangerRunning is stranger with a command of the test's.
func strangerRunning(t *testing.T, path string, argv ...string) Identity {
	t.Helper()
	pid, err := syscall.ForkExec(path, argv, &syscall.ProcAttr{
		Sys: &syscall.SysProcAttr{Setpgid: true}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := ReadStat(pid)
	if err != nil {
		t.Fatal(err)
	}
	id := Identity{Pid: pid, StartTime: st.StartTime}
	// By then the pid may be another process's: signal it only if it is
	// still this one.
	t.Cleanup(func() { signalLeader(id, syscall.SIGKILL) })
	return id
}

// A recorded leader whose pid now belongs to a process started at another
// time: the pid (and so the process group id) was reused by a stranger.
// Nothing that acts on the recorded process or its group may touch it.
func TestIdentity_ReusedPidIsNotOurs(t *testing.T) {
	acquire(t)
	s := stranger(t)
	recorded := Identity{Pid: s.Pid, StartTime: s.StartTime - 1}
	if members, ok := OursGroupMembers(recorded); recorded.Alive() || GroupOurs(recorded) || len(members) != 0 || !ok {
		t.Fatal("a reused pid must not count as ours")
	}
	p := &Process{Pid: recorded.Pid, StartTime: recorded.StartTime}
	p.SignalGroup(syscall.SIGKILL)
	if !StopLeftover(&Leftover{Pid: recorded.Pid, StartTime: recorded.StartTime, StopSignal: syscall.SIGTERM,
		StopWait: 100 * time.Millisecond, StopAsGroup: true, KillAsGroup: true}) {
		t.Error("a leftover whose pid is a stranger's must count as gone")
	}
	if !killAndWait(recorded, time.Now().Add(100*time.Millisecond)) {
		t.Error("a stranger's group must count as none of ours left")
	}
	if !s.Alive() {
		t.Fatal("the stranger was killed")
	}
	// The real identity is ours to stop.
	if !StopLeftover(&Leftover{Pid: s.Pid, StartTime: s.StartTime, StopSignal: syscall.SIGTERM, StopWait: time.Second}) {
		t.Error("StopLeftover did not report the recorded process gone")
	}
	if s.Alive() {
		t.Fatal("StopLeftover left the recorded process running")
	}
}

// A leftover whose stop the previous daemon had begun is not signalled a
// second time (a shell's trap would run twice): the stop goes on for what
// is left of its stopwait, then SIGKILL.
func TestStopLeftover_StopUnderWayGoesOn(t *testing.T) {
	acquire(t)
	terms := filepath.Join(t.TempDir(), "terms")
	id := strangerRunning(t, "/bin/sh", "sh", "-c", "trap 'echo term >> "+terms+"' TERM; echo up >> "+terms+"; while :; do sleep 0.05; done")
	pid := id.Pid
	waitFor := func(what string) {
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if b, _ := os.ReadFile(terms); strings.Contains(string(b), what) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the shell did not write %q", what)
			}
		}
	}
	waitFor("up")
	syscall.Kill(pid, syscall.SIGTERM) // the previous daemon's stop
	waitFor("term")
	if !StopLeftover(&Leftover{Pid: pid, StartTime: id.StartTime, StopSignal: syscall.SIGTERM,
		StopWait: time.Second, StopBegan: time.Now()}) {
		t.Error("StopLeftover did not report the process gone")
	}
	if id.Alive() {
		t.Fatal("StopLeftover left the process running")
	}
	time.Sleep(100 * time.Millisecond)
	if b, _ := os.ReadFile(terms); strings.Count(string(b), "term") != 1 {
		t.Errorf("the leftover got SIGTERM %d times, want once:\n%s", strings.Count(string(b), "term"), b)
	}
}

// A leader that has exited leaves members in its group: the group id is
// pinned by them, so it is still ours and the sweep kills them, right away
// when the grace period is 0.
func TestSweep_MembersOfAnExitedLeader(t *testing.T) {
	acquire(t)
	r, w, _ := os.Pipe()
	defer r.Close()
	gone := make(chan struct{})
	p, err := Start(Attr{Path: "/bin/sh", Argv: []string{"sh", "-c", "sleep 30 & echo $!; exit 0"}, Umask: -1,
		Files: []*os.File{nil, w, nil}, GroupGrace: 0, OnGone: func() { close(gone) }})
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 32)
	n, _ := r.Read(buf)
	var member int
	for _, c := range buf[:n] {
		if c >= '0' && c <= '9' {
			member = member*10 + int(c-'0')
		}
	}
	select {
	case <-gone:
	case <-time.After(10 * time.Second):
		t.Fatal("OnGone not called")
	}
	<-p.Done()
	if isAlive(member) {
		t.Fatalf("member %d of the exited leader's group still runs", member)
	}
}

// TestSweep_TakenByTheExitsOwner: the exit's owner (a singleton's
// restart) may kill the leftovers itself before the reaper has looked for
// any: the sweep is found, the member killed, OnGone called once, and
// nothing stays pending for a shutdown to wait for.
func TestSweep_TakenByTheExitsOwner(t *testing.T) {
	acquire(t)
	r, w, _ := os.Pipe()
	defer r.Close()
	var gones atomic.Int32
	taken := make(chan bool, 1)
	p, err := Start(Attr{Path: "/bin/sh", Argv: []string{"sh", "-c", "sleep 30 & echo $!; read _"}, Umask: -1,
		Files: []*os.File{r, w, nil}, GroupGrace: time.Hour, OnGone: func() { gones.Add(1) },
		OnExit: func(pid int, _ syscall.WaitStatus, _ bool) { taken <- KillLeftoverGroup(pid) }})
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 32)
	n, _ := r.Read(buf)
	member, _ := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	p.Signal(syscall.SIGTERM)
	if !<-taken {
		t.Fatal("the exit's owner did not find the sweep")
	}
	if isAlive(member) {
		t.Errorf("member %d still runs", member)
	}
	done := make(chan struct{})
	go func() { KillLeftovers(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("KillLeftovers waits for a sweep that was taken")
	}
	time.Sleep(50 * time.Millisecond)
	if n := gones.Load(); n != 1 {
		t.Errorf("OnGone called %d times, want 1", n)
	}
}

func isAlive(pid int) bool {
	st, err := ReadStat(pid)
	return err == nil && st.State != 'Z'
}

// After an in-place upgrade the children of the old image are ours: one
// that ended before it was adopted is reported with its real status, one
// still running is waited for by the reaper. A recorded process that is
// gone is reported at once, status unknown, and so is one a previous
// daemon reaped (AdoptEnded), whatever the reaper holds for its pid.
func TestAdopt_OwnChildrenAndGoneOnes(t *testing.T) {
	acquire(t)
	spawn := func(argv ...string) Identity {
		pid, err := syscall.ForkExec(argv[0], argv, &syscall.ProcAttr{Sys: &syscall.SysProcAttr{Setpgid: true}})
		if err != nil {
			t.Fatal(err)
		}
		st, _ := ReadStat(pid)
		return Identity{Pid: pid, StartTime: st.StartTime}
	}
	quick := spawn("/bin/sh", "-c", "exit 7")
	long := spawn("/bin/sleep", "30")
	// The quick one ends and is reaped, unclaimed. (Still running, the
	// AdoptEnded below would take it for a leftover of its group.)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := ReadStat(quick.Pid); statGone(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the quick one was not reaped")
		}
	}

	type exit struct {
		ws    syscall.WaitStatus
		known bool
	}
	adopt := func(id Identity) chan exit {
		ch := make(chan exit, 1)
		if _, err := Adopt(id, Attr{OnExit: func(_ int, ws syscall.WaitStatus, known bool) { ch <- exit{ws, known} }}); err != nil {
			t.Fatal(err)
		}
		return ch
	}
	// What a previous daemon reaped is taken over without a lookup by
	// its pid, which may be another's now: it gets no status, and takes
	// none from what the reaper keeps for the process adopted next.
	ended := make(chan exit, 1)
	if _, err := AdoptEnded(quick, Attr{OnExit: func(_ int, ws syscall.WaitStatus, known bool) { ended <- exit{ws, known} }}); err != nil {
		t.Fatal(err)
	}
	if e := <-ended; e.known {
		t.Errorf("an ended process took a status: %+v", e)
	}
	qe, le := adopt(quick), adopt(long)
	if e := <-qe; !e.known || e.ws.ExitStatus() != 7 {
		t.Errorf("ended before adoption: %+v, want exit status 7", e)
	}
	syscall.Kill(long.Pid, syscall.SIGTERM)
	if e := <-le; !e.known || e.ws.Signal() != syscall.SIGTERM {
		t.Errorf("adopted child: %+v, want terminated by SIGTERM", e)
	}
	ge := adopt(Identity{Pid: long.Pid, StartTime: long.StartTime})
	if e := <-ge; e.known {
		t.Errorf("a process already gone: %+v, want unknown", e)
	}
	EndAdoption()
}

// Release without Acquire does nothing (it used to close a channel twice).
func TestRelease_Unbalanced(t *testing.T) {
	acquire(t)
	Release()
	Release()
	Acquire(nil) // for the cleanup's Release
}

// TestProcess_EndedBeforeItIsReaped: a leader that died is ended while
// the reaper has yet to collect it (here, held off by its lock), and is
// not before.
func TestProcess_EndedBeforeItIsReaped(t *testing.T) {
	acquire(t)
	p, err := Start(Attr{Path: "/bin/sleep", Argv: []string{"sleep", "30"}, Umask: -1})
	if err != nil {
		t.Fatal(err)
	}
	if p.Ended() {
		t.Fatal("a running process is Ended")
	}
	reaper.mu.Lock()
	syscall.Kill(p.Pid, syscall.SIGKILL)
	deadline := time.Now().Add(5 * time.Second)
	for !p.endedLocked() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	ended := p.endedLocked()
	select {
	case <-p.Done():
		t.Error("reaped while the reaper's lock was held")
	default:
	}
	reaper.mu.Unlock()
	if !ended {
		t.Fatal("a dead child not yet reaped is not ended")
	}
	<-p.Done()
	if !p.Ended() {
		t.Error("a reaped process is not Ended")
	}
}

// TestProcess_EndedOnceCollected: a child the reaper has collected (no
// longer registered) is ended before its exit is delivered, however the
// pid is used since; a process never registered (watched through a pidfd)
// is not ended by that.
func TestProcess_EndedOnceCollected(t *testing.T) {
	acquire(t)
	p, err := Start(Attr{Path: "/bin/sleep", Argv: []string{"sleep", "30"}, Umask: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Signal(syscall.SIGKILL)
	reaper.mu.Lock()
	delete(reaper.procs, p.Pid) // as the reaper's wait4, before the delivery
	collected := p.endedLocked()
	reaper.procs[p.Pid] = p
	stranger := &Process{Pid: p.Pid}
	notOurs := stranger.endedLocked()
	reaper.mu.Unlock()
	if !collected {
		t.Error("a collected child is not ended")
	}
	if notOurs {
		t.Error("a process never registered is ended")
	}
}

// TestProcess_NotEndedWhileAThreadRuns: a leader thread that exited while
// another thread of its process runs is a zombie in /proc, but the process
// lives on: not ended, so a stop's deadline still kills it.
func TestProcess_NotEndedWhileAThreadRuns(t *testing.T) {
	acquire(t)
	script := "import ctypes, threading, time\n" +
		"threading.Thread(target=time.sleep, args=(30,)).start()\n" +
		"ctypes.CDLL(None).pthread_exit(None)\n"
	p, err := Start(Attr{Path: "/usr/bin/python3", Argv: []string{"python3", "-c", script}, Umask: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Signal(syscall.SIGKILL)
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := ReadStat(p.Pid)
		if err == nil && st.State == 'Z' {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the leader thread did not exit: %+v, %v", st, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if p.Ended() {
		t.Error("a process whose other thread runs is Ended")
	}
	p.Signal(syscall.SIGKILL)
	<-p.Done()
	if !p.Ended() {
		t.Error("a reaped process is not Ended")
	}
}

// reapNamedProbe, set in a re-executed test binary, runs
// TestReap_TheChildNamed's body.
const reapNamedProbe = "CTLSUP_TEST_REAP_NAMED"

// TestReap_TheChildNamed: the waiter's child is collected by its pid
// alone, wait4(-1) walking every child to find one; another exit that is
// waiting stays for the sweep after, and a child still running is not
// waited for.
func TestReap_TheChildNamed(t *testing.T) {
	if os.Getenv(reapNamedProbe) == "" {
		// In a process of its own: a child an earlier test killed (or a
		// grandchild reparented to this subreaper) may die meanwhile and
		// wait here, and the sweep would take it first.
		cmd := exec.Command(os.Args[0], "-test.run=^TestReap_TheChildNamed$")
		cmd.Env = append(os.Environ(), reapNamedProbe+"=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return
	}
	// Not acquired: no waiter or SIGCHLD sweep collects these meanwhile.
	fork := func(argv ...string) int {
		pid, err := syscall.ForkExec(argv[0], argv, &syscall.ProcAttr{})
		if err != nil {
			t.Fatal(err)
		}
		return pid
	}
	zombie := func(pid int) bool {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
		return err == nil && siginfoPid(&info) == pid
	}
	first, second := fork("/bin/true"), fork("/bin/true")
	running := fork("/bin/sleep", "30")
	defer func() {
		syscall.Kill(running, syscall.SIGKILL)
		syscall.Wait4(running, nil, 0, nil)
	}()
	for deadline := time.Now().Add(10 * time.Second); !zombie(first) || !zombie(second); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the children did not exit")
		}
	}
	if got := reap(false, running); got != reapNone {
		t.Fatalf("reaping a running child: %d, want none", got)
	}
	if got := reap(false, second); got != reapOther {
		t.Fatalf("reaping the second child: %d, want it collected as nobody's", got)
	}
	if zombie(second) || !zombie(first) {
		t.Fatalf("after reaping the second child: second waiting %v, first waiting %v; want only the first", zombie(second), zombie(first))
	}
	if got := reap(false, -1); got != reapOther || zombie(first) {
		t.Fatalf("the sweep: %d, first still waiting %v", got, zombie(first))
	}
	if got := reap(false, -1); got != reapNone {
		t.Errorf("a sweep with only a running child: %d, want none", got)
	}
}

// TestRelease_EndsTheSubreaper: once the reaper is released, orphans go to
// init again: a process that no longer reaps must not collect them, or
// they stay zombies and their exits unknown to a pidfd's holder.
func TestRelease_EndsTheSubreaper(t *testing.T) {
	const prGetChildSubreaper = 37
	subreaper := func() int32 {
		var on int32
		if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prGetChildSubreaper, uintptr(unsafe.Pointer(&on)), 0); errno != 0 {
			t.Fatal(errno)
		}
		return on
	}
	if err := Acquire(nil); err != nil {
		t.Fatal(err)
	}
	if subreaper() != 1 {
		t.Error("Acquire did not make this process a child subreaper")
	}
	Release()
	if subreaper() != 0 {
		t.Error("still a child subreaper after the last Release")
	}
}

// An exit's bookkeeping (its sweep's settling, OnGone) waits settleDelay:
// the exit's owner, a restart typically, gets to its fork first even if
// it blocks on the way.
func TestSweep_SettlesBehindTheExitsOwner(t *testing.T) {
	acquire(t)
	// An exit that joins a batch already due settles with it.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		settling.mu.Lock()
		running := settling.running
		settling.mu.Unlock()
		if !running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("earlier exits are still being settled")
		}
	}
	var exited, gone atomic.Int64
	done := make(chan struct{})
	p, err := Start(Attr{Path: "/bin/true", Argv: []string{"true"}, Umask: -1,
		OnExit: func(int, syscall.WaitStatus, bool) { exited.Store(time.Now().UnixNano()) },
		OnGone: func() { gone.Store(time.Now().UnixNano()); close(done) }})
	if err != nil {
		t.Fatal(err)
	}
	<-p.Done()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("OnGone not called")
	}
	if d := time.Duration(gone.Load() - exited.Load()); d < settleDelay {
		t.Errorf("the exit was settled %v after its owner heard of it, before its owner's %v", d, settleDelay)
	}
}

// TestProcess_DoneBeforeAndAfterTheExit: Done's channel is made by its
// first caller, so one taken before the exit is closed by it, and one
// taken after it is closed already; Status is valid in both.
func TestProcess_DoneBeforeAndAfterTheExit(t *testing.T) {
	acquire(t)
	exited := make(chan struct{})
	before, err := Start(Attr{Path: "/bin/sleep", Argv: []string{"sleep", "30"}, Umask: -1})
	if err != nil {
		t.Fatal(err)
	}
	after, err := Start(Attr{Path: "/bin/sh", Argv: []string{"sh", "-c", "exit 3"}, Umask: -1,
		OnExit: func(int, syscall.WaitStatus, bool) { close(exited) }})
	if err != nil {
		t.Fatal(err)
	}
	waiting := before.Done()
	before.Signal(syscall.SIGKILL)
	select {
	case <-waiting:
	case <-time.After(10 * time.Second):
		t.Fatal("a Done taken before the exit was not closed by it")
	}
	if ws := before.Status(); !ws.Signaled() || ws.Signal() != syscall.SIGKILL || !before.Ended() {
		t.Errorf("status %v, ended %v: want killed by SIGKILL, ended", ws, before.Ended())
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatal("sh did not exit")
	}
	if !after.Ended() {
		t.Error("a reaped process is not ended")
	}
	select {
	case <-after.Done():
	default:
		t.Fatal("a Done taken after the exit is not closed")
	}
	if ws := after.Status(); ws.ExitStatus() != 3 {
		t.Errorf("status %v, want exit 3", ws)
	}
}

// A process group whose leader is gone may be a stranger's: ours emptied,
// a stranger took the pid, founded a group of that id (setsid, as a
// double-forking daemon does) and left it. Its members do not descend
// from this process, and nothing may signal them. What a leader of ours
// leaves in its group does descend from it (its subreaper), and is
// stopped.
func TestIdentity_GroupOfAGoneLeaderIsOursOnlyByDescent(t *testing.T) {
	// The stranger first, while this process is no subreaper: its sleep
	// goes to init when the shells exit.
	out, err := exec.Command("sh", "-c", `setsid sh -c 'sleep 1000 >/dev/null 2>&1 & echo $$' &`).Output()
	if err != nil {
		t.Fatal(err)
	}
	gone, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	members := waitGroupOf(t, gone)
	strangerID := memberIdentity(t, members[0])
	t.Cleanup(func() { signalLeader(strangerID, syscall.SIGKILL) })
	if descentOf(strangerID.Pid, os.Getpid()) == descendant {
		t.Fatal("the stranger's sleep descends from the test: this process is a subreaper already")
	}
	acquire(t)
	recorded := Identity{Pid: gone, StartTime: 1} // the leader of ours that pid once was
	if ms, ok := OursGroupMembers(recorded); GroupOurs(recorded) || len(ms) != 0 || !ok {
		t.Fatalf("a stranger's group of a gone leader's id counts as ours (%v, %v)", ms, ok)
	}
	if !killAndWait(recorded, time.Now().Add(100*time.Millisecond)) {
		t.Error("a stranger's group must count as none of ours left")
	}
	if !StopLeftover(&Leftover{Pid: recorded.Pid, StartTime: recorded.StartTime, StopSignal: syscall.SIGTERM,
		StopWait: 100 * time.Millisecond, StopAsGroup: true, KillAsGroup: true}) {
		t.Error("a leftover whose group is a stranger's must count as gone")
	}
	if !strangerID.Alive() {
		t.Fatal("the stranger was killed")
	}

	// Ours: a leader that left a sleep in its group and exited.
	leader := groupLeader(t, "sleep 1000 >/dev/null 2>&1 & sleep 0.2")
	left := memberIdentity(t, waitGroupOf(t, leader.Pid)[0])
	if !killAndWait(leader, time.Now().Add(5*time.Second)) || left.Alive() {
		t.Error("what a leader of ours left in its group was not stopped")
	}
}

// groupLeader starts sh -c script as the leader of a process group of
// its own (a script that lives long enough for its start time to be
// read), and kills what is left of the group once the test ends.
func groupLeader(t *testing.T, script string) Identity {
	t.Helper()
	pid, err := syscall.ForkExec("/bin/sh", []string{"sh", "-c", script}, &syscall.ProcAttr{
		Sys: &syscall.SysProcAttr{Setpgid: true}})
	if err != nil {
		t.Fatal(err)
	}
	// Registered first: what a failure leaves behind would run on.
	id := Identity{Pid: pid}
	t.Cleanup(func() { killAndWait(id, time.Now().Add(5*time.Second)) })
	st, err := ReadStat(pid)
	if err != nil {
		t.Fatal(err)
	}
	id.StartTime = st.StartTime
	return id
}

// waitGroupOf waits until the leader pgid is gone and its group holds a
// member, and returns the members.
func waitGroupOf(t *testing.T, pgid int) []int {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		var ws syscall.WaitStatus
		syscall.Wait4(pgid, &ws, syscall.WNOHANG, nil) // ours, if it is our child
		if _, err := ReadStat(pgid); err == nil {
			continue
		}
		if ms, ok := GroupMembers(pgid); ok && len(ms) > 0 {
			return ms
		}
	}
	t.Fatalf("group %d: no member left behind a gone leader", pgid)
	return nil
}

func memberIdentity(t *testing.T, pid int) Identity {
	t.Helper()
	st, err := ReadStat(pid)
	if err != nil {
		t.Fatal(err)
	}
	return Identity{Pid: pid, StartTime: st.StartTime}
}

// A group of ours whose leader is gone, with members that keep starting
// short-lived children (a shell loop, a worker pool recycling workers):
// a child that ends between the listing and the look at its parents is
// nothing to prove, and the group stays ours, to be killed whole.
func TestIdentity_ChurningGroupOfAGoneLeaderStaysOurs(t *testing.T) {
	acquire(t)
	start := func() Identity {
		id := groupLeader(t, strings.Repeat("(while :; do /bin/true; done) >/dev/null 2>&1 & ", 6)+"sleep 0.2")
		waitGroupOf(t, id.Pid)
		return id
	}
	leader := start()
	for i := range 200 {
		if ours, known := groupOurs(leader); known && !ours {
			t.Fatalf("look %d: our own churning group taken for a stranger's", i)
		}
	}
	for i := range 10 {
		l := start()
		if !killAndWait(l, time.Now().Add(5*time.Second)) {
			t.Fatalf("group %d not killed", i)
		}
		if ms, _ := GroupMembers(l.Pid); len(ms) > 0 {
			t.Fatalf("group %d: reported gone with %d members alive", i, len(ms))
		}
	}
}
