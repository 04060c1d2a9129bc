package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ctlsup/ctlsup/internal/testhelper"
	"github.com/ctlsup/ctlsup/supervisor/config/ini"
)

// statusColumns keeps what must match after a conversion: the namespec
// and the state of every process.
func statusColumns(out string) string {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 {
			lines = append(lines, f[0]+" "+f[1])
		}
	}
	return strings.Join(lines, "\n")
}

// TestConvert_RoundTrip runs the compatibility fixtures under supervisord
// from their INI, then under ctlsupd from what convert made of it, and
// compares supervisorctl status: names, groups and states.
func TestConvert_RoundTrip(t *testing.T) {
	supervisorctl := testhelper.RequireReference(t, "supervisorctl")
	sd := startDaemon(t, "supervisord")
	sd.waitAutostarted(t)
	want, _ := run(t, supervisorctl, sd, "status")
	run(t, supervisorctl, sd, "shutdown")
	sd.cmd.Wait()

	res, err := ini.Convert([]string{filepath.Join(sd.dir, "supervisord.conf")})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "ctl.sock")
	daemonTOML := regexp.MustCompile(`socket = ".*"`).ReplaceAllString(res.Daemon, `socket = "`+sock+`"`)
	daemonTOML = strings.Replace(daemonTOML, `state_dir = "/run/ctlsup"`, `state_dir = "`+filepath.Join(dir, "state")+`"`, 1)
	os.MkdirAll(filepath.Join(dir, "conf.d"), 0o755)
	os.WriteFile(filepath.Join(dir, "ctlsupd.toml"), []byte(daemonTOML), 0o644)
	os.WriteFile(filepath.Join(dir, "conf.d", "supervisord.toml"), []byte(res.Programs), 0o644)
	cmd := exec.Command(ctlsupdBin, "-c", filepath.Join(dir, "ctlsupd.toml"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer testhelper.Stop(cmd)
	cd := &daemon{kind: "ctlsupd", dir: dir, url: "unix://" + sock, cmd: cmd}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("converted configuration did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cd.waitAutostarted(t)
	got, _ := run(t, supervisorctl, cd, "status")
	if statusColumns(got) != statusColumns(want) {
		t.Errorf("status differs\n--- supervisord (INI)\n%s\n--- ctlsupd (converted)\n%s", want, got)
	}
	if len(res.Omitted) != 0 {
		t.Errorf("omitted: %v", res.Omitted)
	}
}
