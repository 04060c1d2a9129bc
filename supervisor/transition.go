package supervisor

import (
	"fmt"
	"syscall"
	"time"
)

// ExitStatus is how a process ended, in supervisord's terms.
type ExitStatus struct {
	Code     int            // exit code; -1 when a signal ended the process
	Signaled bool           // true when a signal ended the process
	Signal   syscall.Signal // which, when Signaled and known
	Text     string         // "exit status 1", "terminated by SIGTERM"
	// OOMKilled: the kernel killed it for exceeding its memory limit.
	OOMKilled bool
}

type eventKind int

const (
	evStart        eventKind = iota // operator start
	evStop                          // operator stop
	evSignal                        // operator signal
	evShutdown                      // stop for good: daemon shutdown or removal
	evSpawned                       // the spawn effect succeeded
	evSpawnFailed                   // the spawn effect failed
	evSignalFailed                  // a stop signal could not be delivered
	evExit                          // the process was reaped
	evTimer                         // the armed deadline passed
	evReady                         // the process said, or a probe found, it is ready
	evWait                          // a start waits for its dependencies
	evDepsReady                     // the dependencies are ready: spawn
	evDepsFailed                    // a dependency failed: the start fails
	evWaitText                      // a waiting start waits for something else now
	evGated                         // a spawn must wait (for a cluster lease)
	numEvents
)

var eventNames = [...]string{"start", "stop", "signal", "shutdown", "spawned", "spawn-failed",
	"signal-failed", "exit", "timer", "ready", "wait", "deps-ready", "deps-failed",
	"wait-text", "gated"}

func (k eventKind) String() string { return eventNames[k] }

type event struct {
	kind eventKind
	sig  syscall.Signal // evSignal
	exit ExitStatus     // evExit
	err  string         // evSpawnFailed, evSignalFailed, evWait, evDepsFailed
	// at, if set, is when it happened (an exit a previous daemon reaped):
	// the event is judged as at that time.
	at time.Time
}

// timerKind says what the armed deadline means.
type timerKind int

const (
	timerNone      timerKind = iota
	timerStartSecs           // STARTING -> RUNNING
	timerRetry               // BACKOFF -> STARTING
	timerStopWait            // STOPPING -> SIGKILL
)

// machine is the state of one process that transitions read and write.
// It is a plain value: the transition function is pure.
type machine struct {
	State      State
	Start      time.Time // last spawn
	Stop       time.Time // last exit
	ExitStatus int
	LastExit   int // the last exit code, kept across spawns (ExitStatus is reset, as supervisord's)
	SpawnErr   string

	Backoff  int           // failed starts in a row (supervisord's backoff)
	Crashes  int           // short runs in a row that ended in a restart
	Delay    time.Duration // the pending back-off delay, 0 when none
	Restarts int           // automatic spawns since the process was created

	// Counters for metrics.
	RestartsAfterExit  int // restarts of a process that had reached RUNNING
	RestartsAfterRetry int // retries of a process that failed to start
	ExitsExpected      int // exits asked for (stop) or with an expected code
	ExitsUnexpected    int

	Timer    timerKind
	Deadline time.Time

	// Via is a state this transition passed through on its way (EXITED
	// before a restart after an exit, BACKOFF before FATAL), which events
	// must show as supervisord shows it; HasVia says there is one. Both
	// describe the last transition only. ExitExpected says whether the
	// last exit was expected, as of that exit's transition.
	Via          State
	HasVia       bool
	ExitExpected bool

	OperatorStopped bool // the last stop was requested, not a crash
	NoRestart       bool // shutting down or being removed: never spawn again

	// Waiting: STARTING with no process yet, until the dependencies are
	// ready.
	Waiting bool
	// ReadyTimedOut: the stop under way is a start that did not become
	// ready within startsecs; its exit is a failed start.
	ReadyTimedOut bool
}

type effectKind int

