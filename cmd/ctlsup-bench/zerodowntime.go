package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// zeroDowntime: a load generator sends requests, one connection after
// another, to Debian's gunicorn (a trivial WSGI app, two workers) while
// the daemon restarts it `restarts` times, as `restart web` does (stop,
// then start, waiting). Under supervisord gunicorn binds its own port;
// under ctlsupd it takes the socket ctlsupd holds and says READY=1. The
// figures: failed requests and the longest time without an answer.
func zeroDowntime(bin binaries, kinds []string, restarts int) {
	gunicorn, err := exec.LookPath("gunicorn")
	if err != nil {
		fmt.Fprintln(os.Stderr, "zero-downtime part skipped: install Debian's gunicorn")
		return
	}
	failed, gaps := map[string]float64{}, map[string]float64{}
	for _, kind := range kinds {
		f, gap, err := restartUnderLoad(bin, kind, gunicorn, restarts)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			continue
		}
		failed[kind], gaps[kind] = float64(f), gap.Seconds()*1000
	}
	get := func(m map[string]float64, k string) float64 {
		if v, ok := m[k]; ok {
			return v
		}
		return none
	}
	add(fmt.Sprintf("gunicorn restarted %d times under load: failed requests", restarts),
		get(failed, "ctlsupd"), get(failed, "supervisord"), "requests", "0 under ctlsupd")
	add(fmt.Sprintf("gunicorn restarted %d times under load: longest gap", restarts),
		get(gaps, "ctlsupd"), get(gaps, "supervisord"), "ms", "")
}

func restartUnderLoad(bin binaries, kind, gunicorn string, restarts int) (int, time.Duration, error) {
	dir, err := os.MkdirTemp("", "ctlsup-bench-zd-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	app := filepath.Join(dir, "app")
	os.MkdirAll(app, 0o755)
	os.MkdirAll(filepath.Join(dir, "log"), 0o755)
	os.WriteFile(filepath.Join(app, "wsgi.py"), []byte("def app(environ, start_response):\n    start_response(\"200 OK\", [])\n    return [b\"ok\"]\n"), 0o644)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, err
	}
	addr := l.Addr().String()
	l.Close()
	sock := filepath.Join(dir, "ctl.sock")
	d := &daemon{kind: kind, dir: dir, url: "unix://" + sock}
	switch kind {
	case "ctlsupd":
		conf := filepath.Join(dir, "ctlsupd.toml")
		os.WriteFile(conf, []byte(fmt.Sprintf(`log_dir = %q
state_dir = %q
[control]
socket = %q
[socket.web]
listen = %q
[program.web]
command = [%q, "--workers", "2", "--chdir", %q, "wsgi:app"]
environment = { PATH = "/usr/bin:/bin" }
sockets = ["web"]
ready = "notify"
startsecs = 30
`, filepath.Join(dir, "log"), filepath.Join(dir, "state"), sock, addr, gunicorn, app)), 0o644)
		d.cmd = exec.Command(bin.ctlsupd, "-c", conf)
	case "supervisord":
		conf := filepath.Join(dir, "supervisord.conf")
		os.WriteFile(conf, []byte(fmt.Sprintf(`[unix_http_server]
file=%[1]s
[supervisord]
logfile=%[2]s/supervisord.log
pidfile=%[2]s/supervisord.pid
childlogdir=%[2]s/log
nodaemon=true
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[program:web]
command=%[3]s --bind %[4]s --workers 2 --chdir %[5]s wsgi:app
environment=PATH="/usr/bin:/bin"
`, sock, dir, gunicorn, addr, app)), 0o644)
		d.cmd = exec.Command("supervisord", "-n", "-c", conf)
	}
	if err := d.launch(); err != nil {
		return 0, 0, err
	}
	defer d.stop()
	if _, err := d.waitRunning(1, time.Minute); err != nil {
		return 0, 0, err
	}
	url := "http://" + addr + "/"
	for deadline := time.Now().Add(30 * time.Second); ; {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("%s: gunicorn never served", kind)
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop := make(chan struct{})
	type result struct {
		failed int
		gap    time.Duration
	}
	done := make(chan result)
	go func() {
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		var r result
		last := time.Now()
		for {
			select {
			case <-stop:
				done <- r
				return
			default:
			}
			resp, err := client.Get(url)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			if err != nil || resp.StatusCode != 200 {
				r.failed++
				time.Sleep(time.Millisecond) // a refused port answers at once
				continue
			}
			r.gap = max(r.gap, time.Since(last))
			last = time.Now()
		}
	}()
	for range restarts {
		time.Sleep(200 * time.Millisecond)
		d.client.Call("supervisor.stopProcess", "web", true)
		if _, err := d.client.Call("supervisor.startProcess", "web", true); err != nil {
			close(stop)
			<-done
			return 0, 0, fmt.Errorf("%s: start: %v", kind, err)
		}
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	r := <-done
	return r.failed, r.gap, nil
}
