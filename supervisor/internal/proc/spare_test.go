package proc

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctlsup/ctlsup/supervisor/testhelper"
)

// exhaustDescriptors fills the descriptor table, spares included (see
// testhelper.ExhaustDescriptors); given back, the spares are taken again.
func exhaustDescriptors(t *testing.T) ([]int, func()) {
	t.Helper()
	for len(spares) > 0 {
		unix.Close(<-spares)
	}
	fill, release := testhelper.ExhaustDescriptors(t, 64)
	giveBack := func() {
		release()
		keepSpares()
	}
	t.Cleanup(giveBack)
	return fill, giveBack
}

// whileFull runs check with the table full and no spare kept, and returns
// what it returned once the table was still full afterwards. Another
// goroutine of the test binary (the watcher of an earlier test's process
// closing its pidfd, a sweep reading /proc) may free a descriptor at any
// moment: the check may have used it, so it is run again. A descriptor
// freed during the check is seen after it: closed by closeShort it is a
// spare again, closed otherwise it is taken by the top-up; what the
// top-up takes is held until the test ends.
func whileFull(t *testing.T, check func() bool) bool {
	t.Helper()
	var taken []int
	t.Cleanup(func() {
		for _, fd := range taken {
			unix.Close(fd)
		}
	})
	topUp := func() (took int) {
		for len(spares) > 0 {
			unix.Close(<-spares)
		}
		for {
			fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				return took
			}
			taken = append(taken, fd)
			took++
		}
	}
	for range 50 {
		topUp()
		told := check()
		if len(spares) == 0 && topUp() == 0 {
			return told
		}
		t.Log("a descriptor was freed during the check: checking again")
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the test binary kept freeing descriptors: the table never stayed full through a check")
	return false
}

// A process that cannot be looked up because the daemon is out of
// descriptors is not taken for ended: adopted, it is watched through
// /proc until it provably ends, and the spares let it be proven and
// signalled. Taken for ended, a live program was started a second time.
func TestAdopt_OutOfDescriptorsIsNotAnEnd(t *testing.T) {
	acquire(t)
	// Someone else's child (a shell that waits for it), as after the
	// daemon that started it died.
	sh, pid := shellWithChild(t, "sleep 30 & echo $!; wait")
	t.Cleanup(func() { syscall.Kill(sh, syscall.SIGKILL) })
	st, err := ReadStat(pid)
	if err != nil || st.Ppid != sh {
		t.Fatalf("sleep %d: %+v, %v", pid, st, err)
	}
	id := Identity{Pid: pid, StartTime: st.StartTime}
	t.Cleanup(func() { signalLeader(id, syscall.SIGKILL) })

	fill, _ := exhaustDescriptors(t)
	if told := whileFull(t, func() bool { return id.Alive() || id.Gone() }); told {
		t.Fatal("with no descriptor left, the process must be neither proven alive nor gone")
	}
	exits := make(chan bool, 1)
	p, err := Adopt(id, Attr{OnExit: func(_ int, _ syscall.WaitStatus, known bool) { exits <- known }})
	if err != nil {
		t.Fatal(err)
	}
	if p.Ended() {
		t.Fatal("a process that could not be looked up was taken for ended")
	}
	select {
	case <-exits:
		t.Fatal("a live process was reported ended")
	case <-time.After(4 * procPoll):
	}
	// Two descriptors for the spares: the process can be proven and
	// signalled, and its watch still has none of its own. The last two,
	// above LastFreeFD: the watch, polling /proc meanwhile, may keep no
	// pidfd on either.
	last := len(fill) - 2
	unix.Close(fill[last])
	unix.Close(fill[last+1])
	fill[last], fill[last+1] = -1, -1
	keepSpares()
	if !id.Alive() {
		t.Fatal("through the spares, the process is proven alive")
	}
	if err := p.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exits:
	case <-time.After(10 * time.Second):
		t.Fatal("the end of a process watched through /proc was not seen")
	}
	if !id.Gone() {
		t.Fatal("reported ended while it runs")
	}
}

