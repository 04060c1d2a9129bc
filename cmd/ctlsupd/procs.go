package main

import (
	"os"
	"runtime"
	"sync"
	"sync/atomic"
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
		runtime.GOMAXPROCS(1)
		procs.limited = true
	}
	return runtime.GOMAXPROCS(0)
}

// procs lends a burst of spawns a second P; the process has one
// GOMAXPROCS, so this is the process's, not an engine's.
var procs procGovernor

// procGovernor gives many spawns at once (a boot, a start all, an update)
// burstProcs Ps, and the daemon one P again once its engine has been
// quiet (keepStatus). Forks are one at a time, and the forking thread
// waits in the kernel for its child's exec without a P; with one P the
// daemon's own work for the next spawn (pipes, cgroup, journal, holder)
// waits for the runtime to hand the P over, and on two CPUs a fifth of
// the machine's time in a start of 5000 went idle. With two Ps that
// start took 4.3-4.5 s instead of 4.8-4.9 (idle CPU halved). A third P
// would prepare spawns faster than the fork lock lets them go.
type procGovernor struct {
	limited bool // limitProcs chose one P: GOMAXPROCS was not given
	raised  atomic.Bool
	mu      sync.Mutex // orders raise and lower
}

const burstProcs = 2

// raise lends the burst its Ps; cheap when they are already lent.
func (g *procGovernor) raise() {
	if !g.limited || g.raised.Load() || runtime.NumCPU() < 2 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.raised.Load() {
		runtime.GOMAXPROCS(burstProcs)
		g.raised.Store(true)
	}
}

// lower takes them back once the burst is over.
func (g *procGovernor) lower() {
	if !g.raised.Load() {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.raised.Load() {
		runtime.GOMAXPROCS(1)
		g.raised.Store(false)
	}
}
