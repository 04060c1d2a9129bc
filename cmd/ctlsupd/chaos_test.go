package main

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ctlsup/ctlsup/api/client"
	"github.com/ctlsup/ctlsup/supervisor/testhelper"
)

// TestCrashChaos kills ctlsupd with SIGKILL at random moments (right after
// its start, while it adopts, during a burst of 200 restarts from an
// update, during a restart storm, right after a log reopen, while the
// chatty logger's file rotates) and starts it again each time. The
// programs never notice: the HTTP server, the worker pool, the beat and
// the chatty logger keep their pids throughout, the server answers
// every request, never two beats run, no process the daemons started is
// left unmanaged or runs twice, and every numbered line is in the logs
// exactly once. CTLSUP_CHAOS_KILLS sets the number of kills (30).
func TestCrashChaos(t *testing.T) {
	kills := 30
	if n, err := strconv.Atoi(os.Getenv("CTLSUP_CHAOS_KILLS")); err == nil {
		kills = n
	}
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	t.Logf("seed %d", seed)

	dir := t.TempDir()
	tag := fmt.Sprintf("chaos%d", seed%1_000_000_007)
	sleepArg := fmt.Sprintf("900000.%d", seed%1_000_000_007) // /bin/sleep's argument marks the plain programs
	portFile := filepath.Join(dir, "port")
	helper := func(name string, args ...string) string {
		var q []string
		for _, a := range testhelper.Argv(name, args...) {
			q = append(q, strconv.Quote(a))
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	confd := func(gen int) string {
		return fmt.Sprintf(`
[program.web]
command = %s
startsecs = 0
[program.worker]
command = %s
startsecs = 0
[program.beat]
command = %s
singleton = true
startsecs = 0
[program.chatty]
command = %s
startsecs = 0
logfile_maxbytes = "64KB"
logfile_backups = 5000
[program.plain]
command = "sleep %s"
numprocs = 200
startsecs = 0
environment = { GEN = "%d" }
`, helper("http", portFile, tag), helper("pool", tag), helper("sleep", tag+"-beat"), helper("numbered", tag), sleepArg, gen)
	}
	path := testConfig(t, map[string]string{"app.toml": confd(0)})
	confPath := filepath.Join(filepath.Dir(path), "conf.d", "app.toml")
	sock := filepath.Join(filepath.Dir(path), "state", "ctlsup.sock")
	chattyLog := filepath.Join(filepath.Dir(path), "log", "chatty.log")
	const programs = 204

	var beats, httpFails, httpOK atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	watch := func(every time.Duration, f func()) {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(every):
					f()
				}
			}
		})
	}
	watch(20*time.Millisecond, func() {
		if n := int64(len(taggedProcs(tag + "-beat"))); n > beats.Load() {
			beats.Store(n)
		}
	})
	hc := &http.Client{Timeout: 2 * time.Second}
	watch(10*time.Millisecond, func() {
		b, err := os.ReadFile(portFile)
		if err != nil {
			return // not started yet
		}
		resp, err := hc.Get("http://127.0.0.1:" + string(b) + "/")
		if err != nil {
			httpFails.Add(1)
			t.Logf("request failed: %v", err)
			return
		}
		resp.Body.Close()
		httpOK.Add(1)
	})
	var stopOnce sync.Once
	stopWatching := func() {
		stopOnce.Do(func() {
			close(stop)
			wg.Wait()
		})
	}
	defer stopWatching()

	d, log := startDaemon(t, path)
	waitUntil(t, "every program RUNNING", log, func() bool { return len(statusPidsOrNil(sock)) == programs })
	first := statusPids(t, sock)
	var logs strings.Builder
	gen := 0
	for i := range kills {
		var what string
		switch rng.IntN(5) {
		case 0:
			what = "right after the start"
			time.Sleep(time.Duration(rng.IntN(50)) * time.Millisecond)
		case 1:
			what = "during a restart storm"
			c, _ := client.New("unix://"+sock, "", "")
			for range 3 {
				go c.Call("supervisor.stopProcessGroup", "plain")
				go c.Call("supervisor.startProcessGroup", "plain")
			}
			time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		case 2:
			what = "during an update that restarts 200 programs"
			gen++
			os.WriteFile(confPath, []byte(confd(gen)), 0o644)
			d.Process.Signal(syscall.SIGHUP)
			time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		case 3:
			what = "after a log reopen"
			d.Process.Signal(syscall.SIGUSR2)
			time.Sleep(time.Duration(rng.IntN(100)) * time.Millisecond)
		default:
			what = "while idle"
			time.Sleep(time.Duration(100+rng.IntN(500)) * time.Millisecond)
		}
		t.Logf("kill %d: %s", i+1, what)
		d.Process.Signal(syscall.SIGKILL)
		d.Wait()
		logs.WriteString(log.String())
		d, log = startDaemon(t, path)
		waitUntil(t, "the new daemon to answer", log, func() bool { return statusPidsOrNil(sock) != nil })
	}

	// A restart storm's last word may have been a stop, which the next
	// daemon respects: start them as an operator would.
	settled := func() bool {
		if c, err := client.New("unix://"+sock, "", ""); err == nil {
			c.Call("supervisor.startProcessGroup", "plain", false)
			c.Close()
		}
		return len(statusPidsOrNil(sock)) == programs && len(managedStrays(sock, tag, sleepArg)) == 0
	}
	for deadline := time.Now().Add(30 * time.Second); !settled(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not settled: %d of %d RUNNING, strays %v, not running %v\n%s", len(statusPidsOrNil(sock)), programs,
				managedStrays(sock, tag, sleepArg), notRunning(sock), log)
		}
	}
	stopWatching()
	last := statusPids(t, sock)
	for _, name := range []string{"web:web", "worker:worker", "beat:beat", "chatty:chatty"} {
		if first[name] != last[name] {
			t.Errorf("%s: pid %d at first, %d at the end: it was restarted", name, first[name], last[name])
		}
	}
	if n := beats.Load(); n > 1 {
		t.Errorf("%d beats ran at once", n)
	}
	if n := httpFails.Load(); n > 0 {
		t.Errorf("%d of %d requests to the server failed", n, n+httpOK.Load())
	}

	d.Process.Signal(syscall.SIGTERM)
	if err := d.Wait(); err != nil {
		t.Errorf("ctlsupd exit: %v", err)
	}
	logs.WriteString(log.String())
	if left := append(taggedProcs(tag), taggedProcs(sleepArg)...); len(left) > 0 {
		t.Errorf("left after shutdown: %v", left)
	}
	checkNumbered(t, chattyLog)
	if t.Failed() {
		t.Logf("daemon logs:\n%s", logs.String())
	}
}

