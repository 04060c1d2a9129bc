package proc

import (
	"syscall"
	"testing"
)

// TestStartTime_IsTheKernels: the start time a spawn records, from the
// clock read around its fork or from /proc when the fork straddled a
// tick, is the one /proc/PID/stat gives, whichever way the child was
// forked (the daemon's shared fork, Go's fork, the helper).
func TestStartTime_IsTheKernels(t *testing.T) {
	s := newSpawner(t)
	shared := func(a Attr) (*Process, error) {
		s.SharedFork.Store(true)
		defer s.SharedFork.Store(false)
		return s.Start(a)
	}
	ways := map[string]func(Attr) (*Process, error){
		"go fork":     Start,
		"helper":      s.Start,
		"shared fork": shared,
	}
	for way, start := range ways {
		pinned := clockStartTimes.Load()
		for range 200 {
			exited := make(chan struct{})
			p, err := start(Attr{Path: "/bin/sleep", Argv: []string{"sleep", "30"}, Umask: -1,
				OnExit: func(int, syscall.WaitStatus, bool) { close(exited) }})
			if err != nil {
				t.Fatal(err)
			}
			st, err := ReadStat(p.Pid)
			if err != nil {
				t.Fatal(err)
			}
			if p.StartTime != st.StartTime {
				t.Errorf("%s: pid %d recorded start time %d, /proc says %d", way, p.Pid, p.StartTime, st.StartTime)
			}
			syscall.Kill(p.Pid, syscall.SIGKILL)
			<-exited
		}
		if clockStartTimes.Load() == pinned {
			t.Errorf("%s: the clock never pinned a start time down", way)
		}
	}
}
