package supervisor

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ctlsup/ctlsup/supervisor/testhelper"
)

// TestSupervisor_SlowStopsAreReported: a stop is reported as it begins
// and then every 2 s, as supervisord reports it, and a shutdown says in
// its first second, then every 3 s, what has not stopped yet, and
// nothing else.
func TestSupervisor_SlowStopsAreReported(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFakeRuntime()
		rt.set("slow", fakeBehavior{ignoreTerm: true})
		log := &testhelper.SyncBuffer{}
		s := New(rt, []GroupSpec{
			{Name: "quick", Processes: []ProcessSpec{*named("quick", func(s *ProcessSpec) { s.StartSecs = 0 })}},
			{Name: "slow", Processes: []ProcessSpec{*named("slow", func(s *ProcessSpec) { s.StartSecs = 0; s.StopWait = 7 * time.Second })}},
		})
		s.Logger = slog.New(slog.NewTextHandler(log, nil))
		if err := s.Open(context.Background()); err != nil {
			t.Fatal(err)
		}
		<-rt.spawns
		<-rt.spawns
		waitState(t, s, "slow", Running)
		s.stopOne(context.Background(), "quick", WaitForDone)
		go s.stopOne(context.Background(), "slow", WaitForDone)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		read := log.String
		if n := strings.Count(read(), `msg="waiting for slow to stop"`); n != 3 {
			t.Errorf("after 5 s of a stop, %d reports, want 3 (at its start, then every 2 s):\n%s", n, read())
		}
		if n := strings.Count(read(), `msg="waiting for quick to stop"`); n != 1 {
			t.Errorf("a quick stop was reported %d times, want once, at its start:\n%s", n, read())
		}
		waitState(t, s, "slow", Stopped)

		// A shutdown with one process that takes 7 s.
		s.Start(context.Background(), Process("slow"), WaitForDone)
		before := strings.Count(read(), "to die")
		stopsBefore := strings.Count(read(), "to stop")
		go s.Close(context.Background())
		time.Sleep(time.Second)
		synctest.Wait()
		if got := strings.Count(read(), `msg="waiting for slow to die"`) - before; got != 1 {
			t.Errorf("at the shutdown's start, %d reports of what has to die, want 1:\n%s", got, read())
		}
		time.Sleep(6 * time.Second)
		synctest.Wait()
		if got := strings.Count(read(), `msg="waiting for slow to die"`) - before; got != 3 {
			t.Errorf("after the 7 s shutdown, %d reports, want 3 (in its first second, then every 3 s):\n%s", got, read())
		}
		if got := strings.Count(read(), "to stop") - stopsBefore; got != 0 {
			t.Errorf("a shutdown wrote %d \"to stop\" reports; supervisord writes only \"to die\":\n%s", got, read())
		}
	})
}
