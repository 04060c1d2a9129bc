package main

import (
	"bytes"
	"fmt"
	"net"
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

	"github.com/ctlsup/ctlsup/api"
	"github.com/ctlsup/ctlsup/api/client"
	"github.com/ctlsup/ctlsup/api/xmlrpc"
	"github.com/ctlsup/ctlsup/supervisor/testhelper"
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
	t.Cleanup(func() { testhelper.Stop(cmd) }) // a daemon a failed test left, with its programs
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

// TestCrashRecovery_AdoptsSurvivors kills ctlsupd with SIGKILL while a
// singleton beat and a worker pool run, then starts a new ctlsupd. The new
// daemon takes both over with their pids (status shows them RUNNING), at
// no moment do two beats run, the pool's log goes on in the same file, and
// the adopted processes stop as usual at shutdown.
func TestCrashRecovery_AdoptsSurvivors(t *testing.T) {
	tag := "beat-" + strings.ReplaceAll(t.TempDir(), "/", "_")
	path := testConfig(t, map[string]string{"app.toml": `
[instance.turkey]
` + strings.Replace(program("celery-beat", "sleep", "instances = [\"turkey\"]\nsingleton = true"), `"sleep"]`, `"sleep", "`+tag+`"]`, 1) +
		program("celery-worker", "pool", "instances = [\"turkey\"]") +
		program("ticker", "tick", "instances = [\"turkey\"]")})

	first, log1 := startDaemon(t, path)
	waitUntil(t, "the first beat", log1, func() bool { return len(taggedProcs(tag)) == 1 })
	workerLog := filepath.Join(filepath.Dir(path), "log", "turkey", "celery-worker.log")
	waitUntil(t, "the pool's workers", log1, func() bool {
		b, _ := os.ReadFile(workerLog)
		return strings.Count(string(b), "worker ") == 2
	})
	ctl := filepath.Join(filepath.Dir(path), "state", "ctlsup.sock")
	before := statusPids(t, ctl)

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
	second, log2 := startDaemon(t, path)
	waitUntil(t, "the new daemon to serve", log2, func() bool { return len(statusPidsOrNil(ctl)) == 3 })
	after := statusPids(t, ctl)
	for name, pid := range before {
		if after[name] != pid {
			t.Errorf("%s: pid %d before the crash, %d after", name, pid, after[name])
		}
	}
	if !strings.Contains(log2.String(), "adopted") {
		t.Errorf("adoption not logged:\n%s", log2)
	}
	close(stop)
	wg.Wait()
	if n := most.Load(); n > 1 {
		t.Errorf("%d beats ran at once", n)
	}

	// The ticker's lines go on in the same file, none twice, none missing.
	tickLog := filepath.Join(filepath.Dir(path), "log", "turkey", "ticker.log")
	n0 := len(tickNumbers(t, tickLog))
	waitUntil(t, "more ticks after the adoption", log2, func() bool { return len(tickNumbers(t, tickLog)) > n0+5 })

	second.Process.Signal(syscall.SIGTERM)
	if err := second.Wait(); err != nil {
		t.Errorf("ctlsupd exit: %v\n%s", err, log2)
	}
	if got := taggedProcs(tag); len(got) != 0 {
		t.Errorf("beat left after shutdown: %v", got)
	}
	for name, pid := range before {
		if isLive(pid) {
			t.Errorf("%s (pid %d) still runs after shutdown", name, pid)
		}
	}
	checkTicks(t, tickNumbers(t, tickLog))
}

// TestCrashRecovery_AdoptsAZombieLeaderOfLiveThreads: a program whose
// main thread exited (pthread_exit) while its other threads run shows its
// leader as a zombie in /proc, which lists no descriptors for it. A
// successor adopts it by its pid, starts no second copy beside it, reads
// its output on, and a stop reaches it: told by the pidfd and pipes the
// fd holder kept, or, the holder killed too, by /proc.
func TestCrashRecovery_AdoptsAZombieLeaderOfLiveThreads(t *testing.T) {
	bin := testhelper.LeaderExitsProgram(t)
	t.Run("holder", func(t *testing.T) { adoptZombieLeader(t, bin, false) })
	t.Run("no holder", func(t *testing.T) { adoptZombieLeader(t, bin, true) })
}

func adoptZombieLeader(t *testing.T, bin string, killHolder bool) {
	path := testConfig(t, map[string]string{"app.toml": fmt.Sprintf(
		"[program.threads]\ncommand = [%q]\nstartsecs = 0\nstopwaitsecs = 2\nautorestart = true\n", bin)})
	sock := filepath.Join(filepath.Dir(path), "state", "ctlsup.sock")
	logFile := filepath.Join(filepath.Dir(path), "log", "threads.log")

	first, log1 := startDaemon(t, path)
	waitUntil(t, "RUNNING", log1, func() bool { return statusPidsOrNil(sock)["threads:threads"] != 0 })
	pid := statusPids(t, sock)["threads:threads"]
	waitUntil(t, "its main thread's exit", log1, func() bool { zombie, live := leaderOfLiveThreads(pid); return zombie && live })
	if killHolder {
		holder := atoiOr0(holderPid(filepath.Join(filepath.Dir(path), "state")))
		if holder == 0 {
			t.Fatalf("no fd holder\n%s", log1)
		}
		syscall.Kill(holder, syscall.SIGKILL)
		waitUntil(t, "the holder's end", log1, func() bool { return !isLive(holder) })
	}
	first.Process.Signal(syscall.SIGKILL)
	first.Wait()

	second, log2 := startDaemon(t, path)
	waitUntil(t, "the successor's decision", log2, func() bool {
		return strings.Contains(log2.String(), "adopted") || strings.Contains(log2.String(), "ended while no daemon ran")
	})
	if got := statusPids(t, sock)["threads:threads"]; got != pid || !strings.Contains(log2.String(), "adopted") {
		t.Fatalf("after the crash: pid %d RUNNING, want %d adopted\n%s", got, pid, log2)
	}
	// Its output is still read, from the pipes its live thread holds.
	call(t, sock, "supervisor.signalProcess", "threads:threads", "USR1")
	waitUntil(t, "its answer to USR1 in its log", log2, func() bool { return strings.Contains(readFile(logFile), "usr1") })
	if n := strings.Count(readFile(logFile), "thread runs"); n != 1 {
		t.Errorf("%d copies started, want 1\n%s", n, log2)
	}
	call(t, sock, "supervisor.stopProcess", "threads:threads")
	waitUntil(t, "its threads to end", log2, func() bool { _, live := leaderOfLiveThreads(pid); return !live })
	second.Process.Signal(syscall.SIGTERM)
	if err := second.Wait(); err != nil {
		t.Errorf("ctlsupd exit: %v\n%s", err, log2)
	}
}

// leaderOfLiveThreads reports whether process pid's leader thread is a
// zombie, and whether the process still has a live thread.
func leaderOfLiveThreads(pid int) (zombie, live bool) {
	st, ok := testhelper.ReadProcStatus(pid)
	zombie = ok && st.State == 'Z'
	return zombie, ok && (!zombie || st.Threads > 1) // a zombie leader counts
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// tickNumbers reads the numbers of the tick helper's lines.
func tickNumbers(t *testing.T, path string) []int {
	t.Helper()
	b, _ := os.ReadFile(path)
	var nums []int
	for _, line := range strings.Split(string(b), "\n") {
		var n int
		if _, err := fmt.Sscanf(line, "tick %d", &n); err == nil {
			nums = append(nums, n)
		}
	}
	return nums
}

// checkTicks fails unless nums is 0, 1, 2, ... with nothing lost or twice.
func checkTicks(t *testing.T, nums []int) {
	t.Helper()
	for i, n := range nums {
		if n != i {
			t.Fatalf("line %d holds tick %d: lost or repeated output (%d lines)", i, n, len(nums))
		}
	}
}

// statusPids is name → pid of every process the daemon reports RUNNING.
func statusPids(t *testing.T, sock string) map[string]int {
	t.Helper()
	m := statusPidsOrNil(sock)
	if m == nil {
		t.Fatal("no answer from the control socket")
	}
	return m
}

func statusPidsOrNil(sock string) map[string]int {
	infos, ok := processInfos(sock)
	if !ok {
		return nil
	}
	out := map[string]int{}
	for _, info := range infos {
		if info["statename"] == "RUNNING" {
			out[info["group"].(string)+":"+info["name"].(string)] = info["pid"].(int)
		}
	}
	return out
}

// call makes one call on the control socket, failing the test if it fails.
func call(t *testing.T, sock, method string, args ...any) {
	t.Helper()
	c, err := client.New("unix://"+sock, "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Call(method, args...); err != nil {
		t.Fatalf("%s: %v", method, err)
	}
}

// shows is how status shows one process: state, start and stop times,
// exit status and description; "" if it is not listed.
func shows(sock, name string) string {
	if info := processInfo(sock, name); info != nil {
		return fmt.Sprint(info["statename"], " ", info["start"], " ", info["stop"], " ", info["exitstatus"], " ", info["description"])
	}
	return ""
}

// processInfo is one process's info from getAllProcessInfo, by name; nil if the
// daemon does not answer or has no such process.
func processInfo(sock, name string) map[string]any {
	infos, _ := processInfos(sock)
	for _, i := range infos {
		if i["name"] == name {
			return i
		}
	}
	return nil
}

// lineCount is the number of lines in a file (0 if there is none).
func lineCount(file string) int {
	b, _ := os.ReadFile(file)
	return strings.Count(string(b), "\n")
}

// processInfos is getAllProcessInfo over the control socket, each process
// as a map; false when the daemon does not answer.
func processInfos(sock string) ([]map[string]any, bool) {
	c, err := client.New("unix://"+sock, "", "")
	if err != nil {
		return nil, false
	}
	defer c.Close()
	v, err := c.Call("supervisor.getAllProcessInfo")
	if err != nil {
		return nil, false
	}
	var out []map[string]any
	for _, p := range v.([]any) {
		info := map[string]any{}
		for _, m := range p.(xmlrpc.Struct) {
			info[m.Name] = m.Value
		}
		out = append(out, info)
	}
	return out, true
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

// holderPid finds the fd holder serving a state directory.
func holderPid(stateDir string) string {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && string(b) == "ctlsup-holder\x00"+stateDir+"\x00" && isLive(atoiOr0(e.Name())) {
			return e.Name()
		}
	}
	return ""
}

func atoiOr0(s string) int { n, _ := strconv.Atoi(s); return n }

// waitTrapped waits until each program (group:name) runs a process that
// catches SIGTERM: a shell's trap is in place, and a stop finds it.
func waitTrapped(t *testing.T, log *testhelper.SyncBuffer, sock string, names ...string) {
	t.Helper()
	for _, name := range names {
		waitUntil(t, name+"'s TERM trap in place", log, func() bool { return catchesTerm(statusPidsOrNil(sock)[name]) })
	}
}

// catchesTerm reports whether process pid has a handler for SIGTERM.
func catchesTerm(pid int) bool {
	if pid == 0 {
		return false
	}
	st, ok := testhelper.ReadProcStatus(pid)
	return ok && st.Catches(syscall.SIGTERM)
}

// pipesOf names the pipes (pipe:[inode]) a process's stdout and stderr are.
func pipesOf(pid int) []string {
	var pipes []string
	for _, fd := range []string{"1", "2"} {
		if l, err := os.Readlink("/proc/" + itoa(pid) + "/fd/" + fd); err == nil && strings.HasPrefix(l, "pipe:") {
			pipes = append(pipes, l)
		}
	}
	return pipes
}

// holdsAll reports whether process pid has a descriptor on each pipe.
func holdsAll(pid int, pipes []string) bool {
	dir := "/proc/" + itoa(pid) + "/fd/"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	held := map[string]bool{}
	for _, e := range ents {
		if l, err := os.Readlink(dir + e.Name()); err == nil {
			held[l] = true
		}
	}
	for _, p := range pipes {
		if !held[p] {
			return false
		}
	}
	return true
}

// TestDetach_QuitLeavesProgramsForTheNextDaemon: SIGQUIT (systemd's
// RestartKillSignal in the shipped unit) makes ctlsupd exit 0 leaving its
// programs running; the next ctlsupd adopts them. A holder killed
// meanwhile is replaced, and the programs' output still survives the
// daemon's death afterwards.
func TestDetach_QuitLeavesProgramsForTheNextDaemon(t *testing.T) {
	path := testConfig(t, map[string]string{"app.toml": program("ticker", "tick") + program("sleeper", "sleep")})
	stateDir := filepath.Join(filepath.Dir(path), "state")
	sock := filepath.Join(stateDir, "ctlsup.sock")
	first, log1 := startDaemon(t, path)
	waitUntil(t, "both RUNNING", log1, func() bool { return len(statusPidsOrNil(sock)) == 2 })
	before := statusPids(t, sock)

	first.Process.Signal(syscall.SIGQUIT)
	if err := first.Wait(); err != nil {
		t.Fatalf("ctlsupd after SIGQUIT: %v\n%s", err, log1)
	}
	for name, pid := range before {
		if !isLive(pid) {
			t.Fatalf("%s (pid %d) did not survive the detach", name, pid)
		}
	}
	second, log2 := startDaemon(t, path)
	waitUntil(t, "both adopted", log2, func() bool { return len(statusPidsOrNil(sock)) == 2 })

	// The holder dies: the daemon starts another and gives it the pipes.
	old := holderPid(stateDir)
	if old == "" {
		t.Fatal("no fd holder runs")
	}
	syscall.Kill(atoiOr0(old), syscall.SIGKILL)
	waitUntil(t, "a new holder", log2, func() bool { h := holderPid(stateDir); return h != "" && h != old })
	// Killed before the new holder has the pipes, the ticker would die of
	// SIGPIPE while no daemon runs.
	pipes := append(pipesOf(before["ticker:ticker"]), pipesOf(before["sleeper:sleeper"])...)
	if len(pipes) == 0 {
		t.Fatal("the programs' output goes to no pipe")
	}
	waitUntil(t, "the new holder holds every output pipe", log2, func() bool {
		return holdsAll(atoiOr0(holderPid(stateDir)), pipes)
	})
	second.Process.Signal(syscall.SIGKILL)
	second.Wait()
	time.Sleep(300 * time.Millisecond) // the ticker writes meanwhile: with no reader it would die of SIGPIPE
	third, log3 := startDaemon(t, path)
	waitUntil(t, "both adopted again", log3, func() bool { return len(statusPidsOrNil(sock)) == 2 })
	after := statusPids(t, sock)
	for name, pid := range before {
		if after[name] != pid {
			t.Errorf("%s: pid %d before, %d after\n%s", name, pid, after[name], log3)
		}
	}
	third.Process.Signal(syscall.SIGTERM)
	if err := third.Wait(); err != nil {
		t.Errorf("ctlsupd exit: %v", err)
	}
	if h := holderPid(stateDir); h != "" {
		t.Errorf("holder %s still runs after shutdown", h)
	}
	checkTicks(t, tickNumbers(t, filepath.Join(filepath.Dir(path), "log", "ticker.log")))
}

// TestHolder_KeepsAPidfdOnEveryLiveProcess: the holder keeps a pidfd on
// each live program, which a successor reads a program's exit from. A
// holder started again (the old one was killed) is given them anew, and
// so is the one a successor starts, for the processes it adopts.
func TestHolder_KeepsAPidfdOnEveryLiveProcess(t *testing.T) {
	want := 0
	if kernelKeepsExits() {
		want = 2
	}
	path := testConfig(t, map[string]string{"app.toml": program("one", "sleep") + program("two", "sleep")})
	stateDir := filepath.Join(filepath.Dir(path), "state")
	sock := filepath.Join(stateDir, "ctlsup.sock")
	pidfds := func() int {
		h := holderPid(stateDir)
		if h == "" {
			return -1
		}
		ents, _ := os.ReadDir("/proc/" + h + "/fd")
		n := 0
		for _, e := range ents {
			if l, _ := os.Readlink("/proc/" + h + "/fd/" + e.Name()); l == "anon_inode:[pidfd]" {
				n++
			}
		}
		return n
	}
	first, log1 := startDaemon(t, path)
	waitUntil(t, "both RUNNING", log1, func() bool { return len(statusPidsOrNil(sock)) == 2 })
	waitUntil(t, fmt.Sprintf("%d pidfds in the holder", want), log1, func() bool { return pidfds() == want })

	old := holderPid(stateDir)
	syscall.Kill(atoiOr0(old), syscall.SIGKILL)
	waitUntil(t, fmt.Sprintf("a new holder with %d pidfds", want), log1, func() bool {
		h := holderPid(stateDir)
		return h != "" && h != old && pidfds() == want
	})

	old = holderPid(stateDir)
	syscall.Kill(atoiOr0(old), syscall.SIGKILL)
	first.Process.Signal(syscall.SIGKILL)
	first.Wait()
	second, log2 := startDaemon(t, path)
	waitUntil(t, "both adopted", log2, func() bool { return len(statusPidsOrNil(sock)) == 2 })
	waitUntil(t, fmt.Sprintf("the successor's holder with %d pidfds", want), log2, func() bool {
		h := holderPid(stateDir)
		return h != "" && h != old && pidfds() == want
	})
	second.Process.Signal(syscall.SIGTERM)
	second.Wait()
}

// TestCrashRecovery_ChangedWhileDownStartsAfresh: a one-shot job EXITED
// for good, or one that ended while no daemon ran, whose configuration
// changed meanwhile, starts afresh with it as autostart says, as a reload
// applies a change; one that did not change stays down, and so does a
// program an operator stopped, changed or not (as a reload keeps it).
func TestCrashRecovery_ChangedWhileDownStartsAfresh(t *testing.T) {
	dir := t.TempDir()
	gate, runs := filepath.Join(dir, "go"), filepath.Join(dir, "runs")
	job := func(name, version, wait string) string {
		return fmt.Sprintf("[program.%s]\ncommand = [\"/bin/sh\", \"-c\", \"echo %s-%s >> %s; %s exit 0\"]\nstartsecs = 0\nautorestart = false\n",
			name, name, version, runs, wait)
	}
	wait := fmt.Sprintf("while [ ! -e %s ]; do sleep 0.05; done;", gate)
	config := func(version string) map[string]string {
		return map[string]string{"app.toml": job("done", version, "") + job("ending", version, wait) + job("same", "v1", "") +
			program("halted", "sleep", `environment = { V = "`+version+`" }`)}
	}
	path := testConfig(t, config("v1"))
	sock := filepath.Join(filepath.Dir(path), "state", "ctlsup.sock")
	first, log1 := startDaemon(t, path)
	waitUntil(t, "done and same EXITED, ending and halted RUNNING", log1, func() bool {
		p := statusPidsOrNil(sock)
		return strings.HasPrefix(shows(sock, "done"), "EXITED") && strings.HasPrefix(shows(sock, "same"), "EXITED") &&
			p["ending:ending"] != 0 && p["halted:halted"] != 0
	})
	call(t, sock, "supervisor.stopProcess", "halted", true)
	first.Process.Signal(syscall.SIGKILL)
	first.Wait()
	writeConfd(t, path, config("v2"))
	os.WriteFile(gate, nil, 0o644)
	time.Sleep(300 * time.Millisecond) // ending ends while no daemon runs

	second, log2 := startDaemon(t, path)
	waitUntil(t, "done and ending run with v2", log2, func() bool {
		b, _ := os.ReadFile(runs)
		return strings.Contains(string(b), "done-v2") && strings.Contains(string(b), "ending-v2")
	})
	time.Sleep(300 * time.Millisecond) // a start of same would have run by now
	if b, _ := os.ReadFile(runs); strings.Count(string(b), "same-v1") != 1 {
		t.Errorf("same, unchanged, ran again:\n%s", b)
	}
	if info := processInfo(sock, "halted"); info["statename"] != "STOPPED" {
		t.Errorf("halted, which an operator stopped: %v", info)
	}
	// Held EXITED by the successor, same is changed and reloaded: it
	// runs again, as it would have in the first daemon.
	cfg := config("v2")
	cfg["app.toml"] = strings.ReplaceAll(cfg["app.toml"], "same-v1", "same-v3")
	writeConfd(t, path, cfg)
	second.Process.Signal(syscall.SIGHUP)
	waitUntil(t, "same run with v3 after SIGHUP", log2, func() bool {
		b, _ := os.ReadFile(runs)
		return strings.Contains(string(b), "same-v3")
	})
	second.Process.Signal(syscall.SIGTERM)
	second.Wait()
}

// TestCrashRecovery_ChangedWhileDown: a program whose configuration changed
// while no daemon ran is adopted and then restarted with its new settings,
// in the open (STOPPING shows in status); the others keep their pids. A
// program removed meanwhile is stopped.
func TestCrashRecovery_ChangedWhileDown(t *testing.T) {
	path := testConfig(t, map[string]string{"app.toml": program("kept", "sleep") + program("changed", "sleep") + program("removed", "sleep")})
	sock := filepath.Join(filepath.Dir(path), "state", "ctlsup.sock")
	first, log1 := startDaemon(t, path)
	waitUntil(t, "all RUNNING", log1, func() bool { return len(statusPidsOrNil(sock)) == 3 })
	before := statusPids(t, sock)
	first.Process.Signal(syscall.SIGKILL)
	first.Wait()
	writeConfd(t, path, map[string]string{"app.toml": program("kept", "sleep") + program("changed", "sleep", `environment = { NEW = "1" }`)})
	second, log2 := startDaemon(t, path)
	waitUntil(t, "changed restarted", log2, func() bool {
		now := statusPidsOrNil(sock)
		return now["changed:changed"] != 0 && now["changed:changed"] != before["changed:changed"]
	})
	waitUntil(t, "the removed program stopped", log2, func() bool { return !isLive(before["removed:removed"]) })
	if now := statusPids(t, sock); now["kept:kept"] != before["kept:kept"] {
		t.Errorf("kept: pid %d, was %d", now["kept:kept"], before["kept:kept"])
	}
	for _, want := range []string{"configuration changed since it started", "stopping leftover of a previous daemon"} {
		if !strings.Contains(log2.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log2)
		}
	}
	second.Process.Signal(syscall.SIGTERM)
	second.Wait()
}

// TestSignals_TermDuringReload: TERM is acted on while a reload waits for a
// slow stop (it used to wait for the reload's stops to finish).
func TestSignals_TermDuringReload(t *testing.T) {
	path := testConfig(t, map[string]string{"app.toml": program("slow", "ignore-term")})
	d, log := startDaemon(t, path)
	waitUntil(t, "slow ignoring TERM", log, func() bool {
		b, _ := os.ReadFile(filepath.Join(filepath.Dir(path), "log", "slow.log"))
		return strings.Contains(string(b), "ignoring TERM")
	})
	writeConfd(t, path, map[string]string{"app.toml": program("slow", "ignore-term", `environment = { X = "1" }`)})
	d.Process.Signal(syscall.SIGHUP)
	waitUntil(t, "the reload's stop under way", log, func() bool { return strings.Contains(log.String(), "received SIGHUP") })
	time.Sleep(100 * time.Millisecond)
	d.Process.Signal(syscall.SIGTERM)
	if err := d.Wait(); err != nil {
		t.Fatalf("ctlsupd: %v\n%s", err, log)
	}
	out := log.String()
	term, kill := strings.Index(out, "received SIGTERM indicating exit request"), strings.Index(out, "did not stop in time")
	if term < 0 || kill < 0 || term > kill {
		t.Errorf("TERM should be taken before the reload's stop ends:\n%s", out)
	}
}

// TestAsk_NeverBlocks: shutdown, restart and upgrade requests beyond what
// the daemon keeps queued never block the caller (a third one used to).
func TestAsk_NeverBlocks(t *testing.T) {
	m := &Main{requests: make(chan request, 3)}
	done := make(chan struct{})
	go func() {
		for range 10 {
			m.ask(requestRestart)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a request blocked")
	}
}

// TestEdges_IdleConnectionsCannotStarveThePrograms: 2048 idle TCP
// connections to http_listen hold a bounded number of the daemon's
// descriptors; a crash-looping program goes on being spawned, and the
// control socket answers.
func TestEdges_IdleConnectionsCannotStarveThePrograms(t *testing.T) {
	port := testhelper.FreePort(t)
	path := testConfig(t, map[string]string{"app.toml": strings.Replace(program("looper", "exit"), `"exit"]`, `"exit", "1"]`, 1) +
		"autorestart = true\nrestart_max_delay = 1\n"})
	// A TCP listener beside the socket.
	b, _ := os.ReadFile(path)
	os.WriteFile(path, []byte(strings.Replace(string(b), "[control]\n", fmt.Sprintf("[control]\nhttp_listen = \"127.0.0.1:%d\"\n", port), 1)), 0o644)
	sock := filepath.Join(filepath.Dir(path), "state", "ctlsup.sock")
	d, log := startDaemon(t, path)
	waitUntil(t, "the control socket", log, func() bool { return statusPidsOrNil(sock) != nil })

	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 2048 {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			break // refused or reset: the daemon keeps its descriptors
		}
		conns = append(conns, c)
	}
	spawned := func() int { return strings.Count(log.String(), "msg=spawned") }
	before := spawned()
	waitUntil(t, "the crash-looping program spawned twice more", log, func() bool { return spawned() >= before+2 })
	if strings.Contains(log.String(), "too many open files") {
		t.Errorf("the daemon ran out of descriptors:\n%s", log)
	}
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", d.Process.Pid))
	if len(fds) > api.MaxConns+100 {
		t.Errorf("the daemon holds %d descriptors with %d idle connections open", len(fds), len(conns))
	}
	if statusPidsOrNil(sock) == nil {
		t.Error("the control socket does not answer")
	}
}

// TestOperatorStop_LastsAsLongAsTheDaemon: an operator's stop holds over a
// daemon's crash (its successor does not start what was stopped), but a
// reload or a stop of the daemon ends it, as under supervisord: the next
// start brings up every autostart program. Deploy scripts that reload or
// restart the daemon to "bring everything back" left such programs down.
func TestOperatorStop_LastsAsLongAsTheDaemon(t *testing.T) {
	path := testConfig(t, map[string]string{"app.toml": program("web", "sleep") + program("worker", "sleep")})
	sock := filepath.Join(filepath.Dir(path), "state", "ctlsup.sock")
	running := func(want ...string) func() bool {
		return func() bool {
			got := statusPidsOrNil(sock)
			if len(got) != len(want) {
				return false
			}
			for _, name := range want {
				if got[name] == 0 {
					return false
				}
			}
			return true
		}
	}

	first, log1 := startDaemon(t, path)
	waitUntil(t, "both RUNNING", log1, running("web:web", "worker:worker"))
	call(t, sock, "supervisor.stopProcess", "web")
	stopped := shows(sock, "web")
	first.Process.Signal(syscall.SIGKILL)
	first.Wait()
	second, log2 := startDaemon(t, path)
	waitUntil(t, "the worker adopted", log2, running("worker:worker"))
	time.Sleep(500 * time.Millisecond) // a wrong start of web would show by now
	if got := statusPids(t, sock); got["web:web"] != 0 {
		t.Fatalf("web, stopped by the operator, was started after the crash\n%s", log2)
	}
	if got := shows(sock, "web"); got != stopped {
		t.Errorf("web shows %q after the crash, %q before", got, stopped)
	}

	call(t, sock, "supervisor.restart")
	waitUntil(t, "both RUNNING after the reload", log2, running("web:web", "worker:worker"))

	call(t, sock, "supervisor.stopProcess", "web")
	second.Process.Signal(syscall.SIGTERM)
	if err := second.Wait(); err != nil {
		t.Fatalf("ctlsupd exit: %v\n%s", err, log2)
	}
	third, log3 := startDaemon(t, path)
	waitUntil(t, "both RUNNING after a stop and start of the daemon", log3, running("web:web", "worker:worker"))
	third.Process.Signal(syscall.SIGTERM)
	third.Wait()
}

// TestCrashRecovery_FinishesWhatItsDeathCutShort: a stop under way when
// ctlsupd is killed may have been a restart's (supervisorctl restart is a
// stop, then a start), so the new daemon finishes it and starts the
// program again, whether it is still stopping (noterm) or ended while no
// daemon ran (slowterm, and manual, which an operator had started: it
// does not autostart). A one-shot job that had exited for good is not
// run a second time.
func TestCrashRecovery_FinishesWhatItsDeathCutShort(t *testing.T) {
	dir := t.TempDir()
	runs := filepath.Join(dir, "oneshot.runs")
	path := testConfig(t, map[string]string{"app.toml": program("noterm", "ignore-term") +
		"[program.slowterm]\ncommand = [\"/bin/sh\", \"-c\", \"trap 'sleep 0.5; exit 1' TERM; while :; do sleep 0.1; done\"]\nstartsecs = 0\nstopwaitsecs = 5\n" +
		"[program.manual]\ncommand = [\"/bin/sh\", \"-c\", \"trap 'sleep 0.5; exit 1' TERM; while :; do sleep 0.1; done\"]\nstartsecs = 0\nstopwaitsecs = 5\nautostart = false\n" +
		fmt.Sprintf("[program.oneshot]\ncommand = [\"/bin/sh\", \"-c\", \"echo run >> %s; exit 3\"]\nstartsecs = 0\nautorestart = false\n", runs)})
	sock := filepath.Join(filepath.Dir(path), "state", "ctlsup.sock")
	states := func() map[string]string {
		infos, _ := processInfos(sock)
		out := map[string]string{}
		for _, info := range infos {
			out[info["name"].(string)] = info["statename"].(string)
		}
		return out
	}

	first, log1 := startDaemon(t, path)
	waitUntil(t, "noterm and slowterm RUNNING, oneshot EXITED", log1, func() bool {
		s := states()
		return s["noterm"] == "RUNNING" && s["slowterm"] == "RUNNING" && s["oneshot"] == "EXITED"
	})
	call(t, sock, "supervisor.startProcess", "manual")
	// A stop must find the programs' signal handling in place.
	waitUntil(t, "noterm ignoring SIGTERM", log1, func() bool {
		b, _ := os.ReadFile(filepath.Join(filepath.Dir(path), "log", "noterm.log"))
		return strings.Contains(string(b), "ignoring TERM")
	})
	waitTrapped(t, log1, sock, "slowterm:slowterm", "manual:manual")
	before := statusPids(t, sock)
	doneJob := shows(sock, "oneshot")
	for _, name := range []string{"noterm", "slowterm", "manual"} {
		call(t, sock, "supervisor.stopProcess", name, false)
	}
	waitUntil(t, "all three stopping", log1, func() bool {
		s := states()
		return s["noterm"] == "STOPPING" && s["slowterm"] == "STOPPING" && s["manual"] == "STOPPING"
	})
	first.Process.Signal(syscall.SIGKILL)
	first.Wait()
	waitUntil(t, "slowterm ended while no daemon runs", log1, func() bool { return !isLive(before["slowterm:slowterm"]) })

	second, log2 := startDaemon(t, path)
	waitUntil(t, "noterm, slowterm and manual started again", log2, func() bool {
		now := statusPidsOrNil(sock)
		for _, name := range []string{"noterm:noterm", "slowterm:slowterm", "manual:manual"} {
			if now[name] == 0 || now[name] == before[name] {
				return false
			}
		}
		return true
	})
	if n := strings.Count(log2.String(), "msg=spawned process=manual"); n != 1 {
		t.Errorf("manual was spawned %d times by the new daemon, want once (after the stop)", n)
	}
	for _, line := range strings.Split(log2.String(), "\n") {
		if strings.Contains(line, "slowterm") && strings.Contains(line, "msg=adopted") {
			t.Errorf("slowterm, which ended while no daemon ran, is said to be adopted: %s", line)
		}
	}
	if !strings.Contains(log2.String(), `msg="ended while no daemon ran"`) {
		t.Errorf("slowterm's end while no daemon ran is not told:\n%s", log2)
	}
	if b, _ := os.ReadFile(runs); string(b) != "run\n" {
		t.Errorf("the one-shot job ran %d times, want once:\n%s", strings.Count(string(b), "run"), log2)
	}
	if got := shows(sock, "oneshot"); got != doneJob {
		t.Errorf("the one-shot job shows %q after the crash, %q before", got, doneJob)
	}
	second.Process.Signal(syscall.SIGTERM)
	second.Wait()
}

// TestCrashRecovery_ShutdownCutShortIsAFreshStart: a daemon killed while
// it stops (systemctl stop timing out under KillMode=process, or a crash
// during a reload) leaves its stops to its successor, which finishes them
// and then starts what autostart says, as at a fresh start: an operator
// had started manual (autostart = false), which stays stopped, as
// supervisord leaves it after a restart.
func TestCrashRecovery_ShutdownCutShortIsAFreshStart(t *testing.T) {
	// Stops of 3 s: both are still stopping when the daemon is killed; the
	// successor starts at once, or once they have ended.
	for _, gap := range []time.Duration{0, 3500 * time.Millisecond} {
		t.Run(fmt.Sprint("successor after ", gap), func(t *testing.T) { shutdownCutShort(t, gap) })
	}
}

func shutdownCutShort(t *testing.T, gap time.Duration) {
	slow := "command = [\"/bin/sh\", \"-c\", \"trap 'sleep 3; exit 0' TERM; while :; do sleep 0.1; done\"]\nstartsecs = 0\nstopwaitsecs = 10\n"
	path := testConfig(t, map[string]string{"app.toml": "[program.auto]\n" + slow + "[program.manual]\n" + slow + "autostart = false\n"})
	sock := filepath.Join(filepath.Dir(path), "state", "ctlsup.sock")
	first, log1 := startDaemon(t, path)
	waitUntil(t, "auto RUNNING", log1, func() bool { return statusPidsOrNil(sock)["auto:auto"] != 0 })
	call(t, sock, "supervisor.startProcess", "manual")
	waitTrapped(t, log1, sock, "auto:auto", "manual:manual")
	before := statusPids(t, sock)
	first.Process.Signal(syscall.SIGTERM)
	waitUntil(t, "the shutdown under way", log1, func() bool { return strings.Contains(log1.String(), "to die") })
	first.Process.Signal(syscall.SIGKILL)
	first.Wait()
	time.Sleep(gap)

	second, log2 := startDaemon(t, path)
	waitUntil(t, "the stops finished and auto started again", log2, func() bool {
		infos, _ := processInfos(sock)
		done := 0
		for _, info := range infos {
			switch {
			case info["name"] == "auto" && info["statename"] == "RUNNING" && info["pid"] != before["auto:auto"]:
				done++
			case info["name"] == "manual" && info["statename"] != "STOPPING":
				done++
			}
		}
		return done == 2
	})
	time.Sleep(500 * time.Millisecond) // a wrong start of manual would show by now
	if pid := statusPids(t, sock)["manual:manual"]; pid != 0 {
		t.Errorf("manual, which does not autostart, was started by the successor of a daemon stopping (pid %d)\n%s", pid, log2)
	}
	if got := shows(sock, "manual"); !strings.HasPrefix(got, "STOPPED ") {
		t.Errorf("manual shows %q: the stop it was in ended, want STOPPED", got)
	}
	second.Process.Signal(syscall.SIGTERM)
	second.Wait()
}

// TestCrashRecovery_StopUnderWayGoesOn: a daemon killed during a stop
// leaves it to its successor, which goes on with it: no second stop
// signal (a program may take a second TERM for an order to hurry, or,
// in a shell's trap, run its handler twice), and the stop keeps what is
// left of its stopwaitsecs, so a program that ends within them is not
// killed. The program is then started again (the stop may have been a
// restart's); a crash loop's retries go on too.
func TestCrashRecovery_StopUnderWayGoesOn(t *testing.T) {
	dir := t.TempDir()
	terms, tries := filepath.Join(dir, "terms"), filepath.Join(dir, "tries")
	path := testConfig(t, map[string]string{"app.toml": slowStop(terms, "3", 5) +
		fmt.Sprintf("[program.crash]\ncommand = [\"/bin/sh\", \"-c\", \"echo try >> %s; sleep 0.2; exit 1\"]\nautostart = false\nstartsecs = 1\nstartretries = 100\n", tries)})
	sock := filepath.Join(filepath.Dir(path), "state", "ctlsup.sock")
	count := lineCount
	first, log1 := startDaemon(t, path)
	waitUntil(t, "slowstop RUNNING", log1, func() bool { return statusPidsOrNil(sock)["slowstop:slowstop"] != 0 })
	waitTrapped(t, log1, sock, "slowstop:slowstop")
	before := statusPids(t, sock)["slowstop:slowstop"]
	call(t, sock, "supervisor.startProcess", "crash", false)
	waitUntil(t, "crash in BACKOFF", log1, func() bool { return strings.HasPrefix(shows(sock, "crash"), "BACKOFF") })
	call(t, sock, "supervisor.stopProcess", "slowstop", false)
	waitUntil(t, "slowstop's TERM", log1, func() bool { return count(terms) == 1 })
	first.Process.Signal(syscall.SIGKILL)
	first.Wait()
	triedBefore := count(tries)

	second, log2 := startDaemon(t, path)
	waitUntil(t, "slowstop started again", log2, func() bool {
		pid := statusPidsOrNil(sock)["slowstop:slowstop"]
		return pid != 0 && pid != before
	})
	if n := count(terms); n != 1 {
		t.Errorf("slowstop got %d TERMs, want the first daemon's only", n)
	}
	if strings.Contains(log2.String(), "sending SIGKILL") {
		t.Errorf("the stop went on past what was left of stopwaitsecs:\n%s", log2)
	}
	waitUntil(t, "crash tried again", log2, func() bool { return count(tries) > triedBefore })
	second.Process.Signal(syscall.SIGTERM)
	second.Wait()
}

// TestCrashRecovery_LeftoverStopUnderWayGoesOn: a program removed from the
// configuration while no daemon ran, whose stop was under way when the
// daemon died, is a leftover the successor stops; that stop goes on too,
// with no second stop signal and what is left of stopwaitsecs.
func TestCrashRecovery_LeftoverStopUnderWayGoesOn(t *testing.T) {
	terms := filepath.Join(t.TempDir(), "terms")
	path := testConfig(t, map[string]string{"old.toml": slowStop(terms, "1.5", 5), "app.toml": program("web", "sleep")})
	pid := stopThenDie(t, path, terms)
	writeConfd(t, path, map[string]string{"old.toml": ""})

	second, log2 := startDaemon(t, path)
	waitUntil(t, "the leftover stopped", log2, func() bool {
		_, err := os.Stat(fmt.Sprintf("/proc/%d/cmdline", pid))
		return err != nil || len(taggedProcs(terms)) == 0
	})
	if !strings.Contains(log2.String(), "stopping leftover of a previous daemon") {
		t.Errorf("slowstop was not stopped as a leftover:\n%s", log2)
	}
	if n := lineCount(terms); n != 1 {
		t.Errorf("slowstop got %d TERMs, want the first daemon's only:\n%s", n, log2)
	}
	if strings.Contains(log2.String(), "sending SIGKILL") {
		t.Errorf("the stop went on past what was left of stopwaitsecs:\n%s", log2)
	}
	second.Process.Signal(syscall.SIGTERM)
	second.Wait()
}

// slowStop is a program "slowstop" whose TERM trap notes each TERM in
// terms and exits after stopTakes seconds.
func slowStop(terms, stopTakes string, stopwaitsecs int) string {
	return fmt.Sprintf("[program.slowstop]\ncommand = [\"/bin/sh\", \"-c\", \"trap 'echo TERM >> %s; sleep %s; exit 0' TERM; while :; do sleep 0.1; done\"]\nstartsecs = 0\nstopwaitsecs = %d\n",
		terms, stopTakes, stopwaitsecs)
}

// stopThenDie starts a daemon on path, stops slowstop, and kills the
// daemon with SIGKILL once the stop's TERM has landed: the stop is under
// way for a successor. It returns slowstop's pid.
func stopThenDie(t *testing.T, path, terms string) int {
	t.Helper()
	sock := filepath.Join(filepath.Dir(path), "state", "ctlsup.sock")
	first, log1 := startDaemon(t, path)
	waitUntil(t, "slowstop RUNNING", log1, func() bool { return statusPidsOrNil(sock)["slowstop:slowstop"] != 0 })
	waitTrapped(t, log1, sock, "slowstop:slowstop")
	pid := statusPids(t, sock)["slowstop:slowstop"]
	call(t, sock, "supervisor.stopProcess", "slowstop", false)
	waitUntil(t, "slowstop's TERM", log1, func() bool { return lineCount(terms) == 1 })
	first.Process.Signal(syscall.SIGKILL)
	first.Wait()
	return pid
}

// TestCrashRecovery_StoppedWithLeftoversStaysStopped: a program an
// operator stopped whose child lives on a while (here one that ignores
// SIGTERM, killed stopwaitsecs later) keeps its journal entry until the
// child is gone. A daemon killed meanwhile left its successor that entry,
// which it took for a process that had ended while no daemon ran: the
// program showed EXITED, "status unknown; not expected", for what had
// been stopped. The entry now says its leader was reaped: the successor
// shows the stop and stops only what was left.
func TestCrashRecovery_StoppedWithLeftoversStaysStopped(t *testing.T) {
	path := testConfig(t, map[string]string{"app.toml": "[program.web]\n" +
		"command = [\"/bin/sh\", \"-c\", \"(trap '' TERM; exec sleep 1234567) & trap 'exit 0' TERM; while :; do sleep 0.1; done\"]\nstartsecs = 0\nstopwaitsecs = 3\n"})
	sock := filepath.Join(filepath.Dir(path), "state", "ctlsup.sock")
	first, log1 := startDaemon(t, path)
	waitUntil(t, "web RUNNING", log1, func() bool { return statusPidsOrNil(sock)["web:web"] != 0 })
	waitUntil(t, "its child", log1, func() bool { return len(taggedProcs("\x001234567")) == 1 })
	call(t, sock, "supervisor.stopProcess", "web")
	stopped := shows(sock, "web")
	if len(taggedProcs("\x001234567")) != 1 {
		t.Fatal("the child that ignores SIGTERM did not outlive the stop")
	}
	first.Process.Signal(syscall.SIGKILL)
	first.Wait()

	second, log2 := startDaemon(t, path)
	waitUntil(t, "the successor", log2, func() bool { return statusPidsOrNil(sock) != nil })
	if got := shows(sock, "web"); got != stopped {
		t.Errorf("web shows %q after the crash, %q before\n%s", got, stopped, log2)
	}
	waitUntil(t, "the leftover child stopped", log2, func() bool { return len(taggedProcs("\x001234567")) == 0 })
	second.Process.Signal(syscall.SIGTERM)
	second.Wait()
}

// TestCrashRecovery_ExitItsDeathLeftUndecided: a daemon killed after it
// reaped a process but before its engine decided what follows (and
// recorded it: a hold, the next spawn, or that it decided) leaves the
// exit pending; the successor decides it as the engine would have. The
// records of the decisions are taken out of the journal to stand for
// that death: the one-shot job stays EXITED, with its exit code, and does
// not run again; a program that failed its start is judged at its exit,
// as it was, and tried again.
func TestCrashRecovery_ExitItsDeathLeftUndecided(t *testing.T) {
	dir := t.TempDir()
	runs, tries := filepath.Join(dir, "oneshot.runs"), filepath.Join(dir, "early.tries")
	path := testConfig(t, map[string]string{"app.toml": fmt.Sprintf(
		"[program.oneshot]\ncommand = [\"/bin/sh\", \"-c\", \"echo run >> %s; exit 3\"]\nstartsecs = 0\nautorestart = false\n", runs) +
		fmt.Sprintf("[program.early]\ncommand = [\"/bin/sh\", \"-c\", \"echo try >> %s; sleep 0.2; exit 1\"]\nstartsecs = 1\nstartretries = 100\nautorestart = false\n", tries)})
	sock := filepath.Join(filepath.Dir(path), "state", "ctlsup.sock")
	journal := filepath.Join(filepath.Dir(path), "state", "state.json")
	info := func(name string) map[string]any { return processInfo(sock, name) }
	count := lineCount

	first, log1 := startDaemon(t, path)
	waitUntil(t, "oneshot EXITED", log1, func() bool { o := info("oneshot"); return o != nil && o["statename"] == "EXITED" })
	// Killed as early's second try ends, in the 2 s of BACKOFF before its
	// third: killed later, a third try could have begun, and its end
	// while no daemon ran would be another story.
	waitUntil(t, "early's second try ended", log1, func() bool {
		return strings.Count(log1.String(), "msg=exited process=early ") >= 2
	})
	first.Process.Signal(syscall.SIGKILL)
	first.Wait()
	b, err := os.ReadFile(journal)
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if !strings.Contains(line, `"held":`) && !strings.Contains(line, `"decided":true`) {
			kept = append(kept, line)
		}
	}
	if len(kept) == len(strings.SplitAfter(string(b), "\n")) || !strings.Contains(string(b), `"exited":"oneshot"`) {
		t.Fatalf("the journal holds no hold of oneshot, or not its exit:\n%s", b)
	}
	os.WriteFile(journal, []byte(strings.Join(kept, "")), 0o600)
	time.Sleep(1200 * time.Millisecond) // early's startsecs have passed since its last spawn
	triedBefore := count(tries)

	second, log2 := startDaemon(t, path)
	waitUntil(t, "early tried again", log2, func() bool { return count(tries) > triedBefore })
	waitUntil(t, "oneshot EXITED", log2, func() bool { o := info("oneshot"); return o != nil && o["statename"] == "EXITED" })
	if n := count(runs); n != 1 {
		t.Errorf("the one-shot job ran %d times, want once:\n%s", n, log2)
	}
	if o := info("oneshot"); o["exitstatus"] != 3 {
		t.Errorf("oneshot after the crash: %v, want exit status 3", o)
	}
	if !strings.Contains(log2.String(), `msg="exited before the previous daemon acted on it" pid=`) {
		t.Errorf("the successor does not say it decided an exit:\n%s", log2)
	}
	second.Process.Signal(syscall.SIGTERM)
	second.Wait()
}