// managedStrays lists live processes of the test that the daemon does not
// report as the process of a program, or that run twice: each would be a
// program running unmanaged.
func managedStrays(sock, tag, sleepArg string) []string {
	managed := map[string]bool{}
	for _, pid := range statusPidsOrNil(sock) {
		managed[strconv.Itoa(pid)] = true
	}
	var strays []string
	for _, pid := range append(taggedProcs(tag), taggedProcs(sleepArg)...) {
		if !managed[pid] {
			strays = append(strays, pid)
		}
	}
	return strays
}

// checkNumbered reads the numbered helper's lines from its rotated
// backups, oldest first, and its log (rotation is exact to the byte, so a
// line may straddle two files) and fails unless they are 1, 2, 3, ...,
// each once.
func checkNumbered(t *testing.T, path string) {
	t.Helper()
	files, _ := filepath.Glob(strings.TrimSuffix(path, ".log") + "-*.log")
	slices.Sort(files) // lumberjack's timestamps sort as they happened
	files = append(files, path)
	var all []byte
	for _, f := range files {
		b, _ := os.ReadFile(f)
		all = append(all, b...)
	}
	var nums []int
	for _, line := range strings.Split(string(all), "\n") {
		var n int
		if _, err := fmt.Sscanf(line, "line %d", &n); err == nil {
			nums = append(nums, n)
		} else if line != "" {
			t.Errorf("not a whole line: %q", line)
		}
	}
	if len(nums) == 0 {
		t.Fatal("no numbered lines logged")
	}
	for i, n := range nums {
		if n != i+1 {
			t.Fatalf("numbered lines: expected %d, found %d (%d lines in %d files): lost or repeated output", i+1, n, len(nums), len(files))
		}
	}
	t.Logf("%d numbered lines in %d files, each once", len(nums), len(files))
}

// notRunning lists the processes not RUNNING with their state and
// description.
func notRunning(sock string) []string {
	infos, _ := processInfos(sock)
	var out []string
	for _, info := range infos {
		if info["statename"] != "RUNNING" {
			out = append(out, fmt.Sprintf("%v %v (%v)", info["name"], info["statename"], info["description"]))
		}
	}
	return out
}
