package backends

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/ctlsup/ctlsup/supervisor/cluster"
	"github.com/jackc/pgx/v5"
)

// pgBackend holds a key as a session advisory lock: held while the
// session lives, which PostgreSQL ends when the connection closes, or
// after lease_ttl without a query (idle_session_timeout, set on the
// session). A table records who held each key and whether it gave the key
// up: a node taking a key whose holder's session simply ended waits a TTL
// before running the program (Attempt.Quarantine), since that holder's
// program may run until then.
type pgBackend struct {
	url  string
	node string
	ttl  time.Duration

	mu   sync.Mutex // a pgx.Conn serves one request at a time
	conn *pgx.Conn
	held map[string]bool // keys locked in this session
}

func openPostgres(rawURL, node string, ttl time.Duration) (cluster.Backend, error) {
	if _, err := pgx.ParseConfig(rawURL); err != nil {
		return nil, err
	}
	return &pgBackend{url: rawURL, node: node, ttl: ttl, held: map[string]bool{}}, nil
}

func lockID(key string) int64 {
	h := fnv.New64a()
	h.Write([]byte(keyPrefix + key))
	return int64(h.Sum64())
}

// connLocked connects if there is no session; a new session holds no lock.
func (b *pgBackend) connLocked(ctx context.Context) (*pgx.Conn, error) {
	if b.conn != nil {
		return b.conn, nil
	}
	c, err := pgx.Connect(ctx, b.url)
	if err != nil {
		return nil, err
	}
	for _, q := range []string{
		fmt.Sprintf("SET idle_session_timeout = %d", b.ttl.Milliseconds()),
		`CREATE TABLE IF NOT EXISTS ctlsup_singleton (key text PRIMARY KEY, holder text NOT NULL, released boolean NOT NULL, at timestamptz NOT NULL DEFAULT now())`,
	} {
		if _, err := c.Exec(ctx, q); err != nil {
			c.Close(context.Background())
			return nil, err
		}
	}
	b.conn = c
	b.held = map[string]bool{}
	return c, nil
}

// broken drops a session that failed: its locks are gone, or soon will be.
func (b *pgBackend) brokenLocked() {
	if b.conn != nil {
		b.conn.Close(context.Background())
	}
	b.conn, b.held = nil, map[string]bool{}
}

func (b *pgBackend) TryAcquire(ctx context.Context, key string) (cluster.Attempt, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, err := b.connLocked(ctx)
	if err != nil {
		return cluster.Attempt{}, err
	}
	if b.held[key] {
		// Held in this session if the session still lives: a session
		// that died unnoticed (the service restarted while no renewal
		// ran) holds nothing, and another node may hold the key.
		if _, err := c.Exec(ctx, "SELECT 1"); err == nil {
			return cluster.Attempt{Held: true, Mine: true}, nil
		}
		b.brokenLocked()
		if c, err = b.connLocked(ctx); err != nil {
			return cluster.Attempt{}, err
		}
	}
	var ok bool
	if err := c.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", lockID(key)).Scan(&ok); err != nil {
		b.brokenLocked()
		return cluster.Attempt{}, err
	}
	var holder string
	var released bool
	err = c.QueryRow(ctx, "SELECT holder, released FROM ctlsup_singleton WHERE key = $1", key).Scan(&holder, &released)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		b.brokenLocked()
		return cluster.Attempt{}, err
	}
	if !ok {
		return cluster.Attempt{Holder: holder}, nil
	}
	b.held[key] = true
	if _, err := c.Exec(ctx, `INSERT INTO ctlsup_singleton (key, holder, released, at) VALUES ($1, $2, false, now())
		ON CONFLICT (key) DO UPDATE SET holder = $2, released = false, at = now()`, key, b.node); err != nil {
		b.brokenLocked()
		return cluster.Attempt{}, err
	}
	a := cluster.Attempt{Held: true, Mine: holder == b.node && !released}
	if holder != "" && holder != b.node && !released {
		a.Quarantine, a.Previous = true, holder
	}
	return a, nil
}

// Renew proves the session alive: its locks are then held. A session
// that fails loses them all at once.
func (b *pgBackend) Renew(ctx context.Context, keys []string) ([]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conn == nil {
		return keys, nil
	}
	if _, err := b.conn.Exec(ctx, "SELECT 1"); err != nil {
		b.brokenLocked()
		return keys, nil
	}
	var lost []string
	for _, k := range keys {
		if !b.held[k] {
			lost = append(lost, k)
		}
	}
	return lost, nil
}

func (b *pgBackend) Release(ctx context.Context, key string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conn == nil || !b.held[key] {
		return nil
	}
	if _, err := b.conn.Exec(ctx, "UPDATE ctlsup_singleton SET released = true, at = now() WHERE key = $1 AND holder = $2", key, b.node); err != nil {
		b.brokenLocked()
		return err
	}
	if _, err := b.conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", lockID(key)); err != nil {
		b.brokenLocked()
		return err
	}
	delete(b.held, key)
	return nil
}

func (b *pgBackend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conn != nil {
		return b.conn.Close(context.Background())
	}
	return nil
}
