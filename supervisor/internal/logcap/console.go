package logcap

import (
	"bytes"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Console is a shared terminal or pipe that several processes write to,
// line by line, each line behind its process's prefix.
type Console struct {
	mu sync.Mutex
	w  io.Writer

	// A queued console's lines wait in a backlog that a goroutine writes,
	// so that a console nobody reads (a full pipe) stalls no program's
	// pump and no lock of the daemon's; beyond consoleBacklog bytes, lines
	// are dropped and counted.
	queued  bool
	backlog [][]byte
	size    int
	writing bool          // the goroutine runs
	drained chan struct{} // closed when the backlog is written; made by Flush
}

// consoleBacklog bounds what a queued console holds for a slow reader.
const consoleBacklog = 1 << 20

// NewConsole returns a console writing to w as lines come (a terminal
// for a foreground run).
func NewConsole(w io.Writer) *Console { return &Console{w: w} }

// NewQueuedConsole returns a console whose writes to w never block the
// writer: the daemon's own stdout or stderr, which may be a pipe that
// stops being read.
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
	if c.size+n > consoleBacklog {
		return false
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

// writeBacklog writes the backlog a line at a time (a pipe keeps a write
// of up to 4 KiB whole among other writers') until it is empty.
func (c *Console) writeBacklog() {
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
		line := c.backlog[0]
		c.backlog[0] = nil
		c.backlog = c.backlog[1:]
		c.size -= len(line)
		c.mu.Unlock()
		c.w.Write(line) // an error (EPIPE) drops the line: nothing else to do with it
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
// to maxPartial, when what it has so far goes out as it is.
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
	if len(p.partial) >= maxPartial {
		p.emit(p.partial)
		p.partial = nil
	}
	if len(p.partial) == 0 {
		p.partial = nil // not the whole of a long line's buffer kept behind
	}
	p.written.Add(int64(len(b)))
	return len(b), nil
}

func (p *Prefixed) emit(line []byte) {
	if !p.Console.put(p.Prefix(), line) {
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
