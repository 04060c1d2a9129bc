package metrics

import (
	"context"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ctlsup/ctlsup/supervisor"
)

// meterRuntime runs nothing; each usage reading takes cost and reports
// its number as the CPU seconds of "p".
type meterRuntime struct {
	supervisor.Ephemeral
	cost     time.Duration
	readings int
	base     int // added to the reading's number
}

type nopOutput struct{}

func (nopOutput) Stats() supervisor.OutputStats { return supervisor.OutputStats{} }
func (nopOutput) Reopen() error                 { return nil }
func (nopOutput) Clear() error                  { return nil }
func (nopOutput) Close() error                  { return nil }

func (r *meterRuntime) Open(context.Context) error                          { return nil }
func (r *meterRuntime) Close() error                                        { return nil }
func (r *meterRuntime) Check(*supervisor.ProcessSpec) error                 { return nil }
func (r *meterRuntime) NewOutput(*supervisor.ProcessSpec) supervisor.Output { return nopOutput{} }
func (r *meterRuntime) Start(*supervisor.ProcessSpec, supervisor.Output) (supervisor.Child, error) {
	return nil, syscall.ENOSYS
}
func (r *meterRuntime) Usage() map[string]supervisor.Usage {
	time.Sleep(r.cost)
	r.readings++
	return map[string]supervisor.Usage{"p": {CPUSeconds: float64(r.base + r.readings)}}
}

func reading(m map[string]supervisor.Usage) int { return int(m["p"].CPUSeconds) }

// scrapeOnce gets the usage as a scrape does, and does what the scrape
// does once it has answered.
func scrapeOnce(c *usageCache, sup *supervisor.Supervisor) map[string]supervisor.Usage {
	m, afterwards := c.get(sup, 1)
	afterwards()
	return m
}

// readingUnderWay reports whether c has a reading under way.
func readingUnderWay(c *usageCache) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pending != nil
}

// TestUsageCache: a daemon whose reading is quick reads afresh at each
// scrape, and scrapes within a second share one reading. One whose reading
// is slow answers its first scrapes without usage, then with the last
// reading while it takes the next in the background.
func TestUsageCache(t *testing.T) {
	for _, tc := range []struct {
		cost                 time.Duration
		first, second, third int // the reading each scrape, 10 s apart, sees; 0 for none
	}{{time.Millisecond, 1, 2, 3}, {500 * time.Millisecond, 0, 1, 2}} {
		synctest.Test(t, func(t *testing.T) {
			rt := &meterRuntime{cost: tc.cost}
			sup := supervisor.New(rt, nil)
			c := &usageCache{}
			scrape := func(want int, when string) {
				t.Helper()
				m := scrapeOnce(c, sup)
				if got := reading(m); got != want || (want == 0) != (m == nil) {
					t.Fatalf("cost %v, %s: saw reading %d (map %v), want %d", tc.cost, when, got, m, want)
				}
			}
			scrape(tc.first, "first scrape")
			scrape(tc.first, "a scrape right after")
			if tc.first == 1 && rt.readings != 1 {
				t.Fatalf("scrapes a moment apart took %d readings", rt.readings)
			}
			time.Sleep(10 * time.Second)
			scrape(tc.second, "second scrape")
			time.Sleep(10 * time.Second)
			scrape(tc.third, "third scrape")
			time.Sleep(10 * time.Second) // the background reading ends
		})
	}
}

// TestUsageCache_WaitsAtMostSyncLimit: a scrape that finds a slow reading
// under way waits for it no longer than syncLimit from its start.
func TestUsageCache_WaitsAtMostSyncLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sup := supervisor.New(&meterRuntime{cost: time.Hour}, nil)
		c := &usageCache{}
		start := time.Now()
		if m := scrapeOnce(c, sup); m != nil {
			t.Fatalf("saw a reading before any ended: %v", m)
		}
		if waited := time.Since(start); waited != syncLimit {
			t.Fatalf("the first scrape waited %v, want %v", waited, syncLimit)
		}
		scrapeOnce(c, sup)
		if waited := time.Since(start); waited != syncLimit {
			t.Fatalf("a second scrape waited again: %v in all", waited)
		}
		time.Sleep(2 * time.Hour)
	})
}

