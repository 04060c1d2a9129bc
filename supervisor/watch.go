package supervisor

import (
	"context"
	"sync"

	"github.com/ctlsup/ctlsup/supervisor/internal/proc"
)

// changes is a broadcast: its channel is closed and replaced whenever any
// process publishes a new snapshot.
type changes struct {
	mu sync.Mutex
	ch chan struct{}
}

func (c *changes) wait() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ch == nil {
		c.ch = make(chan struct{})
	}
	return c.ch
}

func (c *changes) notify() {
	c.mu.Lock()
	if c.ch != nil {
		close(c.ch)
		c.ch = nil
	}
	c.mu.Unlock()
}

// Changed returns a channel closed at the next change of any process's
// state: systemd's STATUS= and similar summaries follow it without polling.
func (s *Supervisor) Changed() <-chan struct{} { return s.changes.wait() }

// Ping proves the engine answers: the registry lock is free to read and
// every process's goroutine takes a command. A watchdog that pings only
// when Ping returns nil stops pinging a wedged engine.
func (s *Supervisor) Ping(ctx context.Context) error {
	s.mu.RLock()
	all := s.allLocked()
	s.mu.RUnlock()
	for _, p := range all {
		if err := p.send(ctx, command{kind: cmdPing}); err != nil && err != ErrShutdown {
			return err
		}
	}
	return nil
}

// Usage is the resources a process and its process group use now.
type Usage struct {
	RSSBytes   int64
	CPUSeconds float64
}

// ResourceUsage reads /proc once and returns the usage of every process
// group, keyed by its id (a supervised process's pid).
func ResourceUsage() map[int]Usage {
	out := map[int]Usage{}
	for pgid, g := range proc.GroupUsage() {
		out[pgid] = Usage{RSSBytes: g.RSSBytes, CPUSeconds: g.CPUSeconds}
	}
	return out
}

// OrphansReaped counts exits of processes the daemon did not start:
// grandchildren reparented to it.
func OrphansReaped() int64 { return proc.Orphans() }
