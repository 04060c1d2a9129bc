package supervisor

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkTransition runs the pure transition function through a start,
// its startsecs, a crash and the restart.
func BenchmarkTransition(b *testing.B) {
	spec := testSpec()
	now := time.Unix(1_000_000, 0)
	b.ReportAllocs()
	for b.Loop() {
		m, _, _ := transition(machine{}, event{kind: evStart}, spec, now)
		m, _, _ = transition(m, event{kind: evSpawned}, spec, now)
		m, _, _ = transition(m, event{kind: evTimer}, spec, now.Add(time.Second))
		transition(m, event{kind: evExit, exit: ExitStatus{Code: 1}}, spec, now.Add(time.Minute))
	}
}

// BenchmarkProcesses1000 takes the snapshot status and metrics read: 1000
// processes, sorted, without waking an actor.
func BenchmarkProcesses1000(b *testing.B) {
	var procs []ProcessSpec
	for i := range 1000 {
		s := *testSpec()
		s.Name, s.Group, s.AutoStart = fmt.Sprintf("w%04d", i), "app", false
		procs = append(procs, s)
	}
	s := New(newFakeRuntimeNoBubble(), []GroupSpec{{Name: "app", Processes: procs}})
	s.Logger = quietLogger()
	s.Open(context.Background())
	defer s.Close(context.Background())
	b.ReportAllocs()
	for b.Loop() {
		if len(s.Processes()) != 1000 {
			b.Fatal("wrong count")
		}
	}
}

// newFakeRuntimeNoBubble is the fake runtime outside a synctest bubble.
func newFakeRuntimeNoBubble() *fakeRuntime { return newFakeRuntime() }
