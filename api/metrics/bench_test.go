package metrics_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ctlsup/ctlsup/api/metrics"
	"github.com/ctlsup/ctlsup/supervisor"
)

// idleRuntime runs no process: every spawn succeeds and never exits, so a
// benchmark measures the collector, not fork.
type idleRuntime struct {
	supervisor.Ephemeral
	pid   atomic.Int64
	usage map[string]supervisor.Usage // every program's, so the usage series are written
}

func (r *idleRuntime) Usage() map[string]supervisor.Usage { return r.usage }

type idleChild struct {
	pid int
	supervisor.Exit
}

type noOutput struct{}

func (r *idleRuntime) Open(context.Context) error                          { return nil }
func (r *idleRuntime) Close() error                                        { return nil }
func (r *idleRuntime) Check(*supervisor.ProcessSpec) error                 { return nil }
func (r *idleRuntime) NewOutput(*supervisor.ProcessSpec) supervisor.Output { return noOutput{} }
func (r *idleRuntime) Start(*supervisor.ProcessSpec, supervisor.Output) (supervisor.Child, error) {
	return &idleChild{pid: int(r.pid.Add(1)) + 1_000_000}, nil
}
func (c *idleChild) Pid() int      { return c.pid }
func (c *idleChild) Stopping(bool) {}
func (c *idleChild) Signal(sig syscall.Signal, group bool) error {
	c.Exited(supervisor.ExitStatus{Code: -1, Signaled: true})
	return nil
}
func (noOutput) Stats() supervisor.OutputStats { return supervisor.OutputStats{} }
func (noOutput) Reopen() error                 { return nil }
func (noOutput) Clear() error                  { return nil }
func (noOutput) Close() error                  { return nil }

// BenchmarkScrape gathers the metrics of 1000 and 10,000 processes,
// written as a scrape writes them: the cost of one Prometheus scrape.
func BenchmarkScrape(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			var procs []supervisor.ProcessSpec
			rt := &idleRuntime{usage: map[string]supervisor.Usage{}}
			for i := range n {
				procs = append(procs, supervisor.ProcessSpec{Name: fmt.Sprintf("worker_%05d", i), Group: "app",
					Argv: []string{"x"}, Umask: -1, AutoStart: true, StopWait: time.Second, RestartMaxDelay: time.Minute})
				rt.usage[procs[i].FullName()] = supervisor.Usage{RSSBytes: 12 << 20, MemoryBytes: 14 << 20, Tasks: 1, CPUSeconds: 1.25}
			}
			s := supervisor.New(rt, []supervisor.GroupSpec{{Name: "app", Processes: procs}})
			s.Open(context.Background())
			defer s.Close(context.Background())
			for running := 0; running < n; time.Sleep(10 * time.Millisecond) {
				running = 0
				for _, p := range s.Processes() {
					if p.State == supervisor.Running {
						running++
					}
				}
			}
			h := metrics.Handler(metrics.Source{Supervisor: func() *supervisor.Supervisor { return s }, Version: "bench"})
			req := httptest.NewRequest("GET", "/metrics", nil)
			b.ReportAllocs()
			for b.Loop() {
				w := &discard{header: http.Header{}}
				h.ServeHTTP(w, req)
				if w.status != 0 && w.status != http.StatusOK {
					b.Fatal(w.status)
				}
			}
		})
	}
}

// discard is a ResponseWriter that keeps nothing.
type discard struct {
	header http.Header
	status int
}

func (d *discard) Header() http.Header         { return d.header }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(code int)        { d.status = code }