const (
	effSpawn  effectKind = iota // start the process
	effSignal                   // send sig to the leader, or the group
)

type effect struct {
	kind  effectKind
	sig   syscall.Signal
	group bool
}

const tooQuicklyText = "Exited too quickly (process log may have details)"

// transition computes the next machine and the effects to perform for one
// event. It never performs an effect itself; the actor does, and reports the
// outcome of a spawn or a stop signal as a further event.
func transition(m machine, ev event, spec *ProcessSpec, now time.Time) (machine, []effect, error) {
	m.HasVia = false
	switch ev.kind {
	case evStart:
		switch {
		case m.Waiting:
			return m, nil, ErrAlreadyStarted
		case m.State.IsRunning():
			return m, nil, ErrAlreadyStarted
		case m.State == Unknown:
			return m, nil, ErrFailed
		case m.State == Stopping:
			// supervisord refuses the same way: the old process still lives.
			return m, nil, ErrAbnormalTermination
		}
		m.Backoff, m.Crashes, m.OperatorStopped, m.NoRestart = 0, 0, false, false
		m = spawning(m, now)
		return m, []effect{{kind: effSpawn}}, nil

	case evStop, evShutdown:
		if ev.kind == evShutdown {
			m.NoRestart = true
		}
		switch {
		case m.State == Stopping && m.ReadyTimedOut && ev.kind == evStop:
			// Already stopping for being late: now stopped for good.
			m.ReadyTimedOut, m.OperatorStopped = false, true
			return m, nil, nil
		case m.restartPending(), m.State == Backoff:
			// A spawn error stays, as supervisord's spawnerr does: why the
			// process was down when it was stopped. A wait's text (for
			// dependencies, for a lease) is no spawn error: it goes.
			if m.Waiting {
				m.SpawnErr = ""
			}
			m.State, m.OperatorStopped, m.Delay, m.Waiting = Stopped, true, 0, false
			m = disarm(m)
			return m, nil, nil
		case m.State == Starting, m.State == Running:
			m.State, m.OperatorStopped = Stopping, true
			m = arm(m, timerStopWait, spec.StopWait, now)
			return m, []effect{{kind: effSignal, sig: spec.StopSignal, group: spec.StopAsGroup}}, nil
		}
		if ev.kind == evShutdown {
			return m, nil, nil
		}
		return m, nil, ErrNotRunning

	case evWait:
		switch {
		case m.State.IsRunning() || m.Waiting:
			return m, nil, ErrAlreadyStarted
		case m.State == Unknown:
			return m, nil, ErrFailed
		case m.State == Stopping:
			return m, nil, ErrAbnormalTermination
		}
		m.Backoff, m.Crashes, m.OperatorStopped, m.NoRestart = 0, 0, false, false
		m = disarm(m)
		m.State, m.Waiting, m.SpawnErr, m.ExitStatus, m.Delay = Starting, true, ev.err, 0, 0
		return m, nil, nil

	case evGated:
		m = disarm(m)
		m.State, m.Waiting, m.SpawnErr = Starting, true, ev.err
		return m, nil, nil

	case evWaitText:
		if m.Waiting {
			m.SpawnErr = ev.err
		}
		return m, nil, nil

	case evDepsReady:
		if !m.Waiting {
			return m, nil, nil // stopped meanwhile
		}
		m.Waiting = false
		m = spawning(m, now)
		return m, []effect{{kind: effSpawn}}, nil

	case evDepsFailed:
		if !m.Waiting {
			return m, nil, nil
		}
		m.Waiting = false
		m.State, m.SpawnErr = Fatal, ev.err
		return m, nil, nil

	case evReady:
		if m.State != Starting || m.Waiting || m.restartPending() {
			return m, nil, nil
		}
		m.State, m.Backoff = Running, 0
		return disarm(m), nil, nil

	case evSignal:
		if !m.State.IsSignallable() || m.restartPending() {
			return m, nil, ErrNotRunning
		}
		return m, []effect{{kind: effSignal, sig: ev.sig}}, nil

	case evSpawned:
		if m.State != Starting {
			return m, nil, nil
		}
		if spec.Ready.Kind != ReadyStartSecs {
			// Ready when it says so; startsecs is the time it has.
			if spec.StartSecs <= 0 {
				return disarm(m), nil, nil
			}
			return arm(m, timerStartSecs, spec.StartSecs, now), nil, nil
		}
		if spec.StartSecs <= 0 {
			m.State, m.Backoff = Running, 0
			return disarm(m), nil, nil
		}
		return arm(m, timerStartSecs, spec.StartSecs, now), nil, nil

	case evSpawnFailed:
		if m.State != Starting {
			return m, nil, nil
		}
		m.SpawnErr = ev.err
		return backoff(m, spec, now), nil, nil

	case evSignalFailed:
		// supervisord's UNKNOWN: the process could not be signalled.
		if m.State != Stopping {
			return m, nil, nil
		}
		m.State, m.ReadyTimedOut = Unknown, false
		return disarm(m), nil, nil

	case evExit:
		// How long it ran is judged at its end, which an exit the previous
		// daemon reaped tells (ev.at); what follows starts now.
		ended := now
		if !ev.at.IsZero() && ev.at.Before(now) {
			ended = ev.at
		}
		m.Stop, m.Delay, m.LastExit, m.ExitExpected = ended, 0, ev.exit.Code, false
		if m.State == Stopping || (!ev.exit.Signaled && spec.exitExpected(ev.exit.Code)) {
			m.ExitsExpected++
		} else {
			m.ExitsUnexpected++
		}
		switch m.State {
		case Stopping:
			if m.ReadyTimedOut {
				m.ReadyTimedOut, m.ExitStatus = false, 0
				m.SpawnErr = fmt.Sprintf("not ready within startsecs (%s)", spec.StartSecs)
				return backoff(disarm(m), spec, now), nil, nil
			}
			m.State, m.ExitStatus = Stopped, ev.exit.Code
			return disarm(m), nil, nil
		case Starting:
			if spec.Ready.Kind != ReadyStartSecs {
				// It ended before it was ready: a failed start.
				m.ExitStatus, m.SpawnErr = 0, "exited before it was ready: "+ev.exit.Text
				return backoff(m, spec, now), nil, nil
			}
			if ended.Sub(m.Start) < spec.StartSecs {
				m.ExitStatus, m.SpawnErr = 0, tooQuicklyText
				return backoff(m, spec, now), nil, nil
			}
			return exited(m, ev.exit, spec, ended, now)
		case Running:
			return exited(m, ev.exit, spec, ended, now)
		case Unknown:
			m.State, m.ExitStatus = Exited, ev.exit.Code
			return disarm(m), nil, nil
		}
		return m, nil, nil

	case evTimer:
		switch {
		case m.State == Starting && m.Timer == timerStartSecs && spec.Ready.Kind != ReadyStartSecs:
			// Not ready in time: stopped, and counted as a failed start.
			m.State, m.ReadyTimedOut = Stopping, true
			m = arm(m, timerStopWait, spec.StopWait, now)
			return m, []effect{{kind: effSignal, sig: spec.StopSignal, group: spec.StopAsGroup}}, nil
		case m.State == Starting && m.Timer == timerStartSecs:
			m.State, m.Backoff = Running, 0
			return disarm(m), nil, nil
		case (m.State == Backoff || m.State == Starting) && m.Timer == timerRetry:
			if m.NoRestart {
				return disarm(m), nil, nil
			}
			m.Restarts++
			if m.Backoff > 0 {
				m.RestartsAfterRetry++
			} else {
				m.RestartsAfterExit++
			}
			return spawning(m, now), []effect{{kind: effSpawn}}, nil
		case m.State == Stopping && m.Timer == timerStopWait:
			m = arm(m, timerStopWait, spec.StopWait, now)
			return m, []effect{{kind: effSignal, sig: syscall.SIGKILL, group: spec.KillAsGroup}}, nil
		}
		return m, nil, nil
	}
	panic(fmt.Sprintf("transition: unknown event %d", ev.kind))
}

