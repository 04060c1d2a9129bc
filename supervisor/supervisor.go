package supervisor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Wait says whether an operation returns once its effect is issued or once
// the processes reached the resulting state (RUNNING or a failure for start,
// stopped for stop), as supervisord's wait argument does.
type Wait bool

// Wait modes.
const (
	NoWait      Wait = false
	WaitForDone Wait = true
)

// Result is the outcome of a group or all operation for one process.
type Result struct {
	Name, Group string
	Err         error // nil on success
}

// Supervisor owns every supervised process. Create it with New, set the
// fields, call Open, and Close it to stop every process. Operations on
// processes (Start, Stop, Restart, Signal) take a Target: All(), a
// Group or a Process; reading a namespec into one is the API's business.
// A configuration change is applied only by Update, Apply or ApplyGroup.
//
// Contexts bound waiting, never committed work: a method whose context
// ends returns ctx.Err(), but what it had started (a stop, a spawn, an
// update of the process tables) still runs to its end.
type Supervisor struct {
	// Logger receives the engine's own log; defaults to slog.Default().
	Logger *slog.Logger
	// Loader reads the configuration again for Reread and Update.
	Loader func() ([]GroupSpec, error)
	// MemoryCheck is how often memory_restart is checked;
	// DefaultMemoryCheck if zero.
	MemoryCheck time.Duration
	// OnShutdown asks the daemon to shut down: a process's on_fatal or
	// on_exit = "shutdown".
	OnShutdown func()
	// OnReady, if set, is called once Open has taken over its programs
	// (added, adopted), before it starts them: from then on the engine
	// answers for all of them, and its API may serve.
	OnReady func()
	// FirstEventSerial is the serial of its first event: an engine that
	// replaces another in the same daemon (a reload) goes on from the
	// old one's NextEventSerial, as supervisord's serials go on.
	FirstEventSerial uint64

	rt      Runtime
	applyMu sync.Mutex // one Apply at a time
	mu      sync.RWMutex
	groups  []*group // config order
	byName  map[string]*process
	// registryGen counts changes of byName (under mu): what is derived
	// from every process's spec is computed again only when it moves.
	registryGen atomic.Uint64
	closing     atomic.Bool
	closeOnce   sync.Once
	closeErr    error
	pending     []GroupSpec // the config read by the last Reread
	changes     changes
	quit        chan struct{} // closed by Close
	closed      chan struct{} // closed once Close has stopped everything
	events      bus
	poolsMu     sync.Mutex
	pools       map[string]*pool // event listener pools by group

	// Leases, if set, keeps singleton = "cluster" processes to one daemon
	// of the cluster; set before Open.
	Leases       Leases
	leaseMu      sync.Mutex
	leases       map[string]*heldLease // held, by process name
	leaseHolders map[string]string     // who holds each known lease
	// redoing: adopted processes being stopped to be started again, after
	// the daemon's death; guarded by mu.
	redoing map[*process]bool
}

type group struct {
	spec  GroupSpec
	procs []*process
}

// New returns a supervisor over rt for the given groups. Nothing runs
// until Open.
func New(rt Runtime, groups []GroupSpec) *Supervisor {
	s := &Supervisor{rt: rt, byName: map[string]*process{}, quit: make(chan struct{}), closed: make(chan struct{}),
		leases: map[string]*heldLease{}, leaseHolders: map[string]string{}, redoing: map[*process]bool{}}
	s.pending = groups
	return s
}

