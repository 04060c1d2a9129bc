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
	url := serve(t, metrics.Source{Supervisor: func() *supervisor.Supervisor { return nil }, Version: "test"})
	// A collection first: runtime/metrics counts what each P allocated
	// as the P's cache is flushed, which a collection does.
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	ours, _ := scrape(t, url)
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
	if got, want := get(ours, "process_cpu_seconds_total"), get(byName, "process_cpu_seconds_total"); got < want || got > want+1 {
		t.Errorf("process_cpu_seconds_total = %v, before it %v", got, want)
	}
	if got, want := get(ours, "process_virtual_memory_bytes"), get(byName, "process_virtual_memory_bytes"); got < want/2 || got > want*2 {
		t.Errorf("process_virtual_memory_bytes = %v, want about %v", got, want)
	}
	if got, want := get(ours, "go_goroutines"), float64(runtime.NumGoroutine()); math.Abs(got-want) > 4 {
		t.Errorf("go_goroutines = %v, want about %v", got, want)
	}
	// The memory figures against runtime.ReadMemStats before the scrape
	// and after it: the scavenger and other tests move them meanwhile.
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	gauges := func(m *runtime.MemStats) map[string]uint64 {
		return map[string]uint64{
			"go_memstats_sys_bytes": m.Sys, "go_memstats_heap_sys_bytes": m.HeapSys, "go_memstats_heap_idle_bytes": m.HeapIdle,
			"go_memstats_heap_inuse_bytes": m.HeapInuse, "go_memstats_heap_released_bytes": m.HeapReleased,
			"go_memstats_stack_inuse_bytes": m.StackInuse, "go_memstats_stack_sys_bytes": m.StackSys,
			"go_memstats_mspan_inuse_bytes": m.MSpanInuse, "go_memstats_mspan_sys_bytes": m.MSpanSys,
			"go_memstats_mcache_inuse_bytes": m.MCacheInuse, "go_memstats_mcache_sys_bytes": m.MCacheSys,
			"go_memstats_gc_sys_bytes": m.GCSys, "go_memstats_other_sys_bytes": m.OtherSys,
			"go_memstats_buck_hash_sys_bytes": m.BuckHashSys, "go_memstats_next_gc_bytes": m.NextGC,
		}
	}
	after := gauges(&ms)
	for name, b := range gauges(&before) {
		lo, hi := float64(min(b, after[name])), float64(max(b, after[name]))
		slack := max(0.1*hi, 512<<10)
		if got := get(ours, name); got < lo-slack || got > hi+slack {
			t.Errorf("%s = %v, ReadMemStats says %v before and %v after", name, got, b, after[name])
		}
	}
	// One reading's figures agree among themselves exactly.
	if sys, inuse, idle := get(ours, "go_memstats_heap_sys_bytes"), get(ours, "go_memstats_heap_inuse_bytes"), get(ours, "go_memstats_heap_idle_bytes"); sys != inuse+idle {
		t.Errorf("heap: sys %v, in use %v + idle %v", sys, inuse, idle)
	}
	if idle, released := get(ours, "go_memstats_heap_idle_bytes"), get(ours, "go_memstats_heap_released_bytes"); released > idle {
		t.Errorf("heap: released %v of %v idle", released, idle)
	}
	// Counters: between ReadMemStats before the scrape and after it.
	for name, want := range map[string][2]uint64{"go_memstats_mallocs_total": {before.Mallocs, ms.Mallocs},
		"go_memstats_frees_total": {before.Frees, ms.Frees}, "go_memstats_alloc_bytes_total": {before.TotalAlloc, ms.TotalAlloc}} {
		if got := get(ours, name); got < float64(want[0]) || got > float64(want[1]) {
			t.Errorf("%s = %v, ReadMemStats says %v before and %v after", name, got, want[0], want[1])
		}
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
