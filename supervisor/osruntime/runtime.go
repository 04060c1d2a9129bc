package osruntime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ctlsup/ctlsup/supervisor"
	"github.com/ctlsup/ctlsup/supervisor/internal/cgroup"
	"github.com/ctlsup/ctlsup/supervisor/internal/holder"
	"github.com/ctlsup/ctlsup/supervisor/internal/logcap"
	"github.com/ctlsup/ctlsup/supervisor/internal/proc"
)

// Runtime runs real processes: one reaper, a cgroup (or else a process
// group) per spawn, log capture into rotated files, singleton locks and a
// journal for crash recovery, all under StateDir.
type Runtime struct {
	StateDir  string       // locks/ and state.json live here
	ServerURL string       // SUPERVISOR_SERVER_URL given to children
	Logger    *slog.Logger // defaults to slog.Default()
	// Console, when set, receives every process's output instead of its log
	// files, each line behind ConsolePrefix(spec, stream): ctlsup run.
	Console       io.Writer
	ConsolePrefix func(spec *supervisor.ProcessSpec, stderr bool) string

	state   *stateFile
	hub     *logcap.Hub // this runtime's log pipes and sinks
	console *logcap.Console
	// spawnSlots bounds the spawns in flight. Forks happen one at a time
	// anyway, but each spawn holds its pipes' write ends until its fork
	// is done: five thousand programs starting at once would hold ten
	// thousand descriptors on top of the ones they keep, and run out.
	spawnSlots chan struct{}
	// OnBurst, set before Open, is called when a spawn begins while
	// another is under way, or within burstGap of the last one's end:
	// many programs starting at once (a boot, a start all, an update).
	// On one P spawns seldom overlap (the next waits for the P), but they
	// follow each other at once. ctlsupd lends the burst a second P (see
	// cmd/ctlsupd/procs.go). It must not block.
	OnBurst   func()
	lastSpawn atomic.Int64 // when a spawn last ended, as monotonic ns since born
	born      time.Time
	holder    *holder.Client // nil in the foreground (ctlsup run), or NoHolder
	// spawner forks the children without copying the daemon's
	// descriptor table (see proc.Spawner); nil: Go's fork does.
	spawner *proc.Spawner
	// DirectFork, set before Open, forks with Go's fork, copying the
	// daemon's table. HelperFork leaves every fork to the helper, never
	// sharing the daemon's table.
	DirectFork, HelperFork bool
	// NoHolder, set before Open, runs without the fd holder, to measure
	// what it costs: an upgrade or a crash then loses every program's
	// output pipe (their programs are restarted) and how what ended
	// meanwhile exited.
	NoHolder   bool
	cgroups    *cgroup.Manager // nil in process-group mode; set by Open
	cgroupsOff atomic.Bool     // the kernel refused a spawn into a cgroup
	// containment is the mode in use, published for metrics.
	containment  atomic.Pointer[Containment]
	limitsWarned sync.Map // process names told their limits cannot apply
	acct         accounts
	socks        sockets  // listening sockets the programs share
	notify       notifier // the NOTIFY_SOCKET of ready = "notify" programs
	// leftLeaves are the cgroups a previous daemon left, listed before
	// anything spawns: what nothing adopts among them is swept.
	leftLeaves []*cgroup.Leaf

	// What a previous daemon left, until EndAdoption: its live processes
	// by name, the read ends the holder kept, the processes an operator
	// had stopped.
	survivors map[string]*journalEntry
	heldPipes map[string][]heldPipe // by process name
	heldStdin map[uint64]int        // stdin write ends by pipe inode
	// heldPidfds are pidfds the holder kept on a previous daemon's
	// spawns, by spawn id (see pidfds.go).
	heldPidfds map[uint64]int
	held       map[string]hold
	exits      map[uint64]pendingExit // exits the previous engine had not decided
	claimed    map[string]bool        // cgroups adopted or being stopped

	fences fences

	// Stops of a previous daemon's leftovers under way: Close waits for
	// them, and ends their retries (leftoverCut).
	leftoverStops sync.WaitGroup
	leftoverCut   chan struct{}
	cutLeftovers  sync.Once

	commands commands // on_exit and on_fatal actions, exec probes

	consoles      [2]*logcap.Console // the daemon's stdout and stderr, for programs logging there
	consolesOnce  sync.Once
	daemonEnvOnce sync.Once
	daemonEnv     []envVar // what children inherit of the daemon's environment, by name
}