// TestHandler_UsageSeriesWaitForAReading: while the first usage reading is
// under way past syncLimit, a scrape answers at once with every series but
// the usage ones; once the reading is in, they are there.
func TestHandler_UsageSeriesWaitForAReading(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sup := supervisor.New(&meterRuntime{cost: time.Second}, []supervisor.GroupSpec{{Name: "p",
			Processes: []supervisor.ProcessSpec{{Name: "p", Group: "p", Argv: []string{"x"}, Umask: -1}}}})
		if err := sup.Open(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer sup.Close(context.Background())
		h := Handler(Source{Supervisor: func() *supervisor.Supervisor { return sup }})
		body := func() string {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
			return w.Body.String()
		}
		start := time.Now()
		first := body()
		if waited := time.Since(start); waited != syncLimit {
			t.Errorf("the first scrape waited %v for the reading, want %v", waited, syncLimit)
		}
		if !strings.Contains(first, `ctlsup_process_up{group="p",name="p"} 0`) || strings.Contains(first, "ctlsup_process_cpu_seconds_total") {
			t.Errorf("first scrape, without a reading:\n%s", first)
		}
		time.Sleep(2 * time.Second)
		if later := body(); !strings.Contains(later, `ctlsup_process_cpu_seconds_total{group="p",name="p"} 1`) {
			t.Errorf("a scrape after the reading:\n%s", later)
		}
	})
}

// TestUsageCache_NewEngineNotAnsweredWithTheOld: a restarted daemon's new
// engine is never answered with a reading of the engine it replaced, even
// one that ends after the new engine's own.
func TestUsageCache_NewEngineNotAnsweredWithTheOld(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		oldRT := &meterRuntime{cost: time.Millisecond}
		old := supervisor.New(oldRT, nil)
		c := &usageCache{}
		if got := reading(scrapeOnce(c, old)); got != 1 {
			t.Fatalf("the old engine's scrape saw reading %d", got)
		}
		// The old engine's next reading is slow, and under way when the
		// engine is replaced.
		time.Sleep(2 * time.Second)
		oldRT.cost = 3 * time.Second
		scrapeOnce(c, old)
		replaced := supervisor.New(&meterRuntime{cost: time.Second, base: 100}, nil)
		if m := scrapeOnce(c, replaced); m != nil {
			t.Fatalf("the new engine's first scrape saw %v, want no usage yet", m)
		}
		// A scrape of the old engine still in flight answers without
		// usage, and leaves the new engine's reading under way.
		c.mu.Lock()
		pending := c.pending
		c.mu.Unlock()
		if m := scrapeOnce(c, old); m != nil {
			t.Fatalf("a late scrape of the old engine saw %v", m)
		}
		c.mu.Lock()
		displaced := c.pending != pending
		c.mu.Unlock()
		if displaced {
			t.Fatal("a late scrape of the old engine displaced the new engine's reading")
		}
		time.Sleep(1500 * time.Millisecond)
		if got := reading(scrapeOnce(c, replaced)); got != 101 {
			t.Fatalf("the new engine's later scrape saw reading %d, want its own first (101)", got)
		}
		time.Sleep(2 * time.Second) // the old engine's reading ends
		c.mu.Lock()
		kept := c.current == replaced && c.last != nil && reading(c.last.m) == 101
		c.mu.Unlock()
		if !kept {
			t.Error("the old engine's late reading replaced the new engine's")
		}
		time.Sleep(5 * time.Second)
	})
}

