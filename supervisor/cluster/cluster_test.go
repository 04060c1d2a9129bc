package cluster

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ctlsup/ctlsup/supervisor"
)

// fakeBackend is a coordination service in memory whose renewals a test
// can make fail.
type fakeBackend struct {
	node string
	mu   sync.Mutex
	keys map[string]string // key → holder
	down bool
	// quarantine makes the next acquisition report a holder that lost
	// its session without giving the key up.
	quarantine string
	renewals   int
	// releaseGate, if set, holds every release until closed.
	releaseGate chan struct{}
}

func (b *fakeBackend) TryAcquire(_ context.Context, key string) (Attempt, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.down {
		return Attempt{}, errors.New("unreachable")
	}
	switch h := b.keys[key]; h {
	case "":
		b.keys[key] = b.node
		a := Attempt{Held: true}
		if b.quarantine != "" {
			a.Quarantine, a.Previous, b.quarantine = true, b.quarantine, ""
		}
		return a, nil
	case b.node:
		return Attempt{Held: true, Mine: true}, nil
	default:
		return Attempt{Holder: h}, nil
	}
}

func (b *fakeBackend) Renew(_ context.Context, keys []string) ([]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.down {
		return nil, errors.New("unreachable")
	}
	b.renewals++
	var lost []string
	for _, k := range keys {
		if b.keys[k] != b.node {
			lost = append(lost, k)
		}
	}
	return lost, nil
}

func (b *fakeBackend) Release(_ context.Context, key string) error {
	if b.releaseGate != nil {
		<-b.releaseGate
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.keys[key] == b.node {
		delete(b.keys, key)
	}
	return nil
}

func (b *fakeBackend) Close() error { return nil }

func (b *fakeBackend) renewCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.renewals
}

func (b *fakeBackend) set(f func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f()
}

var testCfg = Config{Node: "node-a", TTL: 10 * time.Second, Margin: time.Second}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestManager_RenewalsMoveTheFence: while renewals succeed the lease is
// never lost and its deadline moves; once they fail, it is lost exactly
// StopWait before the deadline the last successful renewal gave, which is
// TTL minus Margin after that renewal was sent.
func TestManager_RenewalsMoveTheFence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &fakeBackend{node: "node-a", keys: map[string]string{}}
		m := New(b, testCfg, quiet())
		defer m.Close()
		var renewed []time.Time
		var mu sync.Mutex
		start := time.Now()
		l, err := m.Acquire(context.Background(), supervisor.LeaseWant{Key: "turkey:beat", StopWait: 2 * time.Second,
			Renewed: func(d time.Time) { mu.Lock(); renewed = append(renewed, d); mu.Unlock() }})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := l.Deadline(), start.Add(9*time.Second); !got.Equal(want) {
			t.Errorf("deadline %s after acquisition, want %s", got.Sub(start), want.Sub(start))
		}
		time.Sleep(30 * time.Second)
		synctest.Wait()
		select {
		case <-l.Lost():
			t.Fatal("lost while renewals succeed")
		default:
		}
		mu.Lock()
		n := len(renewed)
		mu.Unlock()
		if n < 10 {
			t.Errorf("%d renewals in 30 s, want one every TTL/5", n)
		}
		// The last renewal before the failure was sent at a multiple of
		// TTL/5 = 2 s: the fence is 10 - 1 - 2 = 7 s after it.
		last := time.Now()
		b.set(func() { b.down = true })
		<-l.Lost()
		if got := time.Since(last); got != 7*time.Second {
			t.Errorf("lost %s after the last renewal, want 7s (TTL - margin - stopwait)", got)
		}
		if h := m.Held(); len(h) != 0 {
			t.Errorf("still held after being lost: %v", h)
		}
	})
}

// TestManager_WaitsForTheHolder: a key another node holds is waited for,
// the holder reported; a resume fails at once instead; a release hands
// the key over.
func TestManager_WaitsForTheHolder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &fakeBackend{node: "node-a", keys: map[string]string{"turkey:beat": "node-b"}}
		m := New(b, testCfg, quiet())
		defer m.Close()
		if _, err := m.Acquire(context.Background(), supervisor.LeaseWant{Key: "turkey:beat", Resume: true}); !errors.Is(err, supervisor.ErrLeaseHeldElsewhere) {
			t.Errorf("resume of a key node-b holds: %v", err)
		}
		var holder string
		got := make(chan supervisor.Lease)
		go func() {
			l, _ := m.Acquire(context.Background(), supervisor.LeaseWant{Key: "turkey:beat", Waiting: func(h, _ string) { holder = h }})
			got <- l
		}()
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if holder != "node-b" {
			t.Errorf("waiting reported holder %q, want node-b", holder)
		}
		b.set(func() { delete(b.keys, "turkey:beat") })
		t0 := time.Now()
		l := <-got
		if time.Since(t0) > testCfg.Poll() {
			t.Errorf("acquired %s after the key was free, want within a poll (%s)", time.Since(t0), testCfg.Poll())
		}
		l.Release()
		m.Close() // waits for the release
		if h := b.keys["turkey:beat"]; h != "" {
			t.Errorf("after release the key is %q's", h)
		}
	})
}

