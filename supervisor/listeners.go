package supervisor

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// ListenerSpec makes a group an event listener pool, as supervisord's
// [eventlistener:x]: its processes read events on stdin and answer on
// stdout with supervisord's protocol (READY, then RESULT n and a body).
type ListenerSpec struct {
	Events     []string // event types, abstract ones included
	BufferSize int      // events kept while no listener is ready; the oldest go first
}

// Listener states, as supervisord names them.
const (
	listenerAcknowledged = "ACKNOWLEDGED" // started, or answered: waiting for READY
	listenerReady        = "READY"
	listenerBusy         = "BUSY"
	listenerUnknown      = "UNKNOWN" // it broke the protocol: no more events until it restarts
)

// pool dispatches the events its group subscribes to, one at a time per
// listener, as supervisord's EventListenerPool does: an event goes to a
// READY listener, which is BUSY until its RESULT; OK acknowledges it, any
// other result (FAIL) puts it back at the head of the buffer, and so does
// a listener that ends while BUSY. Everything runs in the pool's own
// goroutine, fed by non-blocking queues, so no process waits for it.
type pool struct {
	s      *Supervisor
	name   string
	spec   ListenerSpec
	serial uint64

	mu      sync.Mutex // guards inbox and wake only
	inbox   []func()
	wake    chan struct{}
	stopped chan struct{} // closed when run returns
	cancel  func()
	buf     []*poolEvent
	members map[string]*listener // by full name
	procs   []*process           // the group's, when the pool started
	// leftTold: the shutdown's drain has logged what the pool kept, once
	// for the pool, whichever of its listeners' stops found it.
	leftTold atomic.Bool
}

type poolEvent struct {
	ev         Event
	poolSerial uint64
}

type listener struct {
	proc      *process
	running   bool // RUNNING, as its state events said
	state     string
	pending   []byte // protocol bytes not yet understood
	resultLen int    // -1: waiting for the RESULT line
	result    []byte
	event     *poolEvent // the event it is BUSY with
	spoke     bool       // it has said READY since it started
	runSince  time.Time  // when it last became RUNNING
}

// startPools starts a pool for every listener group (before anything
// else emits: pools see every group added).
func (s *Supervisor) startPools() {
	s.mu.RLock()
	groups := slices.Clone(s.groups)
	s.mu.RUnlock()
	s.poolsMu.Lock()
	defer s.poolsMu.Unlock()
	live := map[string]bool{}
	for _, g := range groups {
		live[g.spec.Name] = true
		if pl := s.pools[g.spec.Name]; pl != nil && (g.spec.Listener == nil || !slices.Equal(pl.procs, g.procs) ||
			!slices.Equal(pl.spec.Events, g.spec.Listener.Events) || pl.spec.BufferSize != g.spec.Listener.BufferSize) {
			s.stopPoolLocked(g.spec.Name) // changed by an update
		}
		if g.spec.Listener != nil && s.pools[g.spec.Name] == nil {
			s.startPoolLocked(g)
		}
	}
	for name := range s.pools {
		if !live[name] {
			s.stopPoolLocked(name)
		}
	}
}

// startPool starts the pool of the group named, if it is a listener
// group without one.
func (s *Supervisor) startPool(name string) {
	s.mu.RLock()
	var g *group
	for _, gr := range s.groups {
		if gr.spec.Name == name && gr.spec.Listener != nil {
			g = gr
		}
	}
	s.mu.RUnlock()
	if g == nil {
		return
	}
	s.poolsMu.Lock()
	defer s.poolsMu.Unlock()
	if s.pools[name] == nil {
		s.startPoolLocked(g)
	}
}

// startPoolLocked starts g's pool. s.poolsMu is held.
func (s *Supervisor) startPoolLocked(g *group) {
	if s.pools == nil {
		s.pools = map[string]*pool{}
	}
	pl := &pool{s: s, name: g.spec.Name, spec: *g.spec.Listener, wake: make(chan struct{}, 1), stopped: make(chan struct{}), members: map[string]*listener{},
		procs: slices.Clone(g.procs)}
	for _, p := range g.procs {
		pl.members[p.spec.FullName()] = &listener{proc: p, running: p.info.Load().State == Running,
			state: listenerAcknowledged, resultLen: -1}
	}
	s.pools[pl.name] = pl
	pl.cancel = s.Subscribe(pl.spec.Events, func(ev Event) { pl.post(func() { pl.accept(&poolEvent{ev: ev}, false) }) })
	go pl.run()
}

// stopPools ends every pool: the daemon closes, its processes stopped.
func (s *Supervisor) stopPools() {
	s.poolsMu.Lock()
	defer s.poolsMu.Unlock()
	for name := range s.pools {
		s.stopPoolLocked(name)
	}
}

