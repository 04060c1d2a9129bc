package proc

import (
	"syscall"
	"testing"
)

// TestStartTime_IsTheKernels: the start time a spawn records, from the
// clock read around its fork or from /proc when the fork straddled a
// tick, is the one /proc/PID/stat gives, whichever way the child was
// forked (Go's fork, the helper, the daemon's shared fork).
func TestStartTime_IsTheKernels(t *testing.T) {
	s := newSharedSpawner(t)
	for _, way := range []struct {
		name   string
		shared bool
		start  func(Attr) (*Process, error)
		forks  func() int
	}{
		{"go fork", false, Start, func() int { return 0 }},
		{"helper", false, s.Start, s.Forks},
		{"shared fork", true, s.Start, s.SharedForks},
	} {
		s.SharedFork.Store(way.shared)
		pinned, forks := clockStartTimes.Load(), way.forks()
		const n = 200
		for range n {
			exited := make(chan struct{})
			p, err := way.start(Attr{Path: "/bin/sleep", Argv: []string{"sleep", "30"}, Umask: -1,
				OnExit: func(int, syscall.WaitStatus, bool) { close(exited) }})
			if err != nil {
				t.Fatal(err)
			}
			st, err := ReadStat(p.Pid)
			if err != nil {
				t.Fatal(err)
			}
			if p.StartTime != st.StartTime {
				t.Errorf("%s: pid %d recorded start time %d, /proc says %d", way.name, p.Pid, p.StartTime, st.StartTime)
			}
			syscall.Kill(p.Pid, syscall.SIGKILL)
			<-exited
		}
		if way.name != "go fork" && way.forks() != forks+n {
			t.Errorf("%s forked %d of the %d", way.name, way.forks()-forks, n)
		}
		if clockStartTimes.Load() == pinned {
			t.Errorf("%s: the clock never pinned a start time down", way.name)
		}
	}
}
