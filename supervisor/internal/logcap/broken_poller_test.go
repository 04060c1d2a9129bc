package logcap

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPoller_FailureDegrades: when epoll fails, capture goes on (each pipe
// drained on a timer) instead of taking the daemon down. It breaks its
// hub's poller for good, so it has a hub of its own.
func TestPoller_FailureDegrades(t *testing.T) {
	dir := t.TempDir()
	h := NewHub()
	s, c, w := attachTo(t, h, filepath.Join(dir, "before.log"))
	defer c.Close()
	h.poller.fail(errors.New("simulated epoll failure"))
	w.Write([]byte("after the failure\n"))
	waitWritten(t, s, int64(len("after the failure\n")))

	s2, c2, w2 := attachTo(t, h, filepath.Join(dir, "new.log"))
	defer c2.Close()
	w2.Write([]byte("a pipe made afterwards\n"))
	w2.Close()
	waitWritten(t, s2, int64(len("a pipe made afterwards\n")))
	if b, _ := os.ReadFile(filepath.Join(dir, "new.log")); !strings.Contains(string(b), "afterwards") {
		t.Errorf("new.log: %q", b)
	}
}
