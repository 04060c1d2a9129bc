package proc

import (
	"errors"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Attr describes a child to start.
type Attr struct {
	Path string   // absolute path of the executable (see LookPath)
	Argv []string // argv, Argv[0] included
	Env  []string // the complete environment
	Dir  string   // working directory, "" for the daemon's
	Cred *Credential
	// Umask is applied in the child before exec; -1 inherits the daemon's.
	Umask int
	// Files become the child's fds 0, 1, 2, 3, ...; nil entries are /dev/null.
	Files []*os.File
	// GroupGrace is how long members of the child's process group may
	// outlive the leader before they are killed; 0 kills them at once.
	GroupGrace time.Duration
	// LeftoverSignal, if not 0, is sent to what outlives the leader when
	// it ends (its stop signal, say): what it left, a dead gunicorn
	// master's workers holding its port, is asked to end before the kill.
	// Not where the leader's stop signal went to the whole group already.
	LeftoverSignal syscall.Signal
	// OnExit is called with the leader's pid and wait status once it has
	// ended, possibly before Start has returned; it must not block. known
	// is false when the status could not be learnt (an adopted process
	// that was not our child, on a kernel before 6.15).
	OnExit func(pid int, ws syscall.WaitStatus, known bool)
	// OnGone, if set, is called once the leader has ended and no member of
	// its process group remains.
	OnGone func()
	// Session starts the child in a session of its own (and so a process
	// group of its own) rather than only a process group.
	Session bool
	// CgroupDir, if set, is the directory of the cgroup the child starts
	// in (clone3 with CLONE_INTO_CGROUP), and Container that cgroup:
	// leftovers are then found and killed through it, not the process
	// group, so setsid and double forks do not escape.
	CgroupDir *os.File
	Container Container
	// OOMScoreAdj, if set, is written to the child's oom_score_adj right
	// after the fork, while the reaper's lock proves the pid is the child.
	OOMScoreAdj *int
	// ListenPID sets LISTEN_PID to the child's own pid (see inChild).
	ListenPID bool
	// Pidfd, for Adopt, is a pidfd opened on the process at its spawn and
	// kept since (see OpenPidfd): it tells how a process that ended while
	// no daemon ran exited. Adopt closes it.
	Pidfd *os.File
	// OnPidfd, for Adopt, is called (on a goroutine of the watch's) once
	// a process watched through /proc, for want of a descriptor when it
	// was adopted, is watched through a pidfd after all, or is found to
	// be our child: OpenPidfd gives a pidfd from then on.
	OnPidfd func(*Process)
}

// Container holds a child and everything it started: its cgroup.
type Container interface {
	Populated() bool                     // a live process remains
	KillAndWait(deadline time.Time) bool // SIGKILL them all, and report whether none is left
	Procs() []int                        // its processes now
	Contains(pid int) bool               // pid is one of them now
	Kill() error                         // SIGKILL every one of them, forks under way included
}

// Process is a started or adopted child. Its leader is in a process group
// of its own whose id is its pid.
type Process struct {
	Pid       int
	StartTime uint64 // the leader's, as /proc/PID/stat gives it (see starttime.go)
	grace     time.Duration
	// leftoverSig is Attr.LeftoverSignal (signals fit a byte).
	leftoverSig uint8
	// stopBy is when its stop must be over (monoNow's; 0: no stop): at
	// shutdown, what outlives the leader gets until then. stopReached:
	// the stop's signal went to the whole group.
	stopBy      atomic.Int64
	stopReached atomic.Bool
	container   Container
	onExit      func(int, syscall.WaitStatus, bool)
	onGone      func()
	status      syscall.WaitStatus
	// reaped is set once status is valid; done, made by the first Done
	// only (most processes are never waited on that way, and a channel
	// is 96 bytes a program), is closed then. doneMu guards done.
	reaped atomic.Bool
	doneMu sync.Mutex
	done   chan struct{}
	once   sync.Once
	// child: it was registered with the reaper as our child, so that its
	// absence from reaper.procs means it was reaped. Guarded by reaper.mu.
	child bool
	// exitFD is the reaper's pidfd on a child in the exits' set, -1 if
	// none (see exitwatch.go). Guarded by reaper.mu.
	exitFD int32
	// pidfd, for a process that is not our child (adopted after the
	// daemon that started it died): signals go through it.
	pidfdMu sync.Mutex
	pidfd   *os.File
	// polled: not our child, and no pidfd could be opened on it (out of
	// descriptors): /proc is read until one can (watchByProc), and each
	// signal is proven by its start time first. Guarded by pidfdMu.
	polled bool
	// terminated: a process that is not our child has ended (its pidfd
	// said so), its status perhaps not known yet: its new parent may
	// reap it, which the status waits for, seconds later.
	terminated atomic.Bool
}

// Identity is the leader's pid and start time.
func (p *Process) Identity() Identity { return Identity{Pid: p.Pid, StartTime: p.StartTime} }

// Start spawns a child in a new process group and registers it with the
// reaper, which must be acquired. The daemon forks it itself; see
// Spawner.Start for a fork that does not copy the daemon's descriptors.
func Start(a Attr) (*Process, error) { return start(a, goForkExec) }

// forkExec forks and execs, and does what x asks in the child; it runs
// with the reaper's lock held, so the child cannot be reaped before it is
// registered.
type forkExec func(path string, argv []string, attr *syscall.ProcAttr, x inChild) (int, error)

func start(a Attr, fork forkExec) (*Process, error) {
	reaper.mu.Lock()
	defer reaper.mu.Unlock()
	if reaper.users == 0 {
		return nil, errors.New("proc: Start without Acquire")
	}
	return forkLocked(a, fork)
}

// OpFork is the Op of the *os.PathError a failed fork, or its child's
// failure before the exec, returns.
const OpFork = "fork/exec"

// forkLocked forks and registers a child. reaper.mu is held.
func forkLocked(a Attr, fork forkExec) (*Process, error) {
	// Descriptors, not os.Files: os.StartProcess would also open a pidfd
	// per child, one more descriptor for every child to copy and close at
	// each fork. Signals need none: the reaper is the only waiter, so a
	// pid is not reused before the reaper has taken it (see Signal).
	fds := make([]uintptr, len(a.Files))
	for i, f := range a.Files {
		if f == nil {
			var err error
			if f, err = devNull(); err != nil {
				return nil, err
			}
		}
		fds[i] = f.Fd()
	}
	sys := &syscall.SysProcAttr{Setpgid: !a.Session, Setsid: a.Session}
	if a.CgroupDir != nil {
		sys.UseCgroupFD, sys.CgroupFD = true, int(a.CgroupDir.Fd())
	}
	// Switching identity needs root; a daemon that already runs as the user
	// keeps its own credentials (setgroups would fail without root).
	if a.Cred != nil && (os.Getuid() == 0 || int(a.Cred.Uid) != os.Getuid()) {
		sys.Credential = &syscall.Credential{Uid: a.Cred.Uid, Gid: a.Cred.Gid, Groups: a.Cred.Groups}
	}
	before := bootNanos()
	pid, err := fork(a.Path, a.Argv, &syscall.ProcAttr{Dir: a.Dir, Env: a.Env, Files: fds, Sys: sys}, inChild{umask: a.Umask, listenPID: a.ListenPID})
	after := bootNanos()
	runtime.KeepAlive(a.Files)
	runtime.KeepAlive(a.CgroupDir)
	if err != nil {
		return nil, &os.PathError{Op: OpFork, Path: a.Path, Err: err}
	}
	p := newProcess(pid, a)
	// Not reaped yet, so the pid is this child's, dead or alive.
	if a.OOMScoreAdj != nil {
		if err := os.WriteFile("/proc/"+strconv.Itoa(pid)+"/oom_score_adj", []byte(strconv.Itoa(*a.OOMScoreAdj)), 0); err != nil {
			logger().Warn("cannot set oom_score_adj", "pid", pid, "err", err)
		}
	}
	if tick, ok := startTick(before, after); ok {
		p.StartTime = tick
	} else if st, err := readStatLocked(pid); err == nil {
		p.StartTime = st.StartTime
	} else {
		// Without its start time the child could never be proven ours:
		// not to signal, not to adopt. Unreaped, the pid (and its group's
		// id) is still its. The reaper reaps it as no one's.
		syscall.Kill(-pid, syscall.SIGKILL)
		syscall.Kill(pid, syscall.SIGKILL)
		if a.Container != nil {
			a.Container.Kill()
		}
		return nil, &os.PathError{Op: "read start time", Path: a.Path, Err: err}
	}
	reaper.procs[p.Pid] = p
	p.child = true
	watchExitLocked(p)
	forkedLocked()
	return p, nil
}

func newProcess(pid int, a Attr) *Process {
	return &Process{Pid: pid, grace: a.GroupGrace, leftoverSig: uint8(a.LeftoverSignal), container: a.Container, onExit: a.OnExit, onGone: a.OnGone}
}

// AdoptEnded takes over what a process a previous daemon started and
// reaped left in its process group (or Container): its members are swept
// as a child's exit sweeps them, killed once GroupGrace has passed (or at
// once by KillLeftoverGroup), every kill proven as a sweep proves it.
// Nothing is looked up by the pid, which may be another process's by now:
// not the reaper's collected statuses, not a pidfd.
func AdoptEnded(id Identity, a Attr) (*Process, error) {
	p := newProcess(id.Pid, a)
	p.StartTime = id.StartTime
	reaper.mu.Lock()
	users := reaper.users
	reaper.mu.Unlock()
	if users == 0 {
		return nil, errors.New("proc: AdoptEnded without Acquire")
	}
	go p.exited(0, false)
	return p, nil
}

// Adopt takes over a process that a previous daemon started, once its
// identity is proven. After an in-place upgrade it is still our child and
// the reaper waits for it; after the daemon died it is someone else's
// child, watched through a pidfd: the one kept since its spawn (Attr's
// Pidfd), else one opened now. A process that has already ended is
// reported at once, with its status when the kernel still knows it. A
// process that cannot be looked up (out of descriptors) is never taken
// for ended: it is watched through /proc until it can be.
// Attr's OnExit, OnGone, GroupGrace, Container, Pidfd and OnPidfd apply;
// the rest is ignored.
func Adopt(id Identity, a Attr) (*Process, error) {
	kept := a.Pidfd // closed on return unless the process is watched by it
	defer func() {
		if kept != nil {
			kept.Close()
		}
	}()
	p := newProcess(id.Pid, a)
	p.StartTime = id.StartTime
	reaper.mu.Lock()
	if reaper.users == 0 {
		reaper.mu.Unlock()
		return nil, errors.New("proc: Adopt without Acquire")
	}
	if ws, ok := reaper.unclaimed[id.Pid]; ok {
		delete(reaper.unclaimed, id.Pid)
		reaper.mu.Unlock()
		p.terminated.Store(true)
		go p.exited(ws, true)
		return p, nil
	}
	if kept != nil {
		if PidfdNamesAnother(kept, id.Pid) {
			kept.Close() // another process's: of no use to watch this one
			kept = nil
		}
	}
	child, known := ourChild(id, kept)
	if child {
		reaper.procs[id.Pid] = p
		p.child = true
		watchExitLocked(p)
		reaper.mu.Unlock()
		return p, nil
	}
	reaper.mu.Unlock()
	if kept != nil {
		// Opened by the daemon that spawned it, on its own unreaped
		// child: it names that process and no other, alive or ended.
		f := kept
		kept = nil
		p.watchPidfd(f)
		return p, nil
	}
	if !known {
		// Our child or not, alive or not: /proc will tell.
		p.polled = true
		go p.watchByProc(id, a.OnPidfd)
		return p, nil
	}
	f, err := watchPidfd(id)
	switch {
	case err == nil:
		p.watchPidfd(f)
	case errors.Is(err, syscall.ESRCH):
		// Ended while no daemon ran, and nothing tells how.
		p.terminated.Store(true)
		go p.exited(0, false)
	default:
		p.polled = true
		go p.watchByProc(id, a.OnPidfd)
	}
	return p, nil
}

// ourChild reports whether the recorded process is an unreaped child of
// this daemon, as after an in-place upgrade; known is false when neither
// /proc nor kept (a pidfd on it, if any) can tell. reaper.mu is held.
func ourChild(id Identity, kept *os.File) (child, known bool) {
	st, err := readStatLocked(id.Pid)
	if err == nil {
		return st.StartTime == id.StartTime && st.Ppid == os.Getpid(), true
	}
	if statGone(err) {
		return false, true
	}
	if kept != nil {
		if pid, ppid, ok := pidfdProcess(kept); ok && pid == id.Pid {
			return ppid == os.Getpid(), true
		}
	}
	return false, false
}

// watchPidfd watches a process that is not our child through f, a pidfd
// on it: an exit already there is known before it returns (Ended).
func (p *Process) watchPidfd(f *os.File) {
	if pidfdReadable(f) {
		p.terminated.Store(true)
	}
	p.pidfdMu.Lock()
	p.pidfd, p.polled = f, false
	p.pidfdMu.Unlock()
	go func() {
		waitPidfd(f)
		p.terminated.Store(true)
		// Taken out under the lock, read without it: the status may wait
		// seconds for a late reaper, and a signal meanwhile is for a
		// process that has ended.
		p.pidfdMu.Lock()
		p.pidfd = nil
		p.pidfdMu.Unlock()
		ws, known := exitFromPidfd(int(f.Fd()))
		f.Close()
		p.exited(ws, known)
	}()
}

// watchByProc watches a process that is not our child and that no pidfd
// could be opened on: it reads /proc every procPoll until a pidfd can be
// had, or the process has provably ended.
func (p *Process) watchByProc(id Identity, onPidfd func(*Process)) {
	for {
		time.Sleep(procPoll)
		switch claimed, known := p.claimAsChild(id); {
		case claimed:
			if onPidfd != nil {
				onPidfd(p)
			}
			return
		case !known:
			// Whose child it is decides how it is watched: not
			// decided, it is not watched through a pidfd either.
			continue
		}
		if id.Gone() {
			break
		}
		f, err := watchPidfd(id)
		if err == nil {
			p.watchPidfd(f)
			if onPidfd != nil {
				onPidfd(p)
			}
			return
		}
		if errors.Is(err, syscall.ESRCH) {
			break
		}
	}
	p.terminated.Store(true)
	p.endPolling()
	p.exited(0, false)
}

// claimAsChild gives the reaper a process adopted while nothing could
// tell whose child it was, once /proc tells it is ours (this daemon's
// image before an in-place upgrade spawned it): its exit is then
// collected with its status, as any child's, where a stranger's watch
// would report it unknown. An exit a sweep collected meanwhile, while
// adoption lasts, is reported with its status, as Adopt does. claimed
// says it did either; known is false while /proc cannot tell.
func (p *Process) claimAsChild(id Identity) (claimed, known bool) {
	reaper.mu.Lock()
	if ws, ok := reaper.unclaimed[id.Pid]; ok {
		delete(reaper.unclaimed, id.Pid)
		reaper.mu.Unlock()
		p.endPolling()
		p.terminated.Store(true)
		p.exited(ws, true)
		return true, true
	}
	child, known := ourChild(id, nil)
	if !known || !child || reaper.users == 0 || reaper.procs[id.Pid] != nil {
		reaper.mu.Unlock()
		return false, known
	}
	reaper.procs[id.Pid] = p
	p.child = true
	watchExitLocked(p)
	reaper.mu.Unlock()
	p.endPolling()
	return true, true
}

// endPolling ends the /proc watch's proving of each signal: the process
// is the reaper's, or has ended.
func (p *Process) endPolling() {
	p.pidfdMu.Lock()
	p.polled = false
	p.pidfdMu.Unlock()
}

// procPoll is how often a process watched through /proc is looked at.
var procPoll = 250 * time.Millisecond

// Signal sends sig to the leader. A leader that has exited is not an
// error. Until the reaper has waited for it, the pid names this child
// (dead or alive); the reaper's lock keeps the wait from happening between
// the check and the kill. An adopted process that is not our child is
// signalled through its pidfd.
func (p *Process) Signal(sig syscall.Signal) error {
	p.pidfdMu.Lock()
	if f := p.pidfd; f != nil {
		defer p.pidfdMu.Unlock()
		err := unix.PidfdSendSignal(int(f.Fd()), sig, nil, 0)
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return err
	}
	polled := p.polled
	p.pidfdMu.Unlock()
	if polled {
		return signalLeader(p.Identity(), sig)
	}
	reaper.mu.Lock()
	defer reaper.mu.Unlock()
	if reaper.procs[p.Pid] != p {
		return nil // reaped
	}
	err := syscall.Kill(p.Pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// SignalGroup sends sig to every member of the process group, as long as
// the group is provably still the one this leader founded.
func (p *Process) SignalGroup(sig syscall.Signal) error {
	if p.container != nil {
		if sig == syscall.SIGKILL {
			// A stop's last word reaches everything the program
			// started, setsid'd children and daemons included.
			return p.container.Kill()
		}
		return signalInContainer(p.container, p.Pid, sig)
	}
	reaper.mu.Lock()
	if p.child && reaper.procs[p.Pid] == p {
		// Unreaped, the leader holds its group's id: no stranger's group
		// can have it, and /proc need not say so.
		err := syscall.Kill(-p.Pid, sig)
		reaper.mu.Unlock()
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return err
	}
	reaper.mu.Unlock()
	switch ours, known := groupOurs(p.Identity()); {
	case !known:
		return errCannotTell
	case !ours:
		return nil
	}
	err := syscall.Kill(-p.Pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// Ended reports whether the leader has ended: reaped, or our child that
// the reaper has yet to collect. The kernel says so (waitid without
// reaping it): a zombie leader thread whose other threads run on is not
// ended. A process that is not our child (adopted after a daemon's death)
// is ended once its pidfd said so.
func (p *Process) Ended() bool {
	if p.reaped.Load() {
		return true
	}
	reaper.mu.Lock()
	defer reaper.mu.Unlock()
	return p.endedLocked()
}

// OpenPidfd opens a pidfd on the process: on a child the reaper has not
// reaped (the pid is still its own, so the pidfd names it and no other
// process), or a duplicate of the one an adopted process is watched by.
func (p *Process) OpenPidfd() (*os.File, error) {
	p.pidfdMu.Lock()
	if f := p.pidfd; f != nil {
		defer p.pidfdMu.Unlock()
		raw, err := f.SyscallConn() // the descriptor without touching its mode
		if err != nil {
			return nil, err
		}
		dup, dupErr := -1, error(nil)
		if err := raw.Control(func(fd uintptr) { dup, dupErr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
			return nil, err
		}
		if dupErr != nil {
			return nil, os.NewSyscallError("fcntl", dupErr)
		}
		return os.NewFile(uintptr(dup), "pidfd"), nil
	}
	p.pidfdMu.Unlock()
	reaper.mu.Lock()
	defer reaper.mu.Unlock()
	if !p.child || reaper.procs[p.Pid] != p {
		return nil, syscall.ESRCH
	}
	if p.exitFD >= 0 {
		// A copy of the exits' set's: one pidfd_open a spawn, not two
		// (the set takes its own out before it closes it).
		fd, err := unix.FcntlInt(uintptr(p.exitFD), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return nil, os.NewSyscallError("fcntl", err)
		}
		return os.NewFile(uintptr(fd), "pidfd"), nil
	}
	fd, err := unix.PidfdOpen(p.Pid, 0)
	if err != nil {
		return nil, os.NewSyscallError("pidfd_open", err)
	}
	return os.NewFile(uintptr(fd), "pidfd"), nil
}

// endedLocked is Ended under reaper.mu: a child still registered is not
// reaped, so its pid is still the leader's to ask the kernel about.
func (p *Process) endedLocked() bool {
	if !p.child {
		return p.terminated.Load() // its pidfd told
	}
	if reaper.procs[p.Pid] != p {
		return true // reaped: its exit is on its way
	}
	var info unix.Siginfo
	err := unix.Waitid(unix.P_PID, p.Pid, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
	return err == nil && siginfoPid(&info) == p.Pid
}

// siginfoPid is a SIGCHLD siginfo's si_pid, 0 when waitid found no child
// to report: after si_signo, si_errno and si_code, aligned as the
// union that holds it.
func siginfoPid(info *unix.Siginfo) int {
	off := 3 * unsafe.Sizeof(int32(0))
	if unsafe.Sizeof(uintptr(0)) == 8 {
		off = 4 * unsafe.Sizeof(int32(0))
	}
	return int(*(*int32)(unsafe.Add(unsafe.Pointer(info), off)))
}

// Done is closed once the leader was reaped; Status is valid then.
func (p *Process) Done() <-chan struct{} {
	p.doneMu.Lock()
	defer p.doneMu.Unlock()
	if p.done == nil {
		p.done = make(chan struct{})
		if p.reaped.Load() {
			close(p.done)
		}
	}
	return p.done
}

// Status is the leader's wait status, valid after Done.
func (p *Process) Status() syscall.WaitStatus { return p.status }

// exited records the leader's end, and kills what is left of its process
// group after the grace period: a supervised program leaves no orphans.
func (p *Process) exited(ws syscall.WaitStatus, known bool) {
	p.once.Do(func() {
		p.status = ws
		// The sweep is registered, and counted, before anyone learns of
		// the exit: a restart that follows finds it (KillLeftoverGroup),
		// and a shutdown waits for it (KillLeftovers). Whether anything
		// is left is asked after the exit's owner has run: a read of
		// the cgroup's events that a restart need not wait for.
		sw := &sweep{id: p.Identity(), container: p.container, gone: p.gone, stopBy: p.stopBy.Load(), stopReached: p.stopReached.Load()}
		leftovers.mu.Lock()
		leftovers.pending++
		leftovers.sweeps[p.Pid] = sw
		leftovers.mu.Unlock()
		p.doneMu.Lock()
		p.reaped.Store(true)
		if p.done != nil {
			close(p.done)
		}
		p.doneMu.Unlock()
		if p.onExit != nil {
			p.onExit(p.Pid, ws, known)
		}
		// What follows an exit (is anything of the group left? then the
		// owner's gone: a cgroup's usage read and its removal) comes
		// after the exit's owner (a restart, typically): see settleDelay.
		settleLater(p, sw)
	})
}

// settle finishes an exit's sweep: it arms the grace period when members
// of the group live on, or ends the spawn (gone) when none does.
func (p *Process) settle(sw *sweep) {
	alive := sw.alive()
	if !alive && sw.container == nil {
		if pids := UnprovenMembers(sw.id); len(pids) > 0 {
			// An adopted leader's: what it left went to init, and nothing
			// tells it from a stranger's group of that id.
			logger().Warn("leaving processes of the process group a gone leader led: they do not descend from this daemon, so nothing proves them ours",
				"pgid", sw.id.Pid, "pids", pids)
		}
	}
	leftovers.mu.Lock()
	if sw.taken {
		leftovers.mu.Unlock()
		return // its taker finishes it
	}
	if alive && !sw.stopReached && p.leftoverSig != 0 && (leftovers.closing == 0 || sw.stopBy != 0) {
		// Unless the stop signal reached them with the leader's, or
		// the daemon is shutting down and the leader ended on its own:
		// then they are killed at once.
		leftovers.mu.Unlock()
		sig := syscall.Signal(p.leftoverSig)
		logger().Info("asking the leftover processes of an ended main process to end", "pgid", p.Pid, "signal", sig)
		if err := p.SignalGroup(sig); err != nil {
			logger().Warn("cannot signal leftover processes", "pgid", p.Pid, "err", err)
		}
		leftovers.mu.Lock()
		if sw.taken {
			leftovers.mu.Unlock()
			return
		}
	}
	if alive {
		grace := p.grace
		sw.graceEnd = monoNow() + int64(grace)
		if leftovers.closing > 0 {
			grace = sw.leftOfStop()
		}
		sw.deadline = monoNow() + int64(grace)
		sw.armLocked()
		leftovers.mu.Unlock()
		return
	}
	// The pid, reaped, may already lead another exit's sweep.
	if leftovers.sweeps[p.Pid] == sw {
		delete(leftovers.sweeps, p.Pid)
	}
	leftovers.mu.Unlock()
	// Done once gone is: a shutdown waiting for the sweeps (KillLeftovers)
	// then closes the journal, the cgroups and the holder after it.
	p.gone()
	leftovers.mu.Lock()
	leftovers.doneLocked()
	leftovers.mu.Unlock()
}

// settling is the exits whose sweeps are still to be settled, in the
// order they were reaped. Each took the reaper a grace check and its
// owner's gone: 0.4 ms a cgroup. Done in the reaper, 10,000 programs
// stopped at once were reaped at 1400 a second, and most of them, long
// dead, outlived their stopwaitsecs unreaped and were sent SIGKILL.
// One goroutine settles them, while there are any.
var settling struct {
	mu      sync.Mutex
	queue   []settleJob
	running bool
}

type settleJob struct {
	p  *Process
	sw *sweep
}

func settleLater(p *Process, sw *sweep) {
	settling.mu.Lock()
	settling.queue = append(settling.queue, settleJob{p, sw})
	start := !settling.running
	settling.running = true
	settling.mu.Unlock()
	if start {
		time.AfterFunc(settleDelay, settleQueued)
	}
}

// settleDelay holds an exit's bookkeeping back behind its restart. A
// yield did not: a restart that blocked on a lock or lost its thread on
// the way to its fork (it makes a dozen system calls) handed the daemon's
// one P to the settling, and a cgroup's usage read and removal, 0.2 ms,
// came first; a restart among 1000 takes about 1 ms from the exit to the
// fork's return. The sweep is registered at the exit: a restart or a
// shutdown that needs it meanwhile takes it (KillLeftoverGroup,
// KillLeftovers).
const settleDelay = 5 * time.Millisecond

func settleQueued() {
	for {
		settling.mu.Lock()
		jobs := settling.queue
		settling.queue = nil
		if len(jobs) == 0 {
			settling.running = false
			settling.mu.Unlock()
			return
		}
		settling.mu.Unlock()
		for n, j := range jobs {
			if n%settleYieldEvery == settleYieldEvery-1 {
				// Reaping and restarts go first: a cgroup's settling is
				// system calls too short for the runtime to hand the P on.
				runtime.Gosched()
			}
			j.p.settle(j.sw)
		}
	}
}

// settleYieldEvery is how many exits are settled between yields.
const settleYieldEvery = 32

// Stopping notes that a stop began at: what outlives the leader, asked
// to end (the stop signal, or the leftover signal at the leader's exit),
// may take the grace period from then, and no longer, even at shutdown
// (see KillLeftovers). A second call keeps the first.
func (p *Process) Stopping(at time.Time) {
	p.stopBy.CompareAndSwap(0, int64(at.Sub(monoBase)+p.grace))
}

// StopReachedGroup notes that the stop's signal went to the whole group:
// what outlives the leader needs no leftover signal.
func (p *Process) StopReachedGroup() { p.stopReached.Store(true) }

// monoBase is what stop deadlines count from, on the monotonic clock: a
// wall clock set back must not make a shutdown wait longer.
var monoBase = time.Now()

func monoNow() int64 { return int64(time.Since(monoBase)) }

func (p *Process) gone() {
	if p.onGone != nil {
		p.onGone()
	}
}

// sweep is a process group (or cgroup) whose leader ended while members
// lived on.
type sweep struct {
	id        Identity
	container Container // nil: the process group
	// timer ends the grace period; nil until the exit's owner has run
	// and something was found left.
	timer *time.Timer
	// taken: KillLeftoverGroup or KillLeftovers finishes it, not the
	// exit that registered it. Guarded by leftovers.mu.
	taken bool
	gone  func()
	// stuckSince and retryEvery: finishSweep could not finish it, and
	// tries again (retryLater; its own chain only).
	stuckSince time.Time
	retryEvery time.Duration
	// stopBy is the leader's stop's end (Process.stopBy), 0 if the
	// leader ended on its own; graceEnd is when its grace period ends
	// (monoNow's), once armed, and deadline when its timer kills the
	// group (graceEnd, or sooner at shutdown). stopReached:
	// Process.stopReached.
	stopBy, graceEnd, deadline int64
	stopReached                bool
}

// armLocked sets the sweep's timer for its deadline. A process group's
// (no cgroup) looks every groupPoll whether it has emptied: its id, free
// again, may come to name another group (pid reuse), which no check of
// its members can tell from this one's leftovers (both descend from the
// daemon). leftovers.mu is held.
func (sw *sweep) armLocked() {
	d := time.Duration(sw.deadline - monoNow())
	if sw.container == nil {
		d = min(d, groupPoll)
	}
	sw.timer = time.AfterFunc(max(d, 0), sw.tick)
}

// groupPoll is how often a process group's sweep looks whether the group
// has emptied.
const groupPoll = 100 * time.Millisecond

// tick is the sweep's timer: it kills the group at its deadline, ends
// the sweep once a process group has emptied, or waits on. Like expire,
// it counts the sweep done if it was taken as it fired (its taker could
// not stop it).
func (sw *sweep) tick() {
	if sw.container != nil || monoNow() >= sw.deadline {
		sw.expire()
		return
	}
	emptied := errors.Is(syscall.Kill(-sw.id.Pid, 0), syscall.ESRCH)
	leftovers.mu.Lock()
	switch {
	case sw.taken:
		leftovers.doneLocked()
		leftovers.mu.Unlock()
		return
	case !emptied:
		sw.armLocked()
		leftovers.mu.Unlock()
		return
	}
	// The group is gone: a group of its id from now on is another's.
	sw.taken = true
	if leftovers.sweeps[sw.id.Pid] == sw {
		delete(leftovers.sweeps, sw.id.Pid)
	}
	leftovers.mu.Unlock()
	if sw.gone != nil {
		sw.gone()
	}
	leftovers.mu.Lock()
	leftovers.doneLocked()
	leftovers.mu.Unlock()
}

// expire ends the grace period: the group is killed.
func (sw *sweep) expire() {
	killLeftoverGroup(sw)
	leftovers.mu.Lock()
	leftovers.doneLocked()
	leftovers.mu.Unlock()
}

// leftOfStop is what a shutdown leaves the group to end in: what remains
// of the stop its leader was given, so that what the stop asked to end
// (a shell's child, a worker that finishes its task) ends as gracefully
// as the leader could; none if the leader ended on its own.
func (sw *sweep) leftOfStop() time.Duration {
	if sw.stopBy == 0 {
		return 0
	}
	return time.Duration(max(0, min(sw.stopBy, sw.graceEnd)-monoNow()))
}

// takeLocked stops the sweep's grace period for a caller that finishes it
// now, and counts it as no longer pending if the timer had not fired (or
// was not armed yet). leftovers.mu is held, and the sweep was just
// removed from leftovers.sweeps.
func (sw *sweep) takeLocked() {
	sw.taken = true
	if sw.timer == nil || sw.timer.Stop() {
		leftovers.doneLocked()
	}
}

// alive reports whether a member of ours remains.
func (sw *sweep) alive() bool {
	if sw.container != nil {
		return sw.container.Populated()
	}
	return groupAlive(sw.id)
}

// killAndWait kills the members and waits until none is left.
func (sw *sweep) killAndWait(deadline time.Time) bool {
	if sw.container != nil {
		return sw.container.KillAndWait(deadline)
	}
	return killAndWait(sw.id, deadline)
}

// leftovers are the sweeps waiting for their grace period; each kills its
// group when the period ends, or sooner at shutdown (KillLeftovers).
type leftoverSweeps struct {
	mu     sync.Mutex
	sweeps map[int]*sweep
	// pending counts exits whose sweep has not run, been stopped or
	// found nothing to do: KillLeftovers waits until it is zero.
	pending int
	closing int // KillLeftovers calls under way: see leftOfStop
}

var leftovers = &leftoverSweeps{sweeps: map[int]*sweep{}}

// doneLocked counts one pending sweep as over. l.mu is held.
func (l *leftoverSweeps) doneLocked() { l.pending-- }

// killLeftoverGroup is a sweep whose grace period ended: it kills the
// group and waits until its members are gone.
func killLeftoverGroup(sw *sweep) {
	leftovers.mu.Lock()
	if sw.taken {
		// Taken as its timer fired (KillLeftoverGroup, KillLeftovers):
		// its taker finishes it.
		leftovers.mu.Unlock()
		return
	}
	if leftovers.sweeps[sw.id.Pid] == sw {
		delete(leftovers.sweeps, sw.id.Pid)
	}
	leftovers.mu.Unlock()
	if sw.alive() {
		logger().Warn("killing leftover processes", "pgid", sw.id.Pid, "cgroup", sw.container != nil)
	}
	finishSweep(sw, time.Now().Add(5*time.Second))
}

// finishSweep kills the group and reports it gone once it is empty.
func finishSweep(sw *sweep, deadline time.Time) {
	if sw.killAndWait(deadline) {
		if sw.gone != nil {
			sw.gone()
		}
		return
	}
	sw.retryLater()
}

// retryLater tries a sweep that could not finish again, ever less often:
// members that outlive SIGKILL (in uninterruptible sleep) or cannot be
// looked up (out of descriptors) keep the spawn from being gone. A process
// group's (no cgroup) is given up after sweepGiveUp: once its last member
// is gone its id may come to name a stranger's group, which a retry
// without end would one day kill. Only the sweep's own chain calls it.
func (sw *sweep) retryLater() {
	if sw.stuckSince.IsZero() {
		sw.stuckSince, sw.retryEvery = time.Now(), sweepRetryFirst
		logger().Warn("leftover processes outlived SIGKILL, or cannot be looked up: trying again", "pgid", sw.id.Pid, "cgroup", sw.container != nil)
	} else {
		sw.retryEvery = min(2*sw.retryEvery, sweepRetryMax)
	}
	if sw.container == nil && time.Since(sw.stuckSince) > sweepGiveUp {
		logger().Error("leftover processes could not be stopped: given up", "pgid", sw.id.Pid, "since", sw.stuckSince)
		if sw.gone != nil {
			sw.gone()
		}
		return
	}
	time.AfterFunc(sw.retryEvery, func() { finishSweep(sw, time.Now().Add(sweepTry)) })
}

// How a stuck sweep is tried again: first after sweepRetryFirst, then
// twice as long each time up to sweepRetryMax, each try a kill and
// sweepTry to see its effect.
const (
	sweepRetryFirst = time.Second
	sweepRetryMax   = time.Minute
	sweepTry        = 100 * time.Millisecond
	sweepGiveUp     = 10 * time.Minute
)

// KillLeftoverGroup kills at once the members of process group pgid if it
// is a leftover waiting for its grace period, waits until they are gone, and
// reports whether it was one. A singleton's restart uses it: the old
// process's leftovers may hold the lock the new one needs.
func KillLeftoverGroup(pgid int) bool {
	leftovers.mu.Lock()
	sw, ok := leftovers.sweeps[pgid]
	if ok {
		delete(leftovers.sweeps, pgid)
		sw.takeLocked()
	}
	leftovers.mu.Unlock()
	if ok {
		finishSweep(sw, time.Now().Add(2*time.Second))
	}
	return ok
}

// killAndWait kills the group while it is provably ours and waits until it
// is empty; it reports whether it is.
func killAndWait(id Identity, deadline time.Time) bool {
	for {
		ours, known := groupOurs(id)
		if known && !ours {
			return true // every member of ours is gone
		}
		if known {
			if errors.Is(syscall.Kill(-id.Pid, syscall.SIGKILL), syscall.ESRCH) {
				return true // no member at all: no /proc scan
			}
			if members, ok := OursGroupMembers(id); ok && len(members) == 0 {
				return true
			}
		}
		// Members left, or /proc unreadable (out of descriptors): the
		// group is not reported gone until it provably is.
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// KillLeftovers kills every leftover process group, and waits for them to
// die, and for sweeps already under way: the daemon leaves no process
// behind when it exits. A group whose leader was stopped has until its
// stop's time is up (Process.Stopping); any other, none.
func KillLeftovers() {
	leftovers.mu.Lock()
	leftovers.closing++
	defer func() {
		leftovers.mu.Lock()
		leftovers.closing--
		leftovers.mu.Unlock()
	}()
	var sweeps []*sweep
	for pid, sw := range leftovers.sweeps {
		if sw.timer == nil {
			// Not settled yet: its settling, with no grace period while
			// closing, finishes it. Taken here, thousands of exits just
			// reaped would each be killed and scanned for again.
			continue
		}
		if left := sw.leftOfStop(); left > 0 {
			// Its grace, counted from the leader's exit, is cut to
			// what is left of the stop; waited for below.
			if sw.timer.Stop() {
				sw.deadline = monoNow() + int64(left)
				sw.armLocked()
			}
			continue
		}
		sw.takeLocked()
		sweeps = append(sweeps, sw)
		delete(leftovers.sweeps, pid)
	}
	leftovers.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for _, sw := range sweeps {
		finishSweep(sw, deadline)
	}
	// Groups given the rest of their stop are done once they are empty:
	// they need not wait for its end.
	for {
		leftovers.mu.Lock()
		if leftovers.pending == 0 {
			leftovers.mu.Unlock()
			return
		}
		var waiting []*sweep
		for _, sw := range leftovers.sweeps {
			if sw.timer != nil {
				waiting = append(waiting, sw)
			}
		}
		leftovers.mu.Unlock()
		for _, sw := range waiting {
			if !sw.alive() && takeSweep(sw) {
				finishSweep(sw, time.Now().Add(5*time.Second))
			}
		}
		time.Sleep(emptyPoll)
	}
}

// emptyPoll is how often a shutdown looks for groups it waits for that
// have emptied.
const emptyPoll = 20 * time.Millisecond

// takeSweep takes sw for its caller to finish, unless another has.
func takeSweep(sw *sweep) bool {
	leftovers.mu.Lock()
	defer leftovers.mu.Unlock()
	if sw.taken || leftovers.sweeps[sw.id.Pid] != sw {
		return false
	}
	delete(leftovers.sweeps, sw.id.Pid)
	sw.takeLocked()
	return true
}

// groupAlive reports whether the leader's process group still has a
// member of ours: kill(2) with signal 0 tells without scanning /proc.
// A group that cannot be looked up counts as alive: its sweep then waits
// and kills only what it can prove.
func groupAlive(id Identity) bool {
	ours, known := groupOurs(id)
	return !known || ours && syscall.Kill(-id.Pid, 0) == nil
}

// signalInContainer sends sig to the members of process group pgid that
// are in c. Each is pinned by a pidfd and proven to be in c afterwards, so
// a pid reused by a stranger meanwhile is never signalled.
func signalInContainer(c Container, pgid int, sig syscall.Signal) error {
	var err error
	pids := c.Procs()
	if len(pids) == 0 && c.Populated() {
		return errCannotTell // unreadable for want of descriptors
	}
	for _, pid := range pids {
		fd, openErr := openShort(func() (int, error) { return unix.PidfdOpen(pid, 0) })
		if openErr != nil {
			if openErr != unix.ESRCH {
				err = os.NewSyscallError("pidfd_open", openErr)
			}
			continue
		}
		st, statErr := ReadStat(pid)
		if statErr == nil && st.Pgrp == pgid && c.Contains(pid) {
			unix.PidfdSendSignal(fd, sig, nil, 0)
		} else if OutOfResources(statErr) {
			err = errCannotTell
		}
		closeShort(fd)
	}
	return err
}

// devNull is /dev/null, opened once: the stdin of most children.
var devNull = sync.OnceValues(func() (*os.File, error) { return os.OpenFile(os.DevNull, os.O_RDWR, 0) })
