// Package metrics exposes the engine's processes to Prometheus. A custom
// collector reads immutable snapshots at scrape time, so a removed
// program's series disappear with it and no scrape wakes a process.
package metrics

import (
	"net/http"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ctlsup/ctlsup/supervisor"
)

// Source is what the collector reads: the engine, and how the last
// configuration reload went.
type Source struct {
	Supervisor func() *supervisor.Supervisor // the current engine (a reload replaces it)
	LastReload func() (ok bool, at time.Time)
	Orphans    func() int64 // exits of processes the daemon did not start
	// Containment names how programs are contained: "cgroup" or
	// "process-group".
	Containment func() string
	Version     string
	// Cluster, if set, counts what the cluster's lease manager did.
	Cluster func() ClusterStats
}

// ClusterStats are a lease manager's counters.
type ClusterStats struct {
	Node                          string
	Renewals, RenewFailures, Lost int64
	Acquired                      int64
	LastAcquireWait               time.Duration
}

var (
	labels = []string{"group", "name"}

	descBuild       = prometheus.NewDesc("ctlsup_build_info", "ctlsupd's version, as labels; always 1.", []string{"version", "goversion"}, nil)
	descReloadOK    = prometheus.NewDesc("ctlsup_config_last_reload_successful", "Whether the last configuration reload succeeded (1) or failed (0).", nil, nil)
	descReloadTime  = prometheus.NewDesc("ctlsup_config_last_reload_success_timestamp_seconds", "When the configuration was last loaded successfully.", nil, nil)
	descOrphans     = prometheus.NewDesc("ctlsup_orphans_reaped_total", "Exits of processes ctlsupd did not start (reparented grandchildren) it reaped.", nil, nil)
	descState       = prometheus.NewDesc("ctlsup_process_state", "The process's supervisord state: 1 for the current one, 0 for the others.", append(labels, "state"), nil)
	descUp          = prometheus.NewDesc("ctlsup_process_up", "1 when the process is RUNNING.", labels, nil)
	descStart       = prometheus.NewDesc("ctlsup_process_start_time_seconds", "When the process was last spawned; 0 if never.", labels, nil)
	descRestarts    = prometheus.NewDesc("ctlsup_process_restarts_total", "Automatic restarts: after the process exited (exit) or failed to start (retry).", append(labels, "reason"), nil)
	descExits       = prometheus.NewDesc("ctlsup_process_exits_total", "Exits, expected (stop, or an exit code in exitcodes) or not.", append(labels, "expected"), nil)
	descExitCode    = prometheus.NewDesc("ctlsup_process_last_exit_code", "The last exit code; -1 for a death by signal.", labels, nil)
	descBackoff     = prometheus.NewDesc("ctlsup_process_backoff_delay_seconds", "The pending delay before the next restart; 0 when none.", labels, nil)
	descContainment = prometheus.NewDesc("ctlsup_containment_info", "How programs are contained: a cgroup per process, or process groups (the fallback); always 1.", []string{"mode"}, nil)
	descRSS         = prometheus.NewDesc("ctlsup_process_resident_memory_bytes", "Resident memory of the process and everything it started.", labels, nil)
	descMemory      = prometheus.NewDesc("ctlsup_process_memory_bytes", "The process's cgroup memory.current (page cache included); resident memory without the memory controller.", labels, nil)
	descMemoryPeak  = prometheus.NewDesc("ctlsup_process_memory_peak_bytes", "The highest memory of the current spawn (cgroup memory.peak where available, else the highest seen).", labels, nil)
	descTasks       = prometheus.NewDesc("ctlsup_process_tasks", "Processes of the program now (pids.current, or its cgroup's or process group's members).", labels, nil)
	descOOMKills    = prometheus.NewDesc("ctlsup_process_oom_kills_total", "Processes of the program the kernel killed for exceeding memory_max (cgroup memory.events oom_kill).", labels, nil)
	descCPU         = prometheus.NewDesc("ctlsup_process_cpu_seconds_total", "User and system CPU time of the process and everything it started, across its restarts since the daemon started.", labels, nil)
	descLogWritten  = prometheus.NewDesc("ctlsup_log_written_bytes_total", "Output bytes written to the log files.", append(labels, "stream"), nil)
	descLogDropped  = prometheus.NewDesc("ctlsup_log_dropped_bytes_total", "Output bytes lost because the log could not be written.", append(labels, "stream"), nil)
	descLogRotation = prometheus.NewDesc("ctlsup_log_rotations_total", "Log file rotations.", labels, nil)

	descLeaseHeld     = prometheus.NewDesc("ctlsup_cluster_lease_held", "For a singleton = \"cluster\" process: 1 while this node holds its lease.", labels, nil)
	descLeaseHolder   = prometheus.NewDesc("ctlsup_cluster_lease_holder", "The node holding the process's lease, as a label, as far as this node knows; always 1.", append(labels, "node"), nil)
	descLeaseRenewals = prometheus.NewDesc("ctlsup_cluster_lease_renewals_total", "Renewals of this node's leases, by outcome.", []string{"result"}, nil)
	descLeasesLost    = prometheus.NewDesc("ctlsup_cluster_leases_lost_total", "Leases this node lost (could not renew in time, or taken away): their processes were stopped.", nil, nil)
	descLeasesTaken   = prometheus.NewDesc("ctlsup_cluster_leases_acquired_total", "Leases this node acquired.", nil, nil)
	descLeaseWait     = prometheus.NewDesc("ctlsup_cluster_lease_acquire_seconds", "How long the last acquisition waited, from its first try.", nil, nil)
)

