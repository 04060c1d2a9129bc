package supervisor

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Event is one of supervisord's events, its payload rendered when it
// happened (as supervisord renders it eagerly), byte for byte.
type Event struct {
	Type    string // "PROCESS_STATE_RUNNING", "TICK_5", ...
	Serial  uint64 // supervisord's global serial, from 0
	Payload string
}

// eventTypes are every concrete event type; a subscription names one, or
// an abstract one (EVENT, PROCESS_STATE, PROCESS_LOG, TICK, ...) that
// covers those it prefixes.
var eventTypes = []string{
	"PROCESS_STATE_STOPPED", "PROCESS_STATE_EXITED", "PROCESS_STATE_STARTING", "PROCESS_STATE_STOPPING",
	"PROCESS_STATE_BACKOFF", "PROCESS_STATE_FATAL", "PROCESS_STATE_RUNNING", "PROCESS_STATE_UNKNOWN",
	"PROCESS_COMMUNICATION_STDOUT", "PROCESS_COMMUNICATION_STDERR", "PROCESS_LOG_STDOUT", "PROCESS_LOG_STDERR",
	"REMOTE_COMMUNICATION", "SUPERVISOR_STATE_CHANGE_RUNNING", "SUPERVISOR_STATE_CHANGE_STOPPING",
	"TICK_5", "TICK_60", "TICK_3600", "PROCESS_GROUP_ADDED", "PROCESS_GROUP_REMOVED",
}

var abstractEventTypes = []string{"EVENT", "PROCESS_STATE", "PROCESS_COMMUNICATION", "PROCESS_LOG",
	"SUPERVISOR_STATE_CHANGE", "TICK", "PROCESS_GROUP"}

// ValidEventType reports whether name is an event type a listener may
// subscribe to.
func ValidEventType(name string) bool {
	for _, t := range eventTypes {
		if t == name {
			return true
		}
	}
	for _, t := range abstractEventTypes {
		if t == name {
			return true
		}
	}
	return false
}

// eventMatches reports whether a subscription to sub receives typ.
func eventMatches(sub, typ string) bool {
	return sub == typ || sub == "EVENT" || strings.HasPrefix(typ, sub+"_")
}

// bus delivers events to subscribers, in order, without blocking the
// process that caused them: each subscriber takes them in its own
// goroutine (a listener pool buffers them).
type bus struct {
	mu     sync.Mutex
	serial uint64
	subs   []*subscription
	ticks  bool // a tick goroutine runs
}

type subscription struct {
	types []string
	fn    func(Event) // called under the bus's lock: must not block
}

// Subscribe calls fn for every event of the given types (or their
// abstract parents) from now on; cancel stops it. fn must not block.
func (s *Supervisor) Subscribe(types []string, fn func(Event)) (cancel func()) {
	b := &s.events
	sub := &subscription{types: types, fn: fn}
	b.mu.Lock()
	b.subs = append(b.subs, sub)
	wantTicks := !b.ticks && wantsTicks(types)
	if wantTicks {
		b.ticks = true
	}
	b.mu.Unlock()
	if wantTicks {
		go s.tick()
	}
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		for i, x := range b.subs {
			if x == sub {
				b.subs = append(b.subs[:i], b.subs[i+1:]...)
				return
			}
		}
	}
}

func wantsTicks(types []string) bool {
	for _, t := range types {
		if eventMatches(t, "TICK_5") || eventMatches(t, "TICK_60") || eventMatches(t, "TICK_3600") {
			return true
		}
	}
	return false
}

// NextEventSerial is the serial the next event will have.
func (s *Supervisor) NextEventSerial() uint64 {
	s.events.mu.Lock()
	defer s.events.mu.Unlock()
	return s.FirstEventSerial + s.events.serial
}

// emit numbers an event and hands it to its subscribers. An event nobody
// subscribes to takes no serial, as in supervisord, where serials are
// given by the pools that accept one.
func (s *Supervisor) emit(typ, payload string) {
	b := &s.events
	b.mu.Lock()
	defer b.mu.Unlock()
	var to []*subscription
	for _, sub := range b.subs {
		for _, t := range sub.types {
			if eventMatches(t, typ) {
				to = append(to, sub)
				break
			}
		}
	}
	if len(to) == 0 {
		return
	}
	ev := Event{Type: typ, Serial: s.FirstEventSerial + b.serial, Payload: payload}
	b.serial++
	for _, sub := range to {
		sub.fn(ev)
	}
}

