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
	defer func() { procs.limited = false }()
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
// its engine has been quiet.
func TestProcGovernor_LendsABurstAP(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("one CPU: a burst gets no second P")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	runtime.GOMAXPROCS(1)
	procs.limited = true
	defer func() { procs.limited = false }()

	var seen atomic.Int32
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			seen.Store(max(seen.Load(), int32(runtime.GOMAXPROCS(0))))
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	var text strings.Builder
	var names []string
	for i := range 40 {
		name := fmt.Sprintf("p%d", i)
		text.WriteString(program(name, "sleep"))
		names = append(names, name)
	}
	r := mustRunMain(t, testConfig(t, map[string]string{"app.toml": text.String()}))
	r.waitFor(t, "all running", allRunning(names...))
	if got := seen.Load(); got != burstProcs {
		t.Errorf("a start of 40 programs ran with at most %d Ps, want %d", got, burstProcs)
	}
	deadline := time.Now().Add(3*quietRelease + statusEvery)
	for runtime.GOMAXPROCS(0) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the engine has been quiet for %v and the daemon still has %d Ps", 3*quietRelease+statusEvery, runtime.GOMAXPROCS(0))
		}
		time.Sleep(10 * time.Millisecond)
	}

	// One spawn alone is no burst.
	seen.Store(0)
	if _, err := r.m.Supervisor.Restart(context.Background(), supervisor.Process("p0"), supervisor.WaitForDone); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, "p0 running again", allRunning(names...))
	if got := seen.Load(); got != 1 {
		t.Errorf("a restart of one program ran with %d Ps, want 1", got)
	}
}