// burstGap: a spawn that begins this soon after another ended belongs to
// the same burst. A start of many takes well under a millisecond between
// one spawn's end and the next one's beginning.
const burstGap = 2 * time.Millisecond

// New returns a runtime keeping its state under stateDir.
func New(stateDir string, log *slog.Logger) *Runtime {
	if log == nil {
		log = slog.Default()
	}
	return &Runtime{StateDir: stateDir, Logger: log, hub: logcap.NewHub(), spawnSlots: make(chan struct{}, 32), born: time.Now(),
		leftoverCut: make(chan struct{}), commands: commands{cut: make(chan struct{})}}
}

// Open acquires the reaper, reaches the fd holder (starting one if none
// runs) and reads what a previous daemon left running, for Adopt.
func (r *Runtime) Open(ctx context.Context) error {
	if err := os.MkdirAll(filepath.Join(r.StateDir, "locks"), 0o755); err != nil {
		return fmt.Errorf("cannot create state directory: %w", err)
	}
	if err := proc.Acquire(r.Logger); err != nil {
		return err
	}
	// Before the holder starts: it then runs in the daemon's leaf.
	r.openContainment()
	if !r.DirectFork {
		r.openSpawner()
	}
	if r.cgroups != nil {
		r.leftLeaves = r.cgroups.Leaves()
	}
	if r.Console != nil {
		r.console = logcap.NewConsole(r.Console)
	} else if !r.NoHolder {
		r.holder = holder.Connect(r.StateDir, r.Logger)
		r.holder.OnReconnect(r.rekeepPidfds)
	}
	state, old, held, exits := openStateFile(filepath.Join(r.StateDir, "state.json"), proc.BootID(), r.Logger)
	r.state, r.held, r.exits = state, held, exits
	if err := r.hub.Prepare(); err != nil {
		r.Logger.Warn("log capture", "err", err) // tried again at each pipe
	}
	r.takeHeldPipes()
	r.survivors, r.claimed = map[string]*journalEntry{}, map[string]bool{}
	for _, e := range old {
		r.resolve(e)
	}
	return nil
}

// Close waits for the stops of a previous daemon's leftovers, kills what
// is left of stopped programs' process groups, stops the fd holder and
// releases the reaper: every program has stopped.
func (r *Runtime) Close() error {
	r.cutLeftovers.Do(func() { close(r.leftoverCut) })
	r.commands.stop()
	proc.KillLeftovers()
	r.leftoverStops.Wait()
	if r.spawner != nil {
		r.spawner.Close()
	}
	r.closeSockets()
	r.closeNotify()
	err := errors.Join(r.state.close(), r.hub.Close())
	r.flushConsoles()
	if r.cgroups != nil {
		r.cgroups.Close()
	}
	if r.holder != nil {
		r.holder.Quit()
	}
	proc.Release()
	return err
}

// Detach leaves every program running for a successor (an upgraded image
// of this daemon, or a new daemon): nothing is spawned or reaped and no
// pipe is drained from now on, so exits wait for the successor and output
// waits in the pipes; the journal and the holder have everything.
func (r *Runtime) Detach() (undo func()) {
	// The holder first: once detached, it never starts another holder,
	// which would need the reaper that Freeze holds.
	if r.holder != nil {
		r.holder.Detach()
	}
	// The spawner exits and is reaped now, not found by the successor.
	if r.spawner != nil {
		r.spawner.Close()
	}
	thaw := proc.Freeze()
	resume := r.hub.Quiesce()
	r.flushConsoles() // what was taken from the pipes for the daemon's own output
	r.state.suspend(true)
	return func() {
		r.state.suspend(false)
		resume()
		// Before the holder: a holder that died meanwhile is started
		// again by a spawn, which needs the reaper Freeze holds.
		thaw()
		if r.holder != nil {
			r.holder.Reattach()
		}
		if r.spawner != nil {
			if err := r.spawner.Reopen(); err != nil {
				r.Logger.Warn("the daemon forks its children itself", "err", err)
			}
		}
	}
}

