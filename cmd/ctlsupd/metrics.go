package main

import (
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/ctlsup/ctlsup/api"
	"github.com/ctlsup/ctlsup/api/metrics"
	"github.com/ctlsup/ctlsup/supervisor"
	"github.com/ctlsup/ctlsup/supervisor/osruntime"
)

// openMetrics serves GET /metrics on [metrics] listen (or the listener
// systemd passed as "metrics").
func (m *Main) openMetrics(l net.Listener) error {
	addr := m.Config.Daemon.Metrics.Listen
	if l != nil {
		m.listenAddr["metrics"] = systemdAddr
	} else {
		m.listenAddr["metrics"] = addr
	}
	if il, was := m.inheritedListener("metrics", addr); il != nil && (addr != "" || was == systemdAddr) {
		l = il
		m.listenAddr["metrics"] = was
	} else if il != nil {
		il.Close() // metrics were turned off
	}
	if l == nil {
		if addr == "" {
			return nil
		}
		var err error
		if l, err = net.Listen("tcp", addr); err != nil {
			return err
		}
	}
	handler := metrics.Handler(metrics.Source{
		Supervisor: func() *supervisor.Supervisor { return m.engine.Load() },
		LastReload: m.lastReload,
		Orphans:    osruntime.Orphans,
		Containment: func() string {
			if rt, ok := m.runtime.Load().(*osruntime.Runtime); ok {
				return rt.Containment().Mode
			}
			return osruntime.ModeProcessGroup
		},
		Version: Version,
		Cluster: m.clusterStats(),
	})
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: api.ReadHeaderTimeout,
		ReadTimeout: api.ReadTimeout, IdleTimeout: api.IdleTimeout}
	m.metricsServer = srv
	l = &pausable{Listener: api.LimitListener(l, api.MaxConns, m.connsFull)}
	m.listeners["metrics"] = l
	m.MetricsAddr = l.Addr().String()
	go func() {
		if err := srv.Serve(m.fdReserve.listen(l)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.Logger.Error("metrics server stopped", "err", err)
		}
	}()
	return nil
}

// recordReload notes how a configuration load went, for the metrics.
func (m *Main) recordReload(ok bool) {
	m.reloadMu.Lock()
	defer m.reloadMu.Unlock()
	m.reloadOK = ok
	if ok {
		m.reloadAt = time.Now()
	}
}

func (m *Main) lastReload() (bool, time.Time) {
	m.reloadMu.Lock()
	defer m.reloadMu.Unlock()
	return m.reloadOK, m.reloadAt
}
