// Package cluster keeps singleton = "cluster" programs to one daemon of a
// cluster with leases from a coordination service (etcd, Redis or
// PostgreSQL), and fences a holder that cannot renew: its program is gone
// before its lease can end elsewhere.
//
// The timing is all here; a Backend only takes, renews and gives up keys.
// The rule it rests on: a lease a request renewed lasts at least TTL from
// the moment the request was sent (the service starts counting when it
// receives it, later). So a holder counts TTL from the send of its last
// renewal that succeeded, and its program gets its stop signal StopWait
// plus Margin before that end: SIGKILL comes Margin before it. Margin
// covers the rates of the two clocks differing and the kill itself; it
// assumes neither host is paused for longer (a frozen VM cannot be fenced
// from inside).
package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ctlsup/ctlsup/supervisor"
)

// Backend is a coordination service's half: keys held by this node.
type Backend interface {
	// TryAcquire takes key for this node if no one holds it; one attempt.
	TryAcquire(ctx context.Context, key string) (Attempt, error)
	// Renew extends every key of keys this node holds and returns those it
	// no longer holds. An error means nothing is known.
	Renew(ctx context.Context, keys []string) (lost []string, err error)
	// Release gives key up if this node holds it.
	Release(ctx context.Context, key string) error
	Close() error
}

// Attempt is what TryAcquire found.
type Attempt struct {
	Held   bool   `json:"held,omitempty"`
	Holder string `json:"holder,omitempty"` // who holds it, when not this node
	// Mine: this node held it already (a previous daemon of it).
	Mine bool `json:"mine,omitempty"`
	// Quarantine: held now, but the previous holder lost it without
	// giving it up, at a moment the service cannot date (PostgreSQL's
	// session ended): its program may run until a TTL has passed.
	Quarantine bool   `json:"quarantine,omitempty"`
	Previous   string `json:"previous,omitempty"` // that previous holder
}

// Config is a manager's timing.
type Config struct {
	Node   string
	TTL    time.Duration
	Margin time.Duration
}

// Poll is how often a node that waits asks again: a tenth of the TTL,
// between 200 ms and 2 s.
func (c Config) Poll() time.Duration { return min(max(c.TTL/10, 200*time.Millisecond), 2*time.Second) }

// RenewEvery is how often leases are renewed: with a program's stop and
// the margin taking at most half the TTL, two renewals may fail before
// the fence.
func (c Config) RenewEvery() time.Duration { return c.TTL / 5 }

// opTimeout bounds one request to the service.
func (c Config) opTimeout() time.Duration { return max(c.TTL/4, 500*time.Millisecond) }

// Manager hands out leases from a Backend and renews them.
type Manager struct {
	b   Backend
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	leases map[string]*lease
	// releasing: releases under way, closed when done.
	releasing map[string]chan struct{}
	quit      chan struct{}
	wg        sync.WaitGroup
	closed    sync.Once

	stats Stats
}

// Stats count what the manager did, for metrics.
type Stats struct {
	Renewals, RenewFailures, Lost, Acquired atomic.Int64
	// AcquireNanos is the last acquisition's wait, from the first try.
	AcquireNanos atomic.Int64
}

// New starts a manager over b.
func New(b Backend, cfg Config, log *slog.Logger) *Manager {
	m := &Manager{b: b, cfg: cfg, log: log, leases: map[string]*lease{}, releasing: map[string]chan struct{}{}, quit: make(chan struct{})}
	m.wg.Go(m.renewLoop)
	return m
}

// Node is this daemon's name in the cluster.
func (m *Manager) Node() string { return m.cfg.Node }

// Stats are the manager's counters.
func (m *Manager) Stats() *Stats { return &m.stats }

