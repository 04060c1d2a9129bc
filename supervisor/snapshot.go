package supervisor

import (
	"fmt"
	"time"
)

// ProcessInfo is an immutable snapshot of one process, published by its
// actor after every change. Readers (status, metrics) never wake the actor.
type ProcessInfo struct {
	Name, Group       string
	Program, Instance string
	State             State
	Pid               int       // 0 when no process runs
	Start             time.Time // last spawn, zero if never started
	Stop              time.Time // last exit, zero if never exited
	ExitStatus        int       // last exit code; -1 for a signal death; 0 again once respawned
	LastExitCode      int       // the last exit code, kept across spawns
	SpawnErr          string
	StatusText        string // the last STATUS= of a notify program
	Waiting           bool   // STARTING with no process: waiting for its dependencies
	Restarts          int    // automatic restarts so far
	// RestartsAfterExit and RestartsAfterRetry split Restarts by reason: a
	// process that had run, or one that failed to start.
	RestartsAfterExit, RestartsAfterRetry int
	ExitsExpected, ExitsUnexpected        int
	BackoffDelay                          time.Duration // pending back-off delay, 0 when none
	Stopped                               bool          // the last stop was an operator's
	Spec                                  *ProcessSpec  // the spec in force; never modified

	output  Output
	changed chan struct{} // closed when a newer snapshot replaces this one
}

// FullName is the namespec: "group:name", or "name" for a group of its own.
func (p *ProcessInfo) FullName() string { return p.Spec.FullName() }

// OutputStats reports the process's log capture counters.
func (p *ProcessInfo) OutputStats() OutputStats { return p.output.Stats() }

// Description is supervisord's status text: "pid 7680, uptime 13:22:18" when
// RUNNING, the spawn error in BACKOFF and FATAL, the stop time (server local
// time) or "Not started" in STOPPED and EXITED.
func (p *ProcessInfo) Description(now time.Time) string {
	switch p.State {
	case Running:
		up := now.Truncate(time.Second).Sub(p.Start.Truncate(time.Second))
		return fmt.Sprintf("pid %d, uptime %s", p.Pid, Uptime(up))
	case Starting:
		// A crash loop's delay, a wait for dependencies, or what a notify
		// program says of its start; a plain start says nothing, as
		// supervisord's.
		if p.SpawnErr != "" {
			return p.SpawnErr
		}
		return p.StatusText
	case Backoff, Fatal:
		if p.SpawnErr != "" {
			return p.SpawnErr
		}
		return fmt.Sprintf("unknown error (try \"tail %s\")", p.Name)
	case Stopped, Exited:
		if p.Start.IsZero() {
			return "Not started"
		}
		return p.Stop.Local().Format("Jan 02 03:04 PM")
	}
	return ""
}

// Uptime formats a duration the way Python prints a timedelta: "H:MM:SS",
// "1 day, H:MM:SS", "3 days, H:MM:SS". Negative durations print as 0:00:00.
func Uptime(d time.Duration) string {
	secs := max(int64(d/time.Second), 0)
	days, secs := secs/86400, secs%86400
	hms := fmt.Sprintf("%d:%02d:%02d", secs/3600, secs%3600/60, secs%60)
	switch days {
	case 0:
		return hms
	case 1:
		return "1 day, " + hms
	}
	return fmt.Sprintf("%d days, %s", days, hms)
}
