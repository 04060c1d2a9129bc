// Package backends are the coordination services a cluster's leases live
// in. Only ctlsup-lease links them: their clients are heavy.
package backends

import (
	"fmt"
	"net/url"
	"time"

	"github.com/ctlsup/ctlsup/supervisor/cluster"
)

// keyPrefix names ctlsup's keys in a service shared with other users.
const keyPrefix = "ctlsup/singleton/"

// Open connects to the service rawURL names, as node, with leases of ttl.
func Open(rawURL, node string, ttl time.Duration) (cluster.Backend, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	switch u.Scheme {
	case "etcd":
		return openEtcd(u, node, ttl)
	case "redis", "rediss":
		return openRedis(rawURL, node, ttl)
	case "postgres", "postgresql":
		return openPostgres(rawURL, node, ttl)
	}
	return nil, fmt.Errorf("backend %q: want etcd://, redis:// or postgres://", rawURL)
}