// Collector is a prometheus.Collector over the engine.
type Collector struct{ src Source }

// NewCollector returns a collector reading src.
func NewCollector(src Source) *Collector { return &Collector{src: src} }

// Describe sends every descriptor.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descBuild, descReloadOK, descReloadTime, descOrphans, descState, descUp,
		descStart, descRestarts, descExits, descExitCode, descBackoff, descRSS, descCPU, descLogWritten, descContainment, descMemory, descMemoryPeak, descTasks, descOOMKills,
		descLogDropped, descLogRotation, descLeaseHeld, descLeaseHolder, descLeaseRenewals, descLeasesLost, descLeasesTaken, descLeaseWait} {
		ch <- d
	}
}

// Collect reads one snapshot of every process and /proc once.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...)
	}
	counter := func(d *prometheus.Desc, v float64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, lv...)
	}
	gauge(descBuild, 1, c.src.Version, runtime.Version())
	if c.src.LastReload != nil {
		ok, at := c.src.LastReload()
		gauge(descReloadOK, b2f(ok))
		gauge(descReloadTime, float64(at.UnixMilli())/1000)
	}
	if c.src.Containment != nil {
		gauge(descContainment, 1, c.src.Containment())
	}
	if c.src.Orphans != nil {
		counter(descOrphans, float64(c.src.Orphans()))
	}
	var node string
	if c.src.Cluster != nil {
		cs := c.src.Cluster()
		node = cs.Node
		counter(descLeaseRenewals, float64(cs.Renewals), "ok")
		counter(descLeaseRenewals, float64(cs.RenewFailures), "failed")
		counter(descLeasesLost, float64(cs.Lost))
		counter(descLeasesTaken, float64(cs.Acquired))
		gauge(descLeaseWait, cs.LastAcquireWait.Seconds())
	}
	sup := c.src.Supervisor()
	if sup == nil {
		return
	}
	usage := sup.Usage()
	var holders map[string]string
	if c.src.Cluster != nil {
		holders = sup.LeaseHolders()
	}
	for _, p := range sup.Processes() {
		g, n := p.Group, p.Name
		for _, st := range supervisor.AllStates {
			gauge(descState, b2f(p.State == st), g, n, st.String())
		}
		gauge(descUp, b2f(p.State == supervisor.Running), g, n)
		start := 0.0
		if !p.Start.IsZero() {
			start = float64(p.Start.UnixMilli()) / 1000
		}
		gauge(descStart, start, g, n)
		counter(descRestarts, float64(p.RestartsAfterExit), g, n, "exit")
		counter(descRestarts, float64(p.RestartsAfterRetry), g, n, "retry")
		counter(descExits, float64(p.ExitsExpected), g, n, "true")
		counter(descExits, float64(p.ExitsUnexpected), g, n, "false")
		gauge(descExitCode, float64(p.LastExitCode), g, n)
		gauge(descBackoff, p.BackoffDelay.Seconds(), g, n)
		u := usage[p.FullName()]
		gauge(descRSS, float64(u.RSSBytes), g, n)
		gauge(descMemory, float64(u.MemoryBytes), g, n)
		gauge(descMemoryPeak, float64(u.MemoryPeakBytes), g, n)
		gauge(descTasks, float64(u.Tasks), g, n)
		counter(descOOMKills, float64(u.OOMKills), g, n)
		counter(descCPU, u.CPUSeconds, g, n)
		st := p.OutputStats()
		counter(descLogWritten, float64(st.StdoutBytes), g, n, "stdout")
		counter(descLogWritten, float64(st.StderrBytes), g, n, "stderr")
		counter(descLogDropped, float64(st.StdoutDropped), g, n, "stdout")
		counter(descLogDropped, float64(st.StderrDropped), g, n, "stderr")
		counter(descLogRotation, float64(st.Rotations), g, n)
		if holders != nil && p.Spec.ClusterSingleton {
			h := holders[p.FullName()]
			gauge(descLeaseHeld, b2f(h != "" && h == node), g, n)
			if h != "" {
				gauge(descLeaseHolder, 1, g, n, h)
			}
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Registry returns a private registry with the collector and the Go and
// process collectors of ctlsupd itself.
func Registry(src Source) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(src), collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves GET /metrics from reg; anything else is 404 or 405.
func Handler(reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}
