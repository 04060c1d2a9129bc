package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
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
	kind commandKind
	hold bool // cmdStop: the operator's own stop, kept for a successor
	// quiet: cmdShutdown of the daemon's exit, which supervisord reports
	// only as "waiting for A, B to die", never "waiting for NAME to stop".
	quiet bool
	// auto: cmdStart or cmdWait of a start nobody asked for (autostart,
	// an update, a dependency, a lease). A command that cannot be run
	// then goes through BACKOFF to FATAL with its spawn error, as under
	// supervisord's autostart; an operator's start is refused with
	// ErrNoFile and changes nothing, as supervisord's startProcess is.
	auto  bool
	sig   syscall.Signal
	text  string     // cmdWait, cmdDepsFailed
	data  []byte     // cmdStdin
	reply chan error // capacity 1
}

// process owns one supervised process. Its actor mutates the machine one
// wake-up at a time; everyone else reads the published ProcessInfo.
//
// The actor holds no goroutine while nothing happens: commands, the
// child's exit, its readiness notes and the timer are posted to a mailbox,
// and a goroutine runs only while the mailbox has something in it. Ten
// thousand idle programs then cost no stacks. Its fields (and those of
// its mailbox, actorState and machine) are ordered so that small ones
// share a word: it fits the allocator's 480-byte size class, not 512.
type process struct {
	spec *ProcessSpec
	rt   Runtime
	out  Output
	log  *slog.Logger
	info atomic.Pointer[ProcessInfo]
	// changed tells the supervisor a snapshot was published; set before begin.
	changed func()
	// adoption is what a previous daemon left for it, nil if nothing;
	// set before begin.
	adoption *Adoption
	// pid is the current process's pid, or the last one's once it ended:
	// what PROCESS_LOG events name.
	pid *atomic.Int64
	// groupPrio is its group's priority, which orders it before its own;
	// an update may change it while the process runs on.
	groupPrio atomic.Int64
	// onState reports each state change as supervisord's events; set
	// before begin. pid is the live process's, or the one whose exit
	// caused the change, else 0.
	onState func(spec *ProcessSpec, from, to State, tries, pid int, expected bool)
	// mayNotSpawn, if set, says a spawn must wait (for a cluster lease);
	// onGated then starts that wait, once the wait is published (gated).
	mayNotSpawn func() bool
	onGated     func()
	// leaseWaiting: a goroutine waits for its lease; leaseWaitAgain: a
	// wait began while it was finishing (see Supervisor.leaseWaiter).
	leaseWaiting, leaseWaitAgain atomic.Bool
	// listener: it is an event listener, whose protocol state a successor
	// cannot know.
	listener bool
	// nameShared: another process has its name (one program run in
	// several instances), so that its logger tells its group; set by the
	// supervisor whenever its tables change (markSharedNamesLocked).
	nameShared atomic.Bool

	box mailbox
	a   actorState // the actor's own: touched only by the turn under way
}

// mailbox is what waits for the actor.
type mailbox struct {
	mu    sync.Mutex
	wakes []wake
	// Readiness notes are merged while one waits, so that a chatty
	// notify socket cannot grow the mailbox.
	note    Note
	noteGen uint32
	// noteQueued: a note waits in wakes.
	noteQueued bool
	turning    bool          // a goroutine is handling the wakes
	finished   bool          // the actor ended: nothing more is handled
	ended      bool          // finished and its output closed: done is closed, or made closed
	next       chan struct{} // closed at the next publish; see nextPublish
	// done is closed once the actor has finished (ended): made when first
	// asked for, as only a shutdown waits for it.
	done chan struct{}
}

// actorState is the actor's state between wake-ups.
type actorState struct {
	m        machine
	child    Child
	childGen uint32 // which spawn an exit or a note is from
	timerGen uint32 // which arming a firing is from
	timer    *time.Timer
	lastPid  int // the current process's, or the last one's once it ended
	// statusText is the last STATUS= its spawn sent.
	statusText string
	gated      bool
	// quietStop: the daemon's exit stops it (command.quiet).
	quietStop bool
	// holdStop: the stop under way is an operator's, which a successor
	// respects once it has ended (see keepDown).
	holdStop bool
	// exitLog is the last exit's log line, written once the restart it
	// may start has forked (see alog).
	exitLog *exitLog
}

