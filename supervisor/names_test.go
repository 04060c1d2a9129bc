package supervisor

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
)

func TestParseName(t *testing.T) {
	for spec, want := range map[string]Target{
		"all": {All: true}, "turkey:*": {Group: "turkey"}, "turkey:": {Group: "turkey"},
		"turkey:gunicorn": {Name: "turkey:gunicorn"}, "kano_konnect-uwsgi": {Name: "kano_konnect-uwsgi"},
	} {
		if got := ParseName(spec); got != want {
			t.Errorf("ParseName(%q) = %+v, want %+v", spec, got, want)
		}
	}
}

func TestSupervisor_Namespecs(t *testing.T) {
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
		res, err := s.Start(ctx, "turkey:*", WaitForDone)
		if err != nil || fmt.Sprintf("%d %s %s", len(res), res[0].Name, res[1].Name) != "2 gunicorn beat" {
			t.Errorf("start turkey:* = %v, %v", res, err)
		}
		if res, err := s.Start(ctx, "solo", WaitForDone); err != nil || len(res) != 1 || res[0].Err != nil {
			t.Errorf("start solo = %v, %v", res, err)
		}
		if res, _ := s.Start(ctx, "turkey:beat", WaitForDone); !errors.Is(res[0].Err, ErrAlreadyStarted) {
			t.Errorf("start of a running process: %v", res)
		}
		if _, err := s.Start(ctx, "nosuch:*", WaitForDone); !errors.Is(err, ErrBadName) {
			t.Errorf("unknown group: %v", err)
		}
		if _, err := s.Stop(ctx, "turkey:nosuch", WaitForDone); !errors.Is(err, ErrBadName) {
			t.Errorf("unknown process: %v", err)
		}
		if res, err := s.Stop(ctx, "all", WaitForDone); err != nil || len(res) != 3 {
			t.Errorf("stop all = %v, %v", res, err)
		}
		for _, p := range s.Processes() {
			if p.State != Stopped {
				t.Errorf("%s is %s after stop all", p.FullName(), p.State)
			}
		}
	})
}
