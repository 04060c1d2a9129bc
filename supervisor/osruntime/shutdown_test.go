package osruntime

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ctlsup/ctlsup/supervisor"
)

// TestOS_ShutdownLeavesTheRestOfAGroupStop: at shutdown, what outlives a
// leader whose stop signal reached its whole group (stopasgroup) has the
// rest of the stop to finish, and the shutdown goes on once it has; what
// outlives a leader signalled alone was asked nothing, and is killed at
// once. Both stops may take an hour: the shutdown must not wait for it.
func TestOS_ShutdownLeavesTheRestOfAGroupStop(t *testing.T) {
	dir := t.TempDir()
	done := filepath.Join(dir, "done")
	tag := fmt.Sprintf("3600.%09d", time.Now().Nanosecond())
	group := helperSpec(dir, "group", []string{"/bin/sh", "-c",
		`sh -c 'trap "sleep 0.3; echo x > ` + done + `; exit 0" TERM; echo ready; while :; do sleep 0.05; done'; echo`}, func(s *supervisor.ProcessSpec) {
		s.StopAsGroup, s.StopWait = true, time.Hour
	})
	alone := helperSpec(dir, "alone", []string{"/bin/sh", "-c", `trap "exit 0" TERM; sleep ` + tag + ` & wait`}, func(s *supervisor.ProcessSpec) {
		s.StopWait = time.Hour
	})
	h := openOS(t, group, alone)
	h.wait("group", inState(supervisor.Running))
	h.wait("alone", inState(supervisor.Running))
	eventually(t, "the group's member ready", func() bool { return strings.Contains(readFile(group.Stdout.Path), "ready") })
	eventually(t, "the alone program and its child", func() bool { return tagged(tag) == 2 })
	closed := make(chan struct{})
	go func() { h.s.Close(context.Background()); close(closed) }()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatalf("the shutdown still waits after 30 s\n%s", h.log)
	}
	if _, err := os.Stat(done); err != nil {
		t.Errorf("the group's member did not finish its stop: %v", err)
	}
	if n := tagged(tag); n != 0 {
		t.Errorf("%d of the alone program's children left", n)
	}
}

// tagged counts live processes whose command line holds tag.
func tagged(tag string) int {
	n := 0
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), tag) {
			var pid int
			fmt.Sscan(e.Name(), &pid)
			if alive(pid) {
				n++
			}
		}
	}
	return n
}
