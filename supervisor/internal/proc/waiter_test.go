package proc

import (
	"os/signal"
	"syscall"
	"testing"
	"time"
)

func startTrue(t *testing.T) *Process {
	t.Helper()
	p, err := Start(Attr{Path: "/bin/true", Argv: []string{"true"}, Umask: -1})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// With SIGCHLD no longer delivered to the reaper, the waiter alone
// collects each exit, and it parks, not spins, once no child is left.
func TestWaiter_CollectsWithoutSIGCHLD(t *testing.T) {
	acquire(t)
	signal.Stop(reaper.sigch)
	t.Cleanup(func() { signal.Notify(reaper.sigch, syscall.SIGCHLD) })
	for range 3 {
		select {
		case <-startTrue(t).Done():
		case <-time.After(10 * time.Second):
			t.Fatal("an exit was not collected without SIGCHLD")
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		reaper.mu.Lock()
		idle := waiter.idle
		reaper.mu.Unlock()
		if idle {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the waiter did not park with no child left")
		}
	}
	// A fork wakes it again.
	select {
	case <-startTrue(t).Done():
	case <-time.After(10 * time.Second):
		t.Fatal("a parked waiter missed the next child's exit")
	}
}

// After the last Release an exit belongs to whoever waits next (an
// upgraded image): the waiter must leave it.
func TestWaiter_LeavesExitsAfterRelease(t *testing.T) {
	if err := Acquire(nil); err != nil {
		t.Fatal(err)
	}
	// The waiter sits in waitid for this child while the reaper is
	// released; the next exit wakes it.
	sleeper, err := Start(Attr{Path: "/bin/sleep", Argv: []string{"sleep", "30"}, Umask: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(sleeper.Pid, syscall.SIGKILL)
		var ws syscall.WaitStatus
		syscall.Wait4(sleeper.Pid, &ws, 0, nil)
	})
	time.Sleep(50 * time.Millisecond)
	Release()
	pid, err := syscall.ForkExec("/bin/true", []string{"true"}, &syscall.ProcAttr{})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // time for a waiter to steal it
	var ws syscall.WaitStatus
	got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
	if err != nil || got != pid || !ws.Exited() {
		t.Fatalf("the exit was not left for its waiter: wait4 = %d, %v", got, err)
	}
}