// exitLog is an exit's line for the daemon's log. Writing a line took
// 50 us (p50, among 1000 programs) of the 150 us from an exit's reaping
// to its restart's spawn: it waits for the fork, and keeps its time.
type exitLog struct {
	at   time.Time
	pid  int
	text string
	// stopped: the exit ended a stop, which supervisord logs as "stopped"
	// and neither expected nor not.
	stopped bool
	// stopEnd: an end a stop asks for: an exit code of exitcodes, or
	// death by the stop signal.
	stopEnd bool
	level   slog.Level
}

// judge completes the line once the exit's transition is known, as
// supervisord's: "stopped" when it ended a stop (a readiness check's
// timeout is a failed start, not a stop), else "exited" and whether it
// was expected (a code of exitcodes, from RUNNING). What was not
// expected is a warning; so is a stop that ended otherwise than by a code
// of exitcodes or its stop signal (the SIGKILL after stopwaitsecs).
func (e *exitLog) judge(from State, next *machine) {
	e.stopped = from == Stopping && next.State == Stopped
	ok := next.ExitExpected
	switch {
	case e.stopped:
		ok = e.stopEnd
	case ok:
		e.text += "; expected"
	default:
		e.text += "; not expected"
	}
	e.level = slog.LevelInfo
	if !ok {
		e.level = slog.LevelWarn
	}
}

func newProcess(spec *ProcessSpec, rt Runtime, log *slog.Logger, out Output) *process {
	p := &process{
		spec: spec,
		rt:   rt,
		out:  out,
		log:  log,
	}
	p.publish()
	return p
}

// logger is the process's logger: made when first needed, since most
// processes log only when something goes wrong.
func (p *process) logger() *slog.Logger {
	if p.spec.Instance != "" && p.nameShared.Load() {
		// Said apart, so that supervisord's format keeps the group
		// (the instance) where supervisord writes the name alone: the
		// name does not tell the process. A converted [group:x] names
		// each of its programs once, and its lines stay supervisord's;
		// other formats have the group in the full name anyway.
		return p.log.With("process", p.spec.FullName(), "instance", p.spec.Instance)
	}
	return p.log.With("process", p.spec.FullName())
}

// alog is the logger of the actor's own lines: an exit's line still
// pending is written first, so that the lines keep their order.
func (p *process) alog() *slog.Logger {
	p.flushExitLog()
	return p.logger()
}

// flushExitLog writes the pending exit's line, with the exit's time.
func (p *process) flushExitLog() {
	e := p.a.exitLog
	if e == nil {
		return
	}
	p.a.exitLog = nil
	l := p.logger()
	if !l.Enabled(context.Background(), e.level) {
		return
	}
	msg := "exited"
	if e.stopped {
		msg = "stopped"
	}
	r := slog.NewRecord(e.at, e.level, msg, 0)
	r.AddAttrs(slog.Int("pid", e.pid), slog.String("status", e.text))
	l.Handler().Handle(context.Background(), r)
}

