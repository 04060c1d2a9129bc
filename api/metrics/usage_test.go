package metrics

import (
	"context"
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
	return map[string]supervisor.Usage{"p": {CPUSeconds: float64(r.readings)}}
}

func reading(m map[string]supervisor.Usage) int { return int(m["p"].CPUSeconds) }

// TestUsageCache: a daemon whose reading is quick reads afresh at each
// scrape; one whose reading is slow answers with the last reading and
// reads the next in the background; scrapes within a second share one.
func TestUsageCache(t *testing.T) {
	for _, tc := range []struct {
		cost   time.Duration
		second int // the reading the second scrape, 10 s later, sees
	}{{time.Millisecond, 2}, {time.Second, 1}} {
		synctest.Test(t, func(t *testing.T) {
			rt := &meterRuntime{cost: tc.cost}
			sup := supervisor.New(rt, nil)
			c := &usageCache{}
			if got := reading(c.get(sup)); got != 1 {
				t.Fatalf("first scrape saw reading %d", got)
			}
			if got := reading(c.get(sup)); got != 1 || rt.readings != 1 {
				t.Fatalf("a scrape right after: reading %d, %d taken", got, rt.readings)
			}
			time.Sleep(10 * time.Second)
			if got := reading(c.get(sup)); got != tc.second {
				t.Fatalf("cost %v: second scrape saw reading %d, want %d", tc.cost, got, tc.second)
			}
			time.Sleep(10 * time.Second)
			if got := reading(c.get(sup)); got != tc.second+1 {
				t.Fatalf("cost %v: third scrape saw reading %d, want %d", tc.cost, got, tc.second+1)
			}
			time.Sleep(10 * time.Second) // the background reading ends
		})
	}
}
