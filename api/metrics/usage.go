package metrics

import (
	"sync"
	"time"

	"github.com/ctlsup/ctlsup/supervisor"
)

// Reading a program's usage reads a few cgroup or /proc files: about
// 0.1 ms a program, a second at 10,000, longer than a scrape should take.
// A scrape whose last reading took longer than syncLimit answers with that
// reading and takes a new one in the background for the next scrape
// (stale while revalidate, as cAdvisor's housekeeping is): the usage
// series then lag one scrape interval, the others do not. Smaller daemons
// read afresh at each scrape; scrapes within reuse of each other share one
// reading.
const (
	syncLimit = 100 * time.Millisecond
	reuse     = time.Second
)

type usageCache struct {
	reading    sync.Mutex // one reading at a time: scrapes that meet share it
	mu         sync.Mutex // the fields
	sup        *supervisor.Supervisor
	m          map[string]supervisor.Usage
	at         time.Time
	took       time.Duration
	refreshing bool
}

func (c *usageCache) get(sup *supervisor.Supervisor) map[string]supervisor.Usage {
	if m, ok := c.cached(sup, true); ok {
		return m
	}
	c.reading.Lock()
	defer c.reading.Unlock()
	if m, ok := c.cached(sup, false); ok {
		return m // read while this scrape waited
	}
	return c.read(sup)
}

// cached returns a reading of sup's to answer with: a recent one, or
// (stale allowed, readings slow) the last one while a new one is taken in
// the background.
func (c *usageCache) cached(sup *supervisor.Supervisor, stale bool) (map[string]supervisor.Usage, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sup != sup || c.m == nil {
		return nil, false
	}
	if time.Since(c.at) < reuse {
		return c.m, true
	}
	if !stale || c.took <= syncLimit {
		return nil, false
	}
	if !c.refreshing {
		c.refreshing = true
		go func() {
			c.reading.Lock()
			defer c.reading.Unlock()
			c.read(sup)
			c.mu.Lock()
			c.refreshing = false
			c.mu.Unlock()
		}()
	}
	return c.m, true
}

// read takes a new reading and keeps it. c.reading is held.
func (c *usageCache) read(sup *supervisor.Supervisor) map[string]supervisor.Usage {
	start := time.Now()
	m := sup.Usage()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sup, c.m, c.at, c.took = sup, m, time.Now(), time.Since(start)
	return m
}
