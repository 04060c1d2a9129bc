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
// program may run until then. The table also keeps whom the holder took
// the key from, and when: a node that took a key and lost its session
// before the wait was over, then takes it again, still waits.
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
		`CREATE TABLE IF NOT EXISTS ctlsup_singleton (key text PRIMARY KEY, holder text NOT NULL, released boolean NOT NULL,
			at timestamptz NOT NULL DEFAULT now(), taken_from text NOT NULL DEFAULT '', taken_at timestamptz NOT NULL DEFAULT now())`,
	} {
		if _, err := c.Exec(ctx, q); err != nil {
			c.Close(context.Background())
			return nil, err
		}
	}
	if err := upgradeTable(ctx, c); err != nil {
		c.Close(context.Background())
		return nil, err
	}
	b.conn = c
	b.held = map[string]bool{}
	return c, nil
}

// upgradeTable adds the columns a table made by an older ctlsupd lacks.
// It looks first: ALTER TABLE locks the table against every other node's
// queries, which each connection must not do.
func upgradeTable(ctx context.Context, c *pgx.Conn) error {
	var n int
	if err := c.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = 'ctlsup_singleton' AND column_name IN ('taken_from', 'taken_at')`).Scan(&n); err != nil || n == 2 {
		return err
	}
	for _, q := range []string{
		`ALTER TABLE ctlsup_singleton ADD COLUMN IF NOT EXISTS taken_from text NOT NULL DEFAULT ''`,
		`ALTER TABLE ctlsup_singleton ADD COLUMN IF NOT EXISTS taken_at timestamptz NOT NULL DEFAULT now()`,
	} {
		if _, err := c.Exec(ctx, q); err != nil {
			return err
		}
	}
	return nil
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
	// Held in this session already if the session still lives (a session
	// that died unnoticed holds nothing, and another node may hold the
	// key); taken again it would be locked twice, and one unlock would
	// not give it up. Either way the table decides whether it must wait.
	ok := b.held[key]
	if ok {
		if _, err := c.Exec(ctx, "SELECT 1"); err != nil {
			b.brokenLocked()
			if c, err = b.connLocked(ctx); err != nil {
				return cluster.Attempt{}, err
			}
			ok = false
		}
	}
	if !ok {
		if err := c.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", lockID(key)).Scan(&ok); err != nil {
			b.brokenLocked()
			return cluster.Attempt{}, err
		}
	}
	var holder, from string
	var released bool
	var takenMs int64
	err = c.QueryRow(ctx, `SELECT holder, released, taken_from, (extract(epoch FROM now() - taken_at) * 1000)::bigint
		FROM ctlsup_singleton WHERE key = $1`, key).Scan(&holder, &released, &from, &takenMs)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		b.brokenLocked()
		return cluster.Attempt{}, err
	}
	if !ok {
		return cluster.Attempt{Holder: holder}, nil
	}
	b.held[key] = true
	a := cluster.Attempt{Held: true}
	switch {
	case holder != "" && holder != b.node && !released:
		// Taken from a holder whose session ended: it may run on.
		a.Quarantine, a.Previous = true, holder
		_, err = c.Exec(ctx, `INSERT INTO ctlsup_singleton (key, holder, released, at, taken_from, taken_at) VALUES ($1, $2, false, now(), $3, now())
			ON CONFLICT (key) DO UPDATE SET holder = $2, released = false, at = now(), taken_from = $3, taken_at = now()`, key, b.node, holder)
	case holder == b.node && !released && from != "" && from != b.node && time.Duration(takenMs)*time.Millisecond < b.ttl:
		// Taken from another holder less than a TTL ago (in this
		// session, or in one lost since): its program may still run.
		a.Quarantine, a.Previous = true, from
	default:
		a.Mine = holder == b.node && !released
		_, err = c.Exec(ctx, `INSERT INTO ctlsup_singleton (key, holder, released, at, taken_from) VALUES ($1, $2, false, now(), '')
			ON CONFLICT (key) DO UPDATE SET holder = $2, released = false, at = now(), taken_from = ''`, key, b.node)
	}
	if err != nil {
		b.brokenLocked()
		return cluster.Attempt{}, err
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
	// Given up within a TTL of taking it from a holder that did not give
	// it up, the key goes back to that holder: its program may still
	// run, and the next taker must wait as this node would have.
	if _, err := b.conn.Exec(ctx, `UPDATE ctlsup_singleton SET
			released = (taken_from = '' OR now() - taken_at >= $3 * interval '1 millisecond'),
			holder = CASE WHEN taken_from <> '' AND now() - taken_at < $3 * interval '1 millisecond' THEN taken_from ELSE holder END,
			at = now()
		WHERE key = $1 AND holder = $2`, key, b.node, b.ttl.Milliseconds()); err != nil {
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