// Open prepares the runtime, adopts what a previous daemon left running
// (same pids, same output pipes), and starts every other autostart process
// in ascending priority. Processes of one priority are spawned in
// parallel; Open does not wait for RUNNING. Adopted processes that must be
// restarted (configuration changed meanwhile, output lost, a stop under
// way) are stopped in descending priority in the background, each started
// again as soon as its own old process is gone.
func (s *Supervisor) Open(ctx context.Context) error {
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	if s.MemoryCheck <= 0 {
		s.MemoryCheck = DefaultMemoryCheck
	}
	if err := s.rt.Open(ctx); err != nil {
		return err
	}
	go s.watchMemory()
	go s.reportStops()
	s.mu.Lock()
	shared := sharedNames(s.pending, nil)
	for _, gs := range s.pending {
		s.addGroupLocked(gs, true, shared)
	}
	all := s.allLocked()
	s.mu.Unlock()
	s.rt.EndAdoption()
	s.keepSockets() // bound at start, before anything needs them
	if s.OnReady != nil {
		s.OnReady()
	}
	// Each pool starts as its group is added, as supervisord's: it sees
	// its own group's PROCESS_GROUP_ADDED and those after it.
	for _, g := range s.groupNames() {
		s.startPool(g)
		s.emitGroup(true, g)
	}
	s.emit("SUPERVISOR_STATE_CHANGE_RUNNING", "")
	var fresh, redo, kept []*process
	for _, p := range all {
		switch a := p.adopted(); {
		case a.Child != nil && (a.Restart || p.listener):
			// A listener's protocol state died with the old daemon:
			// restarted, it starts afresh with READY.
			redo = append(redo, p)
		case a.Child != nil:
			kept = append(kept, p)
		case !a.Stopped:
			fresh = append(fresh, p)
		}
	}
	// What is stopped to be started again is waited for by what depends
	// on it (see awaitDeps), until it has been.
	s.mu.Lock()
	for _, p := range redo {
		if a := p.adopted(); !a.Stopped && (p.spec.AutoStart || !a.Fresh) {
			s.redoing[p] = true
		}
	}
	s.mu.Unlock()
	s.resumeLeases(kept)
	s.startAuto(ctx, fresh)
	if len(redo) > 0 {
		ctx := context.WithoutCancel(ctx) // committed: the old processes are ours to replace
		go s.fanOut(ctx, redo, descending, func(p *process) error {
			// A stop under way refuses another: either way, wait for it.
			s.issueStop(ctx, p, p.spec.FullName(), passing)
			p.waitUntil(ctx, stoppedCond)
			if a := p.adopted(); !a.Stopped && (p.spec.AutoStart || !a.Fresh) {
				s.issueStart(ctx, p, p.spec.FullName(), true)
			}
			s.mu.Lock()
			delete(s.redoing, p)
			s.mu.Unlock()
			s.changes.notify()
			return nil
		})
	}
	return nil
}

// Detach leaves every process running for a successor (see
// Runtime.Detach) and refuses further operations. undo resumes, for a
// successor that could not be started.
func (s *Supervisor) Detach() (undo func()) {
	s.closing.Store(true)
	resume := s.rt.Detach()
	return func() {
		resume()
		s.closing.Store(false)
	}
}

// Close stops every process in descending priority, each with its own
// stopwaitsecs, waits until all are reaped, forgets which an operator had
// stopped, and closes the runtime. It
// returns every error of that teardown, joined. Later calls return the
// first call's result.
func (s *Supervisor) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.emit("SUPERVISOR_STATE_CHANGE_STOPPING", "")
		s.closing.Store(true)
		if c, ok := s.rt.(ClosingRuntime); ok {
			c.Closing()
		}
		close(s.quit)
		s.applyMu.Lock()
		defer s.applyMu.Unlock()
		s.mu.RLock()
		all := s.allLocked()
		s.mu.RUnlock()
		// A stop of the daemon ends the operators' stops (and what exited
		// for good) with it: the next start, a reload's or a new daemon's,
		// starts what autostart says, as supervisord's does. Released
		// before the stops, so that a daemon killed in the middle of a
		// reload leaves its successor the whole of it to do. Only a daemon
		// that dies or detaches otherwise leaves them to its successor.
		for _, p := range all {
			s.rt.Hold(p.spec, nil)
		}
		err := s.shutdown(ctx, all)
		for _, p := range all {
			s.rt.Hold(p.spec, nil) // what exited for good meanwhile
		}
		s.stopPools() // after the listeners, which stop last, had the shutdown's events
		close(s.closed)
		s.closeErr = errors.Join(err, s.rt.Close())
	})
	return s.closeErr
}

