package supervisor

import (
	"context"
	"sync"
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

// Usage is what a process, with everything it started, uses.
type Usage struct {
	// CPUSeconds is user and system time since the daemon started,
	// summed over the process's spawns: a counter that never goes down.
	CPUSeconds      float64
	MemoryBytes     int64  // now: the cgroup's memory.current, or else RSSBytes
	RSSBytes        int64  // resident memory of its processes now
	MemoryPeakBytes int64  // the highest memory.current of the current spawn; 0 if unknown
	Tasks           int    // processes (pids.current or the process group's members)
	OOMKills        int64  // kernel OOM kills in the process's cgroups since the daemon started
	Cgroup          string // the current spawn's cgroup, "" without one
}

// Meter is implemented by runtimes that measure their processes.
type Meter interface {
	// Usage reads the usage of every process, by full name.
	Usage() map[string]Usage
}

// Usage reads what every process uses, by full name; empty when the
// runtime cannot measure.
func (s *Supervisor) Usage() map[string]Usage {
	if m, ok := s.rt.(Meter); ok {
		return m.Usage()
	}
	return nil
}