// TestCrashRecovery_ExitWhileNoDaemonRan: programs that end while no
// daemon runs are reaped by init, so the successor cannot wait for them;
// the holder kept a pidfd on each spawn, which tells how they exited
// (Linux 6.15). A one-shot job (autorestart = "unexpected") that
// finished is not run a second time and shows its exit; a crash is
// restarted, as it would have been. Where the kernel keeps no status,
// both are "status unknown" and restarted.
func TestCrashRecovery_ExitWhileNoDaemonRan(t *testing.T) {
	dir := t.TempDir()
	gate := filepath.Join(dir, "go")
	job := func(name string, code int) string {
		return fmt.Sprintf("[program.%s]\ncommand = [\"/bin/sh\", \"-c\", \"echo run >> %s; while [ ! -e %s ]; do sleep 0.05; done; exit %d\"]\nstartsecs = 0\nautorestart = \"unexpected\"\n",
			name, filepath.Join(dir, name+".runs"), gate, code)
	}
	path := testConfig(t, map[string]string{"app.toml": job("oneshot", 0) + job("crash", 3)})
	sock := filepath.Join(filepath.Dir(path), "state", "ctlsup.sock")
	runs := func(name string) int { return lineCount(filepath.Join(dir, name+".runs")) }

	first, log1 := startDaemon(t, path)
	waitUntil(t, "both RUNNING", log1, func() bool {
		p := statusPidsOrNil(sock)
		return p["oneshot:oneshot"] != 0 && p["crash:crash"] != 0
	})
	pids := statusPids(t, sock)
	first.Process.Signal(syscall.SIGKILL)
	first.Wait()
	os.WriteFile(gate, nil, 0o644)
	// Until init has reaped them: only then does the kernel tell.
	waitUntil(t, "both ended and reaped", log1, func() bool {
		for _, pid := range pids {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
				return false
			}
		}
		return true
	})

	second, log2 := startDaemon(t, path)
	waitUntil(t, "crash run again", log2, func() bool { return runs("crash") == 2 })
	waitUntil(t, "oneshot judged", log2, func() bool {
		o := processInfo(sock, "oneshot")
		return o != nil && o["statename"] != "RUNNING" && o["statename"] != "STARTING"
	})
	time.Sleep(300 * time.Millisecond) // a restart of oneshot would have spawned by now
	if !kernelKeepsExits() {
		if !strings.Contains(log2.String(), "status unknown") {
			t.Errorf("the kernel keeps no exit status, yet the successor knew one:\n%s", log2)
		}
		return
	}
	if n := runs("oneshot"); n != 1 {
		t.Errorf("the one-shot job ran %d times, want once:\n%s", n, log2)
	}
	if o := processInfo(sock, "oneshot"); o["statename"] != "EXITED" || o["exitstatus"] != 0 {
		t.Errorf("oneshot after the crash: %v, want EXITED with exit status 0", o)
	}
	if !strings.Contains(log2.String(), "exit status 3") || strings.Contains(log2.String(), "status unknown") {
		t.Errorf("the successor does not tell crash's exit status 3:\n%s", log2)
	}
	second.Process.Signal(syscall.SIGTERM)
	second.Wait()
}

