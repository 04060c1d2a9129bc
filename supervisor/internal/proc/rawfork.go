//go:build linux && (amd64 || arm64)

package proc

import (
	"runtime"
	"strings"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The helper forks a child bound for a cgroup itself: clone3 with
// CLONE_PARENT (the child is the daemon's) and CLONE_INTO_CGROUP (it
// starts in its cgroup). Go's ForkExec cannot: its clone3 always asks
// for an exit signal, which the kernel refuses with CLONE_PARENT (the
// child takes the helper's, SIGCHLD). So the helper forks as posix_spawn
// does: a vfork that shares its memory and stack until the exec, in which
// only raw system calls run, all of them prepared before the fork.
//
// Go's ForkExec also gives each child the soft RLIMIT_NOFILE the process
// started with (see nofile.go): the helper runs with that limit, which
// a raw fork passes on. A helper that was not told it (soft = hard - 1,
// as Go left it) does not fork raw.

type cloneArgs struct {
	flags, pidfd, childTID, parentTID, exitSignal, stack, stackSize, tls, setTID, setTIDSize, cgroup uint64
}

// kernelSigaction is the kernel's struct sigaction on amd64 and arm64.
type kernelSigaction struct {
	handler, flags, restorer uintptr
	mask                     uint64
}

// childPlan is everything the child does between its fork and its exec.
type childPlan struct {
	path, dir  *byte
	argv, envv []*byte
	setsid     bool
	setpgid    bool
	cred       bool
	setgroups  bool
	uid, gid   uintptr
	groups     []uint32
	fds        []int // become 0, 1, 2, ...; each above len(fds)
	reset      []int // signals the forker catches: default in the child
	dfl        kernelSigaction
	mask       uint64 // the thread's signal mask before the fork
	// unshareFrom, if not 0: the child shares its forker's descriptor
	// table and first takes a private copy of the descriptors below it.
	unshareFrom uintptr
	// nofile, if set: the child's RLIMIT_NOFILE (soft, hard).
	nofile *[2]uint64
	umask  int // set in the child unless -1
	// listenPID, if set, is where the child writes its pid in decimal
	// and a NUL: the value of the environment's last variable,
	// "LISTEN_PID=", which has room for any pid.
	listenPID *byte
	// failed is written by a child that fails before its exec: the
	// errno, with the step that failed above bit 32. The forker's thread
	// reads it once the vfork has returned, that is once the child
	// exec'd (and left it 0) or exited.
	failed uint64
}

// rawForkUsable reports whether a raw fork gives the child the limits a
// Go fork would: the helper was told them, or Go did not raise its own.
func rawForkUsable() bool {
	if nofileTold {
		return true
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return false
	}
	return lim.Max == 0 || lim.Cur != lim.Max-1
}

// caughtSignals lists the signals the forker has handlers for, read at
// its first fork: Go's runtime installs them at start, and the helper and
// ctlsupd call signal.Notify before their first spawn. (A handler
// installed later would not be reset in a child before its exec.)
var caughtSignals = sync.OnceValue(func() []int {
	var sigs []int
	for sig := 1; sig <= 64; sig++ {
		if sig == int(syscall.SIGKILL) || sig == int(syscall.SIGSTOP) {
			continue
		}
		var old kernelSigaction
		_, _, e := syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig), 0, uintptr(unsafe.Pointer(&old)), 8, 0, 0)
		if e == 0 && old.handler > 1 { // neither SIG_DFL (0) nor SIG_IGN (1)
			sigs = append(sigs, sig)
		}
	}
	return sigs
})

// rawCgroupSpawn forks and execs req's child into the cgroup cgfd, with
// fds as its descriptors 0, 1, 2, ...
func rawCgroupSpawn(req *spawnRequest, fds []int, cgfd int) spawnReply {
	// The daemon sent the shim's path where the child needs one.
	plan, err := newChildPlan(req.Path, req.Argv, req.Env, req.Dir, req.Setsid, req.Setpgid, req.Cred, inChild{umask: -1})
	if err != nil {
		return spawnReply{Err: err.Error()}
	}
	// Each source above the slots the child fills, so that no dup3 into
	// slot i overwrites a source still to be copied.
	for _, fd := range fds {
		up, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, len(fds))
		if err != nil {
			closeAll(plan.fds)
			return spawnReply{Errno: int(err.(syscall.Errno))}
		}
		plan.fds = append(plan.fds, up)
	}
	defer closeAll(plan.fds)
	args := cloneArgs{flags: unix.CLONE_VM | unix.CLONE_VFORK | unix.CLONE_PARENT | unix.CLONE_INTO_CGROUP, cgroup: uint64(cgfd)}
	pid, errno := rawFork(plan, &args)
	if errno != 0 {
		return spawnReply{Errno: int(errno)}
	}
	if plan.failed != 0 {
		// The child is exiting, still in its cgroup: the daemon, its
		// parent, waits for it before it removes the cgroup.
		return spawnReply{Pid: pid, Errno: int(uint32(plan.failed)), Step: uint8(plan.failed >> 32), Forked: true}
	}
	return spawnReply{Pid: pid}
}

