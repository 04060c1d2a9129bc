package supervisor

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// fakeLeases grants a lease when the test says so, and counts the
// acquisitions under way.
type fakeLeases struct {
	mu                    sync.Mutex
	inFlight, maxInFlight int
	grant                 chan struct{}
	granted               []*fakeLease
}

type fakeLease struct {
	lost     chan struct{}
	released atomic.Bool
}

func (f *fakeLeases) Node() string { return "node-a" }

func (f *fakeLeases) Acquire(ctx context.Context, want LeaseWant) (Lease, error) {
	f.mu.Lock()
	f.inFlight++
	f.maxInFlight = max(f.maxInFlight, f.inFlight)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inFlight--
		f.mu.Unlock()
	}()
	select {
	case <-f.grant:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	l := &fakeLease{lost: make(chan struct{})}
	f.mu.Lock()
	f.granted = append(f.granted, l)
	f.mu.Unlock()
	return l, nil
}

func (l *fakeLease) Lost() <-chan struct{} { return l.lost }
func (l *fakeLease) Deadline() time.Time   { return time.Now().Add(time.Hour) }
func (l *fakeLease) Release()              { l.released.Store(true) }

// TestLease_OneWaiterPerProcess: a singleton waiting for its lease is
// stopped and started again at once. One acquisition serves both waits,
// and the process runs under a lease nothing gave up.
func TestLease_OneWaiterPerProcess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFakeRuntime()
		leases := &fakeLeases{grant: make(chan struct{})}
		spec := named("beat", func(s *ProcessSpec) { s.ClusterSingleton = true })
		s := New(rt, []GroupSpec{{Name: "beat", Processes: []ProcessSpec{*spec}}})
		s.Logger = quietLogger()
		s.Leases = leases
		if err := s.Open(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer s.Close(context.Background())
		synctest.Wait()
		for range 3 {
			if err := s.stopOne(context.Background(), "beat", WaitForDone); err != nil {
				t.Fatal(err)
			}
			if err := s.startOne(context.Background(), "beat", NoWait); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		close(leases.grant)
		time.Sleep(2 * spec.StartSecs)
		synctest.Wait()
		if leases.maxInFlight != 1 {
			t.Errorf("%d acquisitions at once for one process, want 1", leases.maxInFlight)
		}
		info, _ := s.Process("beat")
		if info.State != Running {
			t.Fatalf("beat is %s (%q, waiting %v; %d acquisitions under way, %d granted), want RUNNING", info.State, info.SpawnErr, info.Waiting, leases.inFlight, len(leases.granted))
		}
		s.leaseMu.Lock()
		h := s.leases["beat"]
		s.leaseMu.Unlock()
		if h == nil || h.lease.(*fakeLease).released.Load() {
			t.Errorf("beat runs without a lease it holds (%v)", h)
		}
	})
}