// stopPoolLocked ends a removed or changed group's pool. s.poolsMu is held.
func (s *Supervisor) stopPoolLocked(name string) {
	if pl := s.pools[name]; pl != nil {
		pl.cancel()
		pl.post(nil) // ends run
		delete(s.pools, name)
	}
}

// post queues work for the pool's goroutine; nil ends it.
func (pl *pool) post(f func()) {
	pl.mu.Lock()
	pl.inbox = append(pl.inbox, f)
	pl.mu.Unlock()
	select {
	case pl.wake <- struct{}{}:
	default:
	}
}

// run serves the pool until it is stopped (its group removed or changed,
// or the daemon closed once every process has stopped: listeners, which
// stop last, get the shutdown's events).
func (pl *pool) run() {
	defer close(pl.stopped)
	for {
		<-pl.wake
		pl.mu.Lock()
		work := pl.inbox
		pl.inbox = nil
		pl.mu.Unlock()
		for _, f := range work {
			if f == nil {
				return
			}
			f()
		}
		pl.dispatch()
	}
}

// drainPool gives a listener's pool, before the daemon's shutdown stops
// the listener, up to its stopwaitsecs (at most maxDrain) to hand out the
// events it holds: the shutdown's own, which listeners stop last to see,
// and which a listener stopped at once would never get. A pool none of
// whose listeners has said READY since it became RUNNING, readyGrace or
// more ago, is not waited for: a listener that never took an event will
// not take these. Events left behind are logged.
func (s *Supervisor) drainPool(ctx context.Context, p *process) {
	pl := s.poolOf(p.spec)
	if pl == nil {
		return
	}
	wait := min(p.spec.StopWait, maxDrain)
	waitCtx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	left := func(held int, why string) {
		if held > 0 && pl.leftTold.CompareAndSwap(false, true) {
			s.Logger.Warn(fmt.Sprintf("pool %s: %d events not handed out before the shutdown: %s", pl.name, held, why))
		}
	}
	for {
		d := pl.drained(waitCtx)
		switch {
		case d.gone:
			return
		case d.done:
			left(d.held, "no listener of it is READY")
			return
		}
		select {
		case <-waitCtx.Done():
			if ctx.Err() != nil {
				left(d.held, "the shutdown stopped waiting")
			} else {
				left(d.held, fmt.Sprintf("its listeners took longer than %s", wait))
			}
			return
		case <-time.After(drainPoll):
		}
	}
}

const (
	drainPoll = 20 * time.Millisecond
	// maxDrain bounds the wait, which comes before the listener's own
	// stop: the stop of the daemon must stay within what systemd allows
	// it (the longest stopwaitsecs and a margin).
	maxDrain = 10 * time.Second
	// readyGrace: a listener RUNNING this long without saying READY is
	// not waited for; one RUNNING for less (an interpreter still
	// importing) may yet say it.
	readyGrace = 3 * time.Second
)

// drainState is what drained found: done when the pool has handed out,
// and had answered, every event it holds, or holds only events (held) no
// listener of it can take (none is RUNNING, none became so less than
// readyGrace ago or has said READY since, or each broke the protocol);
// gone when the pool is, or ctx ended before it answered. A listener
// still STARTING is not waited for: one that crash-loops would hold the
// shutdown for the whole drain.
type drainState struct {
	done, gone bool
	held       int
}

func (pl *pool) drained(ctx context.Context) drainState {
	reply := make(chan drainState, 1)
	pl.post(func() {
		busy, able := false, false
		for _, l := range pl.members {
			busy = busy || l.state == listenerBusy
			able = able || l.running && l.state != listenerUnknown && (l.spoke || time.Since(l.runSince) < readyGrace)
		}
		reply <- drainState{done: !busy && (len(pl.buf) == 0 || !able), held: len(pl.buf)}
	})
	select {
	case d := <-reply:
		return d
	case <-pl.stopped:
	case <-ctx.Done():
	}
	return drainState{gone: true}
}

// accept buffers an event (at the head when it comes back).
func (pl *pool) accept(pe *poolEvent, head bool) {
	if !head {
		pe.poolSerial = pl.serial
		pl.serial++
	}
	if len(pl.buf) >= max(pl.spec.BufferSize, 1) {
		pl.s.Logger.Error(fmt.Sprintf("pool %s event buffer overflowed, discarding event %d", pl.name, pl.buf[0].ev.Serial))
		pl.buf = pl.buf[1:]
	}
	if head {
		pl.buf = append([]*poolEvent{pe}, pl.buf...)
	} else {
		pl.buf = append(pl.buf, pe)
	}
}

