package main

import (
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ctlsup/ctlsup/supervisor/testhelper"
)

// TestControl_AnswersOutOfDescriptors: a daemon whose programs took every
// descriptor its limit allows (here 64, for 40 programs) still answers
// its control socket, and so does the daemon that adopts them after a
// kill -9, which needs more descriptors than the first.
func TestControl_AnswersOutOfDescriptors(t *testing.T) {
	path := testConfig(t, map[string]string{"app.toml": program("w", "tick", "numprocs = 40")})
	sock := filepath.Join(filepath.Dir(path), "state", "ctlsup.sock")
	start := func() (*exec.Cmd, *testhelper.SyncBuffer) {
		out := &testhelper.SyncBuffer{}
		cmd := exec.Command("/bin/sh", "-c", `ulimit -n 64 && exec "$0" -c "$1"`, daemonBinary, path)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { testhelper.Stop(cmd) })
		return cmd, out
	}
	// answers is getAllProcessInfo, given up on after a while: without
	// the reserve, the connection waits in the backlog for ever.
	answers := func(what string, log *testhelper.SyncBuffer) []map[string]any {
		t.Helper()
		got := make(chan []map[string]any, 1)
		go func() {
			infos, _ := processInfos(sock)
			got <- infos
		}()
		select {
		case infos := <-got:
			if infos == nil {
				t.Fatalf("%s: no answer from the control socket\n%s", what, log)
			}
			return infos
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: the control socket accepts nothing\n%s", what, log)
		}
		return nil
	}
	first, log1 := start()
	waitUntil(t, "descriptors to run out", log1, func() bool {
		return strings.Contains(log1.String(), "too many open files")
	})
	infos := answers("the first daemon", log1)
	if len(infos) != 40 {
		t.Fatalf("%d processes listed, want 40", len(infos))
	}
	var running []int
	for _, info := range infos {
		if pid, _ := info["pid"].(int); pid > 0 {
			running = append(running, pid)
		}
	}
	first.Process.Signal(syscall.SIGKILL)
	first.Wait()

	second, log2 := start()
	waitUntil(t, "the survivors adopted", log2, func() bool { return strings.Contains(log2.String(), "adopted") })
	waitUntil(t, "descriptors to run out", log2, func() bool {
		return strings.Contains(log2.String(), "too many open files")
	})
	for range 3 {
		answers("the adopting daemon", log2)
	}
	// Connections held past the reserve, then closed: the descriptors
	// they free go back to the reserve, not to whatever else wants one.
	var hogs []net.Conn
	for range controlReserve + 4 {
		if c, err := net.DialTimeout("unix", sock, time.Second); err == nil {
			hogs = append(hogs, c)
		}
	}
	time.Sleep(2 * time.Second)
	for _, c := range hogs {
		c.Close()
	}
	for range 3 {
		answers("the adopting daemon, after connections held past its reserve", log2)
	}
	// Out of descriptors, a survivor that could not be looked up was
	// taken for ended, and started a second time. The control socket
	// answers once every survivor is decided.
	for _, pid := range running {
		if syscall.Kill(pid, 0) == nil && strings.Contains(log2.String(), fmt.Sprintf(`"ended while no daemon ran" pid=%d `, pid)) {
			t.Errorf("pid %d runs, and was taken for ended:\n%s", pid, log2)
		}
	}
	second.Process.Signal(syscall.SIGTERM)
	second.Wait()
}
