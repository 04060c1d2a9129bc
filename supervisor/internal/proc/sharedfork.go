//go:build linux && (amd64 || arm64)

package proc

import (
	"slices"
	"syscall"

	"golang.org/x/sys/unix"
)

// The daemon forks a child without copying its descriptor table, and
// without a round trip to the helper: the child shares the table
// (CLONE_FILES) until its first system call, close_range(K, ~0,
// CLOSE_RANGE_UNSHARE), which gives it a private copy of the descriptors
// below K only (Linux 5.9). The descriptors it keeps are put below K
// beforehand, into a few slots the daemon reserves while its table is
// still small; between spawns each slot holds /dev/null. So a spawn
// costs the same with 10,000 programs as with one, and a restart saves
// the helper's two wakeups.
//
// Where this cannot be done the helper forks (see Spawner): a kernel
// that refuses the unshare (learnt from the first child, which then
// exits having touched nothing), no clone3 or a filter refusing it, a
// hard descriptor limit lowered below the one learnt, a spawn with more
// descriptors than slots, a daemon whose table was already large when it
// reserved them.
//
// Forks run one at a time, under the reaper's lock. Two at once (a set of
// slots each, under a read lock) overlapped 44% of a start of 5000 on 2
// CPUs and made it no shorter: the start is bound by CPU, which the
// children's execs and the daemon's own work per spawn fill.

// closeRangeUnshare is CLOSE_RANGE_UNSHARE from linux/close_range.h.
const closeRangeUnshare = 1 << 1

// unshareFlags is what the child passes to close_range; a test makes the
// kernel refuse it.
var unshareFlags uintptr = closeRangeUnshare

const (
	// sharedSlots bounds the descriptors a child can get this way:
	// stdin, stdout, stderr and a few held sockets.
	sharedSlots = 8
	// maxSharedTop: slots above this make the copy below them as costly
	// as what it avoids.
	maxSharedTop = 128
)

// sharedFork is the daemon's reserved slots. Its fields are guarded by
// reaper.mu, which every fork holds.
type sharedFork struct {
	slots []int // ascending, above stderr, close-on-exec
	null  int   // what a slot holds between spawns
	// nofile is the RLIMIT_NOFILE the daemon's children get: Go's own
	// fork restores the soft limit the process started with.
	nofile [2]uint64
	off    bool // refused once for good: see turnOff
	forks  int
}

// newSharedFork reserves the slots, or returns nil where the table is
// already too large or the children's soft descriptor limit is unknown.
// reaper.mu is held.
func newSharedFork(soft uint64) *sharedFork {
	var lim syscall.Rlimit
	if soft == 0 || syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) != nil {
		return nil
	}
	null, err := unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	f := &sharedFork{null: null, nofile: [2]uint64{soft, lim.Max}}
	for range sharedSlots {
		fd, err := unix.FcntlInt(uintptr(null), unix.F_DUPFD_CLOEXEC, 3)
		if err != nil || fd > maxSharedTop {
			if err == nil {
				unix.Close(fd)
			}
			f.close()
			return nil
		}
		f.slots = append(f.slots, fd)
	}
	// The lowest free numbers, in order: each slot is above the child's
	// descriptor it becomes, so filling one never overwrites another.
	slices.Sort(f.slots)
	return f
}

func (f *sharedFork) close() {
	closeAll(f.slots)
	unix.Close(f.null)
	f.slots = nil
}

// forkLocked forks and execs as syscall.ForkExec would, doing what x
// asks in the child itself (no shim), and reports
// whether it could: if not, nothing happened and another fork must.
// reaper.mu is held.
func (f *sharedFork) forkLocked(path string, argv []string, attr *syscall.ProcAttr, x inChild) (pid int, err error, done bool) {
	if f.off || len(attr.Files) > len(f.slots) {
		return 0, nil, false
	}
	sys := attr.Sys
	plan, err := newChildPlan(path, argv, attr.Env, attr.Dir, sys.Setsid, sys.Setpgid, sys.Credential, x)
	if err != nil {
		return 0, err, true
	}
	plan.fds = f.slots[:len(attr.Files)]
	plan.unshareFrom = uintptr(f.slots[len(f.slots)-1] + 1)
	plan.nofile = &f.nofile
	args := cloneArgs{flags: unix.CLONE_VM | unix.CLONE_VFORK | unix.CLONE_FILES, exitSignal: uint64(syscall.SIGCHLD)}
	if sys.UseCgroupFD {
		args.flags |= unix.CLONE_INTO_CGROUP
		args.cgroup = uint64(sys.CgroupFD)
	}
	// As Go's own fork does: no other fork copies the slots meanwhile.
	syscall.ForkLock.Lock()
	placed := 0
	for i, fd := range attr.Files {
		if err = unix.Dup3(int(fd), f.slots[i], unix.O_CLOEXEC); err != nil {
			break
		}
		placed++
	}
	var errno syscall.Errno
	if err == nil {
		pid, errno = rawFork(plan, &args)
	}
	// Back to /dev/null: a pipe's end left in a slot would keep the
	// pipe open after the child is gone.
	for _, slot := range f.slots[:placed] {
		unix.Dup3(f.null, slot, unix.O_CLOEXEC)
	}
	syscall.ForkLock.Unlock()
	switch {
	case err != nil:
		return 0, err, true
	case errno == syscall.ENOSYS || errno == syscall.EPERM:
		// No clone3, or a seccomp filter refusing it (as older
		// container runtimes' do): Go's fork and the helper's use clone.
		f.turnOff("clone3", errno)
		return 0, nil, false
	case errno != 0:
		return 0, nil, false // flags this kernel refuses, or a fork's own failure: another fork says why
	case plan.failed != 0:
		// The child exits with 253, having execed nothing; collected
		// here, under the reaper's lock, before its cgroup is removed.
		waitFailedChild(pid)
		errno = syscall.Errno(uint32(plan.failed))
		switch plan.failed >> 32 {
		case stepUnshare:
			if errno == syscall.EINVAL || errno == syscall.ENOSYS || errno == syscall.EPERM {
				f.turnOff("close_range(CLOSE_RANGE_UNSHARE)", errno)
			}
			return 0, nil, false // nothing else was done: another fork tries
		case stepLimit:
			// The hard limit was lowered since it was learnt.
			f.turnOff("the descriptor limit", errno)
			return 0, nil, false
		}
		return 0, childError(errno, plan.failed>>32), true
	}
	f.forks++
	return pid, nil, true
}

// turnOff leaves every later fork to the helper (or Go's fork).
func (f *sharedFork) turnOff(what string, errno syscall.Errno) {
	f.off = true
	logger().Info("the daemon no longer forks with a shared descriptor table: the helper forks its children", "refused", what, "err", errno)
}
