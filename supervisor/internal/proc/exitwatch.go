package proc

import (
	"errors"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A waitid for any child walks the daemon's every child to find the one
// that exited: 180 us per exit with 1000 programs (a third of a restart's
// own work), milliseconds with 10,000. So the reaper keeps a pidfd on
// each child in an epoll set, and the waiter waits there while every
// child has one: the exit names its pidfd, and its pid is reaped by a
// wait that looks at that child alone.
//
// A child without one (the descriptors ran short, a process adopted
// across an in-place upgrade before the set existed) makes the waiter
// wait for any child again, until it is gone. Children no one forked
// through proc (orphans reparented to this subreaper, a test's own
// commands) have no pidfd: while the waiter waits in the set, SIGCHLD
// sweeps for them, once per burst, exitSweepDelay after it, behind the
// restarts the exits start.
var exits struct {
	// Guarded by reaper.mu. epfd and kick are made once, on the first
	// Acquire, and kept for the life of the process, as the waiter is.
	made       bool
	epfd, kick int // -1: the kernel refused; the waiter waits for any child
	// unwatched counts registered children without a pidfd in the set.
	unwatched int
	// maxFD: a pidfd numbered above this is not kept, leaving the
	// descriptors above half the soft limit to pipes and sockets.
	maxFD     int
	sweepDue  bool        // a SIGCHLD sweep is scheduled
	sweeping  bool        // one is under way
	sweepTick *time.Timer // its timer
}

// exitSetUsable: a test does without the set.
var exitSetUsable = true

// exitSweepDelay: a test makes it longer.
var exitSweepDelay = 20 * time.Millisecond

// kickKey marks the eventfd in the set: no pid is 0.
const kickKey = 0

// openExitWatchLocked makes the epoll set once. reaper.mu is held.
func openExitWatchLocked() {
	if exits.made {
		return // made, or refused, before
	}
	exits.made, exits.epfd, exits.kick = true, -1, -1
	if !exitSetUsable {
		return
	}
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) != nil || lim.Cur < 64 {
		return
	}
	exits.maxFD = int(min(lim.Cur/2, 1<<30))
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return
	}
	kick, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(ep)
		return
	}
	if unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, kick, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: kickKey}) != nil {
		unix.Close(ep)
		unix.Close(kick)
		return
	}
	exits.epfd, exits.kick = ep, kick
}

// watchExitLocked puts a pidfd on a child just registered into the set.
// reaper.mu is held.
func watchExitLocked(p *Process) {
	p.exitFD = -1
	if !exits.made || exits.epfd < 0 {
		exits.unwatched++
		return
	}
	fd, err := unix.PidfdOpen(p.Pid, 0)
	if err == nil && fd > exits.maxFD {
		unix.Close(fd)
		err = unix.EMFILE
	}
	if err == nil {
		// The pid is the key: it is the child's until the reaper has
		// reaped it, which takes it out of the set first.
		if err = unix.EpollCtl(exits.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(p.Pid)}); err != nil {
			unix.Close(fd)
		}
	}
	if err != nil {
		exits.unwatched++
		if exits.unwatched == 1 {
			kickWaiterLocked() // waiting in the set, it would miss this one's exit
		}
		return
	}
	p.exitFD = int32(fd)
}

// unwatchExitLocked takes a child being reaped out of the set. reaper.mu
// is held.
func unwatchExitLocked(p *Process) {
	if p.exitFD < 0 {
		if exits.unwatched > 0 {
			exits.unwatched--
		}
		return
	}
	closeExitFDLocked(p)
}

// closeExitFDLocked takes p's pidfd out of the set and closes it: out
// first, as a copy the holder keeps of the same pidfd would keep it in
// the set. reaper.mu is held.
func closeExitFDLocked(p *Process) {
	unix.EpollCtl(exits.epfd, unix.EPOLL_CTL_DEL, int(p.exitFD), nil)
	unix.Close(int(p.exitFD))
	p.exitFD = -1
}

