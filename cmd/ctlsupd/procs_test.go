package main

import (
	"runtime"
	"testing"
)

func TestLimitProcs(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
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
