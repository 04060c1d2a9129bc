package proc

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A fork copies the forking process's descriptor table and an exec then
// closes it again: in a daemon that holds a descriptor or two per program,
// each spawn costs time in proportion to the programs already running
// (3 ms a fork+exec with 10,000 open descriptors, against 0.7 ms with
// none). A Spawner forks from a helper process whose table holds a
// handful of entries. The helper clones with CLONE_PARENT, so each child
// is the daemon's own: the reaper waits for it, signals and adoption work
// as for a child the daemon forked itself.
//
// A child bound for a cgroup is cloned into it by the helper with a fork
// of its own (see rawfork.go), where the architecture and the descriptor
// limit allow; elsewhere the daemon forks it.
//
// Where the kernel lets a child unshare its descriptor table (see
// sharedfork.go), the daemon forks every child itself, with no copy and
// no round trip; the helper then forks only what that cannot.
type Spawner struct {
	// All fields are guarded by reaper.mu, which every fork holds.
	fd       int // the daemon's end of the helper's socket; -1 without a helper
	helper   *Process
	restarts int
	closed   bool
	forks    int  // children the helper forked
	noCgroup bool // this helper cannot fork into a cgroup
	// shared forks from the daemon with a shared descriptor table; nil
	// where it cannot. SharedFork turns it off (tests, benchmarks).
	shared     *sharedFork
	SharedFork atomic.Bool
	// childNofile is the soft descriptor limit Go gives the daemon's
	// children, 0 if unknown.
	childNofile uint64
	// tableTop is the highest descriptor number seen in a spawn: programs
	// that ended leave holes below the table's top, where new descriptors
	// go, so one spawn's numbers can understate the table.
	tableTop int
	// SmallTable: while tableTop is below this, the daemon forks itself:
	// copying a small table costs less than the round trip to the
	// helper, two wakeups.
	SmallTable atomic.Int32
	// A request's encoding and its reply, reused: the lock serializes
	// round trips.
	sendBuf, recvBuf []byte
}

// spawnerArg0 marks a re-execution of the daemon's binary as its spawner.
const spawnerArg0 = "ctlsup-spawner"

const (
	maxSpawnRequest = 192 << 10 // argv and environment, encoded: below net.core.wmem_max's default
	maxSpawnFiles   = 253       // SCM_MAX_FD
	// spawnTimeout bounds a round trip, which holds the reaper's lock: a
	// fork+exec takes a millisecond.
	spawnTimeout   = 3 * time.Second
	helperRestarts = 3
	// defaultSmallTable: at about this many descriptors a fork's copy and
	// the child's closing of them cost what the round trip to the helper
	// does (0.5 µs each, against 0.3 ms, on a 2-core VM).
	defaultSmallTable = 512
)

type spawnRequest struct {
	Path    string
	Argv    []string
	Env     []string
	Dir     string
	Setpgid bool
	Setsid  bool
	Cred    *syscall.Credential
	// Cgroup: the last descriptor is the cgroup the child starts in.
	Cgroup bool
}

type spawnReply struct {
	Pid    int
	Errno  int
	Err    string
	Step   uint8 // the child's step that failed (stepCred...), if it says
	Forked bool  // the error may come from a child that exits with 253
	// NoCgroup: this helper cannot fork into a cgroup; the daemon does.
	NoCgroup bool
}

// NewSpawner starts the helper. The reaper must be acquired. A daemon
// whose helper cannot start, or dies more often than it is restarted,
// forks its children itself.
func NewSpawner() (*Spawner, error) {
	s := &Spawner{fd: -1}
	s.SmallTable.Store(defaultSmallTable)
	reaper.mu.Lock()
	defer reaper.mu.Unlock()
	if reaper.users == 0 {
		return nil, errors.New("proc: NewSpawner without Acquire")
	}
	s.childNofile = childNofileLocked()
	s.shared = newSharedFork(s.childNofile)
	s.SharedFork.Store(true)
	if err := s.launchLocked(); err != nil {
		if s.shared != nil {
			s.shared.close()
		}
		return nil, err
	}
	return s, nil
}

// launchLocked starts a helper on a new socket pair. reaper.mu is held.
func (s *Spawner) launchLocked() error {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("socketpair", err)
	}
	ours, theirs := pair[0], os.NewFile(uintptr(pair[1]), "spawner")
	defer theirs.Close()
	tv := unix.NsecToTimeval(spawnTimeout.Nanoseconds())
	unix.SetsockoptTimeval(ours, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	unix.SetsockoptTimeval(ours, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv)
	unix.SetsockoptInt(ours, unix.SOL_SOCKET, unix.SO_SNDBUF, maxSpawnRequest+4096)
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		unix.Close(ours)
		return err
	}
	defer devnull.Close()
	// In the daemon's directory: a child without a directory of its own
	// starts in its forker's, which must be the daemon's.
	argv := []string{spawnerArg0}
	if s.childNofile > 0 {
		argv = append(argv, "nofile="+strconv.FormatUint(s.childNofile, 10))
	}
	a := Attr{Path: "/proc/self/exe", Argv: argv, Umask: -1, Session: true,
		Files: []*os.File{devnull, devnull, os.Stderr, theirs}}
	p, err := forkLocked(a, goForkExec)
	if err != nil {
		unix.Close(ours)
		return fmt.Errorf("cannot start the spawner: %w", err)
	}
	s.fd, s.helper, s.noCgroup = ours, p, false
	return nil
}