func spawning(m machine, now time.Time) machine {
	m.State, m.Start, m.SpawnErr, m.ExitStatus, m.Delay, m.ReadyTimedOut = Starting, now, "", 0, 0, false
	return disarm(m)
}

// backoff counts a failed start: BACKOFF with a delay growing by a second per
// failure (supervisord's), or FATAL once startretries is exceeded.
func backoff(m machine, spec *ProcessSpec, now time.Time) machine {
	m.Backoff++
	if (spec.StartRetries >= 0 && m.Backoff > spec.StartRetries) || m.NoRestart {
		// supervisord enters BACKOFF (counting the try), then gives up.
		m.Via, m.HasVia = Backoff, true
		m.State, m.Delay = Fatal, 0
		if m.NoRestart {
			m.State = Exited
		}
		return disarm(m)
	}
	m.State = Backoff
	m.Delay = min(time.Duration(m.Backoff)*time.Second, delayCap(spec))
	return arm(m, timerRetry, m.Delay, now)
}

// exited handles the exit of a process that had reached RUNNING. A restart
// is immediate the first time; a crash loop (runs shorter than the cap) backs
// off exponentially from one second to RestartMaxDelay. The delay shows as
// STARTING with no pid, as supervisord shows such a program (it restarts at
// once, so RUNNING, EXITED and STARTING are all one sees): tools that drive
// supervisorctl leave a STARTING program be for state=started and stop it
// for state=stopped, and `start` answers "already started" as it would.
// BACKOFF stays what it is in supervisord: a start that failed.
func exited(m machine, st ExitStatus, spec *ProcessSpec, ended, now time.Time) (machine, []effect, error) {
	expected := !st.Signaled && spec.exitExpected(st.Code)
	m.State, m.ExitStatus, m.Backoff, m.ExitExpected = Exited, st.Code, 0, expected
	if !expected {
		m.SpawnErr = fmt.Sprintf("Bad exit code %d", st.Code)
	}
	m = disarm(m)
	restart := spec.AutoRestart == RestartAlways || (spec.AutoRestart == RestartUnexpected && !expected)
	if !restart || m.NoRestart || m.OperatorStopped {
		return m, nil, nil
	}
	if ended.Sub(m.Start) >= delayCap(spec) {
		m.Crashes = 0
	}
	m.Crashes++
	m.Restarts++
	m.Via, m.HasVia = Exited, true
	if m.Crashes <= 1 {
		m.RestartsAfterExit++
		return spawning(m, now), []effect{{kind: effSpawn}}, nil
	}
	m.State = Starting
	m.Delay = min(time.Second<<min(m.Crashes-2, 30), delayCap(spec))
	// Status adds the time left, counting down.
	m.SpawnErr = "crash loop: " + st.Text
	m.Restarts-- // counted when the retry timer spawns
	return arm(m, timerRetry, m.Delay, now), nil, nil
}

// restartPending reports STARTING with no process yet: a crash loop's
// delay, or a wait for dependencies.
func (m machine) restartPending() bool {
	return m.State == Starting && (m.Timer == timerRetry || m.Waiting)
}

func delayCap(spec *ProcessSpec) time.Duration {
	return max(spec.RestartMaxDelay, time.Second)
}

func arm(m machine, k timerKind, d time.Duration, now time.Time) machine {
	m.Timer, m.Deadline = k, now.Add(d)
	return m
}

func disarm(m machine) machine {
	m.Timer, m.Deadline = timerNone, time.Time{}
	return m
}