// TestCrashRecovery_ExitAnInitReapsLate: the kernel tells how a process
// ended only once its new parent has reaped it, which some inits do every
// second or two. The test process stands in for such an init (a child
// subreaper that reaps the one-shot job 2.5 s after the successor
// started): the successor waits for the status instead of giving up, and
// the job is not run a second time.
func TestCrashRecovery_ExitAnInitReapsLate(t *testing.T) {
	if !kernelKeepsExits() {
		t.Skip("the kernel keeps no exit status for a pidfd (Linux 6.15): nothing to wait for")
	}
	slowInit(t)
	dir := t.TempDir()
	gate, runs := filepath.Join(dir, "go"), filepath.Join(dir, "oneshot.runs")
	path := testConfig(t, map[string]string{"app.toml": fmt.Sprintf(
		"[program.oneshot]\ncommand = [\"/bin/sh\", \"-c\", \"echo run >> %s; while [ ! -e %s ]; do sleep 0.05; done; exit 0\"]\nstartsecs = 0\nautorestart = \"unexpected\"\n", runs, gate)})
	sock := filepath.Join(filepath.Dir(path), "state", "ctlsup.sock")

	first, log1 := startDaemon(t, path)
	waitUntil(t, "oneshot RUNNING", log1, func() bool { return statusPidsOrNil(sock)["oneshot:oneshot"] != 0 })
	pid := statusPids(t, sock)["oneshot:oneshot"]
	first.Process.Signal(syscall.SIGKILL)
	first.Wait()
	os.WriteFile(gate, nil, 0o644)
	waitUntil(t, "oneshot a zombie of this process", log1, func() bool {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		return err == nil && strings.Contains(string(b), ") Z ")
	})

	second, log2 := startDaemon(t, path)
	time.Sleep(2500 * time.Millisecond)
	var ws syscall.WaitStatus
	if got, err := syscall.Wait4(pid, &ws, 0, nil); got != pid {
		t.Fatalf("reaping oneshot: %v", err)
	}
	waitUntil(t, "oneshot EXITED", log2, func() bool {
		o := processInfo(sock, "oneshot")
		return o != nil && o["statename"] == "EXITED"
	})
	if o := processInfo(sock, "oneshot"); o["exitstatus"] != 0 {
		t.Errorf("oneshot after the crash: %v, want exit status 0", o)
	}
	time.Sleep(300 * time.Millisecond) // a restart would have spawned by now
	if n := lineCount(runs); n != 1 {
		t.Errorf("the one-shot job ran %d times, want once:\n%s", n, log2)
	}
	second.Process.Signal(syscall.SIGTERM)
	second.Wait()
}

