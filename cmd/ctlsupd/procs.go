package main

import (
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// ctlsupd's work is waiting: on children, pipes and requests. Logs are
// copied inside splice(2), and a thread in a system call needs no P. With
// a second P, every wake-up also wakes a second thread to look for work
// that is not there: on two CPUs one P cut the daemon's CPU per MiB logged
// by a quarter and the start of 1000 programs by a third. A GOMAXPROCS in
// the environment still decides.
//
// A burst of spawns is the exception (see procGovernor).
func limitProcs() int {
	if os.Getenv("GOMAXPROCS") == "" {
		// Go's default: the CPUs the process may use, within a
		// container's CPU limit too.
		procs.cpus = runtime.GOMAXPROCS(1)
		procs.limited.Store(true)
	}
	return runtime.GOMAXPROCS(0)
}

// procs lends a burst of spawns a second P; the process has one
// GOMAXPROCS, so this is the process's, not an engine's.
var procs procGovernor

// procGovernor gives many spawns at once (a boot, a start all, an update)
// burstProcs Ps, and the daemon one P again once for burstQuiet no spawn
// has begun while another was under way or right after one ended (the
// runtime's OnBurst). Programs that restart on their own more than a few
// times a second in all keep the second P too. Forks are one at a time,
// and the forking thread waits in the kernel for its child's exec
// without a P; with one P the daemon's own work for the next spawn
// (pipes, cgroup, journal, holder) waits for the runtime to hand the P
// over, and on two CPUs a fifth of the machine's time in a start of 5000
// went idle. With two Ps that start took 4.3-4.4 s instead of 4.7-4.8
// (idle CPU halved). A third P would prepare spawns faster than the fork
// lock lets them go.
type procGovernor struct {
	limited atomic.Bool // limitProcs chose one P: GOMAXPROCS was not given
	cpus    int         // the Ps Go would have run on; set before any spawn
	raised  atomic.Bool
	last    atomic.Int64 // when a burst's spawn last began, as monotonic ns since governorEpoch
	mu      sync.Mutex   // orders raising and lowering; guards timer
	timer   *time.Timer
}

const (
	burstProcs = 2
	burstQuiet = time.Second
)

var governorEpoch = time.Now()

// raise is called as a spawn of a burst begins: it lends the burst its
// Ps, or keeps them lent.
func (g *procGovernor) raise() {
	if !g.limited.Load() || g.cpus < 2 {
		return
	}
	g.last.Store(int64(time.Since(governorEpoch)))
	if g.raised.Load() {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.raised.Load() {
		return
	}
	runtime.GOMAXPROCS(min(burstProcs, g.cpus))
	g.raised.Store(true)
	if g.timer == nil {
		g.timer = time.AfterFunc(burstQuiet, g.settle)
	} else {
		g.timer.Reset(burstQuiet)
	}
}

// settle takes the Ps back once the burst has been over for burstQuiet,
// or looks again when it may be. A raise racing it at worst costs the
// burst its second P until its next overlapping spawn.
func (g *procGovernor) settle() {
	g.mu.Lock()
	defer g.mu.Unlock()
	since := time.Since(governorEpoch) - time.Duration(g.last.Load())
	switch {
	case !g.limited.Load():
		// No longer governed (a test's daemon ended): GOMAXPROCS is
		// someone else's again.
	case since < burstQuiet:
		g.timer.Reset(burstQuiet - since)
		return
	default:
		runtime.GOMAXPROCS(1)
	}
	g.raised.Store(false)
}
