package osruntime

import (
	"context"
	"testing"
	"weak"

	"github.com/ctlsup/ctlsup/supervisor"
	"github.com/ctlsup/ctlsup/supervisor/testhelper"
)

// TestOS_RemovedProgramIsForgotten: once an update has removed a program
// that ran, the runtime holds nothing of its spec, so a daemon whose
// programs come and go (named by release, say) does not grow with them.
func TestOS_RemovedProgramIsForgotten(t *testing.T) {
	dir := t.TempDir()
	keep := helperSpec(dir, "keep", testhelper.Argv("sleep"), nil)
	gone := helperSpec(dir, "gone", testhelper.Argv("sleep"), nil)
	h := openOS(t, keep, gone)
	h.wait("keep", inState(supervisor.Running))
	info := h.wait("gone", inState(supervisor.Running))
	spec := weak.Make(info.Spec)
	// Restarted once, as a program is over its life.
	if _, err := h.s.Restart(context.Background(), supervisor.Process("gone"), supervisor.WaitForDone); err != nil {
		t.Fatal(err)
	}
	info = nil
	if _, err := h.s.Apply(context.Background(), []supervisor.GroupSpec{{Name: keep.Group, Processes: []supervisor.ProcessSpec{*keep}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.s.Process("gone"); err == nil {
		t.Fatal("the removed program is still in the engine")
	}
	testhelper.WaitCollected(t, spec, "the removed program's spec")
}
