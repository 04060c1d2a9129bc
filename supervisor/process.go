package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

type commandKind int

const (
	cmdStart commandKind = iota
	cmdStop
	cmdSignal
	cmdShutdown
	cmdPing       // answers at once: proves the actor is not wedged
	cmdWait       // a start waits for dependencies (text says which)
	cmdDepsReady  // they are ready: spawn
	cmdDepsFailed // one failed (text says which): the start fails
	cmdStdin      // write data to the process's stdin
	cmdWaitText   // what a waiting start waits for changed (text)
)

type command struct {
	kind  commandKind
	hold  bool // cmdStop: the operator's own stop, kept for a successor
	sig   syscall.Signal
	text  string     // cmdWait, cmdDepsFailed
	data  []byte     // cmdStdin
	reply chan error // capacity 1
}

// process owns one supervised process. Only its goroutine (run) mutates the
// machine; everyone else reads the published ProcessInfo.
type process struct {
	spec *ProcessSpec
	rt   Runtime
	out  Output
	log  *slog.Logger
	cmds chan command
	info atomic.Pointer[ProcessInfo]
	done chan struct{} // closed when the goroutine has finished
	// changed tells the supervisor a snapshot was published; set before run.
	changed func()
	// adoption is what a previous daemon left for it; set before run.
	adoption Adoption
	// listener: it is an event listener, whose protocol state a successor
	// cannot know.
	listener bool
	// pid is the current process's pid, or the last one's once it ended:
	// what PROCESS_LOG events name.
	pid *atomic.Int64
	// groupPrio is its group's priority, which orders it before its own;
	// an update may change it while the process runs on.
	groupPrio atomic.Int64
	// statusText is the last STATUS= its spawn sent; the actor's own.
	statusText string
	// onState reports each state change as supervisord's events; set
	// before run. pid is the current (or just ended) process's.
	onState func(spec *ProcessSpec, from, to State, tries, pid int, expected bool)
	// mayNotSpawn, if set, says a spawn must wait (for a cluster lease);
	// onGated then starts that wait, once the wait is published (gated).
	mayNotSpawn func() bool
	onGated     func()
	gated       bool
}

func newProcess(spec *ProcessSpec, rt Runtime, log *slog.Logger, out Output) *process {
	p := &process{
		spec: spec,
		rt:   rt,
		out:  out,
		log:  log.With("process", spec.FullName()),
		cmds: make(chan command),
		done: make(chan struct{}),
	}
	p.publish(machine{}, nil)
	return p
}

