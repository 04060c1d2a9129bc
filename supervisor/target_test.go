package supervisor

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"
)

// TestSupervisor_Targets: a group, a process and everything, unknown
// names as errors of the whole call, results in priority order.
func TestSupervisor_Targets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFakeRuntime()
		groups := []GroupSpec{{Name: "turkey"}, {Name: "solo"}}
		for _, n := range []string{"gunicorn", "beat"} {
			sp := *testSpec()
			sp.Name, sp.Group, sp.AutoStart = n, "turkey", false
			groups[0].Processes = append(groups[0].Processes, sp)
		}
		solo := *testSpec()
		solo.Name, solo.Group, solo.AutoStart = "solo", "solo", false
		groups[1].Processes = []ProcessSpec{solo}
		s := New(rt, groups)
		s.Logger = quietLogger()
		s.Open(context.Background())
		defer s.Close(context.Background())
		ctx := context.Background()
		res, err := s.Start(ctx, Group("turkey"), WaitForDone)
		if err != nil || fmt.Sprintf("%d %s %s", len(res), res[0].Name, res[1].Name) != "2 gunicorn beat" {
			t.Errorf("start turkey:* = %v, %v", res, err)
		}
		if res, err := s.Start(ctx, Process("solo"), WaitForDone); err != nil || len(res) != 1 || res[0].Err != nil {
			t.Errorf("start solo = %v, %v", res, err)
		}
		if res, _ := s.Start(ctx, Process("turkey:beat"), WaitForDone); !errors.Is(res[0].Err, ErrAlreadyStarted) {
			t.Errorf("start of a running process: %v", res)
		}
		if _, err := s.Start(ctx, Group("nosuch"), WaitForDone); !errors.Is(err, ErrBadName) {
			t.Errorf("unknown group: %v", err)
		}
		if _, err := s.Stop(ctx, Process("turkey:nosuch"), WaitForDone); !errors.Is(err, ErrBadName) {
			t.Errorf("unknown process: %v", err)
		}
		if res, err := s.Stop(ctx, All(), WaitForDone); err != nil || len(res) != 3 {
			t.Errorf("stop all = %v, %v", res, err)
		}
		for _, p := range s.Processes() {
			if p.State != Stopped {
				t.Errorf("%s is %s after stop all", p.FullName(), p.State)
			}
		}
		if err := Err(s.Restart(ctx, Process("solo"), WaitForDone)); err != nil {
			t.Errorf("restart solo: %v", err)
		}
		if res, err := s.Restart(ctx, Group("turkey"), WaitForDone); Err(res, err) != nil || len(res) != 2 {
			t.Errorf("restart turkey:* = %v, %v", res, err)
		}
		if err := Err(s.Start(ctx, Process("solo"), WaitForDone)); !errors.Is(err, ErrAlreadyStarted) {
			t.Errorf("Err of a failed start: %v", err)
		}
	})
}

// TestSupervisor_StateCounts counts what Processes lists, by state.
func TestSupervisor_StateCounts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFakeRuntime()
		g := GroupSpec{Name: "app"}
		for i, auto := range []bool{true, true, false} {
			sp := *testSpec()
			sp.Name, sp.Group, sp.AutoStart = fmt.Sprint("p", i), "app", auto
			g.Processes = append(g.Processes, sp)
		}
		s := New(rt, []GroupSpec{g})
		s.Logger = quietLogger()
		s.Open(context.Background())
		defer s.Close(context.Background())
		time.Sleep(2 * time.Second) // past startsecs
		synctest.Wait()
		want := map[State]int{}
		for _, p := range s.Processes() {
			want[p.State]++
		}
		if got := s.StateCounts(); fmt.Sprint(got) != fmt.Sprint(want) || want[Running] != 2 || want[Stopped] != 1 {
			t.Errorf("StateCounts %v, Processes say %v (want 2 RUNNING, 1 STOPPED)", got, want)
		}
	})
}
