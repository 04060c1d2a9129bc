package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ctlsup/ctlsup/supervisor/testhelper"
)

// loadResult is what a load generator saw.
type loadResult struct {
	ok, failed int
	refused    int           // connections refused: the port was closed
	maxGap     time.Duration // the longest time without a successful answer
	errs       []string
}

// generateLoad sends requests one after another, each on a new connection,
// until stop is closed.
func generateLoad(url string, stop <-chan struct{}) *loadResult {
	res := &loadResult{}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	last := time.Now()
	for {
		select {
		case <-stop:
			return res
		default:
		}
		resp, err := client.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		now := time.Now()
		if err != nil {
			res.failed++
			if strings.Contains(err.Error(), "connection refused") {
				res.refused++
			}
			if len(res.errs) < 5 {
				res.errs = append(res.errs, err.Error())
			}
			continue
		}
		res.ok++
		res.maxGap = max(res.maxGap, now.Sub(last))
		last = now
	}
}

// appDaemon runs ctlsupd over programs (TOML) in a temp dir, with a WSGI
// app at dir/app/wsgi.py.
func appDaemon(t *testing.T, programs string) (dir, url string) {
	t.Helper()
	dir = t.TempDir()
	os.MkdirAll(filepath.Join(dir, "app"), 0o755)
	os.WriteFile(filepath.Join(dir, "app", "wsgi.py"), []byte(`import os
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"pid %d" % os.getpid()]
application = app
`), 0o644)
	os.MkdirAll(filepath.Join(dir, "conf.d"), 0o755)
	sock := filepath.Join(dir, "ctl.sock")
	os.WriteFile(filepath.Join(dir, "ctlsupd.toml"), []byte(fmt.Sprintf(
		"include = [\"conf.d/*.toml\"]\nlog_dir = %q\nstate_dir = %q\n[control]\nsocket = %q\n",
		filepath.Join(dir, "log"), filepath.Join(dir, "state"), sock)), 0o644)
	os.WriteFile(filepath.Join(dir, "conf.d", "app.toml"), []byte(strings.ReplaceAll(programs, "APP", filepath.Join(dir, "app"))), 0o644)
	d := exec.Command(ctlsupdBin, "-c", filepath.Join(dir, "ctlsupd.toml"))
	var out testhelper.SyncBuffer
	d.Stdout, d.Stderr = &out, &out
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		testhelper.Stop(d)
		if t.Failed() {
			t.Logf("daemon log:\n%s", out.String())
			logTails(t, filepath.Join(dir, "log"))
		}
	})
	return dir, "unix://" + sock
}

// logTails logs the end of each program's log in dir: why a server
// exited is in its own output, not in the daemon's.
func logTails(t *testing.T, dir string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if len(b) > 4096 {
			b = b[len(b)-4096:]
		}
		t.Logf("end of %s:\n%s", filepath.Base(f), b)
	}
}

