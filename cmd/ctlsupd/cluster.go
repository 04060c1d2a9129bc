package main

import (
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ctlsup/ctlsup/api/metrics"

	"github.com/ctlsup/ctlsup/supervisor/cluster"
)

// LeaseHelper is the program that talks to the cluster's coordination
// service; ctlsupd looks for it next to its own binary, then in PATH.
const LeaseHelper = "ctlsup-lease"

// openCluster starts the lease manager when [cluster] names a backend.
func (m *Main) openCluster() error {
	c := m.Config.Daemon.Cluster
	if c.Backend == "" {
		return nil
	}
	helper, err := findLeaseHelper()
	if err != nil {
		return err
	}
	argv := []string{helper, c.Backend, c.Node, strconv.Itoa(int(c.TTL.Seconds()))}
	m.leases = cluster.New(cluster.NewRemote(argv, m.Logger), cluster.Config{Node: c.Node, TTL: c.TTL, Margin: c.Margin}, m.Logger)
	m.Logger.Info("cluster leases", "backend", redactURL(c.Backend), "node", c.Node, "lease_ttl", c.TTL, "fence_margin", c.Margin)
	return nil
}

func findLeaseHelper() (string, error) {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), LeaseHelper)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	if p, err := exec.LookPath(LeaseHelper); err == nil {
		return p, nil
	}
	return "", errors.New("[cluster] needs " + LeaseHelper + " next to ctlsupd or in PATH (go build ./cmd/ctlsup-lease)")
}

// redactURL hides a backend URL's password in the log.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return s
}

// clusterStats reads the lease manager's counters for the metrics; nil
// without [cluster].
func (m *Main) clusterStats() func() metrics.ClusterStats {
	if m.leases == nil {
		return nil
	}
	l := m.leases
	return func() metrics.ClusterStats {
		st := l.Stats()
		return metrics.ClusterStats{Node: l.Node(), Renewals: st.Renewals.Load(), RenewFailures: st.RenewFailures.Load(),
			Lost: st.Lost.Load(), Acquired: st.Acquired.Load(), LastAcquireWait: time.Duration(st.AcquireNanos.Load())}
	}
}