// newProcess makes the actor of spec, which it shares with the
// configuration it came from: a spec is never changed once loaded.
// nameShared says whether another process has its name, before its
// actor logs anything.
func (s *Supervisor) newProcess(spec *ProcessSpec, adopt, listener, nameShared bool) *process {
	pid := new(atomic.Int64)
	p := newProcess(spec, s.rt, s.Logger, s.newOutput(spec, listener, pid))
	p.listener, p.pid = listener, pid
	p.nameShared.Store(nameShared)
	p.changed = s.changes.notify
	p.onState = s.emitState
	if p.spec.ClusterSingleton && s.Leases != nil {
		p.mayNotSpawn = func() bool { return s.needsLease(p) }
		p.onGated = func() { s.leaseWaiter(p) }
	}
	if adopt {
		if a := s.rt.Adopt(p.spec, p.out); a.Child != nil || a.Restart || a.Stopped {
			p.adoption = &a
		}
	}
	p.begin()
	return p
}

// addGroupLocked registers a group and starts its actors, adopting what a
// previous daemon left for them when adopt is set. Must be called with
// s.mu held.
func (s *Supervisor) addGroupLocked(gs GroupSpec, adopt bool, shared map[string]bool) *group {
	g := &group{spec: gs}
	for i := range gs.Processes {
		ps := &gs.Processes[i]
		p := s.newProcess(ps, adopt, gs.Listener != nil, shared[ps.Name])
		p.groupPrio.Store(int64(gs.Priority))
		g.procs = append(g.procs, p)
		s.byName[ps.FullName()] = p
	}
	s.groups = append(s.groups, g)
	s.registryGen.Add(1)
	return g
}

// sharedNames are the names more than one process of groups and procs
// has (one program run in several instances): their log lines tell the
// group, which supervisord's format leaves out where the name is enough.
func sharedNames(groups []GroupSpec, procs map[string]*process) map[string]bool {
	count := map[string]int{}
	for _, g := range groups {
		for _, p := range g.Processes {
			count[p.Name]++
		}
	}
	for _, p := range procs {
		count[p.spec.Name]++
	}
	shared := map[string]bool{}
	for name, n := range count {
		if n > 1 {
			shared[name] = true
		}
	}
	return shared
}

// markSharedNamesLocked marks the processes whose name another process
// has (sharedNames), once the tables are whole after a change that may
// have given a process's name to another, or taken it. s.mu held.
func (s *Supervisor) markSharedNamesLocked() {
	shared := sharedNames(nil, s.byName)
	for _, p := range s.byName {
		p.nameShared.Store(shared[p.spec.Name])
	}
}

// allLocked lists every process, groups in config order. Must be called with
// s.mu held.
func (s *Supervisor) allLocked() []*process {
	var all []*process
	for _, g := range s.groups {
		all = append(all, g.procs...)
	}
	return all
}

func (s *Supervisor) startAuto(ctx context.Context, procs []*process) {
	var auto []*process
	for _, p := range procs {
		if p.spec.AutoStart {
			auto = append(auto, p)
		}
	}
	s.inLevels(auto, ascending, func(p *process) error {
		return s.issueStart(ctx, p, p.spec.FullName(), true)
	}, nil)
}

// shutdown stops procs for good in descending priority and waits for their
// actors to finish; it names those that had not when ctx ended.
func (s *Supervisor) shutdown(ctx context.Context, procs []*process) error {
	quiet := s.closing.Load()
	results := s.fanOut(ctx, procs, descending, func(p *process) error {
		if p.listener && quiet {
			s.drainPool(ctx, p)
		}
		p.send(ctx, command{kind: cmdShutdown, quiet: quiet})
		select {
		case <-p.done():
			return nil
		case <-ctx.Done():
			return fmt.Errorf("%s: not stopped: %w", p.spec.FullName(), ctx.Err())
		}
	})
	var errs []error
	for _, r := range results {
		errs = append(errs, r.Err)
	}
	return errors.Join(errs...)
}

type order int

const (
	ascending order = iota
	descending
)

// sortByPriority orders procs as supervisord does: groups by priority,
// then name; inside a group, processes by priority, then configuration
// order.
func sortByPriority(procs []*process, o order) []*process {
	return sortBy(procs, o, func(a, b *process) int {
		return cmp.Or(cmp.Compare(a.groupPrio.Load(), b.groupPrio.Load()), cmp.Compare(a.spec.Group, b.spec.Group),
			cmp.Compare(a.spec.Priority, b.spec.Priority))
	})
}

