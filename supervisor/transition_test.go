package supervisor

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

func testSpec() *ProcessSpec {
	return &ProcessSpec{
		Name: "p", Group: "p", Argv: []string{"/bin/true"}, AutoStart: true, AutoRestart: RestartUnexpected,
		ExitCodes: []int{0}, StartSecs: time.Second, StartRetries: 3, StopSignal: syscall.SIGTERM,
		StopWait: 10 * time.Second, KillAsGroup: true, RestartMaxDelay: 60 * time.Second,
	}
}

func effectsString(effs []effect) string {
	var parts []string
	for _, e := range effs {
		switch e.kind {
		case effSpawn:
			parts = append(parts, "spawn")
		case effSignal:
			s := "signal " + strings.TrimPrefix(fmt.Sprint(e.sig), "")
			if e.group {
				s += " group"
			}
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ",")
}

// TestTransition_EveryPair walks every (state, event) pair.
func TestTransition_EveryPair(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	machines := map[State]machine{
		Stopped:  {State: Stopped},
		Starting: {State: Starting, Start: now.Add(-100 * time.Millisecond), Timer: timerStartSecs},
		Running:  {State: Running, Start: now.Add(-10 * time.Second)},
		Backoff:  {State: Backoff, Backoff: 1, Timer: timerRetry},
		Stopping: {State: Stopping, Start: now.Add(-10 * time.Second), Timer: timerStopWait},
		Exited:   {State: Exited},
		Fatal:    {State: Fatal},
		Unknown:  {State: Unknown},
	}
	events := [numEvents]event{
		evStart:        {kind: evStart},
		evStop:         {kind: evStop},
		evSignal:       {kind: evSignal, sig: syscall.SIGHUP},
		evShutdown:     {kind: evShutdown},
		evSpawned:      {kind: evSpawned},
		evSpawnFailed:  {kind: evSpawnFailed, err: "can't find command"},
		evSignalFailed: {kind: evSignalFailed, err: "EPERM"},
		evExit:         {kind: evExit, exit: ExitStatus{Code: 1, Text: "exit status 1"}},
		evTimer:        {kind: evTimer},
		evReady:        {kind: evReady},
		evWait:         {kind: evWait, err: "waiting for redis"},
		evDepsReady:    {kind: evDepsReady},
		evDepsFailed:   {kind: evDepsFailed, err: "dependency redis failed"},
		evWaitText:     {kind: evWaitText, err: "waiting for the cluster lease: held by node-b"},
		evGated:        {kind: evGated, err: "waiting for the cluster lease"},
	}
	type want struct {
		state   State
		effects string
		err     error
	}
	const term, hup, kill = "signal terminated", "signal hangup", "signal killed group"
	table := map[State][numEvents]want{
		Stopped: {
			{Starting, "spawn", nil}, {Stopped, "", ErrNotRunning}, {Stopped, "", ErrNotRunning},
			{Stopped, "", nil}, {Stopped, "", nil}, {Stopped, "", nil}, {Stopped, "", nil},
			{Stopped, "", nil}, {Stopped, "", nil},
			{Stopped, "", nil}, {Starting, "", nil}, {Stopped, "", nil}, {Stopped, "", nil}, {Stopped, "", nil}, {Starting, "", nil}},
		Starting: {
			{Starting, "", ErrAlreadyStarted}, {Stopping, term, nil}, {Starting, hup, nil},
			{Stopping, term, nil}, {Starting, "", nil}, {Backoff, "", nil}, {Starting, "", nil},
			{Backoff, "", nil}, {Running, "", nil},
			{Running, "", nil}, {Starting, "", ErrAlreadyStarted}, {Starting, "", nil}, {Starting, "", nil}, {Starting, "", nil}, {Starting, "", nil}},
		Running: {
			{Running, "", ErrAlreadyStarted}, {Stopping, term, nil}, {Running, hup, nil},
			{Stopping, term, nil}, {Running, "", nil}, {Running, "", nil}, {Running, "", nil},
			{Starting, "spawn", nil}, {Running, "", nil},
			{Running, "", nil}, {Running, "", ErrAlreadyStarted}, {Running, "", nil}, {Running, "", nil}, {Running, "", nil}, {Starting, "", nil}},
		Backoff: {
			{Backoff, "", ErrAlreadyStarted}, {Stopped, "", nil}, {Backoff, "", ErrNotRunning},
			{Stopped, "", nil}, {Backoff, "", nil}, {Backoff, "", nil}, {Backoff, "", nil},
			{Backoff, "", nil}, {Starting, "spawn", nil},
			{Backoff, "", nil}, {Backoff, "", ErrAlreadyStarted}, {Backoff, "", nil}, {Backoff, "", nil}, {Backoff, "", nil}, {Starting, "", nil}},
		Stopping: {
			{Stopping, "", ErrAbnormalTermination}, {Stopping, "", ErrNotRunning}, {Stopping, hup, nil},
			{Stopping, "", nil}, {Stopping, "", nil}, {Stopping, "", nil}, {Unknown, "", nil},
			{Stopped, "", nil}, {Stopping, kill, nil},
			{Stopping, "", nil}, {Stopping, "", ErrAbnormalTermination}, {Stopping, "", nil}, {Stopping, "", nil}, {Stopping, "", nil}, {Starting, "", nil}},
		Exited: {
			{Starting, "spawn", nil}, {Exited, "", ErrNotRunning}, {Exited, "", ErrNotRunning},
			{Exited, "", nil}, {Exited, "", nil}, {Exited, "", nil}, {Exited, "", nil},
			{Exited, "", nil}, {Exited, "", nil},
			{Exited, "", nil}, {Starting, "", nil}, {Exited, "", nil}, {Exited, "", nil}, {Exited, "", nil}, {Starting, "", nil}},
		Fatal: {
			{Starting, "spawn", nil}, {Fatal, "", ErrNotRunning}, {Fatal, "", ErrNotRunning},
			{Fatal, "", nil}, {Fatal, "", nil}, {Fatal, "", nil}, {Fatal, "", nil},
			{Fatal, "", nil}, {Fatal, "", nil},
			{Fatal, "", nil}, {Starting, "", nil}, {Fatal, "", nil}, {Fatal, "", nil}, {Fatal, "", nil}, {Starting, "", nil}},
		Unknown: {
			{Unknown, "", ErrFailed}, {Unknown, "", ErrNotRunning}, {Unknown, "", ErrNotRunning},
			{Unknown, "", nil}, {Unknown, "", nil}, {Unknown, "", nil}, {Unknown, "", nil},
			{Exited, "", nil}, {Unknown, "", nil},
			{Unknown, "", nil}, {Unknown, "", ErrFailed}, {Unknown, "", nil}, {Unknown, "", nil}, {Unknown, "", nil}, {Starting, "", nil}},
	}
	for _, st := range AllStates {
		for ev := range numEvents {
			t.Run(fmt.Sprintf("%s/%s", st, ev), func(t *testing.T) {
				w := table[st][ev]
				m, effs, err := transition(machines[st], events[ev], testSpec(), now)
				if got := m.State; got != w.state {
					t.Errorf("state = %s, want %s", got, w.state)
				}
				if got := effectsString(effs); got != w.effects {
					t.Errorf("effects = %q, want %q", got, w.effects)
				}
				if !errors.Is(err, w.err) || (err == nil) != (w.err == nil) {
					t.Errorf("err = %v, want %v", err, w.err)
				}
				if err != nil && m != machines[st] {
					t.Errorf("a refused event changed the machine: %+v", m)
				}
			})
		}
	}
}

// TestTransition_BackoffThenFatal follows supervisord's linear back-off: a
// process that never stays up startsecs is retried after 1, 2, 3 seconds and
// is FATAL after startretries retries.
func TestTransition_BackoffThenFatal(t *testing.T) {
	spec := testSpec()
	now := time.Unix(1_000_000, 0)
	m, _, _ := transition(machine{}, event{kind: evStart}, spec, now)
	var delays []time.Duration
	for i := 0; i < 10 && m.State != Fatal; i++ {
		m, _, _ = transition(m, event{kind: evSpawned}, spec, now)
		m, _, _ = transition(m, event{kind: evExit, exit: ExitStatus{Code: 1}}, spec, now)
		if m.State == Backoff {
			delays = append(delays, m.Deadline.Sub(now))
			if m.SpawnErr != tooQuicklyText {
				t.Fatalf("spawnerr = %q", m.SpawnErr)
			}
			now = m.Deadline
			m, _, _ = transition(m, event{kind: evTimer}, spec, now)
		}
	}
	if m.State != Fatal || m.ExitStatus != 0 {
		t.Fatalf("state %s exitstatus %d, want FATAL with exit status 0", m.State, m.ExitStatus)
	}
	if got := fmt.Sprint(delays); got != "[1s 2s 3s]" {
		t.Errorf("back-off delays = %s, want [1s 2s 3s]", got)
	}
}

// TestTransition_RetryForever: startretries = -1 never gives up, and the
// delay stops growing at restart_max_delay.
func TestTransition_RetryForever(t *testing.T) {
	spec := testSpec()
	spec.StartRetries, spec.RestartMaxDelay = -1, 5*time.Second
	now := time.Unix(1_000_000, 0)
	m, _, _ := transition(machine{}, event{kind: evStart}, spec, now)
	for range 20 {
		m, _, _ = transition(m, event{kind: evExit, exit: ExitStatus{Code: 1}}, spec, now)
		if m.State != Backoff {
			t.Fatalf("state %s, want BACKOFF", m.State)
		}
		now = m.Deadline
		m, _, _ = transition(m, event{kind: evTimer}, spec, now)
	}
	if m.Delay != 0 || m.State != Starting {
		t.Fatalf("state %s", m.State)
	}
	m, _, _ = transition(m, event{kind: evExit, exit: ExitStatus{Code: 1}}, spec, now)
	if m.Delay != 5*time.Second {
		t.Errorf("delay = %s, want the 5s cap", m.Delay)
	}
}

// TestTransition_CrashLoop: after RUNNING, the first exit restarts at once,
// a crash loop backs off 1s, 2s, 4s ... up to the cap (shown as STARTING
// with no process, which stop cancels and start calls already started),
// and a run as long as the cap resets it.
func TestTransition_CrashLoop(t *testing.T) {
	spec := testSpec()
	spec.RestartMaxDelay = 8 * time.Second
	now := time.Unix(1_000_000, 0)
	m := machine{State: Running, Start: now}
	var delays []time.Duration
	for range 6 {
		now = now.Add(2 * time.Second)
		var effs []effect
		m, effs, _ = transition(m, event{kind: evExit, exit: ExitStatus{Code: 1}}, spec, now)
		switch {
		case m.State == Starting && !m.restartPending():
			delays = append(delays, 0)
			if effectsString(effs) != "spawn" {
				t.Fatalf("immediate restart without spawn")
			}
		case m.restartPending():
			delays = append(delays, m.Delay)
			if effs != nil {
				t.Fatalf("a delayed restart spawned at once: %s", effectsString(effs))
			}
			if _, _, err := transition(m, event{kind: evStart}, spec, now); err != ErrAlreadyStarted {
				t.Errorf("start during the delay: %v, want already started", err)
			}
			if _, _, err := transition(m, event{kind: evSignal, sig: syscall.SIGHUP}, spec, now); err != ErrNotRunning {
				t.Errorf("signal during the delay: %v, want not running", err)
			}
			if stopped, _, err := transition(m, event{kind: evStop}, spec, now); err != nil || stopped.State != Stopped {
				t.Errorf("stop during the delay: %v, state %s", err, stopped.State)
			}
			now = m.Deadline
			var effs []effect
			m, effs, _ = transition(m, event{kind: evTimer}, spec, now)
			if effectsString(effs) != "spawn" || m.State != Starting {
				t.Fatalf("the delay ended without a spawn")
			}
		default:
			t.Fatalf("state %s", m.State)
		}
		m.State = Running // stayed up past startsecs
	}
	if got := fmt.Sprint(delays); got != "[0s 1s 2s 4s 8s 8s]" {
		t.Errorf("delays = %s", got)
	}
	if m.Restarts != 6 {
		t.Errorf("restarts = %d, want 6", m.Restarts)
	}
	now = now.Add(8 * time.Second)
	m, _, _ = transition(m, event{kind: evExit, exit: ExitStatus{Code: 1}}, spec, now)
	if m.State != Starting {
		t.Errorf("after a long run the restart should be immediate, state %s", m.State)
	}
}

// TestTransition_AutoRestart covers autorestart against exit codes.
func TestTransition_AutoRestart(t *testing.T) {
	for _, tc := range []struct {
		mode  AutoRestart
		code  int
		sig   bool
		state State
	}{
		{RestartUnexpected, 0, false, Exited},
		{RestartUnexpected, 2, false, Starting},
		{RestartUnexpected, 0, true, Starting},
		{RestartAlways, 0, false, Starting},
		{RestartNever, 1, false, Exited},
	} {
		spec := testSpec()
		spec.AutoRestart = tc.mode
		now := time.Unix(1_000_000, 0)
		st := ExitStatus{Code: tc.code, Signaled: tc.sig}
		if tc.sig {
			st.Code = -1
		}
		m, _, _ := transition(machine{State: Running, Start: now.Add(-time.Hour)}, event{kind: evExit, exit: st}, spec, now)
		if m.State != tc.state {
			t.Errorf("%+v: state %s, want %s", tc, m.State, tc.state)
		}
		m, _, _ = transition(machine{State: Running, NoRestart: true}, event{kind: evExit, exit: st}, spec, now)
		if m.State != Exited {
			t.Errorf("%+v: shutting down, state %s, want EXITED", tc, m.State)
		}
	}
}

// TestTransition_Readiness: with a readiness rule a process is STARTING
// until it is ready; not ready within startsecs it is stopped and counts
// as a failed start, as is an exit before it was ready.
func TestTransition_Readiness(t *testing.T) {
	spec := testSpec()
	spec.Ready = Readiness{Kind: ReadyNotify}
	spec.StartSecs = 5 * time.Second
	now := time.Unix(1_000_000, 0)
	m, _, _ := transition(machine{}, event{kind: evStart}, spec, now)
	m, _, _ = transition(m, event{kind: evSpawned}, spec, now)
	if m.State != Starting || m.Timer != timerStartSecs {
		t.Fatalf("after spawn: %s timer %d", m.State, m.Timer)
	}
	if r, _, _ := transition(m, event{kind: evReady}, spec, now.Add(time.Second)); r.State != Running {
		t.Errorf("ready: %s", r.State)
	}
	late, effs, _ := transition(m, event{kind: evTimer}, spec, m.Deadline)
	if late.State != Stopping || effectsString(effs) != "signal terminated" {
		t.Fatalf("not ready in time: %s %s", late.State, effectsString(effs))
	}
	late, _, _ = transition(late, event{kind: evExit, exit: ExitStatus{Code: -1, Signaled: true}}, spec, m.Deadline.Add(time.Second))
	if late.State != Backoff || !strings.Contains(late.SpawnErr, "not ready within startsecs") {
		t.Errorf("after the late one's exit: %s %q", late.State, late.SpawnErr)
	}
	early, _, _ := transition(m, event{kind: evExit, exit: ExitStatus{Code: 1, Text: "exit status 1"}}, spec, now.Add(4*time.Second))
	if early.State != Backoff {
		t.Errorf("exit before ready: %s", early.State)
	}
}

// TestTransition_WaitForDependencies: a start waiting for its dependencies
// is STARTING with no process; ready dependencies spawn it, a failed one
// makes it FATAL, and a stop cancels it.
func TestTransition_WaitForDependencies(t *testing.T) {
	spec := testSpec()
	now := time.Unix(1_000_000, 0)
	m, effs, err := transition(machine{}, event{kind: evWait, err: "waiting for redis"}, spec, now)
	if err != nil || m.State != Starting || !m.Waiting || effs != nil {
		t.Fatalf("wait: %v %s %v", err, m.State, effs)
	}
	if _, _, err := transition(m, event{kind: evSignal, sig: syscall.SIGHUP}, spec, now); err != ErrNotRunning {
		t.Errorf("signal while waiting: %v", err)
	}
	// The wait's text is no spawn error: a stop drops it (a waited start
	// stopped meanwhile then ends as an abnormal termination).
	if s, _, _ := transition(m, event{kind: evStop}, spec, now); s.State != Stopped || s.Waiting || s.SpawnErr != "" {
		t.Errorf("stop while waiting: %s, spawnerr %q", s.State, s.SpawnErr)
	}
	backoff := machine{State: Backoff, SpawnErr: tooQuicklyText}
	if s, _, _ := transition(backoff, event{kind: evStop}, spec, now); s.State != Stopped || s.SpawnErr != tooQuicklyText {
		t.Errorf("stop in BACKOFF: %s, spawnerr %q; want it kept", s.State, s.SpawnErr)
	}
	if r, effs, _ := transition(m, event{kind: evDepsReady}, spec, now); r.State != Starting || r.Waiting || effectsString(effs) != "spawn" {
		t.Errorf("deps ready: %s %s", r.State, effectsString(effs))
	}
	if f, _, _ := transition(m, event{kind: evDepsFailed, err: "dependency redis is FATAL"}, spec, now); f.State != Fatal || f.SpawnErr == "" {
		t.Errorf("deps failed: %s %q", f.State, f.SpawnErr)
	}
}
