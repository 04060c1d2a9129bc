package proc

import (
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// A child's start time, the half of its identity that tells it from a
// later process with its pid, is what /proc/PID/stat says: the kernel's
// CLOCK_BOOTTIME at the fork, in clock ticks (USER_HZ: clockTicks),
// truncated. Read on each side of the fork,
// that clock brackets it: when both reads fall in the same tick, the
// tick is the start time, and the stat file (a path, an open, a read and
// a parse under the reaper's lock) is read only when the fork straddles
// a tick, once in a hundred or so.

const nsPerTick = 1e9 / clockTicks

// clockStartTimes counts the start times the clock pinned down.
var clockStartTimes atomic.Uint64

// bootNanos is CLOCK_BOOTTIME in nanoseconds, 0 if it cannot be read.
func bootNanos() int64 {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts) != nil {
		return 0
	}
	return ts.Nano()
}

// startTick is the start time of a process forked between two bootNanos
// reads, and whether the reads pin it down.
func startTick(before, after int64) (uint64, bool) {
	if before <= 0 || after < before || before/nsPerTick != after/nsPerTick {
		return 0, false
	}
	clockStartTimes.Add(1)
	return uint64(before / nsPerTick), true
}