// cStrings is a NULL-terminated array of NUL-terminated copies of ss,
// all in one buffer: two allocations for an environment, where
// syscall.SlicePtrFromStrings makes one per variable.
func cStrings(ss []string) ([]*byte, error) {
	n := 0
	for _, s := range ss {
		if strings.IndexByte(s, 0) >= 0 {
			return nil, syscall.EINVAL
		}
		n += len(s) + 1
	}
	buf := make([]byte, n)
	ptrs := make([]*byte, len(ss)+1)
	at := 0
	for i, s := range ss {
		ptrs[i] = &buf[at]
		at += copy(buf[at:], s) + 1
	}
	return ptrs, nil
}

// listenPIDVar is LISTEN_PID with room for its value and the NUL the child
// ends it with: a pid_t has at most 10 digits (pid_max, at most 2^22 today,
// needs 7).
const listenPIDVar = "LISTEN_PID=0000000000"

// newChildPlan prepares what the child needs, all of it allocated before
// the fork; the caller fills in the descriptors.
func newChildPlan(path string, argv, env []string, dir string, setsid, setpgid bool, cred *syscall.Credential, x inChild) (*childPlan, error) {
	c := &childPlan{setsid: setsid, setpgid: setpgid && !setsid, umask: x.umask}
	var err error
	if c.path, err = syscall.BytePtrFromString(path); err != nil {
		return nil, err
	}
	if dir != "" {
		if c.dir, err = syscall.BytePtrFromString(dir); err != nil {
			return nil, err
		}
	}
	if c.argv, err = cStrings(argv); err != nil {
		return nil, err
	}
	if x.listenPID {
		env = append(env[:len(env):len(env)], listenPIDVar)
	}
	if c.envv, err = cStrings(env); err != nil {
		return nil, err
	}
	if x.listenPID {
		c.listenPID = (*byte)(unsafe.Add(unsafe.Pointer(c.envv[len(env)-1]), len("LISTEN_PID=")))
	}
	if cred != nil {
		c.cred, c.uid, c.gid = true, uintptr(cred.Uid), uintptr(cred.Gid)
		c.setgroups, c.groups = !cred.NoSetGroups, cred.Groups
	}
	c.reset = caughtSignals()
	return c, nil
}

// rawFork clones the child as args say and runs the plan in it; the
// calling thread is suspended until the child's exec or exit. Signals
// are blocked around the fork, as Go's own fork does: no handler of the
// forker's may run in the child, which shares its memory.
//
// The thread waits as in any system call: the runtime may give its P to
// another thread meanwhile (as for a blocking read), so a daemon with one
// P prepares its next spawn, or collects its garbage, while this child
// gets to its exec; it does not if nothing else is runnable, and then
// exitsyscall takes the P straight back. Between entersyscall and
// exitsyscall only nosplit code runs (the fork's assembly, the child's
// runChild), so this frame, checked on entry, is the last that is.
//
// Neither the child nor that window may run instrumentation: this package
// cannot be tested with -race and -cover together, whose atomic coverage
// counters call into the race runtime (as Go's own fork, in the standard
// library, is never built with coverage).
//
//go:noinline
//go:norace
//go:nocheckptr
func rawFork(c *childPlan, args *cloneArgs) (int, syscall.Errno) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	all := ^uint64(0)
	syscall.RawSyscall6(syscall.SYS_RT_SIGPROCMASK, 2 /* SIG_SETMASK */, uintptr(unsafe.Pointer(&all)), uintptr(unsafe.Pointer(&c.mask)), 8, 0, 0)
	entersyscall()
	pid, e := rawVfork(unix.SYS_CLONE3, uintptr(unsafe.Pointer(args)), unsafe.Sizeof(*args), 0)
	if e == 0 && pid == 0 {
		runChild(c) // does not return
	}
	exitsyscall()
	syscall.RawSyscall6(syscall.SYS_RT_SIGPROCMASK, 2, uintptr(unsafe.Pointer(&c.mask)), 0, 8, 0, 0)
	return int(pid), e
}

// The runtime's system call bookkeeping, as syscall.Syscall uses it (the
// runtime exports both for packages that make their own system calls).
//
//go:linkname entersyscall runtime.entersyscall
func entersyscall()

//go:linkname exitsyscall runtime.exitsyscall
func exitsyscall()

func rawVfork(trap, a1, a2, a3 uintptr) (r1 uintptr, err syscall.Errno)

