package osruntime

import "testing"

// Of two journal entries of one program (a start_before_stop pair), the
// one that provably runs survives; one that cannot be looked up (out of
// descriptors) is neither kept over a running one, nor given up for an
// ended one: the other is stopped, and a live program stopped for a dead
// one would be started a second time.
func TestKeepNewer_UnknownIsBetweenRunningAndEnded(t *testing.T) {
	for _, c := range []struct {
		older, newer  int
		olderStopping bool
		want          bool
	}{
		{liveRunning, liveEnded, false, false},
		{liveEnded, liveRunning, false, true},
		{liveUnknown, liveRunning, false, true},
		{liveRunning, liveUnknown, true, false},
		{liveEnded, liveUnknown, false, true},
		{liveUnknown, liveEnded, true, false},
		{liveRunning, liveRunning, false, false},
		{liveRunning, liveRunning, true, true},
		{liveUnknown, liveUnknown, true, true},
	} {
		if got := keepNewer(c.older, c.newer, c.olderStopping); got != c.want {
			t.Errorf("older %d, newer %d, older stopping %v: keep newer %v, want %v", c.older, c.newer, c.olderStopping, got, c.want)
		}
	}
}