// slowInit makes the test process the new parent of what a killed
// daemon leaves (a child subreaper), reaping only when the test says:
// an init that reaps late. What is left is reaped at the test's end; no
// other test runs meanwhile.
func slowInit(t *testing.T) {
	const prSetChildSubreaper = 36
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		t.Fatal(errno)
	}
	t.Cleanup(func() {
		syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 0, 0)
		for {
			var ws syscall.WaitStatus
			if pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 || err != nil {
				return
			}
		}
	})
}

// TestCrashRecovery_StopEndsBeforeAnInitReapsIt: an adopted process whose
// stop goes on ends within stopwaitsecs, but its new parent reaps it only
// later, and only then does the kernel tell its status. Its pidfd said it
// ended: at the stop's deadline the successor waits on for the status
// instead of sending SIGKILL to a dead process, which it would log as a
// stop that timed out.
func TestCrashRecovery_StopEndsBeforeAnInitReapsIt(t *testing.T) {
	slowInit(t)
	terms := filepath.Join(t.TempDir(), "terms")
	path := testConfig(t, map[string]string{"app.toml": slowStop(terms, "0.3", 2)})
	sock := filepath.Join(filepath.Dir(path), "state", "ctlsup.sock")
	pid := stopThenDie(t, path, terms)

	second, log2 := startDaemon(t, path)
	time.Sleep(3 * time.Second) // past the stop's deadline
	var ws syscall.WaitStatus
	if got, err := syscall.Wait4(pid, &ws, 0, nil); got != pid {
		t.Fatalf("reaping slowstop: %v", err)
	}
	waitUntil(t, "slowstop started again", log2, func() bool {
		now := statusPidsOrNil(sock)["slowstop:slowstop"]
		return now != 0 && now != pid
	})
	if strings.Contains(log2.String(), "sending SIGKILL") {
		t.Errorf("the successor killed a process that had ended:\n%s", log2)
	}
	second.Process.Signal(syscall.SIGTERM)
	second.Wait()
}

