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
	mu         sync.Mutex
	sup        *supervisor.Supervisor // the engine the reading is of
	m          map[string]supervisor.Usage
	at         time.Time
	took       time.Duration
	refreshing bool
}

func (c *usageCache) get(sup *supervisor.Supervisor) map[string]supervisor.Usage {
	c.mu.Lock()
	if c.sup == sup && c.m != nil {
		age := time.Since(c.at)
		if age < reuse {
			defer c.mu.Unlock()
			return c.m
		}
		if c.took > syncLimit {
			if !c.refreshing {
				c.refreshing = true
				go c.read(sup)
			}
			defer c.mu.Unlock()
			return c.m
		}
	}
	c.mu.Unlock()
	return c.read(sup)
}

// read takes a new reading and keeps it.
func (c *usageCache) read(sup *supervisor.Supervisor) map[string]supervisor.Usage {
	start := time.Now()
	m := sup.Usage()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sup, c.m, c.at, c.took, c.refreshing = sup, m, time.Now(), time.Since(start), false
	return m
}
