package metrics_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ctlsup/ctlsup/api/metrics"
	"github.com/ctlsup/ctlsup/supervisor"
)

// idleRuntime runs no process: every spawn succeeds and never exits, so a
// benchmark measures the collector, not fork.
type idleRuntime struct {
	supervisor.Ephemeral
	pid atomic.Int64
}

type idleChild struct {
	pid  int
	done chan supervisor.ExitStatus
}

type noOutput struct{}

func (r *idleRuntime) Open(context.Context) error                          { return nil }
func (r *idleRuntime) Close() error                                        { return nil }
func (r *idleRuntime) Check(*supervisor.ProcessSpec) error                 { return nil }
func (r *idleRuntime) NewOutput(*supervisor.ProcessSpec) supervisor.Output { return noOutput{} }
func (r *idleRuntime) Start(*supervisor.ProcessSpec, supervisor.Output) (supervisor.Child, error) {
	return &idleChild{pid: int(r.pid.Add(1)) + 1_000_000, done: make(chan supervisor.ExitStatus, 1)}, nil
}
func (c *idleChild) Pid() int                           { return c.pid }
func (c *idleChild) Stopping()                          {}
func (c *idleChild) Done() <-chan supervisor.ExitStatus { return c.done }
func (c *idleChild) Signal(sig syscall.Signal, group bool) error {
	select {
	case c.done <- supervisor.ExitStatus{Code: -1, Signaled: true}:
	default:
	}
	return nil
}
func (noOutput) Stats() supervisor.OutputStats { return supervisor.OutputStats{} }
func (noOutput) Reopen() error                 { return nil }
func (noOutput) Clear() error                  { return nil }
func (noOutput) Close() error                  { return nil }

// BenchmarkScrape1000 gathers the metrics of 1000 processes, /proc scan
// included: the cost of one Prometheus scrape.
func BenchmarkScrape1000(b *testing.B) {
	var procs []supervisor.ProcessSpec
	for i := range 1000 {
		procs = append(procs, supervisor.ProcessSpec{Name: fmt.Sprintf("worker_%03d", i), Group: "app",
			Argv: []string{"x"}, Umask: -1, AutoStart: true, StopWait: time.Second, RestartMaxDelay: time.Minute})
	}
	s := supervisor.New(&idleRuntime{}, []supervisor.GroupSpec{{Name: "app", Processes: procs}})
	s.Open(context.Background())
	defer s.Close(context.Background())
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewCollector(metrics.Source{Supervisor: func() *supervisor.Supervisor { return s }, Version: "bench"}))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}
