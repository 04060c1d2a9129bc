package proc

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func startTrue(t *testing.T) *Process {
	t.Helper()
	p, err := Start(Attr{Path: "/bin/true", Argv: []string{"true"}, Umask: -1})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// reaperSettled waits until no SIGCHLD waits for the reaper and its
// counts of sweeps and waits have not moved for 100 ms: what Acquire or an
// earlier child set off is done before a test counts.
func reaperSettled(t *testing.T) {
	t.Helper()
	counts := func() [3]int64 { return [3]int64{reaper.kicks.Load(), reaper.walks.Load(), reaper.anyWaits.Load()} }
	last, since := counts(), time.Now()
	for deadline := time.Now().Add(10 * time.Second); time.Since(since) < 100*time.Millisecond; time.Sleep(10 * time.Millisecond) {
		if now := counts(); now != last || len(reaper.sigch) > 0 {
			last, since = now, time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatal("the reaper did not settle")
		}
	}
}

// waitForAnyChild makes the waiter wait for any child until the test
// ends, as it does while a child has no pidfd in the exits' set.
func waitForAnyChild(t *testing.T) {
	reaper.mu.Lock()
	exits.unwatched++
	kickWaiterLocked()
	reaper.mu.Unlock()
	t.Cleanup(func() {
		reaper.mu.Lock()
		exits.unwatched--
		kickWaiterLocked()
		reaper.mu.Unlock()
	})
}

// Each exit is collected from the exits' set, by the pid its pidfd names:
// no wait for any child, no sweep (their SIGCHLDs' sweep is held off
// here), however many children there are.
func TestWaiter_CollectsFromTheSet(t *testing.T) {
	acquire(t)
	sleeper, err := Start(Attr{Path: "/bin/sleep", Argv: []string{"sleep", "30"}, Umask: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { syscall.Kill(sleeper.Pid, syscall.SIGKILL); <-sleeper.Done() }()
	if fd, err := unix.PidfdOpen(os.Getpid(), 0); errors.Is(err, unix.ENOSYS) {
		t.Skip("no pidfd_open in this kernel (Linux 5.3): the waiter waits for any child")
	} else if err == nil {
		unix.Close(fd)
	}
	reaper.mu.Lock()
	inSet := waitInSetLocked()
	reaper.mu.Unlock()
	if !inSet {
		t.Fatal("the waiter does not wait in the exits' set")
	}
	// Acquire's own sweeps, and the set's first, done; later ones held
	// off until the test ends.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		reaper.mu.Lock()
		due := exits.sweepDue || exits.sweeping
		if !due {
			exitSweepDelay = time.Hour
		}
		reaper.mu.Unlock()
		if !due {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a sweep stayed due")
		}
	}
	t.Cleanup(func() {
		reaper.mu.Lock()
		exitSweepDelay = 20 * time.Millisecond
		if exits.sweepTick != nil && exits.sweepTick.Stop() {
			exits.sweepDue = false
		}
		reaper.mu.Unlock()
	})
	reaperSettled(t) // Acquire's own sweep, done
	walks, anyWaits := reaper.walks.Load(), reaper.anyWaits.Load()
	for range 3 {
		select {
		case <-startTrue(t).Done():
		case <-time.After(10 * time.Second):
			t.Fatal("an exit was not collected")
		}
	}
	if n := reaper.anyWaits.Load() - anyWaits; n != 0 {
		t.Errorf("the waiter waited for any child %d times for 3 exits", n)
	}
	if n := reaper.walks.Load() - walks; n != 0 {
		t.Errorf("the reaper swept %d times for 3 exits", n)
	}
}

// An orphan reparented to the daemon has no pidfd in the set: its
// SIGCHLD sweeps for it.
func TestWaiter_SweepsForOrphans(t *testing.T) {
	acquire(t)
	EndAdoption() // an unknown child's exit is an orphan's from now on
	orphans := reaper.orphans.Load()
	p, err := Start(Attr{Path: "/bin/sh", Argv: []string{"sh", "-c", "sleep 0.2 & exit 0"}, Umask: -1, GroupGrace: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	<-p.Done()
	for deadline := time.Now().Add(10 * time.Second); reaper.orphans.Load() == orphans; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the orphan's exit was not collected")
		}
	}
}

// While the waiter waits for any child, it alone collects each exit:
// SIGCHLD does not make the reaper sweep beside it. It parks, not spins,
// once no child is left.
func TestWaiter_CollectsWithoutSIGCHLD(t *testing.T) {
	acquire(t)
	waitForAnyChild(t)
	// A child that runs throughout keeps the waiter waiting, as a
	// daemon's programs do.
	sleeper, err := Start(Attr{Path: "/bin/sleep", Argv: []string{"sleep", "30"}, Umask: -1})
	if err != nil {
		t.Fatal(err)
	}
	reaperSettled(t) // Acquire's own sweep, done
	kicks, walks := reaper.kicks.Load(), reaper.walks.Load()
	for range 3 {
		select {
		case <-startTrue(t).Done():
		case <-time.After(10 * time.Second):
			t.Fatal("an exit was not collected")
		}
	}
	time.Sleep(50 * time.Millisecond) // a SIGCHLD's sweep would have run by now
	if n := reaper.kicks.Load() - kicks; n != 0 {
		t.Errorf("SIGCHLD made the reaper sweep %d times beside the waiter", n)
	}
	// Each exit is collected by its pid: a wait for any child would walk
	// every child the daemon has, once more for each exit.
	if n := reaper.walks.Load() - walks; n != 0 {
		t.Errorf("the waiter waited for any child %d times for 3 exits", n)
	}
	syscall.Kill(sleeper.Pid, syscall.SIGKILL)
	<-sleeper.Done()
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
	// released (it cannot be woken there, as it can in the exits' set);
	// the next exit wakes it.
	waitForAnyChild(t)
	sleeper, err := Start(Attr{Path: "/bin/sleep", Argv: []string{"sleep", "30"}, Umask: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Reaped here, not by the reaper: it forgets it first.
		reaper.mu.Lock()
		if reaper.procs[sleeper.Pid] == sleeper {
			delete(reaper.procs, sleeper.Pid)
			unwatchExitLocked(sleeper)
		}
		reaper.mu.Unlock()
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
	// Once it has exited (seen without reaping it), time for a waiter to
	// steal it.
	var info unix.Siginfo
	if err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil); err != nil {
		t.Fatalf("the exit was not left for its waiter: waitid: %v", err)
	}
	time.Sleep(200 * time.Millisecond)
	var ws syscall.WaitStatus
	got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
	if err != nil || got != pid || !ws.Exited() {
		t.Fatalf("the exit was not left for its waiter: wait4 = %d, %v", got, err)
	}
}

// waiterRefusedProbe, set in a re-executed test binary, makes waitid fail
// there before the reaper starts.
const waiterRefusedProbe = "CTLSUP_TEST_WAITID_REFUSED"

// Where waitid is refused (a seccomp filter), the waiter stops and
// SIGCHLD takes over: exits are still collected.
func TestWaiter_RefusedFallsBackToSIGCHLD(t *testing.T) {
	if os.Getenv(waiterRefusedProbe) != "" {
		waitid = func(int, int, *unix.Siginfo, int, *unix.Rusage) error { return unix.EPERM }
		exitSetUsable = false
		if err := Acquire(nil); err != nil {
			os.Exit(2)
		}
		for range 3 {
			select {
			case <-startTrue(t).Done():
			case <-time.After(10 * time.Second):
				os.Stdout.WriteString("an exit was not collected\n")
				os.Exit(1)
			}
		}
		if waiter.active.Load() {
			os.Stdout.WriteString("the stopped waiter still counts as waiting\n")
			os.Exit(1)
		}
		os.Stdout.WriteString("ok\n")
		os.Exit(0)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestWaiter_RefusedFallsBackToSIGCHLD$")
	cmd.Env = append(os.Environ(), waiterRefusedProbe+"=1")
	out, err := cmd.Output()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("with waitid refused: %v %s", err, out)
	}
}