// NewOutput returns the log capture of spec.
func (r *Runtime) NewOutput(spec *supervisor.ProcessSpec) supervisor.Output {
	// A sink's warnings name its path; processes may share it.
	log := r.Logger
	o := &output{Capture: logcap.Capture{Redirect: spec.RedirectStderr, Name: spec.FullName(), Hub: r.hub}}
	c := &o.Capture
	if r.holder != nil {
		c.Keeper = r.holder
	}
	if r.console != nil {
		c.Stdout = &logcap.Prefixed{Console: r.console, Prefix: func() string { return r.ConsolePrefix(spec, false) }}
		if !spec.RedirectStderr {
			c.Stderr = &logcap.Prefixed{Console: r.console, Prefix: func() string { return r.ConsolePrefix(spec, true) }}
		}
		return o
	}
	stream := func(l supervisor.LogSpec) logcap.Stream {
		if fd, ok := supervisor.ConsoleFD(l.Path); ok {
			return &logcap.Prefixed{Console: r.daemonConsole(fd), Prefix: func() string { return "" }}
		}
		return r.hub.OpenSink(l.Path, l.MaxBytes, l.Backups, log)
	}
	if spec.Stdout.Path != "" {
		c.Stdout = stream(spec.Stdout)
	}
	if spec.Stderr.Path != "" && !spec.RedirectStderr {
		c.Stderr = stream(spec.Stderr)
	}
	return o
}

// flushConsoles gives the lines queued for the daemon's own output a
// moment to be written before it exits or executes its successor.
func (r *Runtime) flushConsoles() {
	for fd := 1; fd <= 2; fd++ {
		r.daemonConsole(fd).Flush(consoleFlush)
	}
}

// consoleFlush is how long an exit or an upgrade waits for a console that
// is not being read.
const consoleFlush = time.Second

// daemonConsole is the daemon's own standard output (fd 1) or error (2),
// which programs logging to /dev/stdout or /dev/stderr share line by line.
func (r *Runtime) daemonConsole(fd int) *logcap.Console {
	r.consolesOnce.Do(func() {
		r.consoles = [2]*logcap.Console{logcap.NewQueuedConsole(os.Stdout), logcap.NewQueuedConsole(os.Stderr)}
		r.consoles[0].Log, r.consoles[1].Log = r.Logger, r.Logger
	})
	return r.consoles[fd-1]
}

// output is a process's log capture, and the fingerprint of its spec
// that its spawns record: a process keeps its spec for life, so the sum is
// made once, and goes with the process.
type output struct {
	logcap.Capture
	sum string // made by its first spawn, on its actor: not under the engine's lock
}

// specSum is spec's fingerprint, made once for its output o (nil: an
// output not made by NewOutput). Only the process's actor spawns it.
func specSum(spec *supervisor.ProcessSpec, o *output) string {
	if o == nil {
		return fingerprint(spec)
	}
	if o.sum == "" {
		o.sum = fingerprint(spec)
	}
	return o.sum
}

func (c *output) Stats() supervisor.OutputStats {
	var st supervisor.OutputStats
	if s := c.Stdout; s != nil {
		st.StdoutBytes, st.StdoutDropped, st.Rotations = s.Written(), s.Dropped(), s.Rotations()
	}
	if s := c.Stderr; s != nil {
		st.StderrBytes, st.StderrDropped = s.Written(), s.Dropped()
		st.Rotations += s.Rotations()
	}
	return st
}

// Check resolves the command as a spawn would.
func (r *Runtime) Check(spec *supervisor.ProcessSpec) error {
	_, err := resolve(spec)
	return err
}