// Start spawns a child as the package's Start does, forked by the helper.
func (s *Spawner) Start(a Attr) (*Process, error) { return start(a, s.forkExec) }

// Close stops the helper (it exits when its socket closes) and waits
// until it is reaped, so that a successor image does not find it as a
// stranger. The daemon's slots are given back; the daemon's own forks
// go on without them.
func (s *Spawner) Close() {
	reaper.mu.Lock()
	if s.fd >= 0 {
		unix.Close(s.fd)
		s.fd = -1
	}
	s.closed = true
	if s.shared != nil {
		s.shared.close()
		s.shared = nil
	}
	helper := s.helper
	reaper.mu.Unlock()
	if helper != nil {
		select {
		case <-helper.Done():
		case <-time.After(time.Second):
		}
	}
}

// Pid is the helper's pid, 0 while there is none.
func (s *Spawner) Pid() int {
	reaper.mu.Lock()
	defer reaper.mu.Unlock()
	if s.fd < 0 || s.helper == nil {
		return 0
	}
	return s.helper.Pid
}

// Forks counts the children the helper forked.
func (s *Spawner) Forks() int {
	reaper.mu.Lock()
	defer reaper.mu.Unlock()
	return s.forks
}

// SharedForks counts the children the daemon forked with a shared
// descriptor table.
func (s *Spawner) SharedForks() int {
	reaper.mu.Lock()
	defer reaper.mu.Unlock()
	if s.shared == nil {
		return 0
	}
	return s.shared.forks
}

// Reopen starts a new helper after Close: an upgrade that failed to
// execute its new image goes on as before.
func (s *Spawner) Reopen() error {
	reaper.mu.Lock()
	defer reaper.mu.Unlock()
	if s.fd >= 0 {
		return nil
	}
	s.closed, s.restarts = false, 0
	if s.shared == nil {
		s.shared = newSharedFork(s.childNofile)
	}
	return s.launchLocked()
}

