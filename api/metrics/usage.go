package metrics

import (
	"log/slog"
	"sync"
	"time"

	"github.com/ctlsup/ctlsup/supervisor"
)

// Reading a program's usage reads a few cgroup or /proc files: tens of
// microseconds a program, a second or more at 10,000 (the first reading
// of fresh cgroups is the slowest), longer than a scrape should take. So a
// scrape waits for a reading at most syncLimit from the reading's start.
// When it is not done by then the scrape answers with the last reading
// (stale while revalidate, as cAdvisor's housekeeping is: the usage series
// lag one scrape interval, the others do not) or, before the first
// reading, without the usage series; the reading goes on for the next
// scrape. Smaller daemons read afresh at each scrape; scrapes within reuse
// of each other share one reading.
const (
	syncLimit = 100 * time.Millisecond
	reuse     = time.Second
)

type usageCache struct {
	mu      sync.Mutex
	last    *usageReading // the newest that ended
	pending *usageReading // under way: its done closes when it ends
}

// usageReading is one reading of an engine's usage. A daemon's engine is
// replaced when it restarts: a reading is only ever used for its own.
type usageReading struct {
	sup   *supervisor.Supervisor
	m     map[string]supervisor.Usage
	since time.Time     // when it started
	at    time.Time     // when it ended
	took  time.Duration // how long it took
	done  chan struct{}
}

// get returns the usage a scrape of sup answers with, nil when there is no
// reading of sup's yet, and what the scrape calls once it has answered:
// where readings are slow, the next one starts then, so that it does not
// compete with the scrape that asked for it.
func (c *usageCache) get(sup *supervisor.Supervisor) (map[string]supervisor.Usage, func()) {
	c.mu.Lock()
	last := c.last
	if last != nil && last.sup != sup {
		last = nil // the previous engine's
	}
	if last != nil && time.Since(last.at) < reuse {
		c.mu.Unlock()
		return last.m, nothing
	}
	if last != nil && last.took > syncLimit {
		// Readings are slow: the last one will do, and the next starts
		// once this scrape has answered.
		c.mu.Unlock()
		return last.m, func() { c.start(sup) }
	}
	r := c.pending
	if r == nil || r.sup != sup {
		r = c.startLocked(sup) // a reading of a previous engine ends unused
	}
	wait := syncLimit - time.Since(r.since)
	c.mu.Unlock()
	if wait > 0 {
		timer := time.NewTimer(wait)
		select {
		case <-r.done:
		case <-timer.C:
		}
		timer.Stop()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last != nil && c.last.sup == sup {
		return c.last.m, nothing
	}
	return nil, nothing
}

func nothing() {}

// start starts a reading of sup's unless one is under way.
func (c *usageCache) start(sup *supervisor.Supervisor) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending == nil || c.pending.sup != sup {
		c.startLocked(sup)
	}
}

// startLocked starts a reading of sup's. c.mu is held.
func (c *usageCache) startLocked(sup *supervisor.Supervisor) *usageReading {
	r := &usageReading{sup: sup, since: time.Now(), done: make(chan struct{})}
	c.pending = r
	go func() {
		defer close(r.done)
		// A scrape used to run the reading, and net/http recovered its
		// panic: so does this goroutine, rather than end the daemon.
		defer func() {
			if v := recover(); v != nil {
				slog.Error("metrics: reading the programs' usage failed", "panic", v)
				c.mu.Lock()
				if c.pending == r {
					c.pending = nil
				}
				c.mu.Unlock()
			}
		}()
		m := sup.Usage()
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.pending != r {
			return // a reading of another engine started since
		}
		r.m, r.at, r.took = m, time.Now(), time.Since(r.since)
		c.last, c.pending = r, nil
	}()
	return r
}