// Held lists the keys this manager holds.
func (m *Manager) Held() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var keys []string
	for k := range m.leases {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Acquire implements supervisor.Leases.
func (m *Manager) Acquire(ctx context.Context, want supervisor.LeaseWant) (supervisor.Lease, error) {
	waiting := want.Waiting
	if waiting == nil {
		waiting = func(string, string) {}
	}
	first := time.Now()
	for {
		if err := m.released(ctx, want.Key); err != nil {
			return nil, err
		}
		sent := time.Now()
		a, err := m.try(ctx, want.Key)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			waiting("", "the coordination service cannot be reached ("+short(err)+")")
		case !a.Held && want.Resume:
			return nil, fmt.Errorf("%s: %w (%s)", want.Key, supervisor.ErrLeaseHeldElsewhere, a.Holder)
		case !a.Held:
			waiting(a.Holder, "")
		case a.Quarantine && !a.Mine && want.Resume:
			// Another node took the key over while this daemon was
			// down: what it adopted is no longer the holder's program.
			m.release(want.Key)
			return nil, fmt.Errorf("%s: %w (%s)", want.Key, supervisor.ErrLeaseHeldElsewhere, a.Previous)
		case a.Quarantine && !a.Mine:
			// The previous holder's program may run for up to a TTL
			// after the moment its lease ended: wait that long, holding
			// and renewing (a key held in silence lapses: PostgreSQL
			// ends a session idle for a TTL, and its lock with it).
			waiting("", "taking over from "+a.Previous+" once its lease has surely ended")
			kept, at, err := m.keepFor(ctx, want.Key, m.cfg.TTL)
			if err != nil {
				m.release(want.Key)
				return nil, err
			}
			if !kept {
				continue
			}
			return m.hold(want, at, first), nil
		default:
			return m.hold(want, sent, first), nil
		}
		if !sleep(ctx, m.cfg.Poll()) {
			return nil, ctx.Err()
		}
	}
}

// keepFor renews key every RenewEvery for d, and reports whether it was
// kept throughout, with the send time of the last renewal; err is ctx's.
func (m *Manager) keepFor(ctx context.Context, key string, d time.Duration) (kept bool, sent time.Time, err error) {
	end := time.Now().Add(d)
	for {
		wait := min(m.cfg.RenewEvery(), time.Until(end))
		if wait > 0 && !sleep(ctx, wait) {
			return false, sent, ctx.Err()
		}
		sent = time.Now()
		lost, err := m.renew(ctx, []string{key})
		if err != nil || len(lost) > 0 {
			return false, sent, nil
		}
		if !sent.Before(end) {
			return true, sent, nil
		}
	}
}

func (m *Manager) try(ctx context.Context, key string) (Attempt, error) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.opTimeout())
	defer cancel()
	a, err := m.b.TryAcquire(ctx, key)
	a.Holder, a.Previous = NodeOf(a.Holder), NodeOf(a.Previous)
	return a, err
}

// HolderID is how a daemon holds leases: its node name, which two daemons
// may share (two on one host, cloned machines), and a token of its own,
// which its state directory keeps across its restarts and upgrades, so
// that the daemon that follows it there takes its leases back.
func HolderID(node, token string) string { return node + "#" + token }

// NodeOf is the node name in a holder id (an id of an older ctlsupd is
// the name alone).
func NodeOf(holder string) string {
	if i := strings.LastIndexByte(holder, '#'); i > 0 {
		return holder[:i]
	}
	return holder
}

func (m *Manager) renew(ctx context.Context, keys []string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.opTimeout())
	defer cancel()
	return m.b.Renew(ctx, keys)
}

// hold registers a lease taken by a request sent at sent.
func (m *Manager) hold(want supervisor.LeaseWant, sent, first time.Time) *lease {
	l := &lease{m: m, key: want.Key, stopWait: want.StopWait, renewed: want.Renewed, lost: make(chan struct{})}
	m.stats.Acquired.Add(1)
	m.stats.AcquireNanos.Store(int64(time.Since(first)))
	m.mu.Lock()
	if old := m.leases[want.Key]; old != nil {
		m.mu.Unlock() // one lease per key: taken again, it is the same
		old.extend(sent.Add(m.cfg.TTL), true)
		return old
	}
	m.leases[want.Key] = l
	m.mu.Unlock()
	l.extend(sent.Add(m.cfg.TTL), false)
	return l
}

// renewLoop renews every held lease each RenewEvery.
func (m *Manager) renewLoop() {
	t := time.NewTicker(m.cfg.RenewEvery())
	defer t.Stop()
	failing := false
	for {
		select {
		case <-m.quit:
			return
		case <-t.C:
		}
		m.mu.Lock()
		held := make([]*lease, 0, len(m.leases))
		keys := make([]string, 0, len(m.leases))
		for k, l := range m.leases {
			held, keys = append(held, l), append(keys, k)
		}
		m.mu.Unlock()
		if len(keys) == 0 {
			continue
		}
		sent := time.Now()
		lost, err := m.renew(context.Background(), keys)
		if err != nil {
			m.stats.RenewFailures.Add(1)
			if !failing {
				m.log.Warn("cannot renew the cluster leases: their programs stop before the leases can end", "err", err)
			}
			failing = true
			continue
		}
		if failing {
			m.log.Info("cluster leases renewed again")
		}
		failing = false
		m.stats.Renewals.Add(1)
		for _, l := range held {
			if slices.Contains(lost, l.key) {
				l.markLost()
			} else {
				l.extend(sent.Add(m.cfg.TTL), true)
			}
		}
	}
}

