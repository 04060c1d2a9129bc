package logcap

import "sync"

// Hub is one runtime's log capture: the poller that watches its pipes, the
// gate that quiesces its drains, and its sinks by path. Two runtimes in one
// process share none of it. (Rotators are the exception, by file: see
// rotator.)
type Hub struct {
	poller poller
	// gate lets Quiesce wait until no drain holds bytes in the daemon's
	// memory: drains take it shared.
	gate sync.RWMutex
	// sinks are the open sinks by path. Sinks write at their own offset
	// (splice refuses O_APPEND), so two streams logging into one file,
	// which supervisord allows, must share one sink rather than overwrite
	// each other.
	mu    sync.Mutex
	sinks map[string]*Sink
}

// NewHub returns a hub; its poller starts with the first pipe.
func NewHub() *Hub {
	h := &Hub{sinks: map[string]*Sink{}}
	h.poller.epfd.Store(-1)
	return h
}

// Quiesce waits until no pipe is being drained and keeps it so until the
// returned function is called: bytes are then either in a pipe or in a log
// file, never between the two, and the daemon may exec or exit without
// losing any. A line a console stream holds unfinished (Prefixed) goes
// out as it is: the next image reads the pipe on from its next byte.
func (h *Hub) Quiesce() (resume func()) {
	h.gate.Lock()
	p := &h.poller
	p.mu.Lock()
	for _, r := range p.pipes {
		if f, ok := r.s.(interface{ Flush() }); ok {
			f.Flush()
		}
	}
	p.mu.Unlock()
	return h.gate.Unlock
}

// Prepare starts watching for output before any pipe is given: a daemon
// that then takes back every pipe the holder kept may have no descriptor
// left for the poller's own.
func (h *Hub) Prepare() error { return h.poller.ensureStarted() }

// Close stops the poller once the runtime's processes are gone: what is
// left in a pipe is drained one last time into its log, and the pipe is
// closed.
func (h *Hub) Close() error {
	p := &h.poller
	if p.closed.Swap(true) {
		return nil
	}
	p.startMu.Lock() // a poller never started stays so
	started := p.started
	p.startMu.Unlock()
	p.mu.Lock()
	left := make([]*reader, 0, len(p.pipes))
	for _, r := range p.pipes {
		left = append(left, r)
	}
	p.mu.Unlock()
	for _, r := range left {
		r.close()
	}
	if !started {
		return nil
	}
	return p.file.Close()
}