func resolve(spec *supervisor.ProcessSpec) (string, error) {
	if len(spec.Argv) == 0 {
		return "", fmt.Errorf("%w: empty command", supervisor.ErrNoFile)
	}
	path, ok := spec.Environment["PATH"]
	if !ok {
		path = os.Getenv("PATH")
	}
	full, err := proc.LookPath(spec.Argv[0], path, spec.Directory)
	switch {
	case errors.Is(err, proc.ErrNotFound):
		return "", kindOf{supervisor.ErrNoFile, err}
	case err != nil:
		return "", kindOf{supervisor.ErrNotExecutable, err}
	}
	return full, nil
}

// logsUsable refuses a spawn whose log path is a directory, as
// supervisord's does: its output could go nowhere (the file is opened by
// the first output, which would find it out only then, and drop it).
func logsUsable(spec *supervisor.ProcessSpec) error {
	for _, l := range [2]supervisor.LogSpec{spec.Stdout, spec.Stderr} {
		if l.Path == "" {
			continue
		}
		if _, console := supervisor.ConsoleFD(l.Path); console {
			continue
		}
		if st, err := os.Stat(l.Path); err == nil && st.IsDir() {
			return fmt.Errorf("unknown error making dispatchers for '%s': EISDIR", spec.Name)
		}
	}
	return nil
}

// kindOf is an error of the engine's kind (ErrNoFile, ErrNotExecutable)
// that reads as its cause alone, as supervisord's spawn errors do: the
// status line and the log say "can't find command '/opt/app/bin/celery'".
type kindOf struct{ kind, cause error }

func (e kindOf) Error() string   { return e.cause.Error() }
func (e kindOf) Unwrap() []error { return []error{e.kind, e.cause} }

// Start spawns spec: environment built from scratch, credentials, umask,
// output pipes, and for a singleton the instance lock as fd 3.
func (r *Runtime) Start(spec *supervisor.ProcessSpec, out supervisor.Output) (supervisor.Child, error) {
	path, err := resolve(spec)
	if err != nil {
		return nil, err
	}
	if err := logsUsable(spec); err != nil {
		return nil, err
	}
	r.spawnSlots <- struct{}{}
	defer func() {
		r.lastSpawn.Store(int64(time.Since(r.born)))
		<-r.spawnSlots
	}()
	if last := r.lastSpawn.Load(); r.OnBurst != nil && (len(r.spawnSlots) > 1 || last != 0 && time.Since(r.born)-time.Duration(last) < burstGap) {
		r.OnBurst()
	}
	var cred *proc.Credential
	if spec.User != "" {
		if cred, err = proc.LookupUser(spec.User); err != nil {
			return nil, err
		}
	}
	files := make([]*os.File, 3, 4)
	var stdin *stdinPipe
	var stdinIno uint64
	var pipes logcap.Pipes
	capture, _ := out.(*output)
	if capture != nil {
		if pipes, err = capture.Attach(); err != nil {
			return nil, fmt.Errorf("cannot make output pipes: %w", err)
		}
		files[1], files[2] = pipes.Stdout, pipes.Stderr
		defer closeFiles(pipes.Stdout, pipes.Stderr)
	}
	// Listening sockets at 3, 4, ... as LISTEN_FDS wants them; any other
	// descriptor (a singleton's lock) after them.
	socks, err := r.socketFiles(spec)
	if err != nil {
		return nil, err
	}
	files = append(files, socks...)
	var lock *os.File
	if spec.Singleton {
		if lock, err = r.takeLock(spec); err != nil {
			return nil, err
		}
		defer lock.Close()
		files = append(files, lock)
	}
	env := r.childEnv(spec, cred)
	if len(socks) > 0 {
		names := make([]string, len(socks))
		for i, s := range spec.Sockets {
			names[i] = s.Name
		}
		env = append(env, "LISTEN_FDS="+strconv.Itoa(len(socks)), "LISTEN_FDNAMES="+strings.Join(names, ":"))
	}
	if spec.Ready.Kind == supervisor.ReadyNotify {
		addr, err := r.notifyAddress()
		if err != nil {
			return nil, fmt.Errorf("cannot make the notify socket: %w", err)
		}
		if err := reachable(addr, cred); err != nil {
			return nil, err
		}
		env = append(env, "NOTIFY_SOCKET="+addr)
	}
	if spec.Stdin {
		var childEnd *os.File
		if childEnd, stdin, stdinIno, err = r.newStdin(); err != nil {
			return nil, fmt.Errorf("cannot make a stdin pipe: %w", err)
		}
		defer childEnd.Close()
		files[0] = childEnd
	}
	c := &osChild{name: spec.FullName(), state: r.state, acct: &r.acct,
		memoryMax: spec.Limits.MemoryMax, rt: r, stdin: stdin}
	if r.console != nil {
		c.console = capture
	}
	attr := proc.Attr{
		Path:           path,
		Argv:           spec.Argv,
		Env:            env,
		ListenPID:      len(socks) > 0,
		Dir:            spec.Directory,
		Cred:           cred,
		Umask:          spec.Umask,
		Files:          files,
		GroupGrace:     spec.StopWait,
		LeftoverSignal: spec.StopSignal,
		OnExit:         c.exited,
		OnGone:         c.gone,
		OOMScoreAdj:    spec.Limits.OOMScoreAdj,
	}
	at := time.Now()
	sum := specSum(spec, capture)
	p, err := r.fork(spec, sum, c, &attr, pipes.Inodes[:], stdinIno)
	if err != nil && c.leaf != nil && errors.Is(err, syscall.ENOSYS) {
		r.dropCgroups(err)
		r.abandon(c)
		p, err = r.fork(spec, sum, c, &attr, pipes.Inodes[:], stdinIno)
	}
	if err != nil {
		r.abandon(c)
		if stdin != nil {
			if r.holder != nil {
				r.holder.Drop(stdin.id)
			}
			stdin.close()
		}
		why := spawnFailure(spec, cred, err)
		tellChildLog(pipes, err, why)
		return nil, why
	}
	c.p = p
	r.acct.forked(c.usage, p.Identity())
	switch spec.Ready.Kind {
	case supervisor.ReadyNotify:
		r.watchNotes(c)
	case supervisor.ReadyTCP, supervisor.ReadyHTTP, supervisor.ReadyExec:
		go r.probe(c, spec)
	}
	if lock != nil {
		lock.Truncate(0)
		fmt.Fprintf(lock, "%d\n", p.Pid)
	}
	r.fenceLive(c)
	// The holder gets its pidfd before the pid is journaled: a successor
	// of a daemon that died in between learns from it which process the
	// spawn's leader is, or that it ended (see resolve).
	r.keepPidfd(c, c.p)
	r.state.started(c.id, p.Pid, p.StartTime, at)
	return c, nil
}

