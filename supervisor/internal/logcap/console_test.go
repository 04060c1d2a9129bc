package logcap

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestPrefixed_LongLinesAreBounded: lines go out whole behind their
// prefix, and a program that never writes a newline cannot make the
// daemon hold more than maxPartial of it.
func TestPrefixed_LongLinesAreBounded(t *testing.T) {
	var out bytes.Buffer
	p := &Prefixed{Console: NewConsole(&out), Prefix: func() string { return "web| " }}
	p.Write([]byte("one\ntw"))
	p.Write([]byte("o\n"))
	if out.String() != "web| one\nweb| two\n" {
		t.Errorf("lines: %q", out.String())
	}
	out.Reset()
	chunk := []byte(strings.Repeat("x", 16<<10))
	for range 20 { // 320 KiB, no newline
		p.Write(chunk)
		if len(p.partial) >= maxPartial {
			t.Fatalf("%d bytes held for a line's end", len(p.partial))
		}
	}
	p.Flush()
	if got := strings.Count(out.String(), "x"); got != 20*len(chunk) {
		t.Errorf("%d of %d bytes passed on", got, 20*len(chunk))
	}
}

// blockingWriter takes nothing until released, as a pipe nobody reads.
type blockingWriter struct {
	release chan struct{}
	mu      sync.Mutex
	got     bytes.Buffer
}

func (w *blockingWriter) Write(b []byte) (int, error) {
	<-w.release
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.got.Write(b)
}

// TestQueuedConsole_NeverBlocksTheWriter: the daemon's own stdout, when
// nobody reads it, stalls no program's pump (a pump holds locks every
// other pump needs): lines wait in a bounded backlog, what does not fit is
// dropped and counted, and the rest is written once the reader is back.
func TestQueuedConsole_NeverBlocksTheWriter(t *testing.T) {
	w := &blockingWriter{release: make(chan struct{})}
	c := NewQueuedConsole(w)
	p := &Prefixed{Console: c, Prefix: func() string { return "" }}
	line := []byte(strings.Repeat("x", 1023) + "\n")
	done := make(chan struct{})
	go func() {
		for range 2048 { // 2 MiB, twice the backlog
			p.Write(line)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("writing to a console nobody reads blocked")
	}
	if p.Dropped() == 0 {
		t.Error("nothing dropped beyond the backlog")
	}
	c.Flush(10 * time.Millisecond) // times out: the reader is away
	close(w.release)
	c.Flush(10 * time.Second)
	w.mu.Lock()
	written := int64(w.got.Len())
	w.mu.Unlock()
	if written+p.Dropped() != 2048*int64(len(line)) || written > consoleBacklog+int64(len(line)) {
		t.Errorf("written %d + dropped %d, want the 2 MiB, at most the backlog (and the line being written) written", written, p.Dropped())
	}
}
