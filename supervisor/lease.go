package supervisor

import (
	"context"
	"errors"
	"strings"
	"time"
)

// Leases grants cluster-wide leases (singleton = "cluster"): at most one
// daemon of those sharing a coordination service holds a key at a time.
// supervisor/cluster implements it.
type Leases interface {
	// Acquire waits until this daemon holds want.Key, or ctx ends.
	Acquire(ctx context.Context, want LeaseWant) (Lease, error)
	// Node is this daemon's name in the cluster.
	Node() string
}

// LeaseWant is what Acquire is asked for.
type LeaseWant struct {
	Key string
	// StopWait is how long the process may take to stop: the lease is
	// given up (Lost) that long before the process must be gone.
	StopWait time.Duration
	// Resume takes the key only if it is free or this node holds it
	// already (a previous daemon's), failing at once if another does: a
	// process adopted from that daemon runs on only if it may.
	Resume bool
	// Waiting is told, while Acquire waits, who holds the key ("" when
	// that cannot be known, why in reason).
	Waiting func(holder, reason string)
	// Renewed is told the new deadline after each renewal: when the
	// process must be gone if no renewal follows.
	Renewed func(deadline time.Time)
}

// Lease is a held key.
type Lease interface {
	// Lost is closed when the process must stop now: its stop signal at
	// once, SIGKILL by Deadline.
	Lost() <-chan struct{}
	// Deadline is when the process must be gone if no renewal follows.
	Deadline() time.Time
	// Release gives the key up for another node to take at once: its
	// process has stopped.
	Release()
}

// Fencer is a Runtime that stops a process at a deadline even if the
// daemon is dead by then: a cluster singleton must not outlive its lease,
// although programs otherwise outlive the daemon.
type Fencer interface {
	// Fence arms (or moves) the fence of spec's process: its stop signal
	// StopWait before deadline, SIGKILL at deadline. A zero deadline
	// disarms it.
	Fence(spec *ProcessSpec, deadline time.Time)
}

// ErrLeaseHeldElsewhere is Acquire's answer to a Resume when another node
// holds the key.
var ErrLeaseHeldElsewhere = errors.New("held by another node")

// heldLease is a lease the engine holds for a process, and how it ends.
type heldLease struct {
	lease Lease
	done  chan struct{} // closed by release
}

// clusterWaitText begins the description of a process waiting for its
// lease.
const clusterWaitText = "waiting for the cluster lease"

// clusterWait is the description of a process waiting for its lease.
func clusterWait(holder, reason string) string {
	switch {
	case holder != "":
		return clusterWaitText + ": held by " + holder
	case reason != "":
		// One line, as status shows every description: a service's error
		// may span several.
		return clusterWaitText + ": " + strings.Join(strings.Fields(reason), " ")
	}
	return clusterWaitText
}

// needsLease reports whether p must acquire its lease before it spawns.
func (s *Supervisor) needsLease(p *process) bool {
	if !p.spec.ClusterSingleton || s.Leases == nil {
		return false
	}
	s.leaseMu.Lock()
	defer s.leaseMu.Unlock()
	return s.leases[p.spec.FullName()] == nil
}

// leaseWaiter waits for p's lease on behalf of every wait it is gated
// into, one at a time: two acquisitions of one lease for one process would
// end with the later giving up the lease the process runs under. A wait
// that begins while the waiter finishes is served by it.
func (s *Supervisor) leaseWaiter(p *process) {
	if !p.leaseWaiting.CompareAndSwap(false, true) {
		p.leaseWaitAgain.Store(true)
		return
	}
	for {
		s.mu.RLock()
		deps := s.depsLocked(p)
		s.mu.RUnlock()
		s.awaitLease(p, deps) // serves the wait under way, if any
		p.leaseWaiting.Store(false)
		// A wait that began before the store above asked for another
		// round; one that began after it has a waiter of its own.
		if !p.leaseWaitAgain.Swap(false) || !p.leaseWaiting.CompareAndSwap(false, true) {
			return
		}
	}
}

// awaitLease acquires p's lease while p waits (STARTING, no pid), then
// goes on as a start does: its dependencies, then the spawn. It gives up
// when p stops waiting or the daemon closes.
func (s *Supervisor) awaitLease(p *process, deps []*process) {
	if !p.info.Load().Waiting {
		return // served already, or stopped
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // stop waiting when p does
		for {
			changed := s.changes.wait()
			if !p.info.Load().Waiting || s.closing.Load() {
				cancel()
				return
			}
			select {
			case <-changed:
			case <-ctx.Done():
				return
			case <-s.quit:
				cancel()
				return
			}
		}
	}()
	if _, err := s.acquire(ctx, p, false); err != nil {
		return
	}
	if !p.info.Load().Waiting {
		s.releaseLease(p.spec)
		return
	}
	if len(deps) > 0 {
		s.awaitDeps(p, deps)
		return
	}
	p.send(context.Background(), command{kind: cmdDepsReady})
}

