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
		if !errorLineFor(string(out), u) {
			t.Errorf("no error line naming %s:\n%s", u, out)
		}
	}
	if cmd.ProcessState.ExitCode() != 1 {
		t.Errorf("exit status %d, want 1", cmd.ProcessState.ExitCode())
	}
	// A URL's credentials are not shown.
	out, _ = exec.Command(ctlsupBin, "-s", a, "-s", "http://ops:s3cret@127.0.0.1:1", "status").CombinedOutput()
	if strings.Contains(string(out), "s3cret") || !errorLineFor(string(out), "http://127.0.0.1:1") {
		t.Errorf("status over a server with credentials in its URL:\n%s", out)
	}
}

// errorLineFor reports whether out has a line naming node, then ERROR.
func errorLineFor(out, node string) bool {
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == node && f[1] == "ERROR" {
			return true
		}
	}
	return false
}