// release forgets key and gives it up, in the background: a stop must not
// wait for the service. An acquisition of key waits for it (see
// releasing): a release that came after it would give up the new hold.
func (m *Manager) release(key string) {
	done := make(chan struct{})
	m.mu.Lock()
	prev := m.releasing[key]
	m.releasing[key] = done
	m.mu.Unlock()
	m.wg.Go(func() {
		defer func() {
			m.mu.Lock()
			if m.releasing[key] == done {
				delete(m.releasing, key)
			}
			m.mu.Unlock()
			close(done)
		}()
		if prev != nil {
			<-prev
		}
		ctx, cancel := context.WithTimeout(context.Background(), m.cfg.opTimeout())
		defer cancel()
		if err := m.b.Release(ctx, key); err != nil {
			m.log.Warn("cannot give the cluster lease up: it ends by itself after its TTL", "key", key, "err", err)
		}
	})
}

// released waits until no release of key is under way.
func (m *Manager) released(ctx context.Context, key string) error {
	m.mu.Lock()
	ch := m.releasing[key]
	m.mu.Unlock()
	if ch == nil {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops renewing, waits for releases under way and closes the
// backend. Leases still held end by themselves: their programs outlive
// the daemon only under the fence.
func (m *Manager) Close() error {
	m.closed.Do(func() { close(m.quit) })
	m.wg.Wait()
	return m.b.Close()
}

// lease is one held key.
type lease struct {
	m        *Manager
	key      string
	stopWait time.Duration
	renewed  func(time.Time)

	mu       sync.Mutex
	expiry   time.Time // the earliest the service may end it
	timer    *time.Timer
	lost     chan struct{}
	isLost   bool
	released bool
}

func (l *lease) Lost() <-chan struct{} { return l.lost }

func (l *lease) Deadline() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.expiry.Add(-l.m.cfg.Margin)
}

// extend moves the lease's end to expiry and its fence with it.
func (l *lease) extend(expiry time.Time, notify bool) {
	l.mu.Lock()
	if l.isLost || l.released || !expiry.After(l.expiry) {
		l.mu.Unlock()
		return
	}
	l.expiry = expiry
	deadline := expiry.Add(-l.m.cfg.Margin)
	fence := time.Until(deadline.Add(-l.stopWait))
	if l.timer == nil {
		l.timer = time.AfterFunc(fence, l.markLost)
	} else {
		l.timer.Reset(fence)
	}
	l.mu.Unlock()
	if notify && l.renewed != nil {
		l.renewed(deadline)
	}
}

// markLost gives the lease up for fencing: its program stops now.
func (l *lease) markLost() {
	l.mu.Lock()
	if l.isLost || l.released {
		l.mu.Unlock()
		return
	}
	l.isLost = true
	if l.timer != nil {
		l.timer.Stop()
	}
	l.mu.Unlock()
	l.m.stats.Lost.Add(1)
	l.m.mu.Lock()
	if l.m.leases[l.key] == l {
		delete(l.m.leases, l.key)
	}
	l.m.mu.Unlock()
	close(l.lost)
}

// Release implements supervisor.Lease.
func (l *lease) Release() {
	l.mu.Lock()
	if l.released {
		l.mu.Unlock()
		return
	}
	l.released = true
	if l.timer != nil {
		l.timer.Stop()
	}
	l.mu.Unlock()
	// A lost lease may still be this node's at the service (a renewal
	// that came too late): give it up too, unless taken again since.
	l.m.mu.Lock()
	cur := l.m.leases[l.key]
	if cur == l {
		delete(l.m.leases, l.key)
	}
	l.m.mu.Unlock()
	if cur == l || cur == nil {
		l.m.release(l.key)
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// short keeps an error's text to one line for a description.
func short(err error) string {
	s := err.Error()
	if errors.Is(err, context.DeadlineExceeded) {
		return "timed out"
	}
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return s
}
