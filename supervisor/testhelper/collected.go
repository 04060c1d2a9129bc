package testhelper

import (
	"runtime"
	"testing"
	"time"
	"weak"
)

// WaitCollected fails t unless what p points to is collected within 10 s:
// whatever still held it (a goroutine finishing its last turn) lets go
// meanwhile, and each wait collects again.
func WaitCollected[T any](t testing.TB, p weak.Pointer[T], what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for p.Value() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("%s is still reachable", what)
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}
