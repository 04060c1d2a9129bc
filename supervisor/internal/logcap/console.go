package logcap

import (
	"bytes"
	"io"
	"sync"
	"sync/atomic"
)

// Console is a shared terminal or pipe that several processes write to,
// line by line, each line behind its process's prefix.
type Console struct {
	mu sync.Mutex
	w  io.Writer
}

// NewConsole returns a console writing to w.
func NewConsole(w io.Writer) *Console { return &Console{w: w} }

// Prefixed is an output stream shown on a console: every line goes out
// whole, behind the prefix, so lines of different processes never mix.
type Prefixed struct {
	Console *Console
	Prefix  func() string // called per line, so it can carry a timestamp

	mu      sync.Mutex
	partial []byte
	written atomic.Int64
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
	p.Console.mu.Lock()
	io.WriteString(p.Console.w, p.Prefix())
	p.Console.w.Write(line)
	p.Console.mu.Unlock()
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
func (p *Prefixed) Dropped() int64   { return 0 }
func (p *Prefixed) Rotations() int64 { return 0 }