// forkExec forks with a shared table, or asks the helper to fork, or
// forks with Go's fork when neither can. reaper.mu is held.
func (s *Spawner) forkExec(path string, argv []string, attr *syscall.ProcAttr, x inChild) (int, error) {
	if s.shared != nil && s.SharedFork.Load() {
		if pid, err, done := s.shared.forkLocked(path, argv, attr, x); done {
			return pid, err
		}
	}
	// A lost child (see killLostChild) shows the program's argv[0] once
	// the shim has exec'd it, the shim's before.
	program := argv[0]
	path, argv = x.viaShim(path, argv)
	s.tableTop = max(s.tableTop, topFD(attr))
	if s.fd < 0 || attr.Sys.UseCgroupFD && s.noCgroup || s.tableTop < int(s.SmallTable.Load()) {
		return syscall.ForkExec(path, argv, attr)
	}
	req := spawnRequest{Path: path, Argv: argv, Env: attr.Env, Dir: attr.Dir,
		Setpgid: attr.Sys.Setpgid, Setsid: attr.Sys.Setsid, Cred: attr.Sys.Credential,
		Cgroup: attr.Sys.UseCgroupFD}
	fds := make([]int, 0, len(attr.Files)+1)
	for _, f := range attr.Files {
		fds = append(fds, int(f))
	}
	if req.Cgroup {
		fds = append(fds, attr.Sys.CgroupFD)
	}
	if s.recvBuf == nil {
		s.recvBuf = make([]byte, 4096)
	}
	b := req.encode(s.sendBuf[:0])
	if cap(b) <= 64<<10 {
		s.sendBuf = b // a rare huge environment is not kept
	}
	if len(b) > maxSpawnRequest || len(fds) > maxSpawnFiles {
		// Too big to send: rare enough to pay the copy.
		return syscall.ForkExec(path, argv, attr)
	}
	since := uptimeTicks()
	if err := sendRetry(s.fd, b, unix.UnixRights(fds...)); err != nil {
		if err == unix.EMSGSIZE || err == unix.ENOBUFS {
			return syscall.ForkExec(path, argv, attr) // the socket's limit, not the helper's fault
		}
		s.failLocked(err, false, since) // nothing was forked
		return syscall.ForkExec(path, argv, attr)
	}
	buf := s.recvBuf
	n, err := recvRetry(s.fd, buf)
	var rep spawnReply
	if err == nil && n == 0 {
		err = errors.New("the spawner exited")
	}
	if err == nil {
		err = rep.decode(buf[:n])
	}
	if err != nil {
		// The helper may have forked the child before it failed.
		s.failLocked(err, true, since, program, argv[0])
		return syscall.ForkExec(path, argv, attr)
	}
	if rep.NoCgroup {
		s.noCgroup = true
		return syscall.ForkExec(path, argv, attr)
	}
	if rep.Errno != 0 || rep.Err != "" {
		// A child that failed before its exec exits with 253, as the
		// daemon's child. Named, it is waited for here: it may still be in
		// the cgroup its spawner is about to remove. Otherwise the reaper
		// takes it without an orphan's report.
		switch {
		case rep.Forked && rep.Pid > 0:
			waitFailedChild(rep.Pid)
		case rep.Forked:
			reaper.failedForks++
		}
		if rep.Errno != 0 {
			return 0, childError(syscall.Errno(rep.Errno), uint64(rep.Step))
		}
		return 0, errors.New(rep.Err)
	}
	s.forks++
	s.restarts = 0 // a helper that works again may fail again before forks are given up
	return rep.Pid, nil
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// waitFailedChild collects a child that failed before its exec. reaper.mu
// is held, so no other waiter takes it.
func waitFailedChild(pid int) {
	var ws syscall.WaitStatus
	for {
		if _, err := syscall.Wait4(pid, &ws, 0, nil); err != syscall.EINTR {
			return
		}
	}
}

// topFD is the highest of a spawn's descriptors: the kernel gives each
// new descriptor the lowest free number, so the child's (made just now)
// are as high as the daemon's table is full.
func topFD(attr *syscall.ProcAttr) int {
	top := attr.Sys.CgroupFD
	for _, fd := range attr.Files {
		top = max(top, int(fd))
	}
	return top
}

func sendRetry(fd int, b, oob []byte) error {
	for {
		err := unix.Sendmsg(fd, b, oob, nil, unix.MSG_NOSIGNAL)
		if err != syscall.EINTR {
			return err
		}
	}
}

func recvRetry(fd int, buf []byte) (int, error) {
	for {
		n, _, _, _, err := unix.Recvmsg(fd, buf, nil, 0)
		if err != syscall.EINTR {
			return n, err
		}
	}
}

// failLocked gives the helper up: it is killed, and a child it may have
// forked for the request it did not answer is killed too, so that no
// program runs twice. Another helper is started in the background, a few
// times at most. reaper.mu is held.
func (s *Spawner) failLocked(err error, mayHaveForked bool, since uint64, argv0s ...string) {
	logger().Warn("the spawner failed: the daemon forks its children itself", "err", err)
	unix.Close(s.fd)
	s.fd = -1
	// Registered, so not reaped yet: the pid is still the helper's.
	if reaper.procs[s.helper.Pid] == s.helper {
		syscall.Kill(s.helper.Pid, syscall.SIGKILL)
	}
	if mayHaveForked {
		killLostChild(since, s.helper.Pid, argv0s)
	}
	if s.restarts < helperRestarts {
		s.restarts++
		go func() {
			reaper.mu.Lock()
			defer reaper.mu.Unlock()
			if s.closed || s.fd >= 0 {
				return
			}
			if err := s.launchLocked(); err != nil {
				logger().Warn("cannot restart the spawner", "err", err)
			}
		}()
	}
}

// killLostChild kills a child of the daemon that nobody registered,
// that started since the request was sent, and that is the helper's fork
// for it: still the helper's image (before its exec), or what it execs
// (one of argv0s) leading its own process group. reaper.mu is held, so no
// child of the daemon is reaped meanwhile and each pid is its own.
func killLostChild(since uint64, helper int, argv0s []string) {
	for _, pid := range ownChildren() {
		if pid == helper || reaper.procs[pid] != nil {
			continue
		}
		st, err := ReadStat(pid)
		if err != nil || st.Ppid != os.Getpid() || st.StartTime < since {
			continue
		}
		cmd, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		first, _, _ := strings.Cut(string(cmd), "\x00")
		if first != spawnerArg0 && !(slices.Contains(argv0s, first) && st.Pgrp == pid) {
			continue
		}
		logger().Warn("killing a child the failed spawner left unregistered", "pid", pid)
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// ownChildren lists the daemon's children: from its threads' children
// files, or where the kernel has none (CONFIG_PROC_CHILDREN), from every
// process's parent.
func ownChildren() []int {
	var pids []int
	tasks, _ := os.ReadDir("/proc/self/task")
	listed := false
	for _, t := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + t.Name() + "/children")
		if err != nil {
			continue
		}
		listed = true
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	if listed {
		return pids
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			if st, err := ReadStat(pid); err == nil && st.Ppid == os.Getpid() {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// uptimeTicks is the time since boot in clock ticks (USER_HZ, 100 on
// Linux), less one for rounding: start times in /proc/PID/stat count them.
func uptimeTicks() uint64 {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0
	}
	sec, _, _ := strings.Cut(string(b), " ")
	v, err := strconv.ParseFloat(sec, 64)
	if err != nil || v < 0.02 {
		return 0
	}
	return uint64(v*100) - 1
}