// acquire takes p's lease, keeping its description up to date while it
// waits, and watches it once held.
func (s *Supervisor) acquire(ctx context.Context, p *process, resume bool) (Lease, error) {
	name := p.spec.FullName()
	started := time.Now()
	lease, err := s.Leases.Acquire(ctx, LeaseWant{
		Key: name, StopWait: p.spec.StopWait, Resume: resume,
		Waiting: func(holder, reason string) {
			s.leaseMu.Lock()
			s.leaseHolders[name] = holder
			s.leaseMu.Unlock()
			if !resume {
				p.send(ctx, command{kind: cmdWaitText, text: clusterWait(holder, reason)})
			}
		},
		Renewed: func(deadline time.Time) {
			if f, ok := s.rt.(Fencer); ok {
				f.Fence(p.spec, deadline)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	h := &heldLease{lease: lease, done: make(chan struct{})}
	s.leaseMu.Lock()
	if old := s.leases[name]; old != nil {
		s.leaseMu.Unlock()
		if old.lease != lease {
			lease.Release() // acquired twice (a start raced a resume): keep one
		}
		return old.lease, nil
	}
	s.leases[name] = h
	s.leaseHolders[name] = s.Leases.Node()
	s.leaseMu.Unlock()
	if f, ok := s.rt.(Fencer); ok {
		f.Fence(p.spec, lease.Deadline())
	}
	s.Logger.Info("cluster lease acquired", "process", name, "node", s.Leases.Node(), "after", time.Since(started).Round(time.Millisecond))
	go s.watchLease(name, h)
	return lease, nil
}

// watchLease fences the process when its lease is lost: it stops at once
// (SIGKILL by the lease's deadline) and waits for the lease again.
func (s *Supervisor) watchLease(name string, h *heldLease) {
	select {
	case <-h.done:
		return
	case <-s.quit:
		return
	case <-h.lease.Lost():
	}
	s.Logger.Warn("cluster lease lost: stopping the process before the lease can end elsewhere", "process", name)
	p, err := s.lookup("fence", name)
	if err != nil {
		s.forgetLease(name, h)
		return
	}
	s.stop(context.Background(), p, name, WaitForDone, passing)
	s.forgetLease(name, h)
	if s.closing.Load() {
		return
	}
	if err := s.issueStart(context.Background(), p, name, true); err != nil && !errors.Is(err, ErrAlreadyStarted) {
		s.Logger.Warn("cannot wait for the cluster lease again", "process", name, "err", err)
	}
}

// forgetLease drops h (lost) and gives it up, disarming the fence: the
// process has stopped.
func (s *Supervisor) forgetLease(name string, h *heldLease) {
	s.leaseMu.Lock()
	if s.leases[name] == h {
		delete(s.leases, name)
		delete(s.leaseHolders, name)
	}
	s.leaseMu.Unlock()
	s.endLease(name, h)
}

// releaseLease gives up spec's lease once its process has stopped for
// good (an operator's stop, EXITED, FATAL): another node takes it at once.
func (s *Supervisor) releaseLease(spec *ProcessSpec) {
	name := spec.FullName()
	s.leaseMu.Lock()
	h := s.leases[name]
	delete(s.leases, name)
	if h != nil {
		delete(s.leaseHolders, name) // another node's, named alike, stays
	}
	s.leaseMu.Unlock()
	if h != nil {
		s.endLease(name, h)
	}
}

func (s *Supervisor) endLease(name string, h *heldLease) {
	select {
	case <-h.done:
		return
	default:
	}
	close(h.done)
	h.lease.Release()
	if f, ok := s.rt.(Fencer); ok {
		s.mu.RLock()
		p := s.byName[name]
		s.mu.RUnlock()
		if p != nil {
			f.Fence(p.spec, time.Time{})
		}
	}
}

// resumeLeases takes back the leases of cluster singletons adopted from a
// previous daemon. One another node holds meanwhile is not this node's to
// run: its process stops at once and waits for the lease.
func (s *Supervisor) resumeLeases(procs []*process) {
	for _, p := range procs {
		if !p.spec.ClusterSingleton || s.Leases == nil || !p.info.Load().State.IsRunning() {
			continue
		}
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), s.leaseResumeWait())
			defer cancel()
			if _, err := s.acquire(ctx, p, true); err != nil {
				name := p.spec.FullName()
				s.Logger.Warn("adopted cluster singleton cannot keep its lease: stopping it", "process", name, "err", err)
				s.stop(context.Background(), p, name, WaitForDone, passing)
				if !s.closing.Load() {
					s.issueStart(context.Background(), p, name, true)
				}
			}
		}()
	}
}

// leaseResumeWait bounds how long an adopted process waits to learn
// whether its lease is still this node's.
func (s *Supervisor) leaseResumeWait() time.Duration { return 10 * time.Second }

// LeaseView is, at one moment, the node holding each cluster
// singleton's lease as far as this daemon knows (LeaseHolders), and the
// set of those whose lease this daemon holds (another daemon may share
// its node name).
func (s *Supervisor) LeaseView() (holders map[string]string, held map[string]bool) {
	s.leaseMu.Lock()
	defer s.leaseMu.Unlock()
	holders, held = make(map[string]string, len(s.leaseHolders)), make(map[string]bool, len(s.leases))
	for k, v := range s.leaseHolders {
		holders[k] = v
	}
	for k := range s.leases {
		held[k] = true
	}
	return holders, held
}

// LeaseHolders maps each cluster singleton to the node that holds its
// lease, as far as this daemon knows ("" while unknown).
func (s *Supervisor) LeaseHolders() map[string]string {
	s.leaseMu.Lock()
	defer s.leaseMu.Unlock()
	out := make(map[string]string, len(s.leaseHolders))
	for k, v := range s.leaseHolders {
		out[k] = v
	}
	return out
}