// send hands a command to the actor and waits for its immediate answer.
// Once posted, a command is carried out even if ctx ends first.
func (p *process) send(ctx context.Context, c command) error {
	c.reply = make(chan error, 1)
	if !p.post(wake{kind: wokeByCommand, cmd: c}) {
		return ErrShutdown
	}
	select {
	case err := <-c.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// post queues a wake-up and starts a turn if none is under way. It never
// blocks, so the reaper and timers may call it; false once the actor
// has finished.
func (p *process) post(w wake) bool {
	b := &p.box
	b.mu.Lock()
	if b.finished {
		b.mu.Unlock()
		return false
	}
	b.wakes = append(b.wakes, w)
	p.turnLocked()
	return true
}

// postNote queues a readiness note of spawn gen, merged into one already
// waiting.
func (p *process) postNote(n Note, gen uint32) {
	b := &p.box
	b.mu.Lock()
	if b.finished {
		b.mu.Unlock()
		return
	}
	if b.noteQueued && b.noteGen == gen {
		b.note.Ready = b.note.Ready || n.Ready
		if n.Status != "" {
			b.note.Status = n.Status
		}
		b.mu.Unlock()
		return
	}
	b.noteQueued, b.note, b.noteGen = true, n, gen
	b.wakes = append(b.wakes, wake{kind: wokeByNote, gen: gen})
	p.turnLocked()
}

// turnLocked starts a turn unless one is under way, and unlocks the box.
func (p *process) turnLocked() {
	b := &p.box
	start := !b.turning
	b.turning = true
	b.mu.Unlock()
	if start {
		go p.turn()
	}
}

// turn handles wake-ups until the mailbox is empty, and then ends: an idle
// actor holds no goroutine. Only one turn runs at a time.
func (p *process) turn() {
	b := &p.box
	for {
		b.mu.Lock()
		if len(b.wakes) == 0 {
			b.turning = false
			b.wakes = nil // an idle actor keeps no buffer
			b.mu.Unlock()
			return
		}
		w := b.wakes[0]
		b.wakes[0] = wake{}
		b.wakes = b.wakes[1:]
		if w.kind == wokeByNote {
			w.note, b.noteQueued = b.note, false
		}
		b.mu.Unlock()
		p.handle(w)
		if !p.goesOn() {
			p.finish()
			return
		}
	}
}

// goesOn says whether the actor has anything left to do: it ends once a
// shutdown was requested and no process or timer remains.
func (p *process) goesOn() bool {
	a := &p.a
	return !a.m.NoRestart || a.child != nil || a.timer != nil
}

// finish ends the actor: commands still queued are answered ErrShutdown.
func (p *process) finish() {
	b := &p.box
	b.mu.Lock()
	b.finished, b.turning = true, false
	left := b.wakes
	b.wakes = nil
	b.mu.Unlock()
	for _, w := range left {
		if w.kind == wokeByCommand {
			w.cmd.reply <- ErrShutdown
		}
	}
	p.out.Close()
	b.mu.Lock()
	b.ended = true
	if b.done != nil {
		close(b.done)
	}
	b.mu.Unlock()
}

// done is closed once the actor has finished.
func (p *process) done() <-chan struct{} {
	b := &p.box
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done == nil {
		b.done = make(chan struct{})
		if b.ended {
			close(b.done)
		}
	}
	return b.done
}

// adopted is what a previous daemon left for it.
func (p *process) adopted() Adoption {
	if p.adoption == nil {
		return Adoption{}
	}
	return *p.adoption
}

// begin sets the actor up: takes over an adopted process, if any. It runs
// before anything is posted.
func (p *process) begin() {
	a := &p.a
	ad := p.adopted()
	if ad.Child == nil {
		// An exit for good is not an operator's stop: a reload that
		// changes it starts it again, as it would in the old daemon.
		a.m.OperatorStopped = ad.Stopped && ad.Down.State != Exited
		if d := ad.Down; ad.Stopped && !d.At.IsZero() {
			// As the previous daemon showed it: started and ended when,
			// with what exit code, STOPPED or EXITED.
			a.m.Start, a.m.Stop, a.m.ExitStatus, a.m.LastExit = d.Started, d.At, d.ExitStatus, d.ExitStatus
			if d.State == Exited {
				a.m.State = Exited
			}
		}
		p.publish()
		return
	}
	// A wake-up posted while this runs waits for it.
	p.box.mu.Lock()
	p.box.turning = true
	p.box.mu.Unlock()
	p.watch(ad.Child)
	now := time.Now()
	if !ad.Ended.IsZero() && ad.Ended.Before(now) {
		now = ad.Ended // its exit is judged as at that time
	}
	a.m = adoptedMachine(p.spec, ad.Started, now)
	if !ad.Stopping.IsZero() {
		// A stop was under way: it goes on, with no second stop signal
		// (a second TERM may be taken for an order to hurry), for what
		// is left of stopwaitsecs, and ends in STOPPED.
		a.m.State = Stopping
		// (At most stopwaitsecs: the stop's start is on the wall clock.)
		a.m = arm(a.m, timerStopWait, min(max(p.spec.StopWait-time.Since(ad.Stopping), 0), p.spec.StopWait), time.Now())
	}
	// Held down by the previous daemon (a journal of an older ctlsupd
	// records an operator's stop as it begins), or to be restarted by
	// Open: if it ends before that, its restart policy does not spawn
	// it again meanwhile.
	a.m.OperatorStopped = ad.Stopped || ad.Restart
	p.armTimer()
	p.publish()
	p.box.mu.Lock()
	if len(p.box.wakes) == 0 {
		p.box.turning = false
		p.box.mu.Unlock()
		return
	}
	p.box.mu.Unlock()
	go p.turn()
}

// watch makes c the current child: its exit and notes wake the actor.
func (p *process) watch(c Child) {
	a := &p.a
	a.child = c
	a.childGen++
	gen := a.childGen
	a.lastPid = c.Pid()
	if p.pid != nil {
		p.pid.Store(int64(a.lastPid))
	}
	if n, ok := c.(Announcer); ok {
		n.OnNote(func(note Note) { p.postNote(note, gen) })
	}
	c.OnExit(func(st ExitStatus) { p.post(wake{kind: wokeByExit, exit: st, gen: gen}) })
}

// armTimer keeps the one timer in line with the machine's deadline. A
// firing of an earlier arming is told apart by its generation.
func (p *process) armTimer() {
	a := &p.a
	if a.timer != nil {
		a.timer.Stop()
		a.timer = nil
	}
	a.timerGen++
	if a.m.Timer == timerNone {
		return
	}
	gen := a.timerGen
	a.timer = time.AfterFunc(time.Until(a.m.Deadline), func() { p.post(wake{kind: wokeByTimer, gen: gen}) })
}

// step applies one event and performs its effects, feeding the outcome of
// spawns and stop signals back in as events.
func (p *process) step(ev event) error {
	a := &p.a
	prev := a.m.State
	next, effects, err := transition(a.m, ev, p.spec, time.Now())
	if err != nil {
		return err
	}
	a.m = next
	m := &a.m
	if ev.kind == evExit && a.exitLog != nil {
		a.exitLog.judge(prev, m)
	}
	if p.onState != nil && (m.State != prev || m.HasVia) {
		// The events name the live process, or the one whose exit this
		// is; a change with neither (a stop while waiting to retry) names
		// none, pid 0, as supervisord's.
		pid := a.lastPid
		if a.child == nil && ev.kind != evExit {
			pid = 0
		}
		from := prev
		if m.HasVia && m.Via != prev {
			p.onState(p.spec, prev, m.Via, m.Backoff, pid, m.ExitExpected)
			from = m.Via
		}
		if m.State != from {
			p.onState(p.spec, from, m.State, m.Backoff, pid, m.ExitExpected)
		}
	}
	if m.State != prev {
		if p.log.Enabled(context.Background(), slog.LevelDebug) {
			p.alog().Debug("state", "from", prev, "to", m.State, "event", ev.kind)
		}
		p.logMilestone(prev, m.State, m.SpawnErr)
		p.keepDown(prev, m.State)
		if m.State == Stopping && a.child != nil {
			a.child.Stopping(a.quietStop)
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
				a.gated = true
				follow = append(follow, event{kind: evGated, err: clusterWaitText})
				continue
			}
			if p.spec.Singleton {
				// Its start may first wait for the last process's
				// leftovers to die: the exit is told before that.
				p.flushExitLog()
			}
			c, serr := p.rt.Start(p.spec, p.out)
			if serr != nil {
				p.alog().Warn("spawn error", "err", serr)
				// One line: it is a status description, and errors
				// joined put each on its own.
				follow = append(follow, event{kind: evSpawnFailed, err: strings.ReplaceAll(serr.Error(), "\n", "; ")})
				continue
			}
			p.watch(c)
			a.statusText = ""
			p.alog().Info("spawned", "pid", c.Pid())
			follow = append(follow, event{kind: evSpawned})
		case effSignal:
			if a.child == nil {
				continue
			}
			if serr := a.child.Signal(e.sig, e.group); serr != nil {
				p.alog().Error("cannot signal", "signal", e.sig, "err", serr)
				if ev.kind == evSignal {
					return errors.Join(ErrFailed, serr)
				}
				follow = append(follow, event{kind: evSignalFailed, err: serr.Error()})
			}
		}
	}
	for _, f := range follow {
		if ferr := p.step(f); ferr != nil {
			return ferr
		}
	}
	return nil
}

// handle deals with one wake-up.
func (p *process) handle(w wake) {
	a := &p.a
	switch w.kind {
	case wokeByCommand:
		c := w.cmd
		var err error
		switch c.kind {
		case cmdStart:
			if !c.auto {
				err = p.rt.Check(p.spec)
			}
			if err == nil {
				err = p.step(event{kind: evStart})
			}
			if err == nil {
				p.rt.Hold(p.spec, nil)
				p.a.holdStop = false
			}
		case cmdStop:
			// A stop refused (one is under way already) leaves that
			// stop's hold as it was.
			held := p.a.holdStop
			p.a.holdStop = c.hold
			if err = p.step(event{kind: evStop}); err != nil {
				p.a.holdStop = held
			}
		case cmdSignal:
			err = p.step(event{kind: evSignal, sig: c.sig})
		case cmdShutdown:
			p.a.quietStop = c.quiet
			if c.quiet && a.m.State == Stopping && a.child != nil {
				// An operator's stop under way is now the daemon's: a
				// successor treats it as the rest of the shutdown.
				a.child.Stopping(true)
			}
			err = p.step(event{kind: evShutdown})
		case cmdPing:
			c.reply <- nil
			return
		case cmdWait:
			if !c.auto {
				err = p.rt.Check(p.spec)
			}
			if err == nil {
				err = p.step(event{kind: evWait, err: c.text})
			}
			if err == nil {
				p.rt.Hold(p.spec, nil) // started by the operator: no longer held stopped
				p.a.holdStop = false
			}
		case cmdWaitText:
			err = p.step(event{kind: evWaitText, err: c.text})
		case cmdDepsReady:
			err = p.step(event{kind: evDepsReady})
		case cmdDepsFailed:
			err = p.step(event{kind: evDepsFailed, err: c.text})
		case cmdStdin:
			c.reply <- writeStdin(a.m, a.child, c.data)
			return
		}
		p.armTimer()
		p.publish()
		c.reply <- err
		return
	case wokeByNote:
		if w.gen != a.childGen || a.child == nil {
			return // from an earlier spawn
		}
		if w.note.Status != "" {
			a.statusText = w.note.Status
		}
		if w.note.Ready {
			p.step(event{kind: evReady})
		}
	case wokeByExit:
		if w.gen != a.childGen || a.child == nil {
			return
		}
		a.exitLog = &exitLog{at: time.Now(), pid: a.child.Pid(), text: w.exit.Text,
			stopEnd: !w.exit.Signaled && p.spec.exitExpected(w.exit.Code) || w.exit.Signaled && w.exit.Signal == p.spec.StopSignal,
			level:   slog.LevelInfo}
		child := a.child
		a.child = nil
		ev := event{kind: evExit, exit: w.exit}
		if ad := p.adoption; ad != nil && w.gen == 1 {
			ev.at = ad.Ended // the adopted child, reaped by the previous daemon
		}
		p.step(ev) // its hold or its restart's spawn recorded
		// A retry still to come (BACKOFF, a crash loop's delay) leaves the
		// exit pending, so that a successor tries again too; the retry's
		// spawn settles it.
		if d, ok := child.(ExitDecider); ok && a.m.State != Backoff && !a.m.restartPending() {
			d.ExitDecided()
		}
		p.flushExitLog()
	case wokeByTimer:
		if w.gen != a.timerGen || a.timer == nil {
			return // stopped or re-armed since
		}
		a.timer = nil
		if a.m.State == Stopping && a.m.Timer == timerStopWait && ended(a.child) {
			// Dead, its exit not collected yet: the stop waits for it
			// another stopwaitsecs, and sends no SIGKILL.
			a.m = arm(a.m, timerStopWait, max(p.spec.StopWait, endedRecheck), time.Now())
			break
		}
		if a.m.State == Stopping && a.child != nil {
			p.alog().Warn("did not stop in time: sending SIGKILL", "pid", a.child.Pid(), "stopwaitsecs", p.spec.StopWait.Seconds())
		}
		p.step(event{kind: evTimer})
	}
	p.armTimer()
	p.publish()
}

// endedRecheck is the shortest wait for a dead process's exit before its
// child is asked again: with stopwaitsecs = 0, not a busy loop.
const endedRecheck = 100 * time.Millisecond

// ended reports whether c is known to have ended (see EndedChild).
func ended(c Child) bool {
	e, ok := c.(EndedChild)
	return ok && e.Ended()
}

type wakeKind uint8

const (
	wokeByCommand wakeKind = iota
	wokeByExit
	wokeByTimer
	wokeByNote
)

// wake is what the actor is woken for.
type wake struct {
	kind wakeKind
	gen  uint32 // wokeByExit, wokeByNote: the spawn's; wokeByTimer: the arming's
	cmd  command
	exit ExitStatus
	note Note
}

// publish replaces the snapshot and wakes everyone waiting for a change.
func (p *process) publish() {
	m, pid := &p.a.m, 0
	if p.a.child != nil {
		pid = p.a.child.Pid()
	}
	info := &ProcessInfo{
		Name:         p.spec.Name,
		Group:        p.spec.Group,
		State:        m.State,
		Pid:          pid,
		Start:        m.Start,
		Stop:         m.Stop,
		ExitStatus:   m.ExitStatus,
		LastExitCode: m.LastExit,
		SpawnErr:     m.SpawnErr,
		StatusText:   p.a.statusText,
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
	}
	p.info.Store(info)
	b := &p.box
	b.mu.Lock()
	if b.next != nil {
		close(b.next)
		b.next = nil
	}
	b.mu.Unlock()
	if p.changed != nil {
		p.changed()
	}
	if p.a.gated {
		// What waits for the lease sees the wait published.
		p.a.gated = false
		go p.onGated()
	}
}

// nextPublish returns a channel closed at the next publish. It is made
// only for a waiter: most snapshots are replaced with nobody waiting.
func (p *process) nextPublish() <-chan struct{} {
	b := &p.box
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.next == nil {
		b.next = make(chan struct{})
	}
	return b.next
}

// waitUntil blocks until cond accepts the process's snapshot or ctx ends.
func (p *process) waitUntil(ctx context.Context, cond func(*ProcessInfo) (bool, error)) error {
	for {
		next := p.nextPublish() // before the load: no publish is missed
		info := p.info.Load()
		if ok, err := cond(info); ok || err != nil {
			return err
		}
		select {
		case <-next:
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
		p.alog().Info(fmt.Sprintf("success: %s entered RUNNING state, process is ready (ready = %s)", name, p.spec.Ready.Kind))
	case from == Starting && to == Running:
		p.alog().Info(fmt.Sprintf("success: %s entered RUNNING state, process has stayed up for > than %s seconds (startsecs)",
			name, strconv.FormatFloat(p.spec.StartSecs.Seconds(), 'f', -1, 64)))
	case to == Fatal && strings.HasPrefix(why, "dependency"):
		p.alog().Info(fmt.Sprintf("gave up: %s entered FATAL state, %s", name, why))
	case to == Fatal:
		p.alog().Info(fmt.Sprintf("gave up: %s entered FATAL state, too many start retries too quickly", name))
	case to == Stopping && !p.a.quietStop:
		// As supervisord, at a stop's start; then every 2 s (stopreport.go).
		p.alog().Info(fmt.Sprintf("waiting for %s to stop", name))
	}
}

// keepDown tells a successor daemon, should this one die, what must stay
// down: a process an operator's stop has ended, or one that exited for
// good (its autorestart said so; a one-shot job must not run twice). A
// stop is recorded once it has ended, not as it begins: supervisorctl's
// restart is a stop then a start, so a stop the daemon's death cuts short
// may have been a restart's, and the successor restarts what it finds
// stopping. The daemon's own shutdown records nothing: it releases every
// hold (Close).
func (p *process) keepDown(from, to State) {
	a := &p.a
	defer func() {
		if (from == Backoff || from == Starting) && to.IsStopped() {
			// A retry to come was abandoned (stopped, given up on): the
			// exit left pending for it is decided, once what follows (a
			// hold) is recorded.
			if s, ok := p.rt.(ExitSettler); ok {
				s.SettleExits(p.spec)
			}
		}
	}()
	switch {
	case a.quietStop:
	case to == Stopped && a.holdStop, to == Exited:
		at := a.m.Stop
		if at.IsZero() || to == Stopped && from != Stopping {
			at = time.Now() // stopped while it had no process (BACKOFF)
		}
		p.rt.Hold(p.spec, &Down{State: to, Started: a.m.Start, At: at, ExitStatus: a.m.ExitStatus})
	}
	if to == Stopped || from == Stopping {
		a.holdStop = false // the stop is over, however it ended
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