// emitState sends the PROCESS_STATE event of a transition, with
// supervisord's payload: processname, groupname, from_state, then tries
// (STARTING, BACKOFF), expected and pid (EXITED), or pid (RUNNING,
// STOPPING, STOPPED).
func (s *Supervisor) emitState(spec *ProcessSpec, from, to State, tries int, pid int, expected bool) {
	payload := fmt.Sprintf("processname:%s groupname:%s from_state:%s", spec.Name, spec.Group, from)
	switch to {
	case Starting, Backoff:
		payload += fmt.Sprintf(" tries:%d", tries)
	case Exited:
		e := 0
		if expected {
			e = 1
		}
		payload += fmt.Sprintf(" expected:%d pid:%d", e, pid)
	case Running, Stopping, Stopped:
		payload += fmt.Sprintf(" pid:%d", pid)
	}
	if spec.ClusterSingleton && (to == Stopped || to == Exited || to == Fatal) {
		s.releaseLease(spec) // stopped for good: another node takes over at once
	}
	s.emit("PROCESS_STATE_"+to.String(), payload)
	if pl := s.poolOf(spec); pl != nil {
		pl.memberState(spec.FullName(), to)
	}
	var action string
	switch to {
	case Fatal:
		action = spec.OnFatal
	case Exited:
		action = spec.OnExit
	}
	if action != "" {
		env := []string{"CTLSUP_EVENT=PROCESS_STATE_" + to.String(), "CTLSUP_PROCESS=" + spec.FullName(),
			"CTLSUP_GROUP=" + spec.Group, "CTLSUP_FROM_STATE=" + from.String(), "CTLSUP_PID=" + strconv.Itoa(pid),
			"CTLSUP_EXPECTED=" + map[bool]string{true: "1", false: "0"}[expected], "CTLSUP_PAYLOAD=" + payload}
		go s.runAction(spec, to, action, env)
	}
}

// runAction does a process's on_fatal or on_exit.
func (s *Supervisor) runAction(spec *ProcessSpec, to State, action string, env []string) {
	if action == "shutdown" {
		s.Logger.Warn(fmt.Sprintf("%s entered %s: shutting down (its on_%s)", spec.FullName(), to, strings.ToLower(to.String())))
		if s.OnShutdown != nil {
			s.OnShutdown()
		}
		return
	}
	r, ok := s.rt.(CommandRunner)
	if !ok {
		return
	}
	out, st, err := r.RunCommand(context.Background(), action, env)
	if err != nil || st.Code != 0 || st.Signaled {
		s.Logger.Warn("on_"+strings.ToLower(to.String())+" command failed", "process", spec.FullName(), "command", action,
			"status", st.Text, "err", err, "output", strings.TrimSpace(string(out)))
	}
}

// EmitRemote sends a REMOTE_COMMUNICATION event (sendRemoteCommEvent).
func (s *Supervisor) EmitRemote(typ, data string) {
	s.emit("REMOTE_COMMUNICATION", "type:"+typ+"\n"+data)
}

// emitLog sends a PROCESS_LOG event for output of a process whose spec
// enables it.
func (s *Supervisor) emitLog(spec *ProcessSpec, pid int, channel string, data []byte) {
	s.emit("PROCESS_LOG_"+strings.ToUpper(channel), fmt.Sprintf("processname:%s groupname:%s pid:%d channel:%s\n%s",
		spec.Name, spec.Group, pid, channel, eventData(data)))
}

func (s *Supervisor) emitGroup(added bool, name string) {
	typ := "PROCESS_GROUP_REMOVED"
	if added {
		typ = "PROCESS_GROUP_ADDED"
	}
	s.emit(typ, "groupname:"+name+"\n")
}

// tick sends TICK_5, TICK_60 and TICK_3600 at the start of each period,
// with the period's start as "when", as supervisord does; it runs only
// once a subscriber wants ticks, so an idle daemon otherwise never wakes.
func (s *Supervisor) tick() {
	last := map[int64]int64{}
	for {
		now := time.Now()
		for _, period := range []int64{5, 60, 3600} {
			slice := now.Unix() - now.Unix()%period
			if last[period] == 0 {
				last[period] = slice
				continue
			}
			if slice != last[period] {
				last[period] = slice
				s.emit(fmt.Sprintf("TICK_%d", period), fmt.Sprintf("when:%d", slice))
			}
		}
		next := time.Unix(now.Unix()-now.Unix()%5+5, 0)
		select {
		case <-time.After(time.Until(next)):
		case <-s.quit:
			return
		}
	}
}

// Done is closed once Close has begun: what follows the engine (a webhook)
// ends with it.
func (s *Supervisor) Done() <-chan struct{} { return s.quit }
