package osruntime

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ctlsup/ctlsup/supervisor"
)

// TestOS_ShutdownLeavesWhatAStopAskedTheRestOfIt: at shutdown, what
// outlives a stopped main process has the rest of the stop to finish,
// whether the stop signal went to the whole group (stopasgroup) or the
// main process alone (a wrapper script that dies of it, its server then
// sent the stop signal as its leftover); the shutdown goes on once they
// have, and their last lines reach the log. Both stops may take an hour:
// the shutdown must not wait for it.
func TestOS_ShutdownLeavesWhatAStopAskedTheRestOfIt(t *testing.T) {
	dir := t.TempDir()
	server := func(name string) []string {
		return []string{"/bin/sh", "-c", `sh -c 'trap "sleep 0.3; echo finished; echo x > ` + filepath.Join(dir, name+".done") +
			`; exit 0" TERM; echo ready; while :; do sleep 0.05; done'; echo`}
	}
	group := helperSpec(dir, "group", server("group"), func(s *supervisor.ProcessSpec) {
		s.StopAsGroup, s.StopWait = true, time.Hour
	})
	alone := helperSpec(dir, "alone", server("alone"), func(s *supervisor.ProcessSpec) {
		s.StopWait = time.Hour
	})
	h := openOS(t, group, alone)
	for _, s := range []*supervisor.ProcessSpec{group, alone} {
		h.wait(s.Name, inState(supervisor.Running))
		eventually(t, s.Name+"'s server ready", func() bool { return strings.Contains(readFile(s.Stdout.Path), "ready") })
	}
	closed := make(chan struct{})
	go func() { h.s.Close(context.Background()); close(closed) }()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatalf("the shutdown still waits after 30 s\n%s", h.log)
	}
	for _, s := range []*supervisor.ProcessSpec{group, alone} {
		if _, err := os.Stat(filepath.Join(dir, s.Name+".done")); err != nil {
			t.Errorf("%s's server did not finish its stop: %v\n%s", s.Name, err, h.log)
		}
		// Its output, after its program's capture was closed, is kept.
		if log := readFile(s.Stdout.Path); !strings.Contains(log, "finished") {
			t.Errorf("%s's log lacks the server's last line:\n%s", s.Name, log)
		}
	}
}