// byLevel is fanOut's order: by (group priority, priority) level.
func byLevel(a, b *process) int {
	la, lb := a.level(), b.level()
	return cmp.Or(cmp.Compare(la[0], lb[0]), cmp.Compare(la[1], lb[1]))
}

func (p *process) level() [2]int64 { return [2]int64{p.groupPrio.Load(), int64(p.spec.Priority)} }

func sortBy(procs []*process, o order, less func(a, b *process) int) []*process {
	sorted := slices.Clone(procs)
	slices.SortStableFunc(sorted, func(a, b *process) int {
		c := less(a, b)
		if o == descending {
			c = -c
		}
		return c
	})
	return sorted
}

// inOrder is how supervisord runs an operator's stop or signal of many
// processes: issue runs for each in priority order, one after the other,
// then wait (if set) for all of them at once. Priority is an order here,
// not a barrier: ten priority levels do not cost ten stopwaitsecs.
// Results come in supervisord's order (inCompletionOrder).
func (s *Supervisor) inOrder(procs []*process, o order, issue, wait func(*process) error) []Result {
	return s.issueAndWait(procs, o, false, issue, wait)
}

// inLevels is inOrder for starts. A start is issued once the previous one
// has spawned, which takes the whole of a spawn's path: one after another,
// 10,000 of them would take each one's in turn. Processes of one (group
// priority, priority) level have no order among them: theirs are issued
// together, a level once the one before it is done.
func (s *Supervisor) inLevels(procs []*process, o order, issue, wait func(*process) error) []Result {
	return s.issueAndWait(procs, o, true, issue, wait)
}

func (s *Supervisor) issueAndWait(procs []*process, o order, together bool, issue, wait func(*process) error) []Result {
	sorted := sortByPriority(procs, o)
	results := make([]Result, len(sorted))
	one := func(i int) {
		p := sorted[i]
		results[i] = Result{Name: p.spec.Name, Group: p.spec.Group, Err: issue(p)}
	}
	if !together {
		for i := range sorted {
			one(i)
		}
	} else {
		byLvl := make([]int, len(sorted))
		for i := range byLvl {
			byLvl[i] = i
		}
		slices.SortStableFunc(byLvl, func(a, b int) int {
			if o == descending {
				return byLevel(sorted[b], sorted[a])
			}
			return byLevel(sorted[a], sorted[b])
		})
		for start := 0; start < len(byLvl); {
			end := start + 1
			for end < len(byLvl) && byLevel(sorted[byLvl[start]], sorted[byLvl[end]]) == 0 {
				end++
			}
			eachAtOnce(byLvl[start:end], one)
			start = end
		}
	}
	if wait == nil {
		return results
	}
	began := time.Now()
	round := make([]int64, len(sorted))
	var wg sync.WaitGroup
	for i, p := range sorted {
		if results[i].Err == nil {
			wg.Go(func() {
				results[i].Err = wait(p)
				round[i] = 1 + int64(time.Since(began)/resultRound)
			})
		}
	}
	wg.Wait()
	return inCompletionOrder(results, round)
}

// resultRound groups the waited results that finished close together,
// which are then listed in priority order. supervisord looks at what a
// request waits for each time its main loop turns (at least 50 ms apart,
// and up to a second when nothing else happens), each look in priority
// order.
const resultRound = 50 * time.Millisecond

// inCompletionOrder orders the results as supervisord's answer does, which
// decides supervisorctl's exit status (the last failure's): refusals first
// (round 0), then the waited ones by the round they finished in, each
// round in priority order. (supervisord also lists a start that is
// RUNNING as its spawn returns, startsecs = 0, among the refusals; that
// moves a line, never the exit status.)
func inCompletionOrder(results []Result, round []int64) []Result {
	idx := make([]int, len(results))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(round[a], round[b]) })
	out := make([]Result, len(results))
	for k, i := range idx {
		out[k] = results[i]
	}
	return out
}

// issueWorkers bounds the issues under way at once: enough to keep a fork
// going while other spawns prepare their pipes, logs and cgroups.
const issueWorkers = 8

