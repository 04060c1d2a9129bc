package proc

import (
	"errors"
	"sync"

	"golang.org/x/sys/unix"
)

// A child's exit reaches the reaper two ways. SIGCHLD goes through the Go
// runtime's signal handler, its signal goroutine and a channel: three
// wakeups, 0.3 ms on an idle machine, which is as long as the kernel
// takes to end the child. The waiter is a thread blocked in
// waitid(WNOWAIT), which the kernel wakes directly; it reaps nothing
// itself, so every exit is still collected under the reaper's lock.
// SIGCHLD stays: it covers a waiter that is not running.
var waiter struct {
	once sync.Once
	cond *sync.Cond // on reaper.mu
	// idle: the last waitid found no child and none was forked since.
	idle  bool
	forks uint64 // children registered, to tell whether one came during a waitid
}

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
			waiter.cond.Wait()
		}
		forks := waiter.forks
		reaper.mu.Unlock()
		var info unix.Siginfo
		err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOWAIT, nil)
		switch {
		case err == nil:
			reapAll(true)
		case errors.Is(err, unix.EINTR):
		case errors.Is(err, unix.ECHILD):
			reaper.mu.Lock()
			waiter.idle = waiter.forks == forks
			reaper.mu.Unlock()
		default:
			// Refused (a seccomp filter, say): SIGCHLD alone wakes the
			// reaper from now on.
			logger().Warn("the reaper's waiter stops; exits are noticed by SIGCHLD alone", "err", err)
			return
		}
	}
}
