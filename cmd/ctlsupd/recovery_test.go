package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/ctlsup/ctlsup/internal/testhelper"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// taggedProcs lists live processes whose command line holds tag.
func taggedProcs(tag string) []string {
	ents, _ := os.ReadDir("/proc")
	var pids []string
	for _, e := range ents {
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !bytes.Contains(cmdline, []byte(tag)) {
			continue
		}
		if stat, err := os.ReadFile("/proc/" + e.Name() + "/stat"); err == nil {
			if f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:])); len(f) > 0 && f[0] != "Z" {
				pids = append(pids, e.Name())
			}
		}
	}
	return pids
}

func startDaemon(t *testing.T, path string) (*exec.Cmd, *testhelper.SyncBuffer) {
	t.Helper()
	out := &testhelper.SyncBuffer{}
	cmd := exec.Command(daemonBinary, "-c", path)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, out
}

func waitUntil(t *testing.T, what string, log *testhelper.SyncBuffer, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; daemon log:\n%s", what, log)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestCrashRecovery_NoSecondBeat kills ctlsupd with SIGKILL while a
// singleton beat and a worker pool run, then starts a new ctlsupd. The
// leftovers are stopped before anything starts, and at no moment do two
// beats run.
func TestCrashRecovery_NoSecondBeat(t *testing.T) {
	tag := "beat-" + strings.ReplaceAll(t.TempDir(), "/", "_")
	path := testConfig(t, map[string]string{"app.toml": `
[instance.turkey]
` + strings.Replace(program("celery-beat", "sleep", "instances = [\"turkey\"]\nsingleton = true"), `"sleep"]`, `"sleep", "`+tag+`"]`, 1) +
		program("celery-worker", "pool", "instances = [\"turkey\"]")})

	first, log1 := startDaemon(t, path)
	waitUntil(t, "the first beat", log1, func() bool { return len(taggedProcs(tag)) == 1 })
	oldBeat := taggedProcs(tag)[0]
	stateFile := filepath.Join(filepath.Dir(path), "state", "state.json")
	var workers []int
	waitUntil(t, "the state file to list the pool", log1, func() bool {
		var entries []struct{ Name string }
		b, _ := os.ReadFile(stateFile)
		json.Unmarshal(b, &entries)
		return len(entries) == 2
	})
	workerLog := filepath.Join(filepath.Dir(path), "log", "turkey", "celery-worker.log")
	waitUntil(t, "the pool's workers", log1, func() bool {
		b, _ := os.ReadFile(workerLog)
		return strings.Count(string(b), "worker ") == 2
	})
	b, _ := os.ReadFile(workerLog)
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var pid int
		if _, err := fmtSscan(line, &pid); err == nil {
			workers = append(workers, pid)
		}
	}

	// Watch /proc from now on: never two beats.
	var most atomic.Int32
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if n := int32(len(taggedProcs(tag))); n > most.Load() {
				most.Store(n)
			}
			time.Sleep(time.Millisecond)
		}
	})

	first.Process.Signal(syscall.SIGKILL)
	first.Wait()
	if got := taggedProcs(tag); len(got) != 1 {
		t.Fatalf("after kill -9 the beat should survive alone, found %v", got)
	}

	workerBefore, _ := os.ReadFile(workerLog)
	second, log2 := startDaemon(t, path)
	waitUntil(t, "a new beat", log2, func() bool {
		p := taggedProcs(tag)
		return len(p) == 1 && p[0] != oldBeat
	})
	close(stop)
	wg.Wait()
	if n := most.Load(); n > 1 {
		t.Errorf("%d beats ran at once", n)
	}
	if !strings.Contains(log2.String(), "stopping leftover of a previous daemon") {
		t.Errorf("recovery not logged:\n%s", log2)
	}
	for _, pid := range workers {
		if isLive(pid) {
			t.Errorf("old pool worker %d still runs", pid)
		}
	}

	// Logs continue: the new pool's lines are appended to the old ones.
	waitUntil(t, "the new pool's workers in the same log", log2, func() bool {
		b, _ := os.ReadFile(workerLog)
		return strings.HasPrefix(string(b), string(workerBefore)) && strings.Count(string(b), "worker ") == 4
	})

	second.Process.Signal(syscall.SIGTERM)
	if err := second.Wait(); err != nil {
		t.Errorf("ctlsupd exit: %v\n%s", err, log2)
	}
	if got := taggedProcs(tag); len(got) != 0 {
		t.Errorf("beat left after shutdown: %v", got)
	}
}

func isLive(pid int) bool {
	b, err := os.ReadFile("/proc/" + itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

func itoa(n int) string { return strconv.Itoa(n) }

func fmtSscan(line string, pid *int) (int, error) { return fmt.Sscanf(line, "worker %d", pid) }
