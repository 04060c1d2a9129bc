// Package metrics exposes the engine's processes to Prometheus. A scrape
// reads immutable snapshots, so a removed program's series disappear with
// it and no scrape wakes a process.
package metrics

import (
	"net/http"
	"runtime"
	"time"

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

// writeDaemon writes the daemon's own families.
func writeDaemon(e *encoder, src Source) {
	if e.err != nil {
		return // the scraper went away
	}
	e.single("ctlsup_build_info", "ctlsupd's version, as labels; always 1.", "gauge",
		`goversion="`+escapeLabel(runtime.Version())+`",version="`+escapeLabel(src.Version)+`"`, 1)
	if src.Cluster != nil {
		cs := src.Cluster()
		e.single("ctlsup_cluster_lease_acquire_seconds", "How long the last acquisition waited, from its first try.", "gauge", "", cs.LastAcquireWait.Seconds())
		e.header("ctlsup_cluster_lease_renewals_total", "Renewals of this node's leases, by outcome.", "counter")
		e.series("", `result="failed"`, float64(cs.RenewFailures))
		e.series("", `result="ok"`, float64(cs.Renewals))
		e.single("ctlsup_cluster_leases_acquired_total", "Leases this node acquired.", "counter", "", float64(cs.Acquired))
		e.single("ctlsup_cluster_leases_lost_total", "Leases this node lost (could not renew in time, or taken away): their processes were stopped.", "counter", "", float64(cs.Lost))
	}
	if src.LastReload != nil {
		ok, at := src.LastReload()
		e.single("ctlsup_config_last_reload_success_timestamp_seconds", "When the configuration was last loaded successfully.", "gauge", "", float64(at.UnixMilli())/1000)
		e.single("ctlsup_config_last_reload_successful", "Whether the last configuration reload succeeded (1) or failed (0).", "gauge", "", b2f(ok))
	}
	if src.Containment != nil {
		e.single("ctlsup_containment_info", "How programs are contained: a cgroup per process, or process groups (the fallback); always 1.", "gauge",
			`mode="`+escapeLabel(src.Containment())+`"`, 1)
	}
	if src.Orphans != nil {
		e.single("ctlsup_orphans_reaped_total", "Exits of processes ctlsupd did not start (reparented grandchildren) it reaped.", "counter", "", float64(src.Orphans()))
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
	usages := &usageCache{}
	rt := newRuntimeReader()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		e := newEncoder(w)
		afterwards := writeProcesses(e, src, usages)
		defer afterwards() // after the last byte, not beside it
		writeDaemon(e, src)
		rt.write(e)
		if e.flush() != nil {
			return // the scraper went away
		}
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	})
	return mux
}