// fork records the spawn and forks it, into a cgroup of its own when
// cgroups are in use.
func (r *Runtime) fork(spec *supervisor.ProcessSpec, sum string, c *osChild, attr *proc.Attr, pipes []uint64, stdin uint64) (*proc.Process, error) {
	c.id, c.leaf = r.state.newID(), nil
	attr.CgroupDir, attr.Container = nil, nil
	if r.useCgroups() {
		leaf, dir, err := r.cgroups.NewLeaf(c.name, c.id, leafLimits(spec.Limits))
		switch {
		case proc.OutOfResources(err):
			// Out of descriptors for now: started outside a cgroup, or
			// without its limits, what the program starts (setsid, a
			// double fork) could outlive it for good, or its limits never
			// apply. The spawn fails and is retried, as one that finds no
			// descriptor for its pipes is.
			if leaf != nil {
				dir.Close()
				leaf.Remove()
			}
			return nil, &cgroupError{err}
		case leaf == nil:
			r.Logger.Warn("cannot create the process's cgroup: its process group contains it", "process", c.name, "err", err)
		case err != nil:
			r.Logger.Warn("limits not applied", "process", c.name, "err", err)
		}
		if leaf != nil {
			defer dir.Close()
			c.leaf, attr.CgroupDir, attr.Container = leaf, dir, leaf
		}
	} else {
		r.warnLimits(spec)
	}
	c.usage = r.acct.begin(c.name, c.leaf)
	// Recorded before the fork: a daemon killed right after it leaves a
	// child its successor finds by these pipes, or by its cgroup.
	r.state.spawning(c.id, spec, sum, pipes, stdin, c.cgroupPath())
	return r.startProcess(*attr)
}

