package logcap

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ctlsup/ctlsup/supervisor/testhelper"
)

// waitWritten waits until s has written (or dropped) n bytes.
func waitWritten(t *testing.T, s *Sink, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.Written()+s.Dropped() < n {
		if time.Now().After(deadline) {
			t.Fatalf("written %d dropped %d, want %d", s.Written(), s.Dropped(), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// attach captures into a new sink at path and returns the pipe's write end.
// testHub is the hub of the tests that need no hub of their own.
var testHub = NewHub()

func attach(t *testing.T, path string) (*Sink, *Capture, *os.File) {
	t.Helper()
	return attachTo(t, testHub, path)
}

func attachTo(t *testing.T, h *Hub, path string) (*Sink, *Capture, *os.File) {
	t.Helper()
	s := NewSink(path, 0, 0, nil)
	c := &Capture{Stdout: s, Hub: h}
	pp, err := c.Attach()
	w := pp.Stdout
	if err != nil {
		t.Fatal(err)
	}
	return s, c, w
}

// TestDrain_TruncatedUnderWriter: after `> file` or logrotate's
// copytruncate the log goes on at the file's new end, with no hole of
// zeros where the old bytes were.
func TestDrain_TruncatedUnderWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.log")
	s, c, w := attach(t, path)
	defer c.Close()
	w.Write(bytes.Repeat([]byte("a"), 5000))
	waitWritten(t, s, 5000)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("after\n"))
	w.Close()
	waitWritten(t, s, 5006)
	if b, _ := os.ReadFile(path); string(b) != "after\n" {
		t.Errorf("log after truncation holds %d bytes %q…, want %q", len(b), b[:min(len(b), 20)], "after\n")
	}
}

// TestDrain_IntoDevice: a log path splice cannot write (a device) is
// copied instead; /dev/full then drops everything without blocking.
func TestDrain_IntoDevice(t *testing.T) {
	s, c, w := attach(t, "/dev/full")
	defer c.Close()
	data := lines(2 << 20)
	done := make(chan struct{})
	go func() { w.Write(data); w.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the writer was blocked by a full device")
	}
	waitWritten(t, s, int64(len(data)))
	if s.Written() != 0 || s.Dropped() != int64(len(data)) {
		t.Errorf("written %d dropped %d, want all %d dropped", s.Written(), s.Dropped(), len(data))
	}
}

// TestDrain_BatchesSmallWrites: 20,000 one-line writes reach the file whole
// and in order, in far fewer drains than writes, and a lone line after a
// pause is written at once.
func TestDrain_BatchesSmallWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.log")
	s, c, w := attach(t, path)
	defer c.Close()
	var want bytes.Buffer
	line := lines(100)
	for range 20000 { // a write every 20 µs, as a busy unbuffered app makes them
		for t := time.Now(); time.Since(t) < 20*time.Microsecond; {
		}
		w.Write(line)
		want.Write(line)
	}
	waitWritten(t, s, int64(want.Len()))
	t.Logf("%d drains", s.drains.Load())
	if drains := s.drains.Load(); drains > 2000 {
		t.Errorf("%d drains for 20000 writes: small writes are not batched", drains)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, want.Bytes()) {
		t.Fatalf("log holds %d bytes, want the %d written, in order", len(b), want.Len())
	}
	// A lone line after a pause still reaches the log: the batch ended and
	// the pipe was armed again. (How soon is ctlsup-bench's to measure.)
	time.Sleep(50 * time.Millisecond)
	w.Write([]byte("late\n"))
	waitWritten(t, s, int64(want.Len()+5))
	w.Close()
}

// TestDrain_SharedFile: two streams logging into one file, as supervisord
// allows, share its sink: every line of both arrives once, none is
// overwritten, and the file stays open until both have closed it.
func TestDrain_SharedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.log")
	a := &Capture{Stdout: testHub.OpenSink(path, 0, 0, nil), Hub: testHub}
	b := &Capture{Stdout: testHub.OpenSink(path+"/../shared.log", 0, 0, nil), Hub: testHub}
	if a.Stdout != b.Stdout {
		t.Fatal("two captures of one path got two sinks")
	}
	pa, err := a.Attach()
	wa := pa.Stdout
	if err != nil {
		t.Fatal(err)
	}
	pb, err := b.Attach()
	wb := pb.Stdout
	if err != nil {
		t.Fatal(err)
	}
	const n = 5000
	done := make(chan struct{})
	for _, w := range []*os.File{wa, wb} {
		go func() {
			for i := range n {
				fmt.Fprintf(w, "%s %06d\n", w.Name(), i)
			}
			w.Close()
			done <- struct{}{}
		}()
	}
	<-done
	<-done
	s := a.Stdout.(*Sink)
	waitWritten(t, s, 2*n*10)
	a.Close()
	if _, err := s.Write([]byte("")); err != nil || s.closed {
		t.Fatal("the sink closed while the other capture still uses it")
	}
	b.Close()
	got, _ := os.ReadFile(path)
	if lines := bytes.Count(got, []byte("\n")); lines != 2*n || len(got) != 2*n*10 {
		t.Errorf("%d lines, %d bytes; want %d lines of 10 bytes", lines, len(got), 2*n)
	}
	if !s.closed {
		t.Error("the sink stayed open after both captures closed it")
	}
}

