package proc

import (
	"errors"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// A child's exit reaches the reaper through the waiter, a thread blocked
// in the exits' set of pidfds (exitwatch.go) or, while a child has none,
// in waitid(WNOWAIT), which the kernel wakes directly; it reaps nothing
// itself, so every exit is still collected under the reaper's lock.
// SIGCHLD goes through the Go runtime's signal handler, its signal
// goroutine and a channel: three wakeups, 0.3 ms on an idle machine,
// which is as long as the kernel takes to end the child. While the
// waiter waits for any child, the reaper's loop lets SIGCHLD go (in the
// set, it schedules a sweep for orphans): taking the reaper's
// lock to scan every child (22 us with 1000) for an exit the waiter had
// collected delayed the restart that exit started. SIGCHLD sweeps while
// the waiter does not wait: parked with no child (a child the daemon did
// not fork through proc, as tests do, then still gets collected), or
// stopped by an error.
var waiter struct {
	once sync.Once
	cond *sync.Cond // on reaper.mu
	// idle: the last waitid found no child and none was forked since.
	idle  bool
	forks uint64 // children registered, to tell whether one came during a waitid
	// active: the waiter is in, or about to enter, waitid for the reaper.
	active atomic.Bool
	// inSet: it waits in the exits' set (exitwatch.go), not in waitid:
	// SIGCHLD then sweeps for the exits the set does not name.
	inSet atomic.Bool
}

// waitid is unix.Waitid; a test makes it fail.
var waitid = unix.Waitid

// startWaiterLocked starts the waiter once per process: a thread blocked in
// waitid cannot be told to stop, so it parks while the reaper is released
// instead. reaper.mu is held.
func startWaiterLocked() {
	waiter.once.Do(func() {
		waiter.cond = sync.NewCond(&reaper.mu)
		go waitLoop()
	})
	waiter.idle = false
	waiter.cond.Signal()
}

// forkedLocked wakes a waiter that found no child. reaper.mu is held.
func forkedLocked() {
	waiter.forks++
	if waiter.cond != nil && waiter.idle {
		waiter.idle = false
		waiter.cond.Signal()
	}
}

func waitLoop() {
	for {
		reaper.mu.Lock()
		for reaper.users == 0 || waiter.idle {
			waiter.active.Store(false)
			waiter.cond.Wait()
		}
		waiter.active.Store(true)
		forks := waiter.forks
		inSet := waitInSetLocked()
		// A SIGCHLD let go while it waited for any child may have been
		// an orphan's that the last waitid did not see.
		sweep := inSet && !waiter.inSet.Load()
		waiter.inSet.Store(inSet)
		reaper.mu.Unlock()
		if sweep {
			sweepSoon()
		}
		if inSet {
			if err := waitExits(); err != nil {
				logger().Warn("the reaper's waiter waits for any child from now on", "err", err)
				reaper.mu.Lock()
				exits.epfd = -1 // its pidfds stay open, in a set nobody waits in
				reaper.mu.Unlock()
			}
			continue
		}
		var info unix.Siginfo
		reaper.anyWaits.Add(1)
		err := waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOWAIT, nil)
		switch {
		case err == nil:
			reapSeen(siginfoPid(&info))
		case errors.Is(err, unix.EINTR):
		case errors.Is(err, unix.ECHILD):
			reaper.mu.Lock()
			waiter.idle = waiter.forks == forks
			if waiter.idle {
				// A child forked outside proc since, and gone before
				// this, had its SIGCHLD let go: sweep once.
				waiter.active.Store(false)
				select {
				case reaper.sigch <- syscall.SIGCHLD:
				default:
				}
			}
			reaper.mu.Unlock()
		default:
			// Refused (a seccomp filter, say): SIGCHLD wakes the
			// reaper from now on, and once now for what exited meanwhile.
			logger().Warn("the reaper's waiter stops; exits are noticed by SIGCHLD", "err", err)
			reaper.mu.Lock()
			waiter.active.Store(false)
			if reaper.users > 0 {
				select {
				case reaper.sigch <- syscall.SIGCHLD:
				default:
				}
			}
			reaper.mu.Unlock()
			return
		}
	}
}