// runChild runs in the child, on the helper's stack and in its memory:
// raw system calls only, no allocation, no stack growth (nosplit), no
// lock, no write to anything the helper reads after the fork. No index
// is checked either: a bounds check's panic call would not fit in the
// nosplit stack of a build without optimisation (-N -l, as debuggers
// build), and the plan's slices are never empty where they are read.
//
//go:nosplit
//go:noinline
//go:norace
//go:nocheckptr
func runChild(c *childPlan) {
	var e syscall.Errno
	step := uint64(stepSetup)
	if c.unshareFrom != 0 {
		// First, while the table is still the forker's: nothing of it is
		// touched until the child has its own.
		if _, _, e = syscall.RawSyscall6(unix.SYS_CLOSE_RANGE, c.unshareFrom, ^uintptr(0)>>32, unshareFlags, 0, 0, 0); e != 0 {
			step = stepUnshare
			goto fail
		}
	}
	if c.nofile != nil {
		if _, _, e = syscall.RawSyscall6(unix.SYS_PRLIMIT64, 0, unix.RLIMIT_NOFILE, uintptr(unsafe.Pointer(c.nofile)), 0, 0, 0); e != 0 {
			step = stepLimit
			goto fail
		}
	}
	for _, sig := range c.reset {
		syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&c.dfl)), 0, 8, 0, 0)
	}
	syscall.RawSyscall6(syscall.SYS_RT_SIGPROCMASK, 2, uintptr(unsafe.Pointer(&c.mask)), 0, 8, 0, 0)
	if c.setsid {
		if _, _, e = syscall.RawSyscall6(syscall.SYS_SETSID, 0, 0, 0, 0, 0, 0); e != 0 {
			goto fail
		}
	}
	if c.setpgid {
		if _, _, e = syscall.RawSyscall6(syscall.SYS_SETPGID, 0, 0, 0, 0, 0, 0); e != 0 {
			goto fail
		}
	}
	if c.cred {
		step = stepCred
		if c.setgroups {
			groups := uintptr(unsafe.Pointer(unsafe.SliceData(c.groups)))
			if _, _, e = syscall.RawSyscall6(syscall.SYS_SETGROUPS, uintptr(len(c.groups)), groups, 0, 0, 0, 0); e != 0 {
				goto fail
			}
		}
		if _, _, e = syscall.RawSyscall6(syscall.SYS_SETGID, c.gid, 0, 0, 0, 0, 0); e != 0 {
			goto fail
		}
		if _, _, e = syscall.RawSyscall6(syscall.SYS_SETUID, c.uid, 0, 0, 0, 0, 0); e != 0 {
			goto fail
		}
	}
	if c.dir != nil {
		step = stepChdir
		if _, _, e = syscall.RawSyscall6(syscall.SYS_CHDIR, uintptr(unsafe.Pointer(c.dir)), 0, 0, 0, 0, 0); e != 0 {
			goto fail
		}
	}
	step = stepSetup
	for i, fd := range c.fds {
		if _, _, e = syscall.RawSyscall6(syscall.SYS_DUP3, uintptr(fd), uintptr(i), 0, 0, 0, 0); e != 0 {
			goto fail
		}
	}
	for i := len(c.fds); i < 3; i++ { // the forker's own, as Go's fork does
		syscall.RawSyscall6(syscall.SYS_CLOSE, uintptr(i), 0, 0, 0, 0, 0)
	}
	if c.umask >= 0 {
		syscall.RawSyscall6(syscall.SYS_UMASK, uintptr(c.umask), 0, 0, 0, 0, 0)
	}
	if c.listenPID != nil {
		// Written into the plan's buffer, which the forker no longer
		// reads: its last use was the clone.
		pid, _, _ := syscall.RawSyscall6(syscall.SYS_GETPID, 0, 0, 0, 0, 0, 0)
		digits := uintptr(1)
		for v := pid; v >= 10; v /= 10 {
			digits++
		}
		at := unsafe.Pointer(c.listenPID)
		*(*byte)(unsafe.Add(at, digits)) = 0
		for v := pid; digits > 0; v /= 10 {
			digits--
			*(*byte)(unsafe.Add(at, digits)) = byte('0' + v%10)
		}
	}
	step = stepExec
	_, _, e = syscall.RawSyscall6(syscall.SYS_EXECVE, uintptr(unsafe.Pointer(c.path)),
		uintptr(unsafe.Pointer(unsafe.SliceData(c.argv))), uintptr(unsafe.Pointer(unsafe.SliceData(c.envv))), 0, 0, 0)
fail:
	c.failed = uint64(e) | step<<32
	for {
		syscall.RawSyscall6(syscall.SYS_EXIT_GROUP, 253, 0, 0, 0, 0, 0)
	}
}