func freeTCP(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// ctl runs ctlsup against the daemon.
func ctl(t *testing.T, url string, args ...string) string {
	t.Helper()
	out, _ := exec.Command(ctlsupBin, append([]string{"-s", url}, args...)...).CombinedOutput()
	return string(out)
}

// ctlCode runs ctlsup against the daemon, and gives its exit status too.
func ctlCode(t *testing.T, url string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(ctlsupBin, append([]string{"-s", url}, args...)...)
	out, _ := cmd.CombinedOutput()
	return string(out), cmd.ProcessState.ExitCode()
}

func waitServing(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		if resp, err := client.Get("http://" + addr + "/"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never served", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// restartsUnderLoad runs action n times while a client sends requests,
// and fails the test on any failed request.
func restartsUnderLoad(t *testing.T, addr string, n int, action func()) *loadResult {
	t.Helper()
	res := underLoad(t, addr, n, action)
	if res.failed != 0 || res.ok == 0 {
		t.Errorf("%d requests failed, %d succeeded, longest gap %s: %v", res.failed, res.ok, res.maxGap, res.errs)
	}
	return res
}

// underLoad runs action n times while a client sends requests.
func underLoad(t *testing.T, addr string, n int, action func()) *loadResult {
	t.Helper()
	waitServing(t, addr)
	stop := make(chan struct{})
	var res *loadResult
	var wg sync.WaitGroup
	wg.Go(func() { res = generateLoad("http://"+addr+"/", stop) })
	for range n {
		time.Sleep(100 * time.Millisecond)
		action()
	}
	time.Sleep(100 * time.Millisecond)
	close(stop)
	wg.Wait()
	t.Logf("%d requests, %d failed, longest gap %s", res.ok, res.failed, res.maxGap)
	return res
}

// waitGunicornBooted waits until every gunicorn master the daemon runs
// has at least workers workers with their own signal handlers. Gunicorn
// 20.1 says READY=1 before it forks its workers, and a worker that gets
// SIGTERM before its handlers are set (it runs the master's, inherited,
// which queue the signal in its copy of the master's state) serves on
// until the master kills it, 30 s later, in the middle of a request:
// under any supervisor, a restart that comes that soon loses one. A
// worker's own handlers leave SIGHUP at its default; the master's catch it.
func waitGunicornBooted(t *testing.T, url string, workers int) {
	t.Helper()
	masters := strings.Fields(ctl(t, url, "pid", "all"))
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		booted := map[string]int{}
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			if st, ok := testhelper.ReadProcStatus(pid); ok && st.Catches(syscall.SIGTERM) && !st.Catches(syscall.SIGHUP) {
				booted[strconv.Itoa(st.PPid)]++
			}
		}
		all := len(masters) > 0
		for _, m := range masters {
			all = all && booted[m] >= workers
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gunicorn masters %v: workers with their own signal handlers %v, want %d each", masters, booted, workers)
		}
	}
}

// TestSockets_GunicornRestartsLoseNothing: Debian's gunicorn takes the
// socket ctlsupd holds (LISTEN_FDS), says READY=1 on NOTIFY_SOCKET, and is
// restarted five times while a client sends requests: none fails.
func TestSockets_GunicornRestartsLoseNothing(t *testing.T) {
	gunicorn := testhelper.RequirePackage(t, "gunicorn", "gunicorn")
	addr := freeTCP(t)
	_, url := appDaemon(t, fmt.Sprintf(`
[socket.web]
listen = %q
[program.web]
command = [%q, "--workers", "2", "--timeout", "10", "--chdir", "APP", "wsgi:app"]
environment = { PATH = "/usr/bin:/bin" }
sockets = ["web"]
ready = "notify"
startsecs = 20
# A sync worker notices TERM at its next poll (every timeout/2): longer
# than that, so a graceful stop is never cut short by SIGKILL.
stopwaitsecs = 40
`, addr, gunicorn))
	restartsUnderLoad(t, addr, 5, func() {
		waitGunicornBooted(t, url, 2)
		if out := ctl(t, url, "restart", "web"); !strings.Contains(out, "web: started") {
			t.Fatalf("restart: %s", out)
		}
	})
}

// TestSockets_UWSGIRestartsKeepThePort: the same with Debian's uWSGI,
// given the held socket as --http-socket fd://3, which it keeps across its
// own HUP re-exec (a socket it took from LISTEN_FDS alone it does not: the
// re-exec'd image exits 1). It says READY=1 on each fresh start, not after
// a HUP. The port never refuses a connection, through restarts and HUP
// reloads alike. uWSGI 2.0 itself may reset one request a worker had just
// accepted when its graceful stop comes (its race, not the socket's): at
// most a few are tolerated.
func TestSockets_UWSGIRestartsKeepThePort(t *testing.T) {
	uwsgi := testhelper.RequirePackage(t, "uwsgi_python3", "uwsgi-core uwsgi-plugin-python3")
	addr := freeTCP(t)
	_, url := appDaemon(t, fmt.Sprintf(`
[socket.web]
listen = %q
[program.web]
command = [%q, "--master", "--processes", "2", "--http-socket", "fd://3", "--chdir", "APP", "--wsgi-file", "wsgi.py", "--hook-master-start", "unix_signal:15 gracefully_kill_them_all"]
sockets = ["web"]
ready = "notify"
startsecs = 20
`, addr, uwsgi))
	res := underLoad(t, addr, 3, func() {
		if out := ctl(t, url, "restart", "web"); !strings.Contains(out, "web: started") {
			t.Fatalf("restart: %s", out)
		}
	})
	if res.refused != 0 || res.failed > 3 || res.ok == 0 {
		t.Errorf("%d requests failed (%d refused), %d succeeded: %v", res.failed, res.refused, res.ok, res.errs)
	}
	// A HUP makes the master re-execute itself, same pid, once its workers
	// have finished: each HUP waits for the new workers, as an operator's
	// would.
	res = underLoad(t, addr, 3, func() {
		master, _ := strconv.Atoi(strings.TrimSpace(ctl(t, url, "pid", "web")))
		before := childPids(master)
		ctl(t, url, "signal", "HUP", "web")
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if now := childPids(master); len(now) >= 2 && !slices.ContainsFunc(now, func(pid int) bool { return slices.Contains(before, pid) }) {
				return
			}
		}
		t.Errorf("uWSGI (pid %d) did not come back from its reload with new workers", master)
	})
	if res.refused != 0 || res.failed > 3 || res.ok == 0 {
		t.Errorf("HUP reloads: %d requests failed (%d refused), %d succeeded: %v", res.failed, res.refused, res.ok, res.errs)
	}
}

