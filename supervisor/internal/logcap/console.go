package logcap

import (
	"bytes"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Console is a shared terminal or pipe that several processes write to,
// line by line, each line behind its process's prefix.
type Console struct {
	// Log, if set, is told (at most once a minute) that lines are dropped.
	Log *slog.Logger

	mu sync.Mutex
	w  io.Writer

	// A queued console's lines wait in a backlog that a goroutine writes,
	// so that a console nobody reads (a full pipe) stalls no program's
	// pump and no lock of the daemon's for long: a line that does not fit
	// waits for room (a reader that keeps up with a burst frees it in
	// microseconds), but lines wait consoleWait in all per second at
	// most; beyond, they are dropped and counted until the writer has
	// emptied half the backlog. A reader slower than a program holds a
	// pump (and an upgrade waiting for that pump) up for half a second at
	// a time at most.
	queued    bool
	backlog   [][]byte
	size      int
	writing   bool          // the goroutine runs
	drained   chan struct{} // closed when the backlog is written; made by Flush
	stalled   bool          // the waits used their share: drop until the backlog is half empty
	waited    time.Duration // waiting for room since window
	window    time.Time
	counted   time.Time // the end of the wait last counted in waited
	warnAfter time.Time
}

const (
	// consoleBacklog bounds what a queued console holds for a slow reader.
	consoleBacklog = 1 << 20
	// consoleWait is how long lines may wait for room in a full backlog
	// in a second. Their callers hold the pipe's reader (and the hub's
	// gate, which an upgrade waits for).
	consoleWait = 500 * time.Millisecond
	// pipeBuf is what a pipe keeps whole among other writers' writes
	// (PIPE_BUF): lines are written together up to it.
	pipeBuf = 4096
)

// NewConsole returns a console writing to w as lines come (a terminal
// for a foreground run).
func NewConsole(w io.Writer) *Console { return &Console{w: w} }

// NewQueuedConsole returns a console whose writes to w never block the
// writer for long: the daemon's own stdout or stderr, which may be a pipe
// that stops being read.
func NewQueuedConsole(w io.Writer) *Console { return &Console{w: w, queued: true} }

// put writes (or queues) one line behind its prefix; false means it was
// dropped.
func (c *Console) put(prefix string, line []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.queued {
		io.WriteString(c.w, prefix)
		c.w.Write(line)
		return true
	}
	n := len(prefix) + len(line)
	var mine time.Duration // this line's wait
	for c.stalled || c.size > 0 && c.size+n > consoleBacklog {
		now := time.Now()
		if now.Sub(c.window) >= time.Second {
			c.window, c.waited = now, 0
		}
		if c.stalled || c.waited >= consoleWait || mine >= consoleWait {
			c.stalled = true
			if c.Log != nil && now.After(c.warnAfter) {
				c.warnAfter = now.Add(time.Minute)
				// Not under the lock: the daemon's log may be this stalled pipe.
				go c.Log.Warn("the daemon's standard output or error is not being read: dropping programs' lines logged there")
			}
			return false
		}
		c.mu.Unlock()
		time.Sleep(time.Millisecond)
		c.mu.Lock()
		// Wall time spent waiting, counted once however many pumps wait.
		from, end := now, time.Now()
		if c.counted.After(from) {
			from = c.counted
		}
		if end.After(from) {
			c.waited += end.Sub(from)
			c.counted = end
		}
		mine += end.Sub(now)
	}
	b := make([]byte, 0, n)
	c.backlog = append(c.backlog, append(append(b, prefix...), line...))
	c.size += n
	if !c.writing {
		c.writing = true
		go c.writeBacklog()
	}
	return true
}

// writeBacklog writes the backlog until it is empty, whole lines
// together up to pipeBuf bytes a write (a longer line alone).
func (c *Console) writeBacklog() {
	var buf []byte
	for {
		c.mu.Lock()
		if len(c.backlog) == 0 {
			c.writing = false
			if c.drained != nil {
				close(c.drained)
				c.drained = nil
			}
			c.mu.Unlock()
			return
		}
		buf = buf[:0]
		for len(c.backlog) > 0 && (len(buf) == 0 || len(buf)+len(c.backlog[0]) <= pipeBuf) {
			line := c.backlog[0]
			c.backlog[0] = nil
			c.backlog = c.backlog[1:]
			c.size -= len(line)
			buf = append(buf, line...)
		}
		c.mu.Unlock()
		c.w.Write(buf) // an error (EPIPE) drops the lines: nothing else to do with them
		c.mu.Lock()
		c.stalled = c.stalled && c.size > consoleBacklog/2
		c.mu.Unlock()
	}
}

// Flush waits up to timeout for a queued console's backlog to be written.
func (c *Console) Flush(timeout time.Duration) {
	c.mu.Lock()
	if !c.writing {
		c.mu.Unlock()
		return
	}
	if c.drained == nil {
		c.drained = make(chan struct{})
	}
	done := c.drained
	c.mu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

// Prefixed is an output stream shown on a console: every line goes out
// whole, behind the prefix, so lines of different processes never mix.
type Prefixed struct {
	Console *Console
	Prefix  func() string // called per line, so it can carry a timestamp

	mu      sync.Mutex
	partial []byte
	written atomic.Int64
	dropped atomic.Int64 // lines a full queued console refused
}

// maxPartial bounds what waits for a line's end: a program that writes
// without newlines must not grow the daemon's memory.
const maxPartial = 64 << 10

// Write prints every complete line; a partial one waits for its end, up
// to maxPartial, when what it has so far goes out as a line of its own,
// and the rest follows behind a prefix of its own: a terminal never
// shows another process's line inside it.
func (p *Prefixed) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.partial = append(p.partial, b...)
	for {
		i := bytes.IndexByte(p.partial, '\n')
		if i < 0 {
			break
		}
		p.emit(p.partial[:i+1])
		p.partial = p.partial[i+1:]
	}
	for len(p.partial) >= maxPartial {
		// A full-capacity slice: the newline goes into a copy, not over
		// the next piece's first byte.
		p.emit(append(p.partial[:maxPartial:maxPartial], '\n'))
		p.partial = p.partial[maxPartial:]
	}
	if len(p.partial) == 0 {
		p.partial = nil // not the whole of a long line's buffer kept behind
	}
	return len(b), nil
}

func (p *Prefixed) emit(line []byte) {
	if p.Console.put(p.Prefix(), line) {
		p.written.Add(int64(len(line)))
	} else {
		p.dropped.Add(int64(len(line)))
	}
}

// Flush prints a last line that had no newline.
func (p *Prefixed) Flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.partial) > 0 {
		p.emit(append(p.partial, '\n'))
		p.partial = nil
	}
}

func (p *Prefixed) Reopen() error    { return nil }
func (p *Prefixed) Clear() error     { return nil }
func (p *Prefixed) Close() error     { p.Flush(); return nil }
func (p *Prefixed) Written() int64   { return p.written.Load() }
func (p *Prefixed) Dropped() int64   { return p.dropped.Load() }
func (p *Prefixed) Rotations() int64 { return 0 }
