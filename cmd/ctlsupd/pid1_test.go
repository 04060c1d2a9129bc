package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ctlsup/ctlsup/supervisor/testhelper"
)

// children lists the pids whose parent is ppid, with their states.
func children(ppid int) map[int]string {
	out := map[int]string{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(ppid) {
			out[pid] = f[0]
		}
	}
	return out
}

// TestPID1_ReapsOrphans runs ctlsupd as PID 1 of a new PID namespace, as
// in a container: 1000 double-forked orphans are reaped (no zombies), and
// TERM shuts it down cleanly.
func TestPID1_ReapsOrphans(t *testing.T) {
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Fatal("unshare (util-linux) is missing")
	}
	done := t.TempDir() + "/done"
	path := testConfig(t, map[string]string{"a.toml": fmt.Sprintf(`
[program.forker]
command = ["/bin/sh", "-c", "i=0; while [ $$i -lt 1000 ]; do /bin/sh -c '/bin/sleep 0.05 &'; i=$$((i+1)); done; touch %s; exec /bin/sleep 1000"]
startsecs = 0
`, done)})
	cmd := exec.Command(unshare, "-p", "-f", "--mount-proc", daemonBinary, "-c", path)
	out := &testhelper.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	// unshare -f forks: its child is ctlsupd, PID 1 inside.
	var daemon int
	deadline := time.Now().Add(10 * time.Second)
	for daemon == 0 {
		for pid := range children(cmd.Process.Pid) {
			daemon = pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ctlsupd under unshare:\n%s", out)
		}
		time.Sleep(10 * time.Millisecond)
	}
	deadline = time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(done); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the 1000 double forks did not finish:\n%.3000s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The orphans slept 50 ms; give the last ones time to end, then count.
	var zombies []int
	deadline = time.Now().Add(5 * time.Second)
	for {
		zombies = zombies[:0]
		for pid, state := range children(daemon) {
			if state == "Z" {
				zombies = append(zombies, pid)
			}
		}
		reaped := strings.Count(out.String(), "reaped orphan")
		if (len(zombies) == 0 && reaped >= 1000) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(zombies) > 0 {
		t.Errorf("%d zombies under ctlsupd as PID 1", len(zombies))
	}
	if n := strings.Count(out.String(), "reaped orphan"); n < 1000 {
		t.Errorf("%d orphans reaped, want 1000", n)
	}
	syscall.Kill(daemon, syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("shutdown as PID 1: %v\n%.2000s", err, out)
	}
}