// TestManager_QuarantineWaitsATTL: a key whose previous holder lost its
// session without giving it up is held for a TTL before it is granted.
func TestManager_QuarantineWaitsATTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &fakeBackend{node: "node-a", keys: map[string]string{}, quarantine: "node-b"}
		m := New(b, testCfg, quiet())
		defer m.Close()
		t0 := time.Now()
		var reason string
		if _, err := m.Acquire(context.Background(), supervisor.LeaseWant{Key: "k", Waiting: func(_, r string) { reason = r }}); err != nil {
			t.Fatal(err)
		}
		if got := time.Since(t0); got < testCfg.TTL {
			t.Errorf("granted after %s, want at least the TTL", got)
		}
		if reason == "" {
			t.Error("the wait was not reported")
		}
	})
}

// TestManager_QuarantineKeepsTheKey: the key is renewed all through the
// quarantine (a PostgreSQL session idle for a TTL loses its lock), and a
// key another node lost in the middle of it is not granted.
func TestManager_QuarantineKeepsTheKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &fakeBackend{node: "node-a", keys: map[string]string{}, quarantine: "node-b"}
		m := New(b, testCfg, quiet())
		defer m.Close()
		if _, err := m.Acquire(context.Background(), supervisor.LeaseWant{Key: "k"}); err != nil {
			t.Fatal(err)
		}
		if n, want := b.renewCount(), int(testCfg.TTL/testCfg.RenewEvery()); n < want {
			t.Errorf("%d renewals during the quarantine, want at least %d", n, want)
		}

		// The session ends in the middle of the quarantine: another node
		// takes the key, and this one keeps waiting.
		b2 := &fakeBackend{node: "node-a", keys: map[string]string{}, quarantine: "node-b"}
		m2 := New(b2, testCfg, quiet())
		defer m2.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*testCfg.TTL)
		defer cancel()
		go func() {
			time.Sleep(testCfg.TTL / 2)
			b2.set(func() { b2.keys["k"] = "node-c" })
		}()
		if _, err := m2.Acquire(ctx, supervisor.LeaseWant{Key: "k"}); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("a key lost during the quarantine was granted (err %v)", err)
		}
	})
}

// TestManager_ResumeRefusesATakenKey: a daemon resuming the lease of a
// process it adopted finds that another node held the key meanwhile: the
// lease is not its to resume.
func TestManager_ResumeRefusesATakenKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &fakeBackend{node: "node-a", keys: map[string]string{}, quarantine: "node-c"}
		m := New(b, testCfg, quiet())
		defer m.Close()
		_, err := m.Acquire(context.Background(), supervisor.LeaseWant{Key: "k", Resume: true})
		if !errors.Is(err, supervisor.ErrLeaseHeldElsewhere) {
			t.Fatalf("resume of a key node-c held meanwhile: %v", err)
		}
		m.Close() // waits for the release
		if h := b.keys["k"]; h != "" {
			t.Errorf("the key stays %q's", h)
		}
	})
}

// TestManager_AcquireWaitsForARelease: a lease given up in the background
// and wanted again at once is taken once the release is done; a release
// arriving after the new hold would give it up.
func TestManager_AcquireWaitsForARelease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &fakeBackend{node: "node-a", keys: map[string]string{}, releaseGate: make(chan struct{})}
		m := New(b, testCfg, quiet())
		defer m.Close()
		l, err := m.Acquire(context.Background(), supervisor.LeaseWant{Key: "k"})
		if err != nil {
			t.Fatal(err)
		}
		l.Release() // waits at the service
		done := make(chan error, 1)
		go func() {
			_, err := m.Acquire(context.Background(), supervisor.LeaseWant{Key: "k"})
			done <- err
		}()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("taken again while its release was under way (%v)", err)
		default:
		}
		close(b.releaseGate)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		b.mu.Lock()
		defer b.mu.Unlock()
		if h := b.keys["k"]; h != "node-a" {
			t.Errorf("the key is %q's after the release and the new hold", h)
		}
	})
}