// abandon undoes what fork recorded for a spawn that did not happen.
func (r *Runtime) abandon(c *osChild) {
	r.acct.abort(c.name, c.usage)
	if c.leaf != nil {
		c.leaf.Remove()
	}
	r.state.gone(c.id)
}

func readHolder(lockPath string) string {
	b, _ := os.ReadFile(lockPath)
	return string(b)
}

func closeFiles(fs ...*os.File) {
	for i, f := range fs {
		if f != nil && !slices.Contains(fs[:i], f) {
			f.Close()
		}
	}
}

// takeLock takes the singleton's instance lock without blocking. The child
// inherits the lock, so it is held exactly as long as the child lives, even
// if the daemon dies.
func (r *Runtime) takeLock(spec *supervisor.ProcessSpec) (*os.File, error) {
	name := filepath.Join(r.StateDir, "locks", spec.Group+"."+spec.Program+".lock")
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		// A state directory gone read-only (or full) still holds the
		// lock file an earlier spawn made, and flock needs no write
		// access: the beat starts, its pid just not written in it.
		if ro, rerr := os.Open(name); rerr == nil {
			f, err = ro, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("cannot open singleton lock: %w", err)
	}
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if err != nil {
		// The holder may be what is left of this program's previous
		// process (a shell's child inherits the lock): those are killed
		// after their grace period anyway, so kill them now and retry.
		if pid, perr := strconv.Atoi(strings.TrimSpace(readHolder(name))); perr == nil && proc.KillLeftoverGroup(pid) {
			err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		}
	}
	if err != nil {
		holders := lockHolders(f)
		f.Close()
		// The pid it was spawned as, while that process holds it; else
		// whatever holds it now (what it started and left behind).
		spawned := strings.TrimSpace(readHolder(name))
		if len(holders) > 0 && !slices.Contains(holders, spawned) {
			return nil, fmt.Errorf("singleton %s is still running as pid %s", spec.FullName(), strings.Join(holders, ", "))
		}
		return nil, fmt.Errorf("singleton %s is still running as pid %s", spec.FullName(), spawned)
	}
	return f, nil
}

// lockHolders names the processes that hold the lock file open (the
// process spawned with it, or what it started and left holding it), from
// their descriptors in /proc, not from the pid recorded at spawn.
func lockHolders(lock *os.File) []string {
	want, err := lock.Stat()
	if err != nil {
		return nil
	}
	self := strconv.Itoa(os.Getpid())
	var holders []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid := e.Name()
		if pid[0] < '0' || pid[0] > '9' || pid == self {
			continue
		}
		fds, _ := os.ReadDir("/proc/" + pid + "/fd")
		for _, fd := range fds {
			if st, err := os.Stat("/proc/" + pid + "/fd/" + fd.Name()); err == nil && os.SameFile(st, want) {
				holders = append(holders, pid)
				break
			}
		}
	}
	return holders
}

