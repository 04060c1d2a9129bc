package metrics_test

import (
	"math"
	"runtime"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"

	"github.com/ctlsup/ctlsup/api/metrics"
	"github.com/ctlsup/ctlsup/supervisor"
)

// TestRuntimeSeries_AsPrometheusGoClient: the daemon's go_* and process_*
// families are those Prometheus's Go client writes by default, of the
// same types, and read the same values where they do not move between
// two readings.
func TestRuntimeSeries_AsPrometheusGoClient(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	theirs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	ours, _ := scrape(t, serve(t, metrics.Source{Supervisor: func() *supervisor.Supervisor { return nil }, Version: "test"}))
	if len(theirs) < 30 {
		t.Fatalf("the client wrote %d families", len(theirs))
	}
	byName := map[string]*dto.MetricFamily{}
	for _, want := range theirs {
		byName[want.GetName()] = want
		got := ours[want.GetName()]
		if got == nil {
			t.Errorf("no %s", want.GetName())
			continue
		}
		if got.GetType() != want.GetType() || len(got.Metric) != len(want.Metric) {
			t.Errorf("%s: %v with %d series, want %v with %d", want.GetName(), got.GetType(), len(got.Metric), want.GetType(), len(want.Metric))
		}
	}
	get := func(mfs map[string]*dto.MetricFamily, name string) float64 {
		mf := mfs[name]
		if mf == nil || len(mf.Metric) != 1 {
			t.Fatalf("%s: %v", name, mf)
		}
		m := mf.Metric[0]
		if m.Counter != nil {
			return m.Counter.GetValue()
		}
		return m.Gauge.GetValue()
	}
	for _, name := range []string{"process_max_fds", "process_virtual_memory_max_bytes", "go_gc_gogc_percent",
		"go_gc_gomemlimit_bytes", "go_sched_gomaxprocs_threads"} {
		if got, want := get(ours, name), get(byName, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if got, want := get(ours, "process_start_time_seconds"), get(byName, "process_start_time_seconds"); math.Abs(got-want) > 0.011 {
		t.Errorf("process_start_time_seconds = %v, want %v", got, want)
	}
	// Read after theirs: as much CPU or more, about as many descriptors
	// (the scrape's own connection comes and goes) and resident pages.
	if got, want := get(ours, "process_cpu_seconds_total"), get(byName, "process_cpu_seconds_total"); got < want {
		t.Errorf("process_cpu_seconds_total = %v, before it %v", got, want)
	}
	if got, want := get(ours, "process_open_fds"), get(byName, "process_open_fds"); got < 3 || math.Abs(got-want) > 8 {
		t.Errorf("process_open_fds = %v, want about %v", got, want)
	}
	if got, want := get(ours, "process_resident_memory_bytes"), get(byName, "process_resident_memory_bytes"); got < want/2 || got > want*2 {
		t.Errorf("process_resident_memory_bytes = %v, want about %v", got, want)
	}
	if got := get(ours, "go_memstats_heap_objects"); got <= 0 {
		t.Errorf("go_memstats_heap_objects = %v", got)
	}
	info := ours["go_info"]
	if info == nil || len(info.Metric) != 1 || len(info.Metric[0].Label) != 1 || info.Metric[0].Label[0].GetValue() != runtime.Version() {
		t.Errorf("go_info: %v", info)
	}
	gc := ours["go_gc_duration_seconds"]
	if gc == nil || len(gc.Metric) != 1 || len(gc.Metric[0].GetSummary().GetQuantile()) != 5 {
		t.Errorf("go_gc_duration_seconds: %v", gc)
	}
}