// eachAtOnce calls fn for each of idx, issueWorkers at a time.
func eachAtOnce(idx []int, fn func(int)) {
	if len(idx) == 1 {
		fn(idx[0])
		return
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(issueWorkers, len(idx)) {
		wg.Go(func() {
			for i := range next {
				fn(i)
			}
		})
	}
	for _, i := range idx {
		next <- i
	}
	close(next)
	wg.Wait()
}

// fanOut runs op level by level of equal group priority, in parallel
// inside a level, each level after the previous one has finished,
// and a process after those that depend on it: the daemon's own shutdown
// and the restarts after adoption. Results come in that order.
func (s *Supervisor) fanOut(ctx context.Context, procs []*process, o order, op func(*process) error) []Result {
	var results []Result
	for _, level := range s.dependentsFirst(procs, o) {
		part := make([]Result, len(level))
		var wg sync.WaitGroup
		for k, p := range level {
			wg.Go(func() { part[k] = Result{Name: p.spec.Name, Group: p.spec.Group, Err: op(p)} })
		}
		wg.Wait()
		results = append(results, part...)
	}
	return results
}

// anyDependencies reports whether a process of procs depends on another.
func (s *Supervisor) anyDependencies(procs []*process) bool {
	for _, p := range procs {
		if len(p.spec.DependsOn) > 0 {
			return true
		}
	}
	return false
}

// ByPriority lists the processes in supervisord's priority order: by group
// priority, then process priority, then configuration order.
func (s *Supervisor) ByPriority() []*ProcessInfo {
	s.mu.RLock()
	sorted := sortByPriority(s.allLocked(), ascending)
	s.mu.RUnlock()
	infos := make([]*ProcessInfo, len(sorted))
	for i, p := range sorted {
		infos[i] = p.info.Load()
	}
	return infos
}

// lookup finds a process by "name" (its group has its name) or "group:name".
func (s *Supervisor) lookup(op, name string) (*process, error) {
	if s.closing.Load() {
		return nil, opErr(op, name, ErrShutdown, "")
	}
	key := name
	if g, n, ok := strings.Cut(name, ":"); ok && g == n {
		key = n
	}
	s.mu.RLock()
	p := s.byName[key]
	s.mu.RUnlock()
	if p == nil {
		return nil, opErr(op, name, ErrBadName, "")
	}
	return p, nil
}

// groupProcs returns the processes of a group in config order.
func (s *Supervisor) groupProcs(op, name string) ([]*process, error) {
	if s.closing.Load() {
		return nil, opErr(op, name, ErrShutdown, "")
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, g := range s.groups {
		if g.spec.Name == name {
			return slices.Clone(g.procs), nil
		}
	}
	return nil, opErr(op, name, ErrBadName, "")
}

func (s *Supervisor) allProcs(op string) ([]*process, error) {
	if s.closing.Load() {
		return nil, opErr(op, "all", ErrShutdown, "")
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.allLocked(), nil
}

// startOne starts one process by "name" or "group:name". With
// WaitForDone it returns once the process is RUNNING, or with ErrSpawn or
// ErrAbnormalTermination when it failed to get there.
func (s *Supervisor) startOne(ctx context.Context, name string, w Wait) error {
	p, err := s.lookup("start", name)
	if err != nil {
		return err
	}
	return s.start(ctx, p, name, w)
}

func (s *Supervisor) start(ctx context.Context, p *process, name string, w Wait) error {
	if err := s.issueStart(ctx, p, name, false); err != nil || w == NoWait {
		return err
	}
	return s.awaitStart(ctx, p, name)
}

func (s *Supervisor) awaitStart(ctx context.Context, p *process, name string) error {
	var judged State
	cond := func(info *ProcessInfo) (bool, error) {
		judged = info.State
		return startedOrFailed(info)
	}
	err := p.waitUntil(ctx, cond)
	for errors.Is(err, ErrAbnormalTermination) && (judged == Stopping || judged == Stopped) {
		// Stopped by another request. While a stop is under way
		// supervisord looks at a waited start every 50 ms: a concurrent
		// restart that stops and starts the process again between two
		// looks (a program that ends at once) has both restarts answer
		// "started". A start within a look's time is this one's too.
		grace, cancel := context.WithTimeout(ctx, resultRound)
		again := p.waitUntil(grace, func(info *ProcessInfo) (bool, error) { return info.State == Starting || info.State == Running, nil })
		cancel()
		if again != nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			break
		}
		err = p.waitUntil(ctx, cond)
	}
	if err != nil {
		return opErr("start", name, err, startDetail(err, p))
	}
	return nil
}

// startGroup starts the processes of a group that are not running, in
// ascending priority; with WaitForDone it then waits for all of them.
func (s *Supervisor) startGroup(ctx context.Context, name string, w Wait) ([]Result, error) {
	procs, err := s.groupProcs("start", name)
	if err != nil {
		return nil, err
	}
	return s.startMany(ctx, procs, w), nil
}

// startAll starts every process that is not running.
func (s *Supervisor) startAll(ctx context.Context, w Wait) ([]Result, error) {
	procs, err := s.allProcs("start")
	if err != nil {
		return nil, err
	}
	return s.startMany(ctx, procs, w), nil
}

func (s *Supervisor) startMany(ctx context.Context, procs []*process, w Wait) []Result {
	procs = slices.DeleteFunc(procs, func(p *process) bool { return p.info.Load().State.IsRunning() })
	var wait func(*process) error
	if w == WaitForDone {
		wait = func(p *process) error { return s.awaitStart(ctx, p, p.spec.FullName()) }
	}
	return s.inLevels(procs, ascending, func(p *process) error {
		err := s.issueStart(ctx, p, p.spec.FullName(), false)
		if errors.Is(err, ErrAlreadyStarted) {
			return nil // started meanwhile as another's dependency
		}
		return err
	}, wait)
}

// stopOne stops one process; with WaitForDone it returns once the
// process was reaped.
func (s *Supervisor) stopOne(ctx context.Context, name string, w Wait) error {
	p, err := s.lookup("stop", name)
	if err != nil {
		return err
	}
	return s.stop(ctx, p, name, w, held)
}

// Whether a stop is the operator's own, which a successor daemon respects
// (it does not start the process again), or a step of a restart or update.
const (
	held    = true
	passing = false
)

func (s *Supervisor) stop(ctx context.Context, p *process, name string, w Wait, hold bool) error {
	if err := s.issueStop(ctx, p, name, hold); err != nil || w == NoWait {
		return err
	}
	return p.waitUntil(ctx, stoppedCond)
}

func (s *Supervisor) issueStop(ctx context.Context, p *process, name string, hold bool) error {
	if err := p.send(ctx, command{kind: cmdStop, hold: hold}); err != nil {
		return opErr("stop", name, err, "")
	}
	return nil
}

// stopGroup stops the running processes of a group, issuing the stops in
// priority order as supervisord does; with WaitForDone it then waits for
// all of them.
func (s *Supervisor) stopGroup(ctx context.Context, name string, w Wait) ([]Result, error) {
	procs, err := s.groupProcs("stop", name)
	if err != nil {
		return nil, err
	}
	return s.stopMany(ctx, procs, w, held), nil
}

// stopAll stops every running process, as stopGroup does.
func (s *Supervisor) stopAll(ctx context.Context, w Wait) ([]Result, error) {
	procs, err := s.allProcs("stop")
	if err != nil {
		return nil, err
	}
	return s.stopMany(ctx, procs, w, held), nil
}

func (s *Supervisor) stopMany(ctx context.Context, procs []*process, w Wait, hold bool) []Result {
	procs = slices.DeleteFunc(procs, func(p *process) bool { return !p.info.Load().State.IsRunning() })
	issue := func(p *process) error { return s.issueStop(ctx, p, p.spec.FullName(), hold) }
	waitStopped := func(p *process) error { return p.waitUntil(ctx, stoppedCond) }
	levels := s.dependencyLevels(procs)
	var results []Result
	for i, level := range levels {
		// Priority orders within a level; only dependencies wait: a
		// level stops once those depending on it have (the last one
		// waits only when asked).
		var wait func(*process) error
		if w == WaitForDone || i < len(levels)-1 {
			wait = waitStopped
		}
		results = append(results, s.inOrder(level, ascending, issue, wait)...)
	}
	return results
}

// restartOne stops a process, waits until it is reaped, and starts it
// again: never two of it at once, which singletons rely on. A running
// process with StartBeforeStop is replaced instead: its successor starts
// first, and it stops once that one is ready.
func (s *Supervisor) restartOne(ctx context.Context, name string, w Wait) error {
	p, err := s.lookup("restart", name)
	if err != nil {
		return err
	}
	if p.spec.StartBeforeStop && p.info.Load().State.IsRunning() {
		if cerr := commit(ctx, func(ctx context.Context) {
			s.applyMu.Lock()
			defer s.applyMu.Unlock()
			if s.closing.Load() {
				err = opErr("restart", name, ErrShutdown, "")
				return
			}
			err = s.replace(ctx, p, p.spec)
		}); cerr != nil {
			return cerr
		}
		return err
	}
	if err := s.stop(ctx, p, name, WaitForDone, passing); err != nil && !errors.Is(err, ErrNotRunning) {
		return err
	}
	return s.start(ctx, p, name, w)
}

// signalOne sends sig to one process's leader.
func (s *Supervisor) signalOne(ctx context.Context, name string, sig syscall.Signal) error {
	p, err := s.lookup("signal", name)
	if err != nil {
		return err
	}
	if err := p.send(ctx, command{kind: cmdSignal, sig: sig}); err != nil {
		return opErr("signal", name, err, "")
	}
	return nil
}

// signalGroup signals every signallable process of a group.
func (s *Supervisor) signalGroup(ctx context.Context, name string, sig syscall.Signal) ([]Result, error) {
	procs, err := s.groupProcs("signal", name)
	if err != nil {
		return nil, err
	}
	return s.signalMany(ctx, procs, sig), nil
}

// signalAll signals every signallable process.
func (s *Supervisor) signalAll(ctx context.Context, sig syscall.Signal) ([]Result, error) {
	procs, err := s.allProcs("signal")
	if err != nil {
		return nil, err
	}
	return s.signalMany(ctx, procs, sig), nil
}

func (s *Supervisor) signalMany(ctx context.Context, procs []*process, sig syscall.Signal) []Result {
	procs = slices.DeleteFunc(procs, func(p *process) bool { return !p.info.Load().State.IsSignallable() })
	return s.inOrder(procs, ascending, func(p *process) error {
		if err := p.send(ctx, command{kind: cmdSignal, sig: sig}); err != nil {
			return opErr("signal", p.spec.FullName(), err, "")
		}
		return nil
	}, nil)
}

// StateCounts counts the processes in each state, without copying or
// sorting the list as Processes does: a summary read after every burst
// of changes costs a walk of the registry.
func (s *Supervisor) StateCounts() map[State]int {
	counts := map[State]int{}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, p := range s.byName {
		counts[p.info.Load().State]++
	}
	return counts
}

// Processes returns a snapshot of every process, sorted by group then name
// as supervisord's getAllProcessInfo sorts them.
func (s *Supervisor) Processes() []*ProcessInfo {
	s.mu.RLock()
	infos := make([]*ProcessInfo, 0, len(s.byName))
	for _, p := range s.byName {
		infos = append(infos, p.info.Load())
	}
	s.mu.RUnlock()
	slices.SortFunc(infos, func(a, b *ProcessInfo) int {
		return cmp.Or(cmp.Compare(a.Group, b.Group), cmp.Compare(a.Name, b.Name))
	})
	return infos
}

// Process returns the snapshot of one process by "name" or "group:name".
func (s *Supervisor) Process(name string) (*ProcessInfo, error) {
	p, err := s.lookup("info", name)
	if err != nil {
		return nil, err
	}
	return p.info.Load(), nil
}

// ReopenLogs closes and reopens every process's log files, for logrotate.
func (s *Supervisor) ReopenLogs() {
	s.mu.RLock()
	all := s.allLocked()
	s.mu.RUnlock()
	for _, p := range all {
		if err := p.out.Reopen(); err != nil {
			p.logger().Warn("cannot reopen logs", "err", err)
		}
	}
}