// Our own unreaped child's group is signalled without /proc: the leader
// holds the group's id. Out of descriptors, a stop of it still reaches
// it (it used to be "cannot tell", and the program was left UNKNOWN).
func TestSignalGroup_OwnChildOutOfDescriptors(t *testing.T) {
	acquire(t)
	exits := make(chan struct{})
	p, err := Start(Attr{Path: "/bin/sh", Argv: []string{"sh", "-c", "sleep 30 & wait"}, Umask: -1,
		OnExit: func(int, syscall.WaitStatus, bool) { close(exits) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.SignalGroup(syscall.SIGKILL) })
	exhaustDescriptors(t)
	if err := p.SignalGroup(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exits:
	case <-time.After(10 * time.Second):
		t.Fatal("the group was not killed")
	}
}

// A sweep that cannot look its group up (out of descriptors) neither
// reports the spawn gone nor kills what it cannot prove; it tries again,
// and finishes once it can.
func TestSweep_RetriesWhatItCannotTell(t *testing.T) {
	acquire(t)
	// Another goroutine of the test binary (an earlier test's watcher
	// closing a pidfd) may free a descriptor while the table is full, and
	// the sweep may then have looked its group up: only a report made
	// while no descriptor came free is a failure. A few tries at most.
	for try := 1; ; try++ {
		if retriesWhatItCannotTell(t) || try == 3 {
			return
		}
	}
}

// retriesWhatItCannotTell runs the test once, and reports false where a
// descriptor came free under it, so that it proved nothing.
func retriesWhatItCannotTell(t *testing.T) bool {
	// A group whose leader ended and whose member lives on.
	leader, member := shellWithChild(t, "sleep 30 & echo $!")
	st, _ := ReadStat(leader)
	ms, _ := ReadStat(member)
	t.Cleanup(func() {
		// Only the sleep started here: its pid may be another's by now.
		if now, err := ReadStat(member); err == nil && now.StartTime == ms.StartTime {
			syscall.Kill(member, syscall.SIGKILL)
		}
	})
	for deadline := time.Now().Add(5 * time.Second); isAlive(leader); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the leader did not end")
		}
	}
	gone := make(chan struct{})
	sw := &sweep{id: Identity{Pid: leader, StartTime: st.StartTime}, gone: func() { close(gone) }}

	_, release := exhaustDescriptors(t)
	finishSweep(sw, time.Now().Add(200*time.Millisecond))
	select {
	case <-gone:
		if fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0); err == nil {
			unix.Close(fd)
			release()
			t.Log("a descriptor came free during the sweep: trying again")
			return false
		}
		t.Fatal("reported gone while its group could not be looked up")
	case <-time.After(2 * sweepRetryFirst):
	}
	release()
	if !isAlive(member) {
		t.Fatal("a member was killed while its group could not be proven ours")
	}
	select {
	case <-gone:
	case <-time.After(10 * time.Second):
		t.Fatal("the sweep did not finish once descriptors were back")
	}
	if isAlive(member) {
		t.Error("the group's member outlived its sweep")
	}
	return true
}

// shellWithChild starts sh -c script, in a process group of its own,
// outside the reaper; script starts a child and prints its pid.
func shellWithChild(t *testing.T, script string) (shell, child int) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	shell, err = syscall.ForkExec("/bin/sh", []string{"sh", "-c", script},
		&syscall.ProcAttr{Files: []uintptr{0, w.Fd(), 2}, Sys: &syscall.SysProcAttr{Setpgid: true}})
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 32)
	n, _ := r.Read(buf)
	child, _ = strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	return shell, child
}

