// Package proc starts child processes and is the only waiter for them:
// when a child exits, a thread blocked in waitid names it and the reaper
// collects it by its pid (SIGCHLD, while that thread does not wait,
// drains wait4(-1) instead), and routes each exit to its process by PID.
// A program that uses proc must not call exec.Cmd.Wait while a reaper
// runs, or the two would steal each other's exit statuses.
package proc

import (
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
)

// reaper is process-wide because SIGCHLD and wait4(-1) are.
var reaper struct {
	mu    sync.Mutex // held across fork+register and each wait4, so no exit is looked up before its owner is known
	procs map[int]*Process
	// unclaimed keeps the statuses of unknown children until adoption is
	// over: after an in-place upgrade the children of the old image are
	// ours, and one may exit before it is adopted.
	unclaimed map[int]syscall.WaitStatus
	claiming  bool
	// failedForks counts children a spawner's failed exec left behind
	// (see Spawner.forkExec): their exits are expected, not orphans'.
	failedForks int
	users       int
	sigch       chan os.Signal
	stop        chan struct{}
	stopped     chan struct{}
	log         atomic.Pointer[slog.Logger]
	orphans     atomic.Int64
	kicks       atomic.Int64 // sweeps for SIGCHLD, or Acquire's first one
	walks       atomic.Int64 // waits for any child, each a walk of every child
	anyWaits    atomic.Int64 // the waiter's waitids for any child, each a walk too
}

// Acquire starts the reaper if it is not running and makes this process a
// child subreaper, so orphaned grandchildren are reparented to it and reaped.
// Every Acquire needs a Release. Until EndAdoption, exits of children
// nobody registered are kept for Adopt.
func Acquire(log *slog.Logger) error {
	reaper.mu.Lock()
	defer reaper.mu.Unlock()
	if log != nil {
		reaper.log.Store(log)
	}
	reaper.users++
	if reaper.users > 1 {
		return nil
	}
	if err := setSubreaper(); err != nil {
		reaper.users--
		return err
	}
	closeInheritedOnExec()
	keepSpares()
	if reaper.procs == nil {
		reaper.procs = map[int]*Process{}
	}
	reaper.unclaimed, reaper.claiming = map[int]syscall.WaitStatus{}, true
	reaper.sigch = make(chan os.Signal, 1)
	reaper.stop = make(chan struct{})
	reaper.stopped = make(chan struct{})
	// Notified for as long as the reaper runs: SIGCHLD sweeps whenever
	// the waiter is not waiting (see waiter), and the loop lets it go
	// otherwise.
	signal.Notify(reaper.sigch, syscall.SIGCHLD)
	go reapLoop(reaper.sigch, reaper.stop, reaper.stopped)
	openExitWatchLocked()
	startWaiterLocked()
	reaper.sigch <- syscall.SIGCHLD // collect exits that came before Notify
	return nil
}

// EndAdoption ends the window in which exits of unknown children wait for
// Adopt: from now on they are orphans.
func EndAdoption() {
	reaper.mu.Lock()
	defer reaper.mu.Unlock()
	for pid, ws := range reaper.unclaimed {
		reaper.orphans.Add(1)
		logger().Info("reaped orphan", "pid", pid, "status", Describe(ws))
	}
	reaper.unclaimed, reaper.claiming = nil, false
}

// Release stops the reaper when its last user releases it. A Release
// without an Acquire is a no-op.
func Release() {
	reaper.mu.Lock()
	if reaper.users == 0 {
		reaper.mu.Unlock()
		return
	}
	reaper.users--
	if reaper.users > 0 {
		reaper.mu.Unlock()
		return
	}
	kickWaiterLocked() // waiting in the exits' set, it parks
	signal.Stop(reaper.sigch)
	close(reaper.stop)
	stopped := reaper.stopped
	// Orphans go to init again: a subreaper that no longer reaps would
	// keep them zombies, and their exits from whoever holds a pidfd.
	setSubreaperFlag(0)
	reaper.mu.Unlock()
	<-stopped
}

// Orphans counts exits of processes proc did not start: grandchildren
// reparented to this subreaper.
func Orphans() int64 { return reaper.orphans.Load() }

