//go:build linux && (amd64 || arm64)

package proc

import (
	"runtime"
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
	uid, gid   uintptr
	groups     []uint32
	fds        []int // become 0, 1, 2, ...; each above len(fds)
	reset      []int // signals the helper catches: default in the child
	dfl        kernelSigaction
	mask       uint64 // the thread's signal mask before the fork
	errw       int    // the exec error pipe's write end
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

// caughtSignals lists the signals the helper has handlers for: those it
// installed when it started, which do not change.
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
	plan, err := newChildPlan(req, fds)
	if err != nil {
		return spawnReply{Err: err.Error()}
	}
	defer func() {
		for _, fd := range plan.fds {
			unix.Close(fd)
		}
	}()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return spawnReply{Errno: int(err.(syscall.Errno))}
	}
	plan.errw = p[1]
	pid, errno := rawFork(plan, cgfd)
	unix.Close(p[1])
	defer unix.Close(p[0])
	if errno != 0 {
		return spawnReply{Errno: int(errno)}
	}
	// The pipe closes at the exec; before it the child reports a failure.
	var b [8]byte
	n := 0
	for n < len(b) {
		m, err := unix.Read(p[0], b[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil || m == 0 {
			break
		}
		n += m
	}
	if n == 0 {
		return spawnReply{Pid: pid}
	}
	// The child is exiting, still in its cgroup: the daemon, its parent,
	// waits for it before it removes the cgroup.
	return spawnReply{Pid: pid, Errno: int(*(*uint64)(unsafe.Pointer(&b))), Forked: true}
}

func newChildPlan(req *spawnRequest, fds []int) (*childPlan, error) {
	c := &childPlan{setsid: req.Setsid, setpgid: req.Setpgid && !req.Setsid}
	var err error
	if c.path, err = syscall.BytePtrFromString(req.Path); err != nil {
		return nil, err
	}
	if req.Dir != "" {
		if c.dir, err = syscall.BytePtrFromString(req.Dir); err != nil {
			return nil, err
		}
	}
	if c.argv, err = syscall.SlicePtrFromStrings(req.Argv); err != nil {
		return nil, err
	}
	if c.envv, err = syscall.SlicePtrFromStrings(req.Env); err != nil {
		return nil, err
	}
	if req.Cred != nil {
		c.cred, c.uid, c.gid = true, uintptr(req.Cred.Uid), uintptr(req.Cred.Gid)
		c.groups = req.Cred.Groups
	}
	// Each source above the slots the child fills, so that no dup3 into
	// slot i overwrites a source still to be copied.
	for _, fd := range fds {
		up, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, len(fds))
		if err != nil {
			for _, f := range c.fds {
				unix.Close(f)
			}
			return nil, err
		}
		c.fds = append(c.fds, up)
	}
	c.reset = caughtSignals()
	return c, nil
}

// rawFork clones the child and runs the plan in it; the helper's thread
// is suspended until the child's exec or exit. Signals are blocked around
// the fork, as Go's own fork does: no handler of the helper's may run in
// the child, which shares its memory.
//
//go:noinline
//go:norace
//go:nocheckptr
func rawFork(c *childPlan, cgfd int) (int, syscall.Errno) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	all := ^uint64(0)
	syscall.RawSyscall6(syscall.SYS_RT_SIGPROCMASK, 2 /* SIG_SETMASK */, uintptr(unsafe.Pointer(&all)), uintptr(unsafe.Pointer(&c.mask)), 8, 0, 0)
	args := cloneArgs{flags: unix.CLONE_VM | unix.CLONE_VFORK | unix.CLONE_PARENT | unix.CLONE_INTO_CGROUP, cgroup: uint64(cgfd)}
	pid, e := rawVfork(unix.SYS_CLONE3, uintptr(unsafe.Pointer(&args)), unsafe.Sizeof(args), 0)
	if e == 0 && pid == 0 {
		runChild(c) // does not return
	}
	syscall.RawSyscall6(syscall.SYS_RT_SIGPROCMASK, 2, uintptr(unsafe.Pointer(&c.mask)), 0, 8, 0, 0)
	return int(pid), e
}

func rawVfork(trap, a1, a2, a3 uintptr) (r1 uintptr, err syscall.Errno)

// runChild runs in the child, on the helper's stack and in its memory:
// raw system calls only, no allocation, no stack growth (nosplit), no
// lock, no write to anything the helper reads after the fork.
//
//go:nosplit
//go:noinline
//go:norace
//go:nocheckptr
func runChild(c *childPlan) {
	var e syscall.Errno
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
		var groups uintptr
		if len(c.groups) > 0 {
			groups = uintptr(unsafe.Pointer(&c.groups[0]))
		}
		if _, _, e = syscall.RawSyscall6(syscall.SYS_SETGROUPS, uintptr(len(c.groups)), groups, 0, 0, 0, 0); e != 0 {
			goto fail
		}
		if _, _, e = syscall.RawSyscall6(syscall.SYS_SETGID, c.gid, 0, 0, 0, 0, 0); e != 0 {
			goto fail
		}
		if _, _, e = syscall.RawSyscall6(syscall.SYS_SETUID, c.uid, 0, 0, 0, 0, 0); e != 0 {
			goto fail
		}
	}
	if c.dir != nil {
		if _, _, e = syscall.RawSyscall6(syscall.SYS_CHDIR, uintptr(unsafe.Pointer(c.dir)), 0, 0, 0, 0, 0); e != 0 {
			goto fail
		}
	}
	for i := 0; i < len(c.fds); i++ {
		if _, _, e = syscall.RawSyscall6(syscall.SYS_DUP3, uintptr(c.fds[i]), uintptr(i), 0, 0, 0, 0); e != 0 {
			goto fail
		}
	}
	for i := len(c.fds); i < 3; i++ { // the helper's own, as Go's fork does
		syscall.RawSyscall6(syscall.SYS_CLOSE, uintptr(i), 0, 0, 0, 0, 0)
	}
	_, _, e = syscall.RawSyscall6(syscall.SYS_EXECVE, uintptr(unsafe.Pointer(c.path)),
		uintptr(unsafe.Pointer(&c.argv[0])), uintptr(unsafe.Pointer(&c.envv[0])), 0, 0, 0)
fail:
	errno := uint64(e)
	syscall.RawSyscall6(syscall.SYS_WRITE, uintptr(c.errw), uintptr(unsafe.Pointer(&errno)), 8, 0, 0, 0)
	for {
		syscall.RawSyscall6(syscall.SYS_EXIT_GROUP, 253, 0, 0, 0, 0, 0)
	}
}