// Our own child (as a daemon's image before an in-place upgrade left it),
// adopted while /proc could not tell whose child it was, is the reaper's
// once it can: its exit is collected with its status, and a pidfd can be
// had on it for the holder.
func TestAdopt_OwnChildOutOfDescriptorsIsClaimed(t *testing.T) {
	acquire(t)
	pid, err := syscall.ForkExec("/bin/sleep", []string{"sleep", "30"}, &syscall.ProcAttr{Sys: &syscall.SysProcAttr{Setpgid: true}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := ReadStat(pid)
	if err != nil {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Fatal(err)
	}
	id := Identity{Pid: pid, StartTime: st.StartTime}
	t.Cleanup(func() { signalLeader(id, syscall.SIGKILL) })
	type exit struct {
		ws    syscall.WaitStatus
		known bool
	}
	exits := make(chan exit, 2)
	watched := make(chan *Process, 1)
	attr := Attr{OnExit: func(_ int, ws syscall.WaitStatus, known bool) { exits <- exit{ws, known} },
		OnPidfd: func(p *Process) { watched <- p }}

	_, release := exhaustDescriptors(t)
	p, err := Adopt(id, attr)
	if err != nil {
		t.Fatal(err)
	}
	reaper.mu.Lock()
	claimed := reaper.procs[pid] == p
	reaper.mu.Unlock()
	if claimed {
		t.Log("a descriptor was free at the adoption: claimed at once")
	}
	release()
	select {
	case got := <-watched:
		if got != p {
			t.Fatal("OnPidfd was given another process")
		}
	case <-time.After(10 * time.Second):
		if !claimed {
			t.Fatal("with descriptors back, the process was neither claimed nor watched through a pidfd")
		}
	}
	reaper.mu.Lock()
	claimed = reaper.procs[pid] == p && p.child
	reaper.mu.Unlock()
	if !claimed {
		t.Fatal("our own child is watched as a stranger's")
	}
	f, err := p.OpenPidfd()
	if err != nil {
		t.Fatalf("no pidfd on the claimed child: %v", err)
	}
	f.Close()
	syscall.Kill(pid, syscall.SIGTERM)
	select {
	case e := <-exits:
		if !e.known || e.ws.Signal() != syscall.SIGTERM {
			t.Errorf("exit %+v, want known, by SIGTERM", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the claimed child's exit was not collected")
	}
	select {
	case e := <-exits:
		t.Errorf("a second exit reported: %+v", e)
	case <-time.After(2 * procPoll):
	}
}

// Our own child adopted while /proc could not tell whose child it was,
// that ends before /proc can (collected by a sweep as an unknown child's),
// is reported with its status, as Adopt reports one that ended before it.
func TestAdopt_OwnChildEndedWhileUntoldHasItsStatus(t *testing.T) {
	acquire(t)
	pid, err := syscall.ForkExec("/bin/sleep", []string{"sleep", "30"}, &syscall.ProcAttr{Sys: &syscall.SysProcAttr{Setpgid: true}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := ReadStat(pid)
	if err != nil {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Fatal(err)
	}
	id := Identity{Pid: pid, StartTime: st.StartTime}
	type exit struct {
		ws    syscall.WaitStatus
		known bool
	}
	exits := make(chan exit, 2)
	_, release := exhaustDescriptors(t)
	p, err := Adopt(id, Attr{OnExit: func(_ int, ws syscall.WaitStatus, known bool) { exits <- exit{ws, known} }})
	if err != nil {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Fatal(err)
	}
	reaper.mu.Lock()
	claimed := reaper.procs[pid] == p
	reaper.mu.Unlock()
	if claimed {
		t.Log("a descriptor was free at the adoption: claimed at once")
	}
	// Alive and unreaped, the pid is still our child's.
	syscall.Kill(pid, syscall.SIGTERM)
	for deadline := time.Now().Add(10 * time.Second); !claimed; time.Sleep(10 * time.Millisecond) {
		reaper.mu.Lock()
		_, swept := reaper.unclaimed[pid]
		reaper.mu.Unlock()
		if swept || len(exits) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the exit was not collected")
		}
	}
	release()
	select {
	case e := <-exits:
		if !e.known || e.ws.Signal() != syscall.SIGTERM {
			t.Errorf("exit %+v, want known, by SIGTERM", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the end was not reported")
	}
}
