package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestClusterStatus_NamesAServerThatIsDown: status over several servers
// names one that cannot be reached by its URL, not by this host's name,
// which every socket on one host shares; and exits 1.
func TestClusterStatus_NamesAServerThatIsDown(t *testing.T) {
	dir := t.TempDir()
	a, b := "unix://"+filepath.Join(dir, "a.sock"), "unix://"+filepath.Join(dir, "b.sock")
	cmd := exec.Command(ctlsupBin, "-s", a, "-s", b, "status")
	out, _ := cmd.CombinedOutput()
	for _, u := range []string{a, b} {
		if !strings.Contains(string(out), u+"   ERROR (") {
			t.Errorf("no error line naming %s:\n%s", u, out)
		}
	}
	if cmd.ProcessState.ExitCode() != 1 {
		t.Errorf("exit status %d, want 1", cmd.ProcessState.ExitCode())
	}
}
