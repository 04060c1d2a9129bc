package supervisor

import (
	"context"
	"testing"
	"weak"

	"github.com/ctlsup/ctlsup/supervisor/testhelper"
)

// TestSupervisor_UpdateForgetsRemovedGroups: an update that removes a
// group leaves nothing of it reachable from the engine, so a daemon whose
// groups come and go does not keep them.
func TestSupervisor_UpdateForgetsRemovedGroups(t *testing.T) {
	group := func(name string) GroupSpec {
		s := testSpec()
		s.Group, s.Name, s.Program, s.AutoStart = name, name, name, false
		return GroupSpec{Name: name, Processes: []ProcessSpec{*s}}
	}
	s := New(newFakeRuntime(), []GroupSpec{group("keep"), group("gone")})
	s.Logger = quietLogger()
	if err := s.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	s.mu.RLock()
	gone := weak.Make(s.byName["gone"])
	s.mu.RUnlock()
	if _, err := s.Apply(context.Background(), []GroupSpec{group("keep")}); err != nil {
		t.Fatal(err)
	}
	// The actor may still be returning from its last turn.
	testhelper.WaitCollected(t, gone, "the removed group's process")
}