// send hands a command to the actor and waits for its immediate answer.
func (p *process) send(ctx context.Context, c command) error {
	c.reply = make(chan error, 1)
	select {
	case p.cmds <- c:
	case <-p.done:
		return ErrShutdown
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-c.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run is the actor loop. It returns once a shutdown was requested and no
// process remains.
func (p *process) run() {
	defer close(p.done)
	defer p.out.Close()
	turn := p.actor()
	for turn() {
	}
}

// actor sets up the actor's state and returns one turn of its loop: wait
// for a wake-up, handle it, and report whether to go on. The setup's frame
// (over a KiB) is gone while the actor waits: an idle actor then uses
// under 2 KiB of stack, so the collector shrinks the 8 KiB a spawn grew it
// to back to 4 KiB, 40 MiB at 10,000 programs.
func (p *process) actor() (turn func() bool) {
	var (
		m       machine
		child   Child
		exits   <-chan ExitStatus
		notes   <-chan Note // the child's readiness notes, if it has any
		timer   = time.NewTimer(time.Hour)
		timerOn bool
	)
	lastPid := 0 // the current process's, or the last one's once it ended
	watch := func(c Child) {
		child, exits, notes = c, c.Done(), nil
		lastPid = c.Pid()
		if p.pid != nil {
			p.pid.Store(int64(lastPid))
		}
		if a, ok := c.(Announcer); ok {
			notes = a.Notes()
		}
	}
	timer.Stop()
	if a := p.adoption; a.Child != nil {
		watch(a.Child)
		m = adoptedMachine(p.spec, a.Started, time.Now())
		// An operator had stopped it (the stop was under way): if it has
		// ended meanwhile, it is not restarted.
		m.OperatorStopped = a.Stopped
		if m.Timer != timerNone {
			timerOn = true
			timer.Reset(time.Until(m.Deadline))
		}
		p.publish(m, child)
	} else if a.Stopped {
		m.OperatorStopped = true
	}

	// step applies one event and performs its effects, feeding the outcome of
	// spawns and stop signals back in as events.
	var step func(ev event) error
	step = func(ev event) error {
		prev := m.State
		next, effects, err := transition(m, ev, p.spec, time.Now())
		if err != nil {
			return err
		}
		m = next
		if p.onState != nil && (m.State != prev || m.HasVia) {
			from := prev
			if m.HasVia && m.Via != prev {
				p.onState(p.spec, prev, m.Via, m.Backoff, lastPid, m.ExitExpected)
				from = m.Via
			}
			if m.State != from {
				p.onState(p.spec, from, m.State, m.Backoff, lastPid, m.ExitExpected)
			}
		}
		if m.State != prev {
			p.log.Debug("state", "from", prev, "to", m.State, "event", ev.kind)
			p.logMilestone(prev, m.State, m.SpawnErr)
			if m.State == Stopping && child != nil {
				child.Stopping()
			}
		}
		var follow []event
		for _, e := range effects {
			switch e.kind {
			case effSpawn:
				if p.mayNotSpawn != nil && p.mayNotSpawn() {
					// A cluster singleton whose lease is not held (lost,
					// or an adopted process's not yet resumed): it
					// waits for it instead.
					p.gated = true
					follow = append(follow, event{kind: evGated, err: clusterWaitText})
					continue
				}
				c, serr := p.rt.Start(p.spec, p.out)
				if serr != nil {
					p.log.Warn("spawn error", "err", serr)
					follow = append(follow, event{kind: evSpawnFailed, err: serr.Error()})
					continue
				}
				watch(c)
				p.statusText = ""
				p.log.Info("spawned", "pid", c.Pid())
				follow = append(follow, event{kind: evSpawned})
			case effSignal:
				if child == nil {
					continue
				}
				if serr := child.Signal(e.sig, e.group); serr != nil {
					p.log.Error("cannot signal", "signal", e.sig, "err", serr)
					if ev.kind == evSignal {
						return errors.Join(ErrFailed, serr)
					}
					follow = append(follow, event{kind: evSignalFailed, err: serr.Error()})
				}
			}
		}
		for _, f := range follow {
			if ferr := step(f); ferr != nil {
				return ferr
			}
		}
		return nil
	}

	// handle deals with one wake-up. It and step are closures, so the
	// goroutine's own frame stays small while it waits: an idle actor's
	// stack then shrinks to a few KiB, which counts with a thousand of them.
	//lint:ignore S1021 declared apart so that handle is called through a variable, never inlined
	var handle func(w wake)
	handle = func(w wake) {
		switch w.kind {
		case wokeByCommand:
			c := w.cmd
			var err error
			switch c.kind {
			case cmdStart:
				if err = p.rt.Check(p.spec); err == nil {
					err = step(event{kind: evStart})
				}
				if err == nil {
					p.rt.Hold(p.spec, false)
				}
			case cmdStop:
				if err = step(event{kind: evStop}); err == nil && c.hold {
					p.rt.Hold(p.spec, true)
				}
			case cmdSignal:
				err = step(event{kind: evSignal, sig: c.sig})
			case cmdShutdown:
				err = step(event{kind: evShutdown})
			case cmdPing:
				c.reply <- nil
				return
			case cmdWait:
				if err = p.rt.Check(p.spec); err == nil {
					err = step(event{kind: evWait, err: c.text})
				}
				if err == nil {
					p.rt.Hold(p.spec, false) // started by the operator: no longer held stopped
				}
			case cmdWaitText:
				err = step(event{kind: evWaitText, err: c.text})
			case cmdDepsReady:
				err = step(event{kind: evDepsReady})
			case cmdDepsFailed:
				err = step(event{kind: evDepsFailed, err: c.text})
			case cmdStdin:
				c.reply <- writeStdin(m, child, c.data)
				return
			}
			p.publish(m, child)
			c.reply <- err
		case wokeByNote:
			if w.note.Status != "" {
				p.statusText = w.note.Status
			}
			if w.note.Ready {
				step(event{kind: evReady})
			}
			p.publish(m, child)
		case wokeByExit:
			pid := child.Pid()
			child, exits, notes = nil, nil, nil
			p.log.Info("exited", "pid", pid, "status", w.exit.Text)
			step(event{kind: evExit, exit: w.exit})
			p.publish(m, child)
		case wokeByTimer:
			timerOn = false
			if m.State == Stopping && child != nil {
				p.log.Warn("did not stop in time: sending SIGKILL", "pid", child.Pid(), "stopwaitsecs", p.spec.StopWait.Seconds())
			}
			step(event{kind: evTimer})
			p.publish(m, child)
		}
		// Keep the one timer in line with the machine's deadline.
		timer.Stop()
		timerOn = m.Timer != timerNone
		if timerOn {
			timer.Reset(time.Until(m.Deadline))
		}
	}

	return func() bool {
		var timerC <-chan time.Time
		if timerOn {
			timerC = timer.C
		}
		handle(p.wait(exits, notes, timerC))
		return !m.NoRestart || child != nil || timerOn
	}
}

type wakeKind uint8

const (
	wokeByCommand wakeKind = iota
	wokeByExit
	wokeByTimer
	wokeByNote
)

// wake is what ended the actor's wait.
type wake struct {
	kind wakeKind
	cmd  command
	exit ExitStatus
	note Note
}

// wait blocks until a command, the child's exit or the timer.
func (p *process) wait(exits <-chan ExitStatus, notes <-chan Note, timerC <-chan time.Time) wake {
	select {
	case c := <-p.cmds:
		return wake{kind: wokeByCommand, cmd: c}
	case st := <-exits:
		return wake{kind: wokeByExit, exit: st}
	case n := <-notes:
		return wake{kind: wokeByNote, note: n}
	case <-timerC:
		return wake{kind: wokeByTimer}
	}
}

// publish replaces the snapshot and wakes everyone waiting for a change.
func (p *process) publish(m machine, c Child) {
	pid := 0
	if c != nil {
		pid = c.Pid()
	}
	info := &ProcessInfo{
		Name:         p.spec.Name,
		Group:        p.spec.Group,
		Program:      p.spec.Program,
		Instance:     p.spec.Instance,
		State:        m.State,
		Pid:          pid,
		Start:        m.Start,
		Stop:         m.Stop,
		ExitStatus:   m.ExitStatus,
		LastExitCode: m.LastExit,
		SpawnErr:     m.SpawnErr,
		StatusText:   p.statusText,
		Waiting:      m.Waiting,
		Restarts:     m.Restarts,

		RestartsAfterExit:  m.RestartsAfterExit,
		RestartsAfterRetry: m.RestartsAfterRetry,
		ExitsExpected:      m.ExitsExpected,
		ExitsUnexpected:    m.ExitsUnexpected,
		BackoffDelay:       m.Delay,
		Stopped:            m.OperatorStopped,
		Spec:               p.spec,
		output:             p.out,
		changed:            make(chan struct{}),
	}
	if old := p.info.Swap(info); old != nil {
		close(old.changed)
	}
	if p.changed != nil {
		p.changed()
	}
	if p.gated {
		// What waits for the lease sees the wait published.
		p.gated = false
		go p.onGated()
	}
}

// waitUntil blocks until cond accepts the process's snapshot or ctx ends.
func (p *process) waitUntil(ctx context.Context, cond func(*ProcessInfo) (bool, error)) error {
	for {
		info := p.info.Load()
		if ok, err := cond(info); ok || err != nil {
			return err
		}
		select {
		case <-info.changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// startedOrFailed is supervisord's wait for a start: RUNNING, or an error.
func startedOrFailed(info *ProcessInfo) (bool, error) {
	switch {
	case info.State == Running:
		return true, nil
	case info.Waiting && strings.HasPrefix(info.SpawnErr, clusterWaitText):
		// Another node holds its lease: started here is standing by,
		// which may last as long as that node runs it.
		return true, nil
	case info.SpawnErr != "" && info.State != Starting:
		return false, ErrSpawn
	case info.State != Starting:
		return false, ErrAbnormalTermination
	}
	return false, nil
}

func stoppedCond(info *ProcessInfo) (bool, error) { return info.State.IsStopped(), nil }

// adoptedMachine is the state of a process taken over from a previous
// daemon, spawned at started: RUNNING, or STARTING until startsecs have
// passed since its spawn.
func adoptedMachine(spec *ProcessSpec, started, now time.Time) machine {
	m := machine{State: Running, Start: started}
	if started.IsZero() || started.After(now) {
		m.Start = now
	}
	if spec.Ready.Kind != ReadyStartSecs {
		// Its readiness was the previous daemon's to see: it ran on, so
		// it is taken as ready.
		return m
	}
	if left := spec.StartSecs - now.Sub(m.Start); left > 0 {
		m.State = Starting
		m = arm(m, timerStartSecs, left, now)
	}
	return m
}

// logMilestone writes supervisord's main-log lines that people grep for:
// a start that held for startsecs, and a program given up on.
func (p *process) logMilestone(from, to State, why string) {
	name := p.spec.FullName()
	switch {
	case from == Starting && to == Running && p.spec.Ready.Kind != ReadyStartSecs:
		p.log.Info(fmt.Sprintf("success: %s entered RUNNING state, process is ready (ready = %s)", name, p.spec.Ready.Kind))
	case from == Starting && to == Running:
		p.log.Info(fmt.Sprintf("success: %s entered RUNNING state, process has stayed up for > than %s seconds (startsecs)",
			name, strconv.FormatFloat(p.spec.StartSecs.Seconds(), 'f', -1, 64)))
	case to == Fatal && strings.HasPrefix(why, "dependency"):
		p.log.Info(fmt.Sprintf("gave up: %s entered FATAL state, %s", name, why))
	case to == Fatal:
		p.log.Info(fmt.Sprintf("gave up: %s entered FATAL state, too many start retries too quickly", name))
	}
}

// writeStdin passes data to the child's stdin, as supervisord does: only
// while it runs and is not being stopped.
func writeStdin(m machine, child Child, data []byte) error {
	if child == nil || m.State == Stopping || m.restartPending() {
		return ErrNotRunning
	}
	w, ok := child.(StdinWriter)
	if !ok {
		return ErrNoFile
	}
	if err := w.WriteStdin(data); err != nil {
		return errors.Join(ErrNoFile, err)
	}
	return nil
}
