package backends

import (
	"context"
	"testing"
	"time"

	"github.com/ctlsup/ctlsup/supervisor/cluster"
	"github.com/ctlsup/ctlsup/supervisor/testhelper"
	"github.com/jackc/pgx/v5"
)

func openPG(t *testing.T, url, node string, ttl time.Duration) *pgBackend {
	t.Helper()
	b, err := openPostgres(url, node, ttl)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b.(*pgBackend)
}

// heldThenDead has b take "beat", then ends its session without a
// release, as a node that died or was cut off.
func heldThenDead(t *testing.T, b *pgBackend) {
	t.Helper()
	if a, err := b.TryAcquire(context.Background(), "beat"); err != nil || !a.Held {
		t.Fatalf("%s: %+v %v", b.node, a, err)
	}
	b.mu.Lock()
	b.brokenLocked()
	b.mu.Unlock()
}

// takeOnceEnded is TryAcquire, retried for up to a second while the key's
// lock is still held by the session of ended, which the test closed: the
// server ends a closed session's backend, and with it its locks, a moment
// after the client has gone.
func takeOnceEnded(b *pgBackend, key, ended string) (cluster.Attempt, error) {
	deadline := time.Now().Add(time.Second)
	for {
		a, err := b.TryAcquire(context.Background(), key)
		if err != nil || a.Held || a.Holder != ended || time.Now().After(deadline) {
			return a, err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPostgres_TakeoverWaitsEvenAfterALostSession: a node that took a key
// from a holder whose session ended, and lost its own session before the
// TTL was over, still waits when it takes the key again: the previous
// holder's program may still run. Once a TTL has passed, it does not.
func TestPostgres_TakeoverWaitsEvenAfterALostSession(t *testing.T) {
	_, url := testhelper.StartPostgres(t)
	ctx := context.Background()
	const ttl = 2 * time.Second
	open := func(node string) *pgBackend { return openPG(t, url, node, ttl) }
	heldThenDead(t, open("node-c"))

	a := open("node-a")
	got, err := takeOnceEnded(a, "beat", "node-c")
	if err != nil || !got.Held || !got.Quarantine || got.Previous != "node-c" {
		t.Fatalf("node-a's first take: %+v %v; want held, quarantined from node-c", got, err)
	}
	if got, err = a.TryAcquire(ctx, "beat"); err != nil || !got.Quarantine || got.Mine {
		t.Fatalf("node-a taking again in its session during the wait: %+v %v; want still quarantined", got, err)
	}
	a.mu.Lock()
	a.brokenLocked() // lost during the quarantine
	a.mu.Unlock()
	got, err = takeOnceEnded(a, "beat", "node-a")
	if err != nil || !got.Held || !got.Quarantine || got.Previous != "node-c" || got.Mine {
		t.Fatalf("node-a's second take within the TTL: %+v %v; want quarantined from node-c", got, err)
	}

	time.Sleep(ttl)
	a.mu.Lock()
	a.brokenLocked()
	a.mu.Unlock()
	got, err = takeOnceEnded(a, "beat", "node-a")
	if err != nil || !got.Held || got.Quarantine || !got.Mine {
		t.Errorf("node-a's take a TTL later: %+v %v; want its own, no wait", got, err)
	}
}

// TestPostgres_GivingUpDuringTheWaitKeepsIt: a node that takes a key from
// a holder whose session ended, and gives it up before a TTL has passed
// (a resume refused, a wait abandoned), leaves it to the next taker as it
// found it: that holder's program may still run, so the next one waits.
func TestPostgres_GivingUpDuringTheWaitKeepsIt(t *testing.T) {
	_, url := testhelper.StartPostgres(t)
	ctx := context.Background()
	open := func(node string) *pgBackend { return openPG(t, url, node, 6*time.Second) }
	heldThenDead(t, open("node-c"))

	a := open("node-a")
	if got, err := takeOnceEnded(a, "beat", "node-c"); err != nil || !got.Quarantine {
		t.Fatalf("node-a: %+v %v; want quarantined", got, err)
	}
	if err := a.Release(ctx, "beat"); err != nil {
		t.Fatal(err)
	}
	b := open("node-b")
	got, err := b.TryAcquire(ctx, "beat")
	if err != nil || !got.Held || !got.Quarantine || got.Previous != "node-c" {
		t.Errorf("node-b after node-a gave up during its wait: %+v %v; want quarantined from node-c", got, err)
	}
}

// TestPostgres_OlderTableGainsItsColumns: a table an older ctlsupd made,
// with a holder recorded in it, gets the new columns and keeps its row.
func TestPostgres_OlderTableGainsItsColumns(t *testing.T) {
	_, url := testhelper.StartPostgres(t)
	ctx := context.Background()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	for _, q := range []string{
		`CREATE TABLE ctlsup_singleton (key text PRIMARY KEY, holder text NOT NULL, released boolean NOT NULL, at timestamptz NOT NULL DEFAULT now())`,
		`INSERT INTO ctlsup_singleton (key, holder, released) VALUES ('beat', 'node-c', false)`,
	} {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	b, err := openPostgres(url, "node-a", 6*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	got, err := b.TryAcquire(ctx, "beat")
	if err != nil || !got.Held || !got.Quarantine || got.Previous != "node-c" {
		t.Errorf("take over an older table's key: %+v %v; want quarantined from node-c", got, err)
	}
}
