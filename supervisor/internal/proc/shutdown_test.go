package proc

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startWithMember starts a shell that starts member in the background,
// prints its pid and waits on its stdin; it returns the shell's process
// and the member's pid.
func startWithMember(t *testing.T, grace time.Duration, member string) (*Process, int) {
	t.Helper()
	r, w, _ := os.Pipe()
	defer r.Close()
	in, inw, _ := os.Pipe()
	t.Cleanup(func() { inw.Close() })
	p, err := Start(Attr{Path: "/bin/sh", Argv: []string{"sh", "-c", member + " >/dev/null & echo $!; exec 1>&-; read _"}, Umask: -1,
		Files: []*os.File{in, w, nil}, GroupGrace: grace})
	w.Close()
	in.Close()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 32)
	n, _ := r.Read(buf)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	if pid == 0 {
		t.Fatal("no member pid")
	}
	t.Cleanup(func() {
		if isAlive(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return p, pid
}

// stopLeader sends the leader SIGTERM and waits until its exit's sweep
// has its grace period armed.
func stopLeader(t *testing.T, p *Process) {
	t.Helper()
	p.Signal(syscall.SIGTERM)
	<-p.Done()
	deadline := time.Now().Add(10 * time.Second)
	for {
		leftovers.mu.Lock()
		sw := leftovers.sweeps[p.Pid]
		armed := sw != nil && sw.timer != nil
		leftovers.mu.Unlock()
		if armed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no sweep armed for the leader's group")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// killLeftoversWithin runs KillLeftovers and fails the test if it has not
// returned within limit: each case's grace is an hour, its bound seconds.
func killLeftoversWithin(t *testing.T, limit time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() { KillLeftovers(); close(done) }()
	select {
	case <-done:
	case <-time.After(limit):
		t.Fatalf("KillLeftovers still waits after %v", limit)
	}
}

// TestKillLeftovers_NoStopNoWait: what outlives a leader that ended on
// its own (no stop began) is killed at once by a shutdown, not after the
// grace period.
func TestKillLeftovers_NoStopNoWait(t *testing.T) {
	acquire(t)
	p, member := startWithMember(t, time.Hour, "sleep 3600")
	stopLeader(t, p)
	killLeftoversWithin(t, 30*time.Second)
	if isAlive(member) {
		t.Errorf("member %d still runs", member)
	}
}

// TestKillLeftovers_StopEndsWithItsGrace: a stop's rest is bounded by the
// grace period armed at the leader's exit, even for a stop recorded as
// beginning later (the wall clock moved, say).
func TestKillLeftovers_StopEndsWithItsGrace(t *testing.T) {
	acquire(t)
	p, member := startWithMember(t, time.Second, "sleep 3600")
	p.Stopping(time.Now().Add(time.Hour))
	stopLeader(t, p)
	killLeftoversWithin(t, 30*time.Second)
	if isAlive(member) {
		t.Errorf("member %d still runs", member)
	}
}

// TestKillLeftovers_EmptiedGroupEndsTheWait: a shutdown waiting for a
// stop's rest is done once the group has ended, not at its end.
func TestKillLeftovers_EmptiedGroupEndsTheWait(t *testing.T) {
	acquire(t)
	p, _ := startWithMember(t, time.Hour, "sleep 0.5")
	p.Stopping(time.Now())
	stopLeader(t, p)
	killLeftoversWithin(t, 30*time.Second)
}

// TestKillLeftovers_GivesTheRestOfAStop: a member a stop asked to end is
// left the rest of the stop by a shutdown; one that does not end by then
// is killed, and every sweep is counted done once.
func TestKillLeftovers_GivesTheRestOfAStop(t *testing.T) {
	acquire(t)
	done := t.TempDir() + "/done"
	graceful, member := startWithMember(t, time.Hour, "sh -c 'sleep 0.3; echo x > \"$0\"' "+done)
	graceful.Stopping(time.Now())
	stopLeader(t, graceful)
	const n = 20
	var deaf []int
	for i := range n {
		p, m := startWithMember(t, 2*time.Second, "sleep 3600")
		deaf = append(deaf, m)
		// Their stops end around KillLeftovers' start: some re-armed,
		// some firing as it runs.
		p.Stopping(time.Now().Add(-2*time.Second + time.Duration(i)*50*time.Millisecond))
		stopLeader(t, p)
	}
	killLeftoversWithin(t, 30*time.Second)
	if _, err := os.Stat(done); err != nil {
		t.Errorf("the graceful member did not finish: %v", err)
	}
	if isAlive(member) {
		t.Errorf("graceful member %d still runs", member)
	}
	for _, m := range deaf {
		if isAlive(m) {
			t.Errorf("member %d still runs", m)
		}
	}
	leftovers.mu.Lock()
	pending := leftovers.pending
	leftovers.mu.Unlock()
	if pending != 0 {
		t.Errorf("%d sweeps pending", pending)
	}
}

// TestSweep_LeftoversAreAskedToEnd: what outlives a leader that ended on
// its own (a gunicorn master's workers, holding its port) is sent the
// leftover signal at once, not left alone until the grace period's kill.
func TestSweep_LeftoversAreAskedToEnd(t *testing.T) {
	acquire(t)
	done := t.TempDir() + "/asked"
	in, inw, _ := os.Pipe()
	r, w, _ := os.Pipe()
	defer r.Close()
	member := `sh -c 'trap "echo x > \"$0\"; exit 0" TERM; echo ready; while :; do sleep 0.05; done' ` + done
	p, err := Start(Attr{Path: "/bin/sh", Argv: []string{"sh", "-c", member + " & read _"}, Umask: -1,
		Files: []*os.File{in, w, nil}, GroupGrace: time.Hour, LeftoverSignal: syscall.SIGTERM})
	in.Close()
	w.Close()
	if err != nil {
		inw.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-p.Pid, syscall.SIGKILL) })
	buf := make([]byte, 16)
	if n, _ := r.Read(buf); !strings.HasPrefix(string(buf[:n]), "ready") {
		t.Fatalf("member said %q", buf[:n])
	}
	inw.Close() // the leader's read ends: it exits on its own
	<-p.Done()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(done); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the leftover was not asked to end")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSweep_EndsOnceItsProcessGroupEmpties: a process group's sweep ends
// as soon as the group has no member left, not at its grace period's end:
// its id, free again, may come to name another program's group (pid
// reuse), whose processes also descend from the daemon.
func TestSweep_EndsOnceItsProcessGroupEmpties(t *testing.T) {
	acquire(t)
	gone := make(chan struct{})
	p, err := Start(Attr{Path: "/bin/sh", Argv: []string{"sh", "-c", "sleep 0.3 & exit 0"}, Umask: -1,
		GroupGrace: time.Hour, OnGone: func() { close(gone) }})
	if err != nil {
		t.Fatal(err)
	}
	<-p.Done()
	select {
	case <-gone:
	case <-time.After(10 * time.Second):
		t.Fatal("the sweep still waits for its grace period after its group emptied")
	}
	leftovers.mu.Lock()
	_, listed := leftovers.sweeps[p.Pid]
	leftovers.mu.Unlock()
	if listed {
		t.Error("the sweep is still listed")
	}
}
