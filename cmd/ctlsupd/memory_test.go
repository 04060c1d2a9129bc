package main

import (
	"runtime"
	"runtime/debug"
	"testing"
)

var sink [][]byte

// TestReleaseIdleMemory: garbage from a burst is returned once, even the
// 2 MiB a start of 5000 programs leaves; with nothing to return, no
// collection is run.
func TestReleaseIdleMemory(t *testing.T) {
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
		t.Fatal("2 MiB of garbage was not returned")
	}
	// Nothing left, it runs no collection. Other tests' goroutines may
	// still allocate meanwhile: a few more releases may come first, but
	// not for ever.
	for i := 0; ; i++ {
		before := gcCount()
		if !releaseIdleMemory() {
			if gcCount() != before {
				t.Error("a collection ran with nothing to return")
			}
			break
		}
		if i == 5 {
			t.Fatal("released again and again with nothing left to return")
		}
	}
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
