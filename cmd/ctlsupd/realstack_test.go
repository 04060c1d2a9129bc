package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ctlsup/ctlsup/supervisor/testhelper"
)

// TestRealStack_DaemonCrashIsInvisible runs what the deployments run, from
// Debian's packages: redis, a Django-like app under gunicorn, a celery
// worker with stopwaitsecs = 600 and one celery beat, under ctlsupd. It
// kills ctlsupd with SIGKILL and starts it again: every program keeps its
// pid, the app answers every request meanwhile, the beat's ticks go on,
// and the new daemon stops the whole stack at once (a celery worker whose
// pipe had lost its reader used to ignore TERM for the 600 s).
func TestRealStack_DaemonCrashIsInvisible(t *testing.T) {
	redis := testhelper.RequirePackage(t, "redis-server", "redis-server")
	gunicorn := testhelper.RequirePackage(t, "gunicorn", "gunicorn")
	celery := testhelper.RequirePackage(t, "celery", "celery python3-redis")

	dir := t.TempDir()
	app := filepath.Join(dir, "app")
	os.MkdirAll(app, 0o755)
	os.WriteFile(filepath.Join(app, "wsgi.py"), []byte(`def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
`), 0o644)
	os.WriteFile(filepath.Join(app, "tasks.py"), []byte(`import os, time
from celery import Celery
app = Celery("tasks", broker=os.environ["BROKER"])
app.conf.beat_schedule = {"tick": {"task": "tasks.tick", "schedule": 0.5}}
@app.task
def tick():
    with open(os.environ["TICKS"], "a") as f:
        f.write("%d %f\n" % (os.getpid(), time.time()))
`), 0o644)
	redisPort, webPort := testhelper.FreePort(t), testhelper.FreePort(t)
	ticks := filepath.Join(dir, "ticks")
	// Debian's /usr/bin/celery runs the python3 found on PATH: Debian's.
	env := fmt.Sprintf(`environment = { PATH = "/usr/bin:/bin", BROKER = "redis://127.0.0.1:%d/0", TICKS = %q }`, redisPort, ticks)
	q := strconv.Quote
	path := testConfig(t, map[string]string{"stack.toml": fmt.Sprintf(`
[program.redis]
command = [%s, "--port", "%d", "--bind", "127.0.0.1", "--daemonize", "no", "--save", "", "--appendonly", "no", "--dir", %s, "--logfile", ""]
priority = 10
startsecs = 0
[program.web]
command = [%s, "--bind", "127.0.0.1:%d", "--workers", "2", "--chdir", %s, "wsgi:app"]
priority = 20
startsecs = 0
[program.worker]
command = [%s, "-A", "tasks", "worker", "--concurrency", "1", "--loglevel", "INFO"]
directory = %s
%s
stopwaitsecs = 600
priority = 30
startsecs = 0
[program.beat]
command = [%s, "-A", "tasks", "beat", "--schedule", %s, "--loglevel", "INFO"]
directory = %s
%s
singleton = true
priority = 30
startsecs = 0
`, q(redis), redisPort, q(dir), q(gunicorn), webPort, q(app), q(celery), q(app), env,
		q(celery), q(filepath.Join(dir, "beat-schedule")), q(app), env)})
	sock := filepath.Join(filepath.Dir(path), "state", "ctlsup.sock")
	url := fmt.Sprintf("http://127.0.0.1:%d/", webPort)
	tickCount := func() int { b, _ := os.ReadFile(ticks); return strings.Count(string(b), "\n") }

	d, log := startDaemon(t, path)
	defer func() {
		if t.Failed() {
			t.Logf("daemon log:\n%s", log)
			for _, name := range []string{"redis", "web", "worker", "beat"} {
				for _, ext := range []string{".log", ".err.log"} {
					b, _ := os.ReadFile(filepath.Join(filepath.Dir(path), "log", name+ext))
					t.Logf("%s%s:\n%s", name, ext, b[max(0, len(b)-3000):])
				}
			}
		}
	}()
	waitFor := func(what string, limit time.Duration, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(limit); !cond(); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s\n%s", what, log)
			}
		}
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	answers := func() bool {
		resp, err := hc.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}
	waitFor("the app to answer", 60*time.Second, answers)
	waitFor("the beat's ticks run by the worker", 60*time.Second, func() bool { return tickCount() >= 2 })
	before := statusPids(t, sock)
	if len(before) != 4 {
		t.Fatalf("running: %v", before)
	}

	var failed, ok atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if answers() {
				ok.Add(1)
			} else {
				failed.Add(1)
			}
		}
	})

	d.Process.Signal(syscall.SIGKILL)
	d.Wait()
	time.Sleep(time.Second) // no daemon: the programs write into held pipes
	n := tickCount()
	d, log = startDaemon(t, path)
	waitFor("the new daemon", 30*time.Second, func() bool { return len(statusPidsOrNil(sock)) == 4 })
	waitFor("more ticks", 30*time.Second, func() bool { return tickCount() > n+2 })
	close(stop)
	wg.Wait()
	after := statusPids(t, sock)
	for name, pid := range before {
		if after[name] != pid {
			t.Errorf("%s: pid %d before the crash, %d after", name, pid, after[name])
		}
	}
	if failed.Load() > 0 {
		t.Errorf("%d of %d requests failed", failed.Load(), failed.Load()+ok.Load())
	}
	t.Logf("%d requests answered across the daemon's death", ok.Load())

	// The new daemon stops everything, the worker too, well before its
	// 600 s stopwaitsecs.
	d.Process.Signal(syscall.SIGTERM)
	exited := make(chan error, 1)
	go func() { exited <- d.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("ctlsupd: %v", err)
		}
	case <-time.After(2 * time.Minute):
		d.Process.Kill()
		for _, pid := range before {
			syscall.Kill(-pid, syscall.SIGKILL)
		}
		t.Fatalf("the stack did not stop within 2 minutes\n%s", log)
	}
	for name, pid := range before {
		if isLive(pid) {
			t.Errorf("%s (pid %d) still runs", name, pid)
		}
	}
}
