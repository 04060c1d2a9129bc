package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ctlsup/ctlsup/supervisor/testhelper"
)

// ansible runs Ansible's own supervisorctl module (Debian's ansible) once
// against the server, driving the real supervisorctl, and returns what
// it printed and whether it failed.
func ansible(t *testing.T, bin, supervisorctl, url, args string) (string, bool) {
	t.Helper()
	cmd := exec.Command(bin, "localhost", "-c", "local", "-m", "community.general.supervisorctl",
		"-a", args+" server_url="+url+" supervisorctl_path="+supervisorctl)
	// Debian's Python, which has Ansible's modules.
	cmd.Env = append(os.Environ(), "PATH=/usr/bin:/bin", "ANSIBLE_LOCALHOST_WARNING=False",
		"ANSIBLE_INVENTORY_UNPARSED_WARNING=False", "ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3", "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	return string(out), err != nil || strings.Contains(string(out), "FAILED!")
}

// TestAnsible_CrashLoop: during a crash loop's back-off, Ansible's
// supervisorctl module behaves as against supervisord, which restarts at
// once and so shows RUNNING or STARTING: state=started leaves the program
// be, state=stopped stops it, and it stays stopped.
func TestAnsible_CrashLoop(t *testing.T) {
	supervisorctl := testhelper.RequireReference(t, "supervisorctl")
	bin := testhelper.RequireReference(t, "/usr/bin/ansible")
	dir := t.TempDir()
	sock := filepath.Join(dir, "ctl.sock")
	os.MkdirAll(filepath.Join(dir, "conf.d"), 0o755)
	os.WriteFile(filepath.Join(dir, "ctlsupd.toml"), []byte(fmt.Sprintf(
		"include = [\"conf.d/*.toml\"]\nlog_dir = %q\nstate_dir = %q\n[control]\nsocket = %q\n",
		filepath.Join(dir, "log"), filepath.Join(dir, "state"), sock)), 0o644)
	os.WriteFile(filepath.Join(dir, "conf.d", "app.toml"), []byte(`[program.crashy]
command = "/bin/sh -c 'sleep 0.1; exit 1'"
startsecs = 0
autorestart = true
`), 0o644)
	d := exec.Command(ctlsupdBin, "-c", filepath.Join(dir, "ctlsupd.toml"))
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	defer testhelper.Stop(d)
	url := "unix://" + sock
	status := func() string {
		out, _ := exec.Command(supervisorctl, "-s", url, "status", "crashy").CombinedOutput()
		return string(out)
	}
	deadline := time.Now().Add(30 * time.Second)
	// The 8 s back-off, counting down (the 4 s one before it never shows
	// more than 4), early enough to leave time for two Ansible runs.
	eightSeconds := regexp.MustCompile(`restarting in [78]s`)
	for !eightSeconds.MatchString(status()) {
		if time.Now().After(deadline) {
			t.Fatalf("no 8 s back-off; status: %s", status())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st := status(); !strings.HasPrefix(strings.Fields(st)[1], "STARTING") {
		t.Errorf("the back-off shows as %q, want STARTING", st)
	}
	if out, failed := ansible(t, bin, supervisorctl, url, "name=crashy state=started"); failed || !strings.Contains(out, `"changed": false`) {
		t.Errorf("state=started during the back-off:\n%s", out)
	}
	if out, failed := ansible(t, bin, supervisorctl, url, "name=crashy state=stopped"); failed || !strings.Contains(out, `"changed": true`) {
		t.Fatalf("state=stopped during the back-off:\n%s", out)
	}
	// The pending restart was cancelled: past its time, still stopped.
	time.Sleep(9 * time.Second)
	if st := status(); !strings.Contains(st, "STOPPED") {
		t.Errorf("after state=stopped: %s", st)
	}
}
