package supervisor

import (
	"time"
)

// ProcessInfo is an immutable snapshot of one process, published by its
// actor after every change. Readers (status, metrics) never wake the actor.
type ProcessInfo struct {
	Name, Group  string // the program and instance are the Spec's
	State        State
	Pid          int       // 0 when no process runs
	Start        time.Time // last spawn, zero if never started
	Stop         time.Time // last exit, zero if never exited
	ExitStatus   int       // last exit code; -1 for a signal death; 0 again once respawned
	LastExitCode int       // the last exit code, kept across spawns
	SpawnErr     string
	StatusText   string // the last STATUS= of a notify program
	Waiting      bool   // STARTING with no process: waiting for its dependencies
	Stopped      bool   // the last stop was an operator's
	Restarts     int    // automatic restarts so far
	// RestartsAfterExit and RestartsAfterRetry split Restarts by reason: a
	// process that had run, or one that failed to start.
	RestartsAfterExit, RestartsAfterRetry int
	ExitsExpected, ExitsUnexpected        int
	BackoffDelay                          time.Duration // pending back-off delay, 0 when none
	Spec                                  *ProcessSpec  // the spec in force; never modified

	output Output
}

// FullName is the namespec: "group:name", or "name" for a group of its own.
func (p *ProcessInfo) FullName() string { return p.Spec.FullName() }

// OutputStats reports the process's log capture counters.
func (p *ProcessInfo) OutputStats() OutputStats { return p.output.Stats() }