// childEnv builds the environment from scratch: the daemon's own minus what
// systemd addressed to the daemon alone, the user's login variables,
// supervisord's SUPERVISOR_* names, then the instance and program
// environment, which wins over all of them.
func (r *Runtime) childEnv(spec *supervisor.ProcessSpec, cred *proc.Credential) []string {
	r.daemonEnvOnce.Do(func() {
		seen := map[string]bool{}
		for _, kv := range os.Environ() { // Go's keeps the first of a name
			k, v, _ := strings.Cut(kv, "=")
			if seen[k] || k == "NOTIFY_SOCKET" || strings.HasPrefix(k, "LISTEN_") || strings.HasPrefix(k, "WATCHDOG_") {
				continue
			}
			seen[k] = true
			r.daemonEnv = append(r.daemonEnv, envVar{k, k + "=" + v})
		}
		slices.SortFunc(r.daemonEnv, func(a, b envVar) int { return strings.Compare(a.key, b.key) })
	})
	// What the spawn sets over the daemon's environment, the later wins.
	over := make(map[string]string, len(spec.Environment)+6)
	if cred != nil {
		for _, kv := range cred.Env() {
			k, v, _ := strings.Cut(kv, "=")
			over[k] = v
		}
	}
	if spec.Directory != "" {
		over["PWD"] = spec.Directory // the daemon's own would mislead the child
	}
	over["SUPERVISOR_ENABLED"] = "1"
	over["SUPERVISOR_PROCESS_NAME"] = spec.Name
	over["SUPERVISOR_GROUP_NAME"] = spec.Group
	if r.ServerURL != "" {
		over["SUPERVISOR_SERVER_URL"] = r.ServerURL
	}
	// The program's environment wins over supervisord's variables, as in
	// supervisord: a listener run as another user reaches the daemon over
	// TCP with its own SUPERVISOR_SERVER_URL (supervisord's serverurl=).
	for k, v := range spec.Environment {
		// What the daemon sets for the sockets and readiness it gives
		// is its own to set: a program's copy would win in getenv.
		if k == "NOTIFY_SOCKET" || strings.HasPrefix(k, "LISTEN_") {
			continue
		}
		over[k] = v
	}
	// Both sorted by name: merged, the daemon's "k=v" strings are reused
	// and only what the spawn sets is built.
	keys := slices.Sorted(maps.Keys(over))
	out := make([]string, 0, len(r.daemonEnv)+len(keys))
	inherited := r.daemonEnv
	for _, k := range keys {
		for len(inherited) > 0 && inherited[0].key < k {
			out = append(out, inherited[0].kv)
			inherited = inherited[1:]
		}
		if len(inherited) > 0 && inherited[0].key == k {
			inherited = inherited[1:]
		}
		out = append(out, k+"="+over[k])
	}
	for _, e := range inherited {
		out = append(out, e.kv)
	}
	return out
}

// envVar is one variable of the daemon's environment: its name, and the
// "name=value" a child inherits.
type envVar struct{ key, kv string }

type osChild struct {
	p     *proc.Process // set once Start returns; used by the actor only
	name  string
	state *stateFile
	id    uint64 // its journal entry
	supervisor.Exit
	supervisor.Notes              // readiness, from the notify socket or a probe
	leaf             *cgroup.Leaf // its cgroup; nil in process-group mode
	acct             *accounts
	usage            *spawnUsage // its part of its program's account
	// memoryMax is its limit, which an OOM kill's exit text names.
	memoryMax int64
	// killed: the daemon sent it SIGKILL, so a SIGKILL death is not the
	// kernel's OOM killer.
	killed       atomic.Bool
	journalOrder atomic.Int32 // exitRecorded, goneAsked
	goneOnce     sync.Once
	pidfdKept    atomic.Int32 // pidfdHanded, pidfdGone (see pidfds.go)
	rt           *Runtime
	stdin        *stdinPipe // nil without Stdin
	// console is its output where that is the console (ctlsup run): a
	// person reads its last lines before the line saying it exited.
	console *output
	// stopAt is when its stop began (the engine's actor's alone).
	stopAt time.Time
}

// WriteStdin queues b for the process's stdin.
func (c *osChild) WriteStdin(b []byte) error {
	if c.stdin == nil {
		return os.ErrNotExist
	}
	return c.stdin.write(b)
}

func (c *osChild) cgroupPath() string {
	if c.leaf == nil {
		return ""
	}
	return c.leaf.Path
}

func (c *osChild) Pid() int { return c.p.Pid }

func (c *osChild) Signal(sig syscall.Signal, group bool) error {
	if sig == syscall.SIGKILL {
		c.killed.Store(true)
	}
	if group {
		if sig != syscall.SIGKILL && !c.stopAt.IsZero() {
			c.p.StopReachedGroup() // what outlives the leader was asked
		}
		return c.p.SignalGroup(sig)
	}
	return c.p.Signal(sig)
}

// Stopping records that a stop began, so a successor finishes it.
func (c *osChild) Stopping(shutdown bool) {
	now := time.Now()
	if c.stopAt.IsZero() {
		c.stopAt = now
	}
	c.p.Stopping(c.stopAt)
	c.state.stopping(c.id, shutdown, now)
}

// Ended reports whether the process has ended, its exit perhaps not yet
// collected (see supervisor.EndedChild).
func (c *osChild) Ended() bool { return c.p != nil && c.p.Ended() }

