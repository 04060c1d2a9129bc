package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestCrashRecovery_LeftoversByCgroup: a program removed while no daemon
// ran is stopped by its cgroup, so what it had started in sessions of its
// own (setsid, a double-forked daemon) goes with it; process groups would
// have left those running.
func TestCrashRecovery_LeftoversByCgroup(t *testing.T) {
	path := testConfig(t, map[string]string{"app.toml": program("kept", "sleep") + program("escapes", "escape")})
	sock := filepath.Join(filepath.Dir(path), "state", "ctlsup.sock")
	first, log1 := startDaemon(t, path)
	if strings.Contains(log1.String(), "containment: process groups") {
		if os.Getenv("CTLSUP_REQUIRE_CGROUPS") == "1" {
			t.Fatalf("cgroups required (CTLSUP_REQUIRE_CGROUPS=1):\n%s", log1)
		}
		t.Skipf("cgroups not usable here:\n%s", log1)
	}
	escLog := filepath.Join(filepath.Dir(path), "log", "escapes.log")
	var kids []int
	waitUntil(t, "the escapers", log1, func() bool {
		kids = kids[:0]
		b, _ := os.ReadFile(escLog)
		for line := range strings.SplitSeq(string(b), "\n") {
			if f := strings.Fields(line); len(f) == 2 && (f[0] == "escaper" || f[0] == "daemon") {
				n, _ := strconv.Atoi(f[1])
				kids = append(kids, n)
			}
		}
		return len(kids) == 2
	})
	if !strings.Contains(log1.String(), "containment: a cgroup per process") {
		t.Errorf("the log does not name the containment:\n%s", log1)
	}
	first.Process.Signal(syscall.SIGKILL)
	first.Wait()
	writeConfd(t, path, map[string]string{"app.toml": program("kept", "sleep")})
	second, log2 := startDaemon(t, path)
	waitUntil(t, "kept adopted", log2, func() bool { return statusPidsOrNil(sock)["kept:kept"] != 0 })
	waitUntil(t, "the escapers killed", log2, func() bool { return !isLive(kids[0]) && !isLive(kids[1]) })
	second.Process.Signal(syscall.SIGTERM)
	second.Wait()
}
