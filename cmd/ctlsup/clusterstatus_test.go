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
	// A URL's credentials are not shown, in the label or in the error,
	// whether the URL parses or not.
	for _, u := range []string{"http://ops:s3cret@127.0.0.1:1", "https://ops:s3cret@127.0.0.1:1", "http://ops:s3%cret@127.0.0.1:1", "http://ops:s3@cret@127.0.0.1:1"} {
		out, _ = exec.Command(ctlsupBin, "-s", a, "-s", u, "status").CombinedOutput()
		if strings.Contains(string(out), "s3") || strings.Contains(string(out), "cret") || !strings.Contains(string(out), "127.0.0.1:1") {
			t.Errorf("status over %s:\n%s", u, out)
		}
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