// kernelKeepsExits: Linux 6.15 and later tell a pidfd's holder how its
// process exited after another parent reaped it.
func kernelKeepsExits() bool {
	var u syscall.Utsname
	syscall.Uname(&u)
	var release []byte
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		release = append(release, byte(c))
	}
	var major, minor int
	fmt.Sscanf(string(release), "%d.%d", &major, &minor)
	return major > 6 || major == 6 && minor >= 15
}

// TestCrashRecovery_DependentWaitsForARestartedDependency: after a daemon
// killed during its own stop, a program whose dependency the successor
// finishes stopping, to start it again, waits for it instead of finding
// it STOPPED and giving up (FATAL).
func TestCrashRecovery_DependentWaitsForARestartedDependency(t *testing.T) {
	slow := "command = [\"/bin/sh\", \"-c\", \"trap 'sleep 2; exit 0' TERM; while :; do sleep 0.1; done\"]\nstartsecs = 0\nstopwaitsecs = 10\n"
	path := testConfig(t, map[string]string{"app.toml": "[program.db]\n" + slow + "priority = 10\n" +
		"[program.app]\ncommand = [\"/bin/sh\", \"-c\", \"while :; do sleep 0.1; done\"]\nstartsecs = 0\ndepends_on = [\"db\"]\n"})
	sock := filepath.Join(filepath.Dir(path), "state", "ctlsup.sock")
	first, log1 := startDaemon(t, path)
	waitUntil(t, "db and app RUNNING", log1, func() bool {
		pids := statusPidsOrNil(sock)
		return pids["db:db"] != 0 && pids["app:app"] != 0
	})
	waitTrapped(t, log1, sock, "db:db")
	first.Process.Signal(syscall.SIGTERM)
	waitUntil(t, "db stopping", log1, func() bool { return strings.HasPrefix(shows(sock, "db"), "STOPPING") })
	first.Process.Signal(syscall.SIGKILL)
	first.Wait()

	second, log2 := startDaemon(t, path)
	waitUntil(t, "db and app RUNNING again", log2, func() bool {
		pids := statusPidsOrNil(sock)
		return pids["db:db"] != 0 && pids["app:app"] != 0
	})
	if strings.Contains(log2.String(), "FATAL") || strings.Contains(log2.String(), "gave up") {
		t.Errorf("app gave up on its dependency:\n%s", log2)
	}
	second.Process.Signal(syscall.SIGTERM)
	second.Wait()
}

