package logcap

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctlsup/ctlsup/supervisor/testhelper"
)

// A pipe given to a hub that cannot make its epoll descriptor (out of
// descriptors, as a successor daemon that took back every pipe the holder
// kept) is drained on a timer, not given up: given up, its reader was
// closed and the program's next write an EPIPE. The failure is not the
// poller's fate either: a later pipe gets epoll.
func TestPoller_NoDescriptorForEpollDrainsOnATimer(t *testing.T) {
	h := NewHub()
	defer h.Close()
	dir := t.TempDir()
	s := NewSink(filepath.Join(dir, "p.log"), 0, 0, nil)
	defer s.Close()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	w := os.NewFile(uintptr(p[1]), "w")
	defer w.Close()

	_, release := testhelper.ExhaustDescriptors(t, 16)
	if err := h.Prepare(); err == nil {
		t.Fatal("an epoll descriptor was made with none left")
	}
	c := &Capture{Stdout: s, Hub: h}
	if err := c.Adopt(p[0], StreamStdout); err != nil {
		t.Fatalf("a pipe was given up: %v", err)
	}
	release()
	w.Write([]byte("still read\n"))
	waitWritten(t, s, int64(len("still read\n")))
	if b, _ := os.ReadFile(filepath.Join(dir, "p.log")); !strings.Contains(string(b), "still read") {
		t.Errorf("log: %q", b)
	}
	// Handed to epoll once the poller can start: no timer for its life.
	onTimer := func() bool {
		h.poller.mu.Lock()
		defer h.poller.mu.Unlock()
		r := h.poller.pipes[int32(p[0])]
		return r != nil && r.polling.Load()
	}
	for deadline := time.Now().Add(5 * time.Second); onTimer(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the pipe is still drained on a timer")
		}
	}
	w.Write([]byte("through epoll\n"))
	waitWritten(t, s, int64(len("still read\nthrough epoll\n")))
}
