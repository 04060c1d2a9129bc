package supervisor

import "sync"

// Exit hands a child's exit status to the engine once, whichever of
// Exited and OnExit comes first. Embedded in a Child, it is its OnExit;
// the zero value is ready. It costs no channel and no goroutine: a
// thousand idle children wait for nothing.
type Exit struct {
	mu     sync.Mutex
	ended  bool
	status ExitStatus
	exited func(ExitStatus)
}

// OnExit is Child's.
func (e *Exit) OnExit(exited func(ExitStatus)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ended {
		exited(e.status)
		return
	}
	e.exited = exited
}

// Exited reports the exit status; only the first call counts.
func (e *Exit) Exited(st ExitStatus) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ended {
		return
	}
	e.ended, e.status = true, st
	if e.exited != nil {
		e.exited(st)
		e.exited = nil
	}
}

// Notes hands a child's readiness notes to the engine. Notes that come
// before OnNote (a quick READY=1 while the spawn returns) are merged and
// handed over then. Embedded in a Child, it makes it an Announcer.
type Notes struct {
	mu      sync.Mutex
	pending bool
	merged  Note
	noted   func(Note)
}

// OnNote is Announcer's.
func (x *Notes) OnNote(noted func(Note)) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.noted = noted
	if x.pending {
		x.pending = false
		noted(x.merged)
	}
}

// Note reports one readiness note without blocking.
func (x *Notes) Note(n Note) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.noted != nil {
		x.noted(n)
		return
	}
	x.merged.Ready = x.merged.Ready || n.Ready
	if n.Status != "" {
		x.merged.Status = n.Status
	}
	x.pending = true
}
