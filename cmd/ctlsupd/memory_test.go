package main

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"testing"
)

var sink [][]byte

// releaseChildEnv makes the test binary run releaseCheck alone (see
// TestMain): in a process of its own, no other test's goroutines
// allocate or hold stacks while it looks.
const releaseChildEnv = "CTLSUPD_TEST_RELEASE_CHILD"

// TestReleaseIdleMemory: garbage from a burst is returned once, even the
// 2 MiB a start of 5000 programs leaves; with nothing to return, no
// collection is run.
func TestReleaseIdleMemory(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), releaseChildEnv+"=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}

// releaseCheck is TestReleaseIdleMemory's body; it reports what failed.
func releaseCheck() error {
	// No collection may run on its own meanwhile: it would return the
	// garbage before the function under test sees it.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	runtime.GC()
	releaseIdleMemory()
	for range 32 {
		sink = append(sink, make([]byte, 64<<10)) // 2 MiB
	}
	sink = nil
	if !releaseIdleMemory() {
		return errors.New("2 MiB of garbage was not returned")
	}
	before := gcCount()
	if releaseIdleMemory() {
		return errors.New("released again with nothing left to return")
	}
	if gcCount() != before {
		return errors.New("a collection ran with nothing to return")
	}
	return nil
}

func gcCount() uint32 {
	var st runtime.MemStats
	runtime.ReadMemStats(&st)
	return st.NumGC
}

// TestLimitHeapGrowth: ctlsupd collects at heapGrowth, unless GOGC says
// otherwise.
func TestLimitHeapGrowth(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "")
	limitHeapGrowth()
	if got := debug.SetGCPercent(100); got != heapGrowth {
		t.Errorf("GC percent %d without GOGC, want %d", got, heapGrowth)
	}
	t.Setenv("GOGC", "200")
	limitHeapGrowth()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GC percent %d with GOGC set, want it left alone", got)
	}
}