// dispatch sends buffered events, oldest first, to READY listeners.
func (pl *pool) dispatch() {
	for len(pl.buf) > 0 {
		name, l := pl.readyListener()
		if l == nil {
			return
		}
		pe := pl.buf[0]
		pl.buf = pl.buf[1:]
		// Straight to the process, not by name: during shutdown names
		// are refused, and listeners still take events then.
		if err := l.proc.send(context.Background(), command{kind: cmdStdin, data: pl.envelope(pe)}); err != nil {
			pl.s.Logger.Debug("cannot send an event to a listener", "listener", name, "err", err)
			pl.buf = append([]*poolEvent{pe}, pl.buf...)
			l.state = listenerUnknown // it cannot take events until it restarts
			continue
		}
		l.state, l.event = listenerBusy, pe
	}
}

func (pl *pool) readyListener() (string, *listener) {
	for name, l := range pl.members {
		if l.state == listenerReady && l.running {
			return name, l
		}
	}
	return "", nil
}

// envelope is supervisord's header line and payload; len counts
// characters, as Python's listeners read them.
func (pl *pool) envelope(pe *poolEvent) []byte {
	return fmt.Appendf(nil, "ver:3.0 server:supervisor serial:%d pool:%s poolserial:%d eventname:%s len:%d\n%s",
		pe.ev.Serial, pl.name, pe.poolSerial, pe.ev.Type, utf8.RuneCountInString(pe.ev.Payload), pe.ev.Payload)
}

// feed takes what a listener wrote on stdout.
func (pl *pool) feed(name string, data []byte) {
	b := bytes.Clone(data)
	pl.post(func() {
		l := pl.members[name]
		if l == nil {
			return
		}
		l.pending = append(l.pending, b...)
		pl.parse(name, l)
	})
}

// parse advances a listener's protocol state with what it wrote.
func (pl *pool) parse(name string, l *listener) {
	const ready = "READY\n"
	for len(l.pending) > 0 {
		switch l.state {
		case listenerUnknown:
			l.pending = nil
		case listenerAcknowledged:
			if len(l.pending) < len(ready) {
				return
			}
			if string(l.pending[:len(ready)]) != ready {
				pl.brokeProtocol(name, l, "ACKNOWLEDGED")
				return
			}
			l.pending, l.state, l.spoke = l.pending[len(ready):], listenerReady, true
		case listenerReady:
			pl.brokeProtocol(name, l, "READY")
		case listenerBusy:
			if l.resultLen < 0 {
				i := bytes.IndexByte(l.pending, '\n')
				if i < 0 {
					return
				}
				line := l.pending[:i]
				l.pending = l.pending[i+1:]
				n, err := strconv.Atoi(string(bytes.TrimPrefix(line, []byte("RESULT "))))
				if !bytes.HasPrefix(line, []byte("RESULT ")) || err != nil || n < 0 {
					pl.s.Logger.Warn(fmt.Sprintf("%s: bad result line: '%s'", name, line))
					pl.reject(l)
					pl.brokeProtocol(name, l, "BUSY")
					return
				}
				l.resultLen, l.result = n, nil
			}
			need := l.resultLen - len(l.result)
			take := min(need, len(l.pending))
			l.result = append(l.result, l.pending[:take]...)
			l.pending = l.pending[take:]
			if len(l.result) < l.resultLen {
				return
			}
			if string(l.result) != "OK" {
				pl.s.Logger.Warn(fmt.Sprintf("%s: event was rejected", name))
				pl.reject(l)
			}
			l.state, l.event, l.resultLen, l.result = listenerAcknowledged, nil, -1, nil
		}
	}
}

// brokeProtocol puts a listener that wrote what its state does not allow
// in UNKNOWN, where it gets no event until it restarts, and says so in
// supervisord's words, which log watchers look for.
func (pl *pool) brokeProtocol(name string, l *listener, from string) {
	pl.s.Logger.Debug(fmt.Sprintf("%s: %s -> UNKNOWN", name, from))
	pl.s.Logger.Warn(fmt.Sprintf("%s: has entered the UNKNOWN state and will no longer receive events, "+
		"this usually indicates the process violated the eventlistener protocol", name))
	l.state, l.pending = listenerUnknown, nil
}

// reject puts a listener's event back at the head of the buffer.
func (pl *pool) reject(l *listener) {
	if l.event != nil {
		pl.accept(l.event, true)
		l.event = nil
	}
}

// memberState follows a listener's process: a new spawn starts
// ACKNOWLEDGED; one that ends while BUSY gives its event back.
func (pl *pool) memberState(name string, to State) {
	pl.post(func() {
		l := pl.members[name]
		if l == nil {
			return
		}
		l.running = to == Running
		switch to {
		case Starting:
			pl.reject(l)
			*l = listener{proc: l.proc, state: listenerAcknowledged, resultLen: -1}
		case Running:
			l.runSince = time.Now()
		case Stopping:
			// It may still answer: its event comes back only if it
			// ends without (supervisord's finish()).
		default:
			pl.reject(l)
			l.state = listenerUnknown
		}
	})
}