// childPids lists pid's children.
func childPids(pid int) []int {
	var pids []int
	tasks, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	for _, task := range tasks {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + task.Name() + "/children")
		for _, f := range strings.Fields(string(b)) {
			if child, err := strconv.Atoi(f); err == nil {
				pids = append(pids, child)
			}
		}
	}
	return pids
}

// TestSockets_RollingRestartAndUpdate: four gunicorn processes share one
// held socket; a rolling restart, then a rolling update that changes them,
// lose no request, and at least three serve at every moment.
func TestSockets_RollingRestartAndUpdate(t *testing.T) {
	gunicorn := testhelper.RequirePackage(t, "gunicorn", "gunicorn")
	addr := freeTCP(t)
	programs := fmt.Sprintf(`
[socket.web]
listen = %q
[program.web]
command = [%q, "--workers", "1", "--timeout", "10", "--chdir", "APP", "wsgi:app"]
environment = { PATH = "/usr/bin:/bin", VERSION = "VER" }
numprocs = 4
sockets = ["web"]
ready = "notify"
startsecs = 20
stopwaitsecs = 40
rolling_update = 1
`, addr, gunicorn)
	dir, url := appDaemon(t, strings.ReplaceAll(programs, "VER", "1"))
	for deadline := time.Now().Add(30 * time.Second); strings.Count(ctl(t, url, "status"), "RUNNING") != 4; {
		if time.Now().After(deadline) {
			t.Fatalf("not all RUNNING: %s", ctl(t, url, "status"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	restartsUnderLoad(t, addr, 1, func() {
		waitGunicornBooted(t, url, 1)
		low := fewestRunning(t, url, 4, func() {
			if out := ctl(t, url, "restart", "--rolling", "web"); strings.Count(out, ": restarted") != 4 {
				t.Fatalf("rolling restart: %s", out)
			}
		})
		if low < 3 {
			t.Errorf("only %d of 4 RUNNING at one point of the rolling restart", low)
		}
	})
	before := ctl(t, url, "pid", "all")
	conf := filepath.Join(dir, "conf.d", "app.toml")
	restartsUnderLoad(t, addr, 1, func() {
		os.WriteFile(conf, []byte(strings.ReplaceAll(strings.ReplaceAll(programs, "APP", filepath.Join(dir, "app")), "VER", "2")), 0o644)
		ctl(t, url, "reread")
		waitGunicornBooted(t, url, 1)
		low := fewestRunning(t, url, 4, func() {
			if out := ctl(t, url, "update"); !strings.Contains(out, "web: updated") {
				t.Fatalf("update: %s", out)
			}
		})
		if low < 3 {
			t.Errorf("only %d of 4 RUNNING at one point of the rolling update", low)
		}
	})
	after := ctl(t, url, "pid", "all")
	for _, pid := range strings.Fields(before) {
		if slices.Contains(strings.Fields(after), pid) {
			t.Errorf("pid %s survived the update: before %q, after %q", pid, before, after)
		}
	}
	if st := ctl(t, url, "status"); strings.Count(st, "RUNNING") != 4 {
		t.Errorf("after the update: %s", st)
	}
}

// TestSockets_StartBeforeStop: one gunicorn with start_before_stop is
// restarted through ctlsupd's own restart: the replacement starts and
// gets ready while the old one serves, so the process never leaves
// RUNNING and no request fails.
func TestSockets_StartBeforeStop(t *testing.T) {
	gunicorn := testhelper.RequirePackage(t, "gunicorn", "gunicorn")
	addr := freeTCP(t)
	_, url := appDaemon(t, fmt.Sprintf(`
[socket.web]
listen = %q
[program.web]
command = [%q, "--workers", "1", "--timeout", "10", "--chdir", "APP", "wsgi:app"]
environment = { PATH = "/usr/bin:/bin" }
sockets = ["web"]
ready = "notify"
startsecs = 20
stopwaitsecs = 40
start_before_stop = true
`, addr, gunicorn))
	waitServing(t, addr)
	for range 3 {
		before := strings.TrimSpace(ctl(t, url, "pid", "web"))
		restartsUnderLoad(t, addr, 1, func() {
			waitGunicornBooted(t, url, 1)
			low := fewestRunning(t, url, 1, func() {
				if out := ctl(t, url, "restart", "--rolling", "web"); !strings.Contains(out, "web: restarted") {
					t.Fatalf("restart: %s", out)
				}
			})
			if low < 1 {
				t.Errorf("web left RUNNING during its restart")
			}
		})
		if after := strings.TrimSpace(ctl(t, url, "pid", "web")); after == before || after == "0" {
			t.Errorf("pid %s before the restart, %s after", before, after)
		}
	}
}

// fewestRunning runs action and returns the fewest of n processes RUNNING
// at once meanwhile, as status showed them every 20 ms.
func fewestRunning(t *testing.T, url string, n int, action func()) int {
	t.Helper()
	stop := make(chan struct{})
	fewest := make(chan int, 1)
	go func() {
		low := 1 << 30
		for {
			select {
			case <-stop:
				fewest <- low
				return
			default:
			}
			if st := ctl(t, url, "status"); strings.Count(st, "\n") == n {
				low = min(low, strings.Count(st, "RUNNING"))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	action()
	close(stop)
	return <-fewest
}

// TestStdin_Fg: supervisorctl's fg, and ctlsup's, pass typed lines to a
// program with stdin = true and show what it writes.
func TestStdin_Fg(t *testing.T) {
	supervisorctl := testhelper.RequireReference(t, "supervisorctl")
	_, url := appDaemon(t, "[program.cat]\ncommand = \"/bin/cat\"\nstdin = true\nstartsecs = 0\n")
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(ctl(t, url, "status", "cat"), "RUNNING") {
		if time.Now().After(deadline) {
			t.Fatal("cat not RUNNING")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, client := range []string{supervisorctl, ctlsupBin} {
		word := "typed-by-" + filepath.Base(client)
		cmd := exec.Command(client, "-s", url, "fg", "cat")
		in, _ := cmd.StdinPipe()
		var out testhelper.SyncBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond) // attached
		fmt.Fprintln(in, word)
		for deadline := time.Now().Add(5 * time.Second); !strings.Contains(out.String(), word) && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
		in.Close()
		if client == supervisorctl {
			// Its output thread ends only at its next 30 s poll: killed
			// once it has said it leaves.
			for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out.String(), "Exiting foreground") && time.Now().Before(deadline); {
				time.Sleep(20 * time.Millisecond)
			}
			cmd.Process.Kill()
		}
		cmd.Wait()
		if got := out.String(); !strings.Contains(got, word) || !strings.Contains(got, "Exiting foreground") {
			t.Errorf("%s fg:\n%s", filepath.Base(client), got)
		}
	}
}