// TestDrain_CloseTakesLastLines: a program's last lines, written just
// before it exited, reach the log although the pipe's batch is waiting.
func TestDrain_CloseTakesLastLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.log")
	_, c, w := attach(t, path)
	for i := range 50 { // a batch under way, waiting between drains
		fmt.Fprintf(w, "line %d\n", i)
		time.Sleep(200 * time.Microsecond)
	}
	w.Write([]byte("last words\n"))
	w.Close()
	c.Close()
	if b, _ := os.ReadFile(path); !bytes.HasSuffix(b, []byte("line 49\nlast words\n")) {
		t.Errorf("log ends %q, want the last line", b[max(0, len(b)-40):])
	}
}

// TestDrain_CloseWithChattyGrandchild: Close returns at once although a
// writer that outlived the program keeps the pipe's batch going.
func TestDrain_CloseWithChattyGrandchild(t *testing.T) {
	_, c, w := attach(t, filepath.Join(t.TempDir(), "p.log"))
	stop := make(chan struct{})
	defer func() { close(stop); w.Close() }()
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
				w.Write([]byte("still here\n"))
				time.Sleep(100 * time.Microsecond)
			}
		}
	}()
	time.Sleep(100 * time.Millisecond)
	closed := make(chan struct{})
	go func() { c.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for a writer that never stops")
	}
}

// TestDrain_FirstWarningCountsTheLoss: a log that cannot be opened (its
// path is a directory) drops what comes, and the warning, the only one
// for a minute, says how much it has dropped, not 0.
func TestDrain_FirstWarningCountsTheLoss(t *testing.T) {
	var log testhelper.SyncBuffer
	s := NewSink(t.TempDir(), 0, 0, slog.New(slog.NewTextHandler(&log, nil)))
	c := &Capture{Stdout: s, Hub: testHub}
	pp, err := c.Attach()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pp.Stdout.Write([]byte("lost line\n"))
	pp.Stdout.Close()
	waitWritten(t, s, 10)
	// The loss is counted before the warning is logged.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(log.String(), "dropping output") && time.Now().Before(deadline); {
		time.Sleep(2 * time.Millisecond)
	}
	if got := log.String(); !strings.Contains(got, "dropping output") || !strings.Contains(got, "dropped_bytes=10") {
		t.Errorf("warning %q, want it to count the 10 bytes dropped", got)
	}
	if s.Dropped() != 10 {
		t.Errorf("dropped %d, want 10", s.Dropped())
	}
}

// TestDrain_ClosesTheLogOnceNothingWrites: once every pipe writing into a
// log is at EOF (the program stopped, and what it left), the log file is
// closed, as supervisord closes a stopped program's: deleting it frees
// the disk. The next output opens it again.
func TestDrain_ClosesTheLogOnceNothingWrites(t *testing.T) {
	for _, wrapped := range []bool{false, true} {
		t.Run(fmt.Sprint("wrapped=", wrapped), func(t *testing.T) { testClosesTheLog(t, wrapped) })
	}
}

// wrapper stands for a stream that hands the engine the bytes too (an
// event listener's, PROCESS_LOG events') before its log file.
type wrapper struct{ Stream }

func (w wrapper) Unwrap() Stream { return w.Stream }

func testClosesTheLog(t *testing.T, wrapped bool) {
	path := filepath.Join(t.TempDir(), "p.log")
	s := NewSink(path, 0, 0, nil)
	c := &Capture{Stdout: s, Hub: testHub}
	if wrapped {
		c.Stdout = wrapper{s}
	}
	pp, err := c.Attach()
	if err != nil {
		t.Fatal(err)
	}
	w := pp.Stdout
	defer c.Close()
	w.Write([]byte("first\n"))
	waitWritten(t, s, 6)
	w.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		open := s.f != nil
		s.mu.Unlock()
		if !open {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the log is still open after its only pipe reached EOF")
		}
		time.Sleep(5 * time.Millisecond)
	}
	pp, err = c.Attach()
	if err != nil {
		t.Fatal(err)
	}
	pp.Stdout.Write([]byte("second\n"))
	pp.Stdout.Close()
	waitWritten(t, s, 13)
	if b, _ := os.ReadFile(path); string(b) != "first\nsecond\n" {
		t.Errorf("log %q, want both spawns' lines", b)
	}
}
