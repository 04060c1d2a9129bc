package supervisor

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// fakeRuntime runs no process: each spawn is a fakeChild whose exit the test
// (or its signal behaviour) decides. All its channels are made inside the
// synctest bubble, so actors blocked on them are durably blocked.
type fakeRuntime struct {
	Ephemeral
	mu       sync.Mutex
	nextPid  int
	spawns   chan *fakeChild // every spawn, in order
	behavior map[string]fakeBehavior
	checkErr error
	held     map[string]bool // what Hold recorded: operators' stops
	journal  []string        // "spawn NAME", "hold NAME", "decided NAME", "settled NAME": what a journal would record
}

func (r *fakeRuntime) Hold(spec *ProcessSpec, down *Down) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.held == nil {
		r.held = map[string]bool{}
	}
	if down != nil {
		r.held[spec.FullName()] = true
		r.journal = append(r.journal, "hold "+spec.FullName())
	} else {
		delete(r.held, spec.FullName())
	}
}

// SettleExits is ExitSettler's.
func (r *fakeRuntime) SettleExits(spec *ProcessSpec) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.journal = append(r.journal, "settled "+spec.FullName())
}

// ExitDecided is ExitDecider's.
func (c *fakeChild) ExitDecided() {
	c.rt.mu.Lock()
	defer c.rt.mu.Unlock()
	c.rt.journal = append(c.rt.journal, "decided "+c.name)
}

// recorded is what the runtime was told to record, in order.
func (r *fakeRuntime) recorded() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.journal)
}

func (r *fakeRuntime) isHeld(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.held[name]
}

type fakeBehavior struct {
	ignoreTerm bool          // only SIGKILL ends it
	exitAfter  time.Duration // exits by itself with exitCode after this; 0 never
	exitCode   int
}

type fakeChild struct {
	rt   *fakeRuntime
	name string
	pid  int
	at   time.Time
	Exit
	signals []syscall.Signal
	firstAt time.Time   // when the first signal came
	dead    atomic.Bool // ended, its exit not yet told (EndedChild)
	// shutdownStop: the last Stopping said the stop is the daemon's.
	shutdownStop atomic.Bool
}

func (c *fakeChild) Ended() bool { return c.dead.Load() }

func newFakeRuntime() *fakeRuntime {
	return &fakeRuntime{nextPid: 100, spawns: make(chan *fakeChild, 1000), behavior: map[string]fakeBehavior{}}
}

func (r *fakeRuntime) Open(context.Context) error    { return nil }
func (r *fakeRuntime) Close() error                  { return nil }
func (r *fakeRuntime) NewOutput(*ProcessSpec) Output { return fakeOutput{} }
func (r *fakeRuntime) Check(*ProcessSpec) error      { return r.checkErr }
func (c *fakeChild) Stopping(shutdown bool)          { c.shutdownStop.Store(shutdown) }
func (r *fakeRuntime) set(name string, b fakeBehavior) {
	r.mu.Lock()
	r.behavior[name] = b
	r.mu.Unlock()
}
func (r *fakeRuntime) get(name string) fakeBehavior {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.behavior[name]
}
func (c *fakeChild) Pid() int         { return c.pid }
func (fakeOutput) Stats() OutputStats { return OutputStats{} }
func (fakeOutput) Reopen() error      { return nil }
func (fakeOutput) Close() error       { return nil }

type fakeOutput struct{}

func (r *fakeRuntime) Start(spec *ProcessSpec, _ Output) (Child, error) {
	r.mu.Lock()
	r.nextPid++
	c := &fakeChild{rt: r, name: spec.FullName(), pid: r.nextPid, at: time.Now()}
	r.journal = append(r.journal, "spawn "+c.name)
	r.mu.Unlock()
	r.spawns <- c
	if b := r.get(c.name); b.exitAfter > 0 {
		time.AfterFunc(b.exitAfter, func() { c.exit(ExitStatus{Code: b.exitCode}) })
	}
	return c, nil
}

func (c *fakeChild) Signal(sig syscall.Signal, group bool) error {
	c.rt.mu.Lock()
	if len(c.signals) == 0 {
		c.firstAt = time.Now()
	}
	c.signals = append(c.signals, sig)
	c.rt.mu.Unlock()
	if sig == syscall.SIGKILL || !c.rt.get(c.name).ignoreTerm {
		c.exit(ExitStatus{Code: -1, Signaled: true, Text: "terminated by " + sig.String()})
	}
	return nil
}

func (c *fakeChild) exit(st ExitStatus) { c.Exited(st) }
func (fakeOutput) Clear() error         { return nil }

// signalled is what the child was sent so far.
func (c *fakeChild) signalled() []syscall.Signal {
	c.rt.mu.Lock()
	defer c.rt.mu.Unlock()
	return append([]syscall.Signal(nil), c.signals...)
}
