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
	p.Write([]byte(strings.Repeat("x", 200<<10))) // one read of more than a piece
	p.Flush()
	if got := strings.Count(out.String(), "x"); got != 20*len(chunk)+200<<10 {
		t.Errorf("%d of %d bytes passed on", got, 20*len(chunk)+200<<10)
	}
	// Each piece of the long line is a line of its own behind the
	// prefix: another process's line cannot land inside one.
	for i, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		if !strings.HasPrefix(line, "web| ") || strings.Count(line, "web| ") != 1 || len(line) > len("web| ")+maxPartial {
			t.Fatalf("piece %d of the long line (%d bytes): %.40q...", i, len(line), line)
		}
	}
}

// blockingWriter takes nothing until released, as a pipe nobody reads.
type blockingWriter struct {
	release chan struct{}
	mu      sync.Mutex
	got     bytes.Buffer
	onWrite func(n int) // called under mu
}

func (w *blockingWriter) Write(b []byte) (int, error) {
	<-w.release
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.onWrite != nil {
		w.onWrite(len(b))
	}
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
	if written+p.Dropped() != 2048*int64(len(line)) || written > consoleBacklog+int64(max(pipeBuf, len(line))) {
		t.Errorf("written %d + dropped %d, want the 2 MiB, at most the backlog (and the lines being written) written", written, p.Dropped())
	}
	if p.Written() != written {
		t.Errorf("%d bytes counted as written, %d were", p.Written(), written)
	}
}

// slowWriter takes its time over each write, as a reader of the daemon's
// stdout that is slower than a program's burst, and counts the writes.
type slowWriter struct {
	mu     sync.Mutex
	got    bytes.Buffer
	writes int
	pause  time.Duration
}

func (w *slowWriter) Write(b []byte) (int, error) {
	time.Sleep(w.pause)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes++
	return w.got.Write(b)
}

// TestQueuedConsole_BurstReachesAReaderThatKeepsUp: a burst larger than
// the backlog (a traceback flood, a start-up burst) reaches a reader that
// reads as it comes (cat, docker's log reader), if not as fast as the
// program writes: nothing is dropped, and every line comes out whole.
func TestQueuedConsole_BurstReachesAReaderThatKeepsUp(t *testing.T) {
	w := &slowWriter{}
	c := NewQueuedConsole(w)
	p := &Prefixed{Console: c, Prefix: func() string { return "web | " }}
	line := []byte("0123456789abcdefghijklmnopqrstuvwxyz\n")
	const lines = 4 * consoleBacklog / 37
	for range lines {
		p.Write(line)
	}
	c.Flush(30 * time.Second)
	w.mu.Lock()
	defer w.mu.Unlock()
	if p.Dropped() != 0 || w.got.Len() != lines*(len(line)+len("web | ")) {
		t.Errorf("%d bytes dropped, %d written; want all %d lines", p.Dropped(), w.got.Len(), lines)
	}
	for _, l := range strings.SplitAfter(w.got.String(), "\n") {
		if l != "" && l != "web | "+string(line) {
			t.Fatalf("a line came out cut or mixed: %q", l)
		}
	}
}

// TestQueuedConsole_LinesGoOutTogether: lines waiting in the backlog go
// out together, whole, up to a pipe's atomic write (PIPE_BUF) at a time,
// not a write(2) each.
func TestQueuedConsole_LinesGoOutTogether(t *testing.T) {
	w := &blockingWriter{release: make(chan struct{})}
	c := NewQueuedConsole(w)
	p := &Prefixed{Console: c, Prefix: func() string { return "" }}
	line := []byte(strings.Repeat("x", 39) + "\n")
	const lines = 8000 // 320 KB: the backlog holds them while the reader waits
	for range lines {
		p.Write(line)
	}
	var writes []int
	w.onWrite = func(n int) { writes = append(writes, n) }
	close(w.release)
	c.Flush(30 * time.Second)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.got.Len() != lines*len(line) {
		t.Fatalf("%d bytes written, want %d", w.got.Len(), lines*len(line))
	}
	for i, n := range writes {
		// The first write may have been taken before the burst came, the last is what remains.
		if n > pipeBuf || n%len(line) != 0 || i > 0 && i < len(writes)-1 && n < pipeBuf-len(line) {
			t.Fatalf("write %d of %d bytes: want whole lines filling up to %d", i, n, pipeBuf)
		}
	}
}

// TestQueuedConsole_AReaderFarTooSlowDropsLines: a reader that reads, but
// far more slowly than a program writes (a few hundred KiB a second), is
// not waited for line after line: the waits take their share of the time,
// then lines beyond the backlog are dropped and counted, so the pump (and
// an upgrade waiting for it) is not held to the reader's pace.
func TestQueuedConsole_AReaderFarTooSlowDropsLines(t *testing.T) {
	w := &slowWriter{pause: 20 * time.Millisecond}
	c := NewQueuedConsole(w)
	p := &Prefixed{Console: c, Prefix: func() string { return "" }}
	line := []byte(strings.Repeat("x", 99) + "\n")
	for range 4 * consoleBacklog / 100 {
		p.Write(line)
	}
	if p.Dropped() == 0 {
		t.Error("4 MiB went to a reader of 200 KiB/s with nothing dropped: the writer was held to its pace")
	}
	if p.Written()+p.Dropped() != int64(4*consoleBacklog/100*len(line)) {
		t.Errorf("written %d + dropped %d, want every byte counted once", p.Written(), p.Dropped())
	}
}