// exited runs in the reaper, possibly before Start returned: Exit keeps
// the status until the engine asks for it.
func (c *osChild) exited(pid int, ws syscall.WaitStatus, known bool) {
	if !known {
		st := supervisor.ExitStatus{Code: -1, Text: "status unknown (ended as another process's child)"}
		c.recordExit(st)
		c.Exited(st)
		return
	}
	st := supervisor.ExitStatus{Code: proc.ExitCode(ws), Signaled: ws.Signaled(), Text: proc.Describe(ws)}
	if st.Signaled {
		st.Signal = ws.Signal()
	}
	// The kernel counts its OOM kills in the spawn's cgroup: a SIGKILL
	// the daemon did not send, with one counted, is the OOM killer's.
	if c.leaf != nil && ws.Signaled() && ws.Signal() == syscall.SIGKILL && !c.killed.Load() && c.leaf.OOMKills() > 0 {
		st.OOMKilled = true
		if c.memoryMax > 0 {
			st.Text += " (out of memory: memory_max reached)"
		} else {
			st.Text += " (killed by the kernel's OOM killer)"
		}
	}
	c.recordExit(st)
	if c.console != nil {
		// A log file's reader may lag: the reaper does not wait on a
		// disk. The console is written at once anyway.
		c.console.Flush()
	}
	c.Exited(st)
}

// Journal order: the exit is recorded before the spawn's gone record,
// which the sweep's goroutine may reach first: it then leaves the gone
// record to recordExit.
const (
	exitRecorded int32 = 1
	goneAsked    int32 = 2
)

// recordExit journals the exit, pending until the engine has decided it.
func (c *osChild) recordExit(st supervisor.ExitStatus) {
	c.state.ended(c.id, c.name, st, time.Now())
	if c.journalOrder.Swap(exitRecorded) == goneAsked {
		c.state.gone(c.id)
	}
}

// ExitDecided is supervisor.ExitDecider's: the engine has decided what
// follows the exit, which a successor need not decide again.
func (c *osChild) ExitDecided() { c.state.decided(c.id) }

// gone closes the journal entry once no process of the spawn remains, and
// removes its cgroup after adding what it used to the program's account.
func (c *osChild) gone() {
	c.goneOnce.Do(func() {
		if c.rt != nil {
			c.rt.unwatchNotes(c)
		}
		if c.stdin != nil {
			if c.rt != nil && c.rt.holder != nil {
				c.rt.holder.Drop(c.stdin.id)
			}
			c.stdin.close()
		}
		c.acct.end(c.name, c.usage)
		if c.leaf != nil {
			c.leaf.Remove()
		}
		if !c.journalOrder.CompareAndSwap(0, goneAsked) {
			c.state.gone(c.id)
		}
		if c.rt != nil {
			c.rt.fenceGone(c)
			c.rt.dropPidfd(c)
		}
	})
}

// LogFile is a rotated log file written the way program logs are, never
// through a planted symbolic link and never blocking its writer, but
// rotated before a record that would take it past its size instead of
// exactly at it: no record is split. The daemon's own log uses it.
type LogFile interface {
	io.Writer
	Reopen() error // for logrotate's create mode (SIGUSR2)
	Clear() error
	Close() error
}

// OpenLogFile returns the log file at path; nothing is opened before the
// first write.
func OpenLogFile(path string, maxBytes int64, backups int) LogFile {
	return logcap.NewLineSink(path, maxBytes, backups)
}

// CheckCommand looks spec's command up as a spawn would: on its PATH,
// from its directory.
func CheckCommand(spec *supervisor.ProcessSpec) error {
	_, err := resolve(spec)
	return err
}

// CheckUser reports whether a program's user exists, as a spawn would
// find it.
func CheckUser(name string) error {
	_, err := proc.LookupUser(name)
	return err
}

// Orphans counts exits of processes the daemon did not start: grandchildren
// reparented to it. The reaper is process-wide (SIGCHLD and wait4(-1) are),
// so this is too.
func Orphans() int64 { return proc.Orphans() }