// poolOf is the pool a process belongs to, if it is a listener.
func (s *Supervisor) poolOf(spec *ProcessSpec) *pool {
	s.poolsMu.Lock()
	defer s.poolsMu.Unlock()
	return s.pools[spec.Group]
}

// newOutput is the process's log capture, tapped for the engine when it is
// an event listener (its stdout is the protocol) or sends PROCESS_LOG
// events.
func (s *Supervisor) newOutput(spec *ProcessSpec, listener bool, pidRef *atomic.Int64) Output {
	t, ok := s.rt.(Tapper)
	if !ok || (!listener && !spec.StdoutEvents && !spec.StderrEvents && spec.StdoutCaptureMaxBytes == 0 && spec.StderrCaptureMaxBytes == 0) {
		return s.rt.NewOutput(spec)
	}
	name := spec.FullName()
	pid := func() int { return int(pidRef.Load()) }
	var stdout, stderr func([]byte)
	if listener {
		stdout = func(b []byte) {
			if pl := s.poolOf(spec); pl != nil {
				pl.feed(name, b)
			}
		}
	} else {
		stdout = s.streamEvents(spec, pid, "stdout", spec.StdoutEvents, spec.StdoutCaptureMaxBytes)
	}
	stderr = s.streamEvents(spec, pid, "stderr", spec.StderrEvents, spec.StderrCaptureMaxBytes)
	return t.NewTappedOutput(spec, stdout, stderr)
}

// Capture mode's tokens, as supervisord's.
const (
	captureBegin = "<!--XSUPERVISOR:BEGIN-->"
	captureEnd   = "<!--XSUPERVISOR:END-->"
)

// streamEvents is a stream's tap: PROCESS_LOG events for what it writes,
// and in capture mode a PROCESS_COMMUNICATION event for each block between
// the tokens; nil when the stream sends neither.
func (s *Supervisor) streamEvents(spec *ProcessSpec, pid func() int, channel string, logEvents bool, captureMax int64) func([]byte) {
	if !logEvents && captureMax <= 0 {
		return nil
	}
	var pending []byte // looking for a token across writes
	var capture []byte
	capturing := false
	return func(b []byte) {
		if logEvents {
			s.emitLog(spec, pid(), channel, b)
		}
		if captureMax <= 0 {
			return
		}
		pending = append(pending, b...)
		for {
			if !capturing {
				i := bytes.Index(pending, []byte(captureBegin))
				if i < 0 {
					// Keep what could be the start of a token.
					pending = pending[max(0, len(pending)-len(captureBegin)+1):]
					return
				}
				pending, capturing, capture = pending[i+len(captureBegin):], true, nil
				continue
			}
			// supervisord waits for more than a token's length before it
			// looks: small writes reach its bound joined.
			if len(pending) <= len(captureEnd) {
				return
			}
			i := bytes.Index(pending, []byte(captureEnd))
			if i < 0 {
				keep := len(pending) - tokenStartAtEnd(pending, captureEnd)
				capture = boundWrite(capture, pending[:keep], captureMax)
				pending = pending[keep:]
				return
			}
			capture = boundWrite(capture, pending[:i], captureMax)
			pending, capturing = pending[i+len(captureEnd):], false
			s.emit("PROCESS_COMMUNICATION_"+strings.ToUpper(channel),
				fmt.Sprintf("processname:%s groupname:%s pid:%d\n%s", spec.Name, spec.Group, pid(), eventData(capture)))
		}
	}
}

// boundWrite appends p to a capture as supervisord's capture buffer
// does: a write that would take it past max first drops as many bytes
// from its front as it brings. What is captured is then mostly the end
// of a block, and one write larger than max is kept whole; the buffer
// never holds more than max and one write.
func boundWrite(buf, p []byte, max int64) []byte {
	if int64(len(buf)+len(p)) > max {
		buf = buf[min(len(p), len(buf)):]
	}
	return append(buf, p...)
}

// tokenStartAtEnd is the length of the longest end of b that begins
// token: what must wait for the next write to tell.
func tokenStartAtEnd(b []byte, token string) int {
	for n := min(len(b), len(token)-1); n > 0; n-- {
		if string(b[len(b)-n:]) == token[:n] {
			return n
		}
	}
	return 0
}

// groupNames lists the active groups in supervisord's order (priority,
// then name), as it adds them at startup.
func (s *Supervisor) groupNames() []string {
	s.mu.RLock()
	groups := slices.Clone(s.groups)
	s.mu.RUnlock()
	slices.SortStableFunc(groups, func(a, b *group) int {
		if a.spec.Priority != b.spec.Priority {
			return a.spec.Priority - b.spec.Priority
		}
		return strings.Compare(a.spec.Name, b.spec.Name)
	})
	names := make([]string, len(groups))
	for i, g := range groups {
		names[i] = g.spec.Name
	}
	return names
}
