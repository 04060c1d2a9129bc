package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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
	token, err := clusterToken(m.Config.Daemon.StateDir)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	argv := []string{helper, c.Backend, cluster.HolderID(c.Node, token), strconv.Itoa(int(c.TTL.Seconds()))}
	m.leases = cluster.New(cluster.NewRemote(argv, m.Logger), cluster.Config{Node: c.Node, TTL: c.TTL, Margin: c.Margin}, m.Logger)
	m.Logger.Info("cluster leases", "backend", redactURL(c.Backend), "node", c.Node, "lease_ttl", c.TTL, "fence_margin", c.Margin)
	return nil
}

// clusterToken is this daemon's part of its holder id, kept in its state
// directory: two daemons of one node name (two on one host, machines
// cloned with their hostname) must not take each other's leases for
// their own, but the daemon that follows one (after a crash or an
// upgrade) must. It is made again after a reboot (the boot id it was made
// in is kept with it): a state directory copied into a cloned machine's
// image then names no other machine's daemon, and after a reboot nothing
// of the old daemon's runs anyway.
func clusterToken(stateDir string) (string, error) {
	path := filepath.Join(stateDir, "cluster-token")
	bootID := "unknown" // no boot id: the token is kept for good
	if b, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil && len(strings.Fields(string(b))) == 1 {
		bootID = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile(path); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 && f[0] == bootID && len(f[1]) == 16 && strings.Trim(f[1], "0123456789abcdef") == "" {
			return f[1], nil
		}
	}
	raw := make([]byte, 8)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	t := hex.EncodeToString(raw)
	tmp := path + ".tmp"
	os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	_, err = f.WriteString(bootID + " " + t + "\n")
	if err = errors.Join(err, f.Close()); err == nil {
		err = os.Rename(tmp, path)
	}
	return t, err
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
