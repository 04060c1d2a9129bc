package proc

import (
	"errors"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
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
	// outlive the leader before they are killed; 0 never kills them.
	GroupGrace time.Duration
	// OnExit is called from the reaper with the leader's pid and wait
	// status, possibly before Start has returned; it must not block.
	OnExit func(pid int, ws syscall.WaitStatus)
}

// Process is a started child. Its leader is in a process group of its own
// whose id is its pid.
type Process struct {
	Pid    int
	grace  time.Duration
	onExit func(int, syscall.WaitStatus)
	done   chan struct{}
	status syscall.WaitStatus
	once   sync.Once
}

// Start spawns a child in a new process group and registers it with the
// reaper, which must be acquired.
func Start(a Attr) (*Process, error) {
	path, argv := a.Path, a.Argv
	if a.Umask >= 0 {
		// umask is process-wide in Go: the daemon re-executes itself as a
		// shim that sets it and execs the program (see shim.go).
		self, err := os.Executable()
		if err != nil {
			return nil, err
		}
		argv = append([]string{shimArg0, strconv.FormatInt(int64(a.Umask), 8), path}, argv...)
		path = self
	}
	// Descriptors, not os.Files: os.StartProcess would also open a pidfd
	// per child, one more descriptor for every child to copy and close at
	// each fork. Signals need none: the reaper is the only waiter, so a
	// pid is not reused before the reaper has taken it (see Signal).
	fds := make([]uintptr, len(a.Files))
	var devnull *os.File
	for i, f := range a.Files {
		if f == nil {
			if devnull == nil {
				var err error
				if devnull, err = os.OpenFile(os.DevNull, os.O_RDWR, 0); err != nil {
					return nil, err
				}
				defer devnull.Close()
			}
			f = devnull
		}
		fds[i] = f.Fd()
	}
	sys := &syscall.SysProcAttr{Setpgid: true}
	// Switching identity needs root; a daemon that already runs as the user
	// keeps its own credentials (setgroups would fail without root).
	if a.Cred != nil && (os.Getuid() == 0 || int(a.Cred.Uid) != os.Getuid()) {
		sys.Credential = &syscall.Credential{Uid: a.Cred.Uid, Gid: a.Cred.Gid, Groups: a.Cred.Groups}
	}
	reaper.mu.Lock()
	defer reaper.mu.Unlock()
	if reaper.users == 0 {
		return nil, errors.New("proc: Start without Acquire")
	}
	pid, err := syscall.ForkExec(path, argv, &syscall.ProcAttr{Dir: a.Dir, Env: a.Env, Files: fds, Sys: sys})
	runtime.KeepAlive(a.Files)
	if err != nil {
		return nil, &os.PathError{Op: "fork/exec", Path: path, Err: err}
	}
	p := &Process{Pid: pid, grace: a.GroupGrace, onExit: a.OnExit, done: make(chan struct{})}
	reaper.procs[p.Pid] = p
	return p, nil
}

// Signal sends sig to the leader. A leader that has exited is not an
// error. Until the reaper has waited for it, the pid names this child
// (dead or alive); the reaper's lock keeps the wait from happening between
// the check and the kill.
func (p *Process) Signal(sig syscall.Signal) error {
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

// SignalGroup sends sig to every member of the process group.
func (p *Process) SignalGroup(sig syscall.Signal) error {
	err := syscall.Kill(-p.Pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// Done is closed once the leader was reaped; Status is valid then.
func (p *Process) Done() <-chan struct{} { return p.done }

// Status is the leader's wait status, valid after Done.
func (p *Process) Status() syscall.WaitStatus { return p.status }

// exited records the reaped status, and kills what is left of the process
// group after the grace period: a supervised program leaves no orphans.
func (p *Process) exited(ws syscall.WaitStatus) {
	p.once.Do(func() {
		p.status = ws
		close(p.done)
		if p.onExit != nil {
			p.onExit(p.Pid, ws)
		}
		if p.grace > 0 && groupAlive(p.Pid) {
			leftovers.mu.Lock()
			leftovers.inFlight.Add(1)
			leftovers.timers[p.Pid] = time.AfterFunc(p.grace, func() {
				defer leftovers.inFlight.Done()
				killLeftoverGroup(p.Pid)
			})
			leftovers.mu.Unlock()
		}
	})
}

// leftovers are process groups whose leader exited while members lived on;
// each is killed when its grace period ends, or at once by KillLeftovers.
var leftovers = struct {
	mu       sync.Mutex
	timers   map[int]*time.Timer
	inFlight sync.WaitGroup // one per registered sweep until it has run or was stopped
}{timers: map[int]*time.Timer{}}

// killLeftoverGroup is a sweep whose grace period ended: it kills the
// group and waits until its members are gone.
func killLeftoverGroup(pgid int) {
	leftovers.mu.Lock()
	delete(leftovers.timers, pgid)
	leftovers.mu.Unlock()
	if groupAlive(pgid) {
		logger().Warn("killing leftover process group", "pgid", pgid)
		killAndWait(pgid, time.Now().Add(5*time.Second))
	}
}

// KillLeftoverGroup kills at once the members of process group pgid if it
// is a leftover waiting for its grace period, waits until they are gone, and
// reports whether it was one. A singleton's restart uses it: the old
// process's leftovers may hold the lock the new one needs.
func KillLeftoverGroup(pgid int) bool {
	leftovers.mu.Lock()
	t, ok := leftovers.timers[pgid]
	if ok {
		delete(leftovers.timers, pgid)
		if t.Stop() {
			leftovers.inFlight.Done()
		}
	}
	leftovers.mu.Unlock()
	if ok {
		killAndWait(pgid, time.Now().Add(2*time.Second))
	}
	return ok
}

func killAndWait(pgid int, deadline time.Time) {
	syscall.Kill(-pgid, syscall.SIGKILL)
	for len(GroupMembers(pgid)) > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
}

// KillLeftovers kills every leftover process group now, without waiting for
// its grace period, and waits for them to die, and for sweeps already under
// way: the daemon leaves no process behind when it exits.
func KillLeftovers() {
	leftovers.mu.Lock()
	var pgids []int
	for pgid, t := range leftovers.timers {
		if t.Stop() {
			leftovers.inFlight.Done()
		}
		pgids = append(pgids, pgid)
	}
	leftovers.timers = map[int]*time.Timer{}
	leftovers.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for _, pgid := range pgids {
		killAndWait(pgid, deadline)
	}
	leftovers.inFlight.Wait()
}

// groupAlive reports whether a process group still has a member.
func groupAlive(pgid int) bool { return syscall.Kill(-pgid, 0) == nil }