func logger() *slog.Logger {
	if l := reaper.log.Load(); l != nil {
		return l
	}
	return slog.Default()
}

func setSubreaper() error { return setSubreaperFlag(1) }

func setSubreaperFlag(on uintptr) error {
	const prSetChildSubreaper = 36
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, on, 0); errno != 0 {
		return os.NewSyscallError("prctl(PR_SET_CHILD_SUBREAPER)", errno)
	}
	return nil
}

// closeInheritedOnExec marks every descriptor above stderr close-on-exec.
// Descriptors the daemon inherited without that flag (from a shell, a
// service manager, its own previous image) would otherwise leak into every
// child; Go's own files already carry it.
func closeInheritedOnExec() {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
}

func reapLoop(sigch <-chan os.Signal, stop <-chan struct{}, stopped chan<- struct{}) {
	defer close(stopped)
	for {
		select {
		case <-sigch:
			if waiter.active.Load() {
				if waiter.inSet.Load() {
					sweepSoon() // for exits the set does not name
				}
				continue // the waiter has it, or will
			}
			reaper.kicks.Add(1)
			reapAll()
		case <-stop:
			reapAll()
			return
		}
	}
}

// reapAll collects every exited child that is waiting, for SIGCHLD (the
// waiter is not waiting), or at the reaper's stop; a burst of exits is
// reaped all at once, then one yield lets their owners run on this P
// while it is warm.
func reapAll() {
	delivered := 0
	for {
		switch reap(false, -1) {
		case reapNone:
			if delivered > 0 {
				runtime.Gosched()
			}
			return
		case reapDelivered:
			delivered++
		}
	}
}

// reapSeen collects the child the waiter saw exit, by its pid, and yields
// to its owner (a restart, typically). Nothing else is looked for: a
// wait4(-1) walks the daemon's every child (with 10,000: 0.6 ms in the
// cache, 4 ms out of it) where a wait for one pid takes 1 us (Linux 6.18),
// and the waiter's next waitid finds the next exit of a burst as it
// would. Only while the reaper is acquired: after its last Release the
// exits are someone else's to collect, an upgraded image's.
func reapSeen(pid int) int {
	if pid <= 0 { // no pid in the siginfo: look for any
		for reap(true, -1) != reapNone {
		}
		return reapNone
	}
	got := reap(true, pid)
	if got == reapDelivered {
		runtime.Gosched()
	}
	return got
}

// What reap did.
const (
	reapNone      = iota // no exit was waiting
	reapDelivered        // an exit was handed to its process
	reapOther            // an exit was collected that no process owns
)

// reap collects an exit of child pid, or of any child (-1), if one is
// waiting, under the reaper's lock: no exit is looked up before its
// owner is known. For the waiter (acquired), only while the reaper is
// acquired.
func reap(acquired bool, pid int) int {
	var ws syscall.WaitStatus
	reaper.mu.Lock()
	if acquired && reaper.users == 0 {
		reaper.mu.Unlock()
		return reapNone
	}
	if pid < 0 {
		reaper.walks.Add(1)
	}
	got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
	for errors.Is(err, syscall.EINTR) {
		got, err = syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
	}
	if err != nil || got <= 0 {
		reaper.mu.Unlock()
		return reapNone
	}
	p := reaper.procs[got]
	delete(reaper.procs, got)
	if p != nil && p.child {
		unwatchExitLocked(p)
	}
	if p == nil && reaper.failedForks > 0 && ws.Exited() && ws.ExitStatus() == 253 {
		reaper.failedForks--
		reaper.mu.Unlock()
		return reapOther
	}
	if p == nil && reaper.claiming {
		reaper.unclaimed[got] = ws
		reaper.mu.Unlock()
		return reapOther
	}
	reaper.mu.Unlock()
	if p == nil {
		reaper.orphans.Add(1)
		logger().Info("reaped orphan", "pid", got, "status", Describe(ws))
		return reapOther
	}
	p.exited(ws, true)
	return reapDelivered
}

// Freeze stops reaping and spawning until thaw is called: a daemon about
// to execute its new image leaves every exit for that image to collect.
func Freeze() (thaw func()) {
	reaper.mu.Lock()
	return reaper.mu.Unlock
}
