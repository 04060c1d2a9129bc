package main

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ctlsup/ctlsup/supervisor"
)

func TestLimitProcs(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	defer procs.limited.Store(false)
	runtime.GOMAXPROCS(4)
	t.Setenv("GOMAXPROCS", "")
	if got := limitProcs(); got != 1 {
		t.Errorf("without GOMAXPROCS: %d Ps, want 1", got)
	}
	runtime.GOMAXPROCS(4)
	t.Setenv("GOMAXPROCS", "4")
	if got := limitProcs(); got != 4 {
		t.Errorf("with GOMAXPROCS=4: %d Ps, want 4", got)
	}
}

// A start of many programs gets a second P, and the daemon one again once
// its spawns no longer overlap.
func TestProcGovernor_LendsABurstAP(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	runtime.GOMAXPROCS(1)
	procs.cpus = 2
	procs.limited.Store(true)
	// Cleanups run last in first out: this one after the daemon's.
	t.Cleanup(func() { procs.limited.Store(false) })

	// The most Ps seen since the last reset.
	var seen atomic.Int32
	watch := func() (stop func()) {
		seen.Store(0)
		done := make(chan struct{})
		ended := make(chan struct{})
		go func() {
			defer close(ended)
			for {
				n := int32(runtime.GOMAXPROCS(0))
				for old := seen.Load(); n > old && !seen.CompareAndSwap(old, n); old = seen.Load() {
				}
				select {
				case <-done:
					return
				case <-time.After(time.Millisecond):
				}
			}
		}()
		return func() { close(done); <-ended }
	}
	var text strings.Builder
	var names []string
	for i := range 40 {
		name := fmt.Sprintf("p%d", i)
		text.WriteString(program(name, "sleep"))
		names = append(names, name)
	}
	stop := watch()
	r := mustRunMain(t, testConfig(t, map[string]string{"app.toml": text.String()}))
	r.waitFor(t, "all running", allRunning(names...))
	stop()
	if got := seen.Load(); got != burstProcs {
		t.Errorf("a start of 40 programs ran with at most %d Ps, want %d", got, burstProcs)
	}
	limit := 3 * burstQuiet
	deadline := time.Now().Add(limit)
	for runtime.GOMAXPROCS(0) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("no spawn for %v and the daemon still has %d Ps", limit, runtime.GOMAXPROCS(0))
		}
		time.Sleep(10 * time.Millisecond)
	}

	// One spawn alone is no burst.
	stop = watch()
	if _, err := r.m.Supervisor.Restart(context.Background(), supervisor.Process("p0"), supervisor.WaitForDone); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, "p0 running again", allRunning(names...))
	stop()
	if got := seen.Load(); got != 1 {
		t.Errorf("a restart of one program ran with %d Ps, want 1", got)
	}
}