// TestUsageCache_SlowReadingStartsAfterTheScrape: where readings are slow,
// a scrape answers with the last reading and the next one starts only
// once it has answered, so the two do not compete.
func TestUsageCache_SlowReadingStartsAfterTheScrape(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := &meterRuntime{cost: time.Second}
		sup := supervisor.New(rt, nil)
		c := &usageCache{}
		scrapeOnce(c, sup)
		time.Sleep(15 * time.Second) // past the reading's reuse (share times its 1 s)
		pending := func() bool { return readingUnderWay(c) }
		m, afterwards := c.get(sup, 1)
		if reading(m) != 1 || pending() {
			t.Fatalf("the scrape saw reading %d; a reading under way before it answered: %v", reading(m), pending())
		}
		afterwards()
		if !pending() {
			t.Fatal("no reading under way once the scrape answered")
		}
		time.Sleep(2 * time.Second)
		c.mu.Lock()
		got := reading(c.last.m)
		c.mu.Unlock()
		if got != 2 {
			t.Fatalf("the last reading is %d once the scrape answered, want 2", got)
		}
	})
}

// TestUsageCache_LargeDaemonDoesNotWaitForItsFirstReading: a reading of
// thousands of programs cannot end within syncLimit, so a scrape before
// the first one answers at once, and the reading starts once it has.
func TestUsageCache_LargeDaemonDoesNotWaitForItsFirstReading(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := &meterRuntime{cost: time.Second}
		sup := supervisor.New(rt, nil)
		c := &usageCache{}
		pending := func() bool { return readingUnderWay(c) }
		large := int(syncLimit/perProgram) + 1
		for i, when := range []string{"first scrape", "a scrape right after"} {
			start := time.Now()
			m, afterwards := c.get(sup, large)
			if waited := time.Since(start); m != nil || waited != 0 {
				t.Fatalf("%s: answered with %v after %v, want no usage at once", when, m, waited)
			}
			if i == 0 && pending() {
				t.Fatal("a reading under way before the first scrape answered")
			}
			afterwards()
			if !pending() {
				t.Fatalf("%s: no reading under way once it answered", when)
			}
		}
		time.Sleep(2 * time.Second)
		m, afterwards := c.get(sup, large)
		if reading(m) != 1 || rt.readings != 1 {
			t.Fatalf("after the reading: saw reading %d of %d taken, want 1 of 1", reading(m), rt.readings)
		}
		afterwards() // starts nothing: the reading is fresh
	})
}

// TestUsageCache_ReadingsTakeATenthAtMost: however often a daemon with slow
// readings is scraped, a reading is reused for share times what it took,
// so reading takes at most about a tenth of its time.
func TestUsageCache_ReadingsTakeATenthAtMost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := &meterRuntime{cost: time.Second}
		sup := supervisor.New(rt, nil)
		c := &usageCache{}
		start := time.Now()
		for range 60 {
			scrapeOnce(c, sup)
			time.Sleep(time.Second)
		}
		elapsed := time.Since(start)
		time.Sleep(2 * time.Second) // a reading under way ends
		busy := time.Duration(rt.readings) * rt.cost
		// Each reading is followed by ten times its length of reuse
		// before the next can start: one more may have begun at the end.
		if limit := elapsed/11 + rt.cost; busy > limit {
			t.Fatalf("%d readings of %v in %v of scrapes a second apart: %v reading, want at most %v",
				rt.readings, rt.cost, elapsed, busy, limit)
		}
		if rt.readings < 2 {
			t.Fatalf("only %d readings in %v: the usage never refreshes", rt.readings, elapsed)
		}
	})
}

// TestUsageCache_ReuseIsBounded: a reading that took long (a cold one, or
// one that stalled) is reused for at most maxReuse, not ten times as long.
func TestUsageCache_ReuseIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := &meterRuntime{cost: 10 * time.Second}
		sup := supervisor.New(rt, nil)
		c := &usageCache{}
		scrapeOnce(c, sup)
		time.Sleep(rt.cost + maxReuse)
		if m := scrapeOnce(c, sup); reading(m) != 1 || !readingUnderWay(c) {
			t.Fatalf("%v after a reading of %v ended: saw reading %d, a new one under way: %v, want 1 and true",
				maxReuse, rt.cost, reading(m), readingUnderWay(c))
		}
		time.Sleep(rt.cost + time.Second) // the new reading ends
	})
}
