package metrics

import (
	"log/slog"
	"runtime/debug"
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
//
// A reading is also reused for share times as long as it took (up to
// maxReuse), so that readings take at most about 1/share of the daemon's
// time however often it is scraped: two Prometheus replicas, or a 1 s
// interval, would otherwise have a 10,000-program daemon read usage half
// the time (0.57 CPU-seconds a reading on a 2-core VM). reuse is share
// times syncLimit: daemons whose readings a scrape waits for are
// unchanged by it.
//
// Before its first reading a daemon with more than syncLimit/perProgram
// programs does not wait: its reading would not end in time (on a 2-core
// VM warm readings took 44-59 µs a program, first readings 65 µs at 1000
// and 190-300 µs at 10,000; perProgram is below all of them), and
// waiting would only add syncLimit to its first scrape.
const (
	syncLimit  = 100 * time.Millisecond
	reuse      = time.Second
	share      = 10
	maxReuse   = 15 * time.Second // a reading that stalled or was cold does not keep usage stale long
	perProgram = 40 * time.Microsecond
)

// usageCache keeps the readings of the engine being scraped. A daemon's
// engine is replaced when it restarts: a reading is only ever used for its
// own engine, and a scrape of the replaced engine still in flight neither
// starts a reading nor displaces the new engine's.
type usageCache struct {
	mu                sync.Mutex
	current, replaced *supervisor.Supervisor
	last              *usageReading // current's newest that ended
	pending           *usageReading // current's under way: its done closes when it ends
}

// usageReading is one reading of an engine's usage.
type usageReading struct {
	m     map[string]supervisor.Usage
	since time.Time     // when it started
	at    time.Time     // when it ended
	took  time.Duration // how long it took
	done  chan struct{}
}

// get returns the usage a scrape of sup, which has the given number of
// programs, answers with, nil when there is no reading of sup's yet, and
// what the scrape calls once it has answered: where readings are slow,
// the next one starts then, so that it does not compete with the scrape
// that asked for it.
func (c *usageCache) get(sup *supervisor.Supervisor, programs int) (map[string]supervisor.Usage, func()) {
	c.mu.Lock()
	if sup != c.current {
		if sup == c.replaced {
			c.mu.Unlock()
			return nil, nothing // a late scrape of the engine a restart replaced
		}
		// A new engine: a reading of the old one still under way ends
		// unused.
		c.replaced, c.current, c.last, c.pending = c.current, sup, nil, nil
	}
	last := c.last
	if last.fresh() {
		c.mu.Unlock()
		return last.m, nothing
	}
	if last != nil && last.took > syncLimit {
		// Readings are slow: the last one will do, and the next starts
		// once this scrape has answered.
		c.mu.Unlock()
		return last.m, func() { c.start(sup) }
	}
	if last == nil && time.Duration(programs)*perProgram > syncLimit {
		c.mu.Unlock()
		return nil, func() { c.start(sup) } // does nothing if a reading is under way
	}
	r := c.pending
	if r == nil {
		r = c.startLocked(sup)
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
	if c.current == sup && c.last != nil {
		return c.last.m, nothing
	}
	return nil, nothing
}

func nothing() {}

// fresh reports whether a scrape answers with r as it is, without a new
// reading; a nil reading is not fresh.
func (r *usageReading) fresh() bool {
	return r != nil && time.Since(r.at) < min(max(reuse, share*r.took), maxReuse)
}

// start starts a reading of sup's unless one is under way, the last one
// is fresh (it may have ended since the scrape that calls start looked),
// or sup has been replaced.
func (c *usageCache) start(sup *supervisor.Supervisor) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.current == sup && c.pending == nil && !c.last.fresh() {
		c.startLocked(sup)
	}
}

// startLocked starts a reading of sup's, the current engine. c.mu is held.
func (c *usageCache) startLocked(sup *supervisor.Supervisor) *usageReading {
	r := &usageReading{since: time.Now(), done: make(chan struct{})}
	c.pending = r
	go func() {
		defer close(r.done)
		// However the reading ends, it is no longer under way. A scrape
		// used to run it, and net/http recovered its panic: so does this
		// goroutine, rather than end the daemon.
		defer func() {
			v := recover()
			if v != nil {
				slog.Error("metrics: reading the programs' usage failed", "panic", v, "stack", string(debug.Stack()))
			}
			c.mu.Lock()
			if c.pending == r {
				c.pending = nil
			}
			c.mu.Unlock()
		}()
		m := sup.Usage()
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.pending != r {
			return // the engine was replaced since
		}
		r.m, r.at, r.took = m, time.Now(), time.Since(r.since)
		c.last, c.pending = r, nil
	}()
	return r
}
