package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ctlsup/ctlsup/api/client"
	"github.com/ctlsup/ctlsup/supervisor/testhelper"
)

// TestConsoleLogs_GoToTheDaemonsOwnOutput: stdout_logfile = "/dev/stdout"
// (the containers' idiom, also written /dev/fd/1 and /proc/1/fd/1) passes the program's lines to the daemon's own
// stdout, whole, as supervisord does; it was refused as a symbolic link
// and the output dropped. There is no file to read back: NO_FILE, without
// the daemon opening its own stdout for reading.
func TestConsoleLogs_GoToTheDaemonsOwnOutput(t *testing.T) {
	path := testConfig(t, map[string]string{"app.toml": program("ticker", "tick", `stdout_logfile = "/dev/stdout"`) +
		program("other", "tick", `stdout_logfile = "/dev/fd/1"`) + program("third", "tick", `stdout_logfile = "/proc/1/fd/1"`)})
	sock := filepath.Join(filepath.Dir(path), "state", "ctlsup.sock")
	d, out := startDaemon(t, path)
	waitUntil(t, "ticks on the daemon's stdout", out, func() bool { return strings.Count(out.String(), "tick ") >= 20 })
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.Contains(line, "tick ") && !regexp.MustCompile(`^tick \d+$`).MatchString(line) {
			t.Errorf("a program's line was not passed on whole: %q", line)
		}
	}
	if strings.Contains(out.String(), "dropping output") {
		t.Errorf("output dropped:\n%s", out)
	}
	c, err := client.New("unix://"+sock, "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Call("supervisor.readProcessStdoutLog", "ticker", 0, 100); err == nil || !strings.Contains(err.Error(), "NO_FILE") {
		t.Errorf("reading a log that is the daemon's stdout: %v, want NO_FILE", err)
	}
	if _, err := c.Call("supervisor.clearProcessLogs", "ticker"); err != nil {
		t.Errorf("clearing it: %v", err)
	}
	d.Process.Signal(syscall.SIGTERM)
	d.Wait()
}

// TestConsoleLogs_ClosedStdoutKillsNothing: with its stdout a pipe whose
// reader is gone, a program logging to /dev/stdout makes the daemon's
// writes fail with EPIPE; Go kills a program that leaves SIGPIPE alone,
// and the daemon must go on (its own log is on stderr here).
func TestConsoleLogs_ClosedStdoutKillsNothing(t *testing.T) {
	path := testConfig(t, map[string]string{"app.toml": program("ticker", "tick", `stdout_logfile = "/dev/stdout"`)})
	sock := filepath.Join(filepath.Dir(path), "state", "ctlsup.sock")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close() // nobody will read the daemon's stdout
	log := &testhelper.SyncBuffer{}
	d := exec.Command(daemonBinary, "-c", path)
	d.Stdout, d.Stderr = w, log
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() { testhelper.Stop(d) })
	waitUntil(t, "the ticker RUNNING", log, func() bool { return statusPidsOrNil(sock)["ticker:ticker"] != 0 })
	time.Sleep(500 * time.Millisecond) // 25 ticks written into the broken pipe
	if statusPidsOrNil(sock) == nil {
		t.Fatalf("the daemon died writing to its closed stdout:\n%s", log)
	}
	d.Process.Signal(syscall.SIGTERM)
	if err := d.Wait(); err != nil {
		t.Errorf("ctlsupd exit: %v\n%s", err, log)
	}
}

// TestConsoleLogs_UnfinishedLineSurvivesAnUpgrade: a line a program has
// begun on /dev/stdout, held until its newline, goes out as it is when the
// daemon upgrades in place; the new image reads the pipe on from there. It
// was lost with the old image's memory.
func TestConsoleLogs_UnfinishedLineSurvivesAnUpgrade(t *testing.T) {
	path := testConfig(t, map[string]string{"app.toml": "[program.half]\ncommand = [\"/bin/sh\", \"-c\", \"printf 'begun-'; sleep 2; echo ended; exec sleep 1000\"]\nstartsecs = 0\nstdout_logfile = \"/dev/stdout\"\n"})
	sock := filepath.Join(filepath.Dir(path), "state", "ctlsup.sock")
	d, out := startDaemon(t, path)
	waitUntil(t, "half RUNNING", out, func() bool { return statusPidsOrNil(sock)["half:half"] != 0 })
	time.Sleep(300 * time.Millisecond) // "begun-" read and held for its newline
	d.Process.Signal(syscall.SIGUSR1)
	waitUntil(t, "the rest of the line", out, func() bool { return strings.Contains(out.String(), "ended") })
	if !strings.Contains(out.String(), "begun-") {
		t.Errorf("the unfinished line was lost across the upgrade:\n%s", out)
	}
	d.Process.Signal(syscall.SIGTERM)
	d.Wait()
}