// kickWaiterLocked wakes a waiter waiting in the set, to look again at
// how it should wait. reaper.mu is held.
func kickWaiterLocked() {
	if exits.kick >= 0 {
		var one = [8]byte{1}
		unix.Write(exits.kick, one[:])
	}
}

// waitInSet reports whether the waiter waits in the set. reaper.mu is
// held.
func waitInSetLocked() bool { return exits.epfd >= 0 && exits.unwatched == 0 }

// waitExits waits in the set until a child has exited or the waiter is
// kicked, and collects each exit it names.
func waitExits() error {
	var evs [64]unix.EpollEvent
	n, err := unix.EpollWait(exits.epfd, evs[:], -1)
	if err != nil {
		if errors.Is(err, unix.EINTR) {
			return nil
		}
		return err
	}
	for _, ev := range evs[:n] {
		if ev.Fd == kickKey {
			var buf [8]byte
			unix.Read(exits.kick, buf[:])
			continue
		}
		if reapSeen(int(ev.Fd)) == reapNone {
			dropIfStuck(int(ev.Fd))
		}
	}
	return nil
}

// dropIfStuck takes a pidfd the set says has exited, but whose child
// could not be reaped, out of the set, so it cannot wake the waiter
// forever; the waiter then waits for any child while that one is
// registered. An event of a child reaped meanwhile (by a sweep) is stale:
// its pidfd is already out.
func dropIfStuck(pid int) {
	if reap(true, pid) != reapNone {
		return // a new child under the pid, ended since
	}
	reaper.mu.Lock()
	defer reaper.mu.Unlock()
	p := reaper.procs[pid]
	if p == nil || p.exitFD < 0 || reaper.users == 0 {
		return
	}
	// A stale event (its child reaped by a sweep, the pid another's
	// since) is told apart by the pidfd, which the new child's is.
	if n, _ := unix.Poll([]unix.PollFd{{Fd: p.exitFD, Events: unix.POLLIN}}, 0); n <= 0 {
		return
	}
	closeExitFDLocked(p)
	exits.unwatched++
	logger().Warn("a child's pidfd reports an exit the reaper cannot collect: waiting for any child", "pid", pid)
}

// sweepSoon schedules one sweep for the SIGCHLDs of exits the set does
// not name, behind the restarts of those it does.
func sweepSoon() {
	reaper.mu.Lock()
	defer reaper.mu.Unlock()
	if exits.sweepDue || reaper.users == 0 {
		return
	}
	exits.sweepDue = true
	if exits.sweepTick == nil {
		exits.sweepTick = time.AfterFunc(exitSweepDelay, sweepNow)
	} else {
		exits.sweepTick.Reset(exitSweepDelay)
	}
}

// sweepNow collects every exit that is waiting. The walk of every child
// is made without the reaper's lock, which forks need (4 ms with 10,000
// children out of the cache): a waitid that leaves the exit, then a
// wait for the pid it names.
func sweepNow() {
	reaper.mu.Lock()
	exits.sweepDue = false
	users := reaper.users
	exits.sweeping = users > 0
	reaper.mu.Unlock()
	if users == 0 {
		return // released: the exits are the next image's
	}
	defer func() {
		reaper.mu.Lock()
		exits.sweeping = false
		reaper.mu.Unlock()
	}()
	reaper.kicks.Add(1)
	last := 0
	for {
		var info unix.Siginfo
		reaper.walks.Add(1)
		err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		pid := siginfoPid(&info)
		if err != nil || pid <= 0 {
			return // none left
		}
		if reap(true, pid) == reapNone {
			// Released, or the exit was collected by another meanwhile
			// (the waiter, by its pidfd): the rest are still due.
			reaper.mu.Lock()
			released := reaper.users == 0
			reaper.mu.Unlock()
			if released || pid == last {
				return
			}
		}
		last = pid
	}
}
