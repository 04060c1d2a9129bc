package supervisor

import (
	"context"
	"testing"
	"testing/synctest"
)

// TestSupervisor_SharedNamesFollowTheTables: a process knows whether
// another one has its name (its log lines then tell its group) from the
// start, and as updates give its name to another process or take it.
func TestSupervisor_SharedNamesFollowTheTables(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		proc := func(group, name string) ProcessSpec {
			s := testSpec()
			s.Group, s.Instance, s.Name, s.AutoStart = group, group, name, false
			return *s
		}
		turkey := GroupSpec{Name: "turkey", Processes: []ProcessSpec{proc("turkey", "beat")}}
		iraq := GroupSpec{Name: "iraq", Processes: []ProcessSpec{proc("iraq", "iraq-web")}}
		iraqWithBeat := GroupSpec{Name: "iraq", Processes: []ProcessSpec{proc("iraq", "iraq-web"), proc("iraq", "beat")}}
		s := New(newFakeRuntime(), []GroupSpec{turkey, iraqWithBeat})
		s.Logger = quietLogger()
		if err := s.Open(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer s.Close(context.Background())
		check := func(when string, want map[string]bool) {
			t.Helper()
			s.mu.RLock()
			defer s.mu.RUnlock()
			if len(s.byName) != len(want) {
				t.Errorf("%s: %d processes, want %d", when, len(s.byName), len(want))
			}
			for name, shared := range want {
				if p := s.byName[name]; p == nil || p.nameShared.Load() != shared {
					t.Errorf("%s: %s shares its name: %v, want %v", when, name, p != nil && p.nameShared.Load(), shared)
				}
			}
		}
		check("at the start", map[string]bool{"turkey:beat": true, "iraq:beat": true, "iraq:iraq-web": false})
		for _, step := range []struct {
			when   string
			groups []GroupSpec
			want   map[string]bool
		}{
			{"beat dropped from iraq", []GroupSpec{turkey, iraq}, map[string]bool{"turkey:beat": false, "iraq:iraq-web": false}},
			{"beat added to iraq", []GroupSpec{turkey, iraqWithBeat}, map[string]bool{"turkey:beat": true, "iraq:beat": true, "iraq:iraq-web": false}},
		} {
			if _, err := s.Apply(context.Background(), step.groups); err != nil {
				t.Fatal(err)
			}
			check(step.when, step.want)
		}
	})
}
