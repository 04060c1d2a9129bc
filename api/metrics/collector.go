// Package metrics exposes the engine's processes to Prometheus. A scrape
// reads immutable snapshots, so a removed program's series disappear with
// it and no scrape wakes a process.
package metrics

import (
	"net/http"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"

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
	descBuild       = prometheus.NewDesc("ctlsup_build_info", "ctlsupd's version, as labels; always 1.", []string{"version", "goversion"}, nil)
	descReloadOK    = prometheus.NewDesc("ctlsup_config_last_reload_successful", "Whether the last configuration reload succeeded (1) or failed (0).", nil, nil)
	descReloadTime  = prometheus.NewDesc("ctlsup_config_last_reload_success_timestamp_seconds", "When the configuration was last loaded successfully.", nil, nil)
	descOrphans     = prometheus.NewDesc("ctlsup_orphans_reaped_total", "Exits of processes ctlsupd did not start (reparented grandchildren) it reaped.", nil, nil)
	descContainment = prometheus.NewDesc("ctlsup_containment_info", "How programs are contained: a cgroup per process, or process groups (the fallback); always 1.", []string{"mode"}, nil)

	descLeaseRenewals = prometheus.NewDesc("ctlsup_cluster_lease_renewals_total", "Renewals of this node's leases, by outcome.", []string{"result"}, nil)
	descLeasesLost    = prometheus.NewDesc("ctlsup_cluster_leases_lost_total", "Leases this node lost (could not renew in time, or taken away): their processes were stopped.", nil, nil)
	descLeasesTaken   = prometheus.NewDesc("ctlsup_cluster_leases_acquired_total", "Leases this node acquired.", nil, nil)
	descLeaseWait     = prometheus.NewDesc("ctlsup_cluster_lease_acquire_seconds", "How long the last acquisition waited, from its first try.", nil, nil)
)

// daemonCollector is the daemon's own series; the processes' are written
// apart (see exposition.go).
type daemonCollector struct{ src Source }

// Describe sends every descriptor.
func (c *daemonCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descBuild, descReloadOK, descReloadTime, descOrphans, descContainment,
		descLeaseRenewals, descLeasesLost, descLeasesTaken, descLeaseWait} {
		ch <- d
	}
}

// Collect reads the daemon's figures.
func (c *daemonCollector) Collect(ch chan<- prometheus.Metric) {
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
	if c.src.Cluster != nil {
		cs := c.src.Cluster()
		counter(descLeaseRenewals, float64(cs.Renewals), "ok")
		counter(descLeaseRenewals, float64(cs.RenewFailures), "failed")
		counter(descLeasesLost, float64(cs.Lost))
		counter(descLeasesTaken, float64(cs.Acquired))
		gauge(descLeaseWait, cs.LastAcquireWait.Seconds())
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Handler serves GET /metrics: every process's series, then the daemon's
// and those of its Go runtime and process, in the text format (0.0.4),
// which every Prometheus accepts; anything else is 404 or 405. The
// output is not compressed: at 10,000 programs gzip would take longer
// than the rest of the scrape.
func Handler(src Source) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(&daemonCollector{src: src}, collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	usages := &usageCache{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		mfs, err := reg.Gather()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
		afterwards, err := writeProcesses(w, src, usages)
		defer afterwards() // after the last byte, not beside it
		if err != nil {
			return // the scraper went away
		}
		enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
		for _, mf := range mfs {
			if enc.Encode(mf) != nil {
				return
			}
		}
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	})
	return mux
}