// TestNoHolder_RunsWithoutOne: CTLSUPD_NO_HOLDER=1, the bench's switch to
// measure what the fd holder costs, runs the programs with no holder.
func TestNoHolder_RunsWithoutOne(t *testing.T) {
	t.Setenv("CTLSUPD_NO_HOLDER", "1")
	path := testConfig(t, map[string]string{"app.toml": program("one", "sleep") + program("two", "sleep")})
	stateDir := filepath.Join(filepath.Dir(path), "state")
	d, log := startDaemon(t, path)
	waitUntil(t, "both RUNNING", log, func() bool { return len(statusPidsOrNil(filepath.Join(stateDir, "ctlsup.sock"))) == 2 })
	if h := holderPid(stateDir); h != "" {
		t.Errorf("holder %s runs", h)
	}
	d.Process.Signal(syscall.SIGTERM)
	if err := d.Wait(); err != nil {
		t.Errorf("ctlsupd exit: %v\n%s", err, log)
	}
}

// TestCrashRecovery_RemovedLeftoverStopsWithItsPipesRead: a program
// removed while no daemon ran is stopped by the next daemon as a leftover;
// its output pipes, kept by the holder, are read on while it stops. They
// were closed at once, so its first line after the stop signal killed it
// (SIGPIPE) before its graceful stop had ended.
func TestCrashRecovery_RemovedLeftoverStopsWithItsPipesRead(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "stopped")
	path := testConfig(t, map[string]string{"app.toml": program("kept", "sleep") + fmt.Sprintf(`[program.graceful]
command = ["/bin/sh", "-c", "trap 'for i in 1 2 3 4 5; do echo step $i; sleep 0.1; done; echo done > %s; exit 0' TERM; echo up; while :; do sleep 0.05; done"]
startsecs = 0
stopwaitsecs = 10
`, marker)})
	sock := filepath.Join(filepath.Dir(path), "state", "ctlsup.sock")
	first, log1 := startDaemon(t, path)
	waitUntil(t, "both RUNNING", log1, func() bool { return len(statusPidsOrNil(sock)) == 2 })
	waitUntil(t, "graceful's trap set", log1, func() bool {
		b, _ := os.ReadFile(filepath.Join(filepath.Dir(path), "log", "graceful.log"))
		return strings.Contains(string(b), "up")
	})
	before := statusPids(t, sock)
	first.Process.Signal(syscall.SIGKILL)
	first.Wait()
	writeConfd(t, path, map[string]string{"app.toml": program("kept", "sleep")})
	second, log2 := startDaemon(t, path)
	waitUntil(t, "the removed program stopped", log2, func() bool { return !isLive(before["graceful:graceful"]) })
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("the leftover did not finish its stop: %v\n%s", err, log2)
	}
	second.Process.Signal(syscall.SIGTERM)
	second.Wait()
}
