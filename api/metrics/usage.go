package metrics

import (
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
	mu   sync.Mutex
	sup  *supervisor.Supervisor // whose reading m is
	m    map[string]supervisor.Usage
	at   time.Time     // when m was taken
	took time.Duration // how long taking m took
	// The reading under way, if any: done is closed when it ends.
	done  chan struct{}
	since time.Time
}

// get returns the usage a scrape of sup answers with; nil when there is no
// reading yet.
func (c *usageCache) get(sup *supervisor.Supervisor) map[string]supervisor.Usage {
	c.mu.Lock()
	if c.sup == sup && c.m != nil && time.Since(c.at) < reuse {
		defer c.mu.Unlock()
		return c.m
	}
	done := c.startLocked(sup)
	wait := syncLimit - time.Since(c.since)
	if c.m != nil && c.took > syncLimit {
		wait = 0 // readings are slow: the last one will do
	}
	c.mu.Unlock()
	if wait > 0 {
		timer := time.NewTimer(wait)
		select {
		case <-done:
		case <-timer.C:
		}
		timer.Stop()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m
}

// startLocked starts a reading of sup's unless one is under way, and
// returns the channel that closes when the reading ends. c.mu is held.
func (c *usageCache) startLocked(sup *supervisor.Supervisor) <-chan struct{} {
	if c.done != nil {
		return c.done
	}
	done := make(chan struct{})
	c.done, c.since = done, time.Now()
	go func() {
		start := time.Now()
		m := sup.Usage()
		c.mu.Lock()
		c.sup, c.m, c.at, c.took = sup, m, time.Now(), time.Since(start)
		c.done = nil
		c.mu.Unlock()
		close(done)
	}()
	return done
}
