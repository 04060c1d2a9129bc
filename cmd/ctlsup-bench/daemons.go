package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ctlsup/ctlsup/api/client"
)

// program is one generated program, written for either daemon.
type program struct {
	name, command string
	autorestart   bool
	maxBytes      string // "50MB"
	backups       int
	extra         string // more TOML lines for ctlsupd; {dir} is the daemon's directory
}

// daemon is a running ctlsupd or supervisord.
type daemon struct {
	kind   string
	dir    string
	url    string
	cmd    *exec.Cmd
	client *client.Client
	start  time.Time

	metricsURL string
}

func (d *daemon) pid() int { return d.cmd.Process.Pid }

func (d *daemon) logPath(name string) string { return filepath.Join(d.dir, "log", name+".log") }

// startDaemon writes the configuration for progs and starts kind.
func startDaemon(kind, ctlsupd string, progs []program) (*daemon, error) {
	return startDaemonWith(kind, ctlsupd, progs, false)
}

// ctlsupdExtra is appended to ctlsupd's configuration: tables beside the
// programs ({dir} is the daemon's directory).
var ctlsupdExtra string

// startDaemonWith starts the daemon, ctlsupd serving /metrics on a free
// port if metrics is set.
func startDaemonWith(kind, ctlsupd string, progs []program, metrics bool) (*daemon, error) {
	dir, err := os.MkdirTemp("", "ctlsup-bench-")
	if err != nil {
		return nil, err
	}
	os.MkdirAll(filepath.Join(dir, "log"), 0o755)
	sock := filepath.Join(dir, "ctl.sock")
	d := &daemon{kind: kind, dir: dir, url: "unix://" + sock}
	var b strings.Builder
	switch kind {
	case "ctlsupd":
		fmt.Fprintf(&b, "log_dir = %q\nstate_dir = %q\n[control]\nsocket = %q\n", filepath.Join(dir, "log"), filepath.Join(dir, "state"), sock)
		if metrics {
			addr := freeAddr()
			d.metricsURL = "http://" + addr + "/metrics"
			fmt.Fprintf(&b, "[metrics]\nlisten = %q\n", addr)
		}
		for _, p := range progs {
			fmt.Fprintf(&b, "\n[program.%s]\ncommand = %q\nstartsecs = 0\nautorestart = %v\nstopwaitsecs = 2\nstdout_logfile = %q\nredirect_stderr = true\nlogfile_maxbytes = %q\nlogfile_backups = %d\n",
				p.name, p.command, p.autorestart, d.logPath(p.name), p.maxBytes, p.backups)
			// Isolated crashes restart at once: measure those, not the
			// crash-loop back-off (the kills are 1.2 s apart).
			b.WriteString("restart_max_delay = 1\n")
			b.WriteString(strings.ReplaceAll(p.extra, "{dir}", dir))
		}
		b.WriteString(strings.ReplaceAll(ctlsupdExtra, "{dir}", dir))
		conf := filepath.Join(dir, "ctlsupd.toml")
		os.WriteFile(conf, []byte(b.String()), 0o644)
		d.cmd = exec.Command(ctlsupd, "-c", conf)
	case "supervisord":
		fmt.Fprintf(&b, "[unix_http_server]\nfile=%s\n[supervisord]\nlogfile=%s/supervisord.log\npidfile=%s/supervisord.pid\nchildlogdir=%s/log\nnodaemon=true\nminfds=8192\n[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n",
			sock, dir, dir, dir)
		for _, p := range progs {
			// supervisord expands %(name)s in commands: a literal % is %%.
			fmt.Fprintf(&b, "\n[program:%s]\ncommand=%s\nstartsecs=0\nautorestart=%v\nstopwaitsecs=2\nstdout_logfile=%s\nredirect_stderr=true\nstdout_logfile_maxbytes=%s\nstdout_logfile_backups=%d\n",
				p.name, strings.ReplaceAll(p.command, "%", "%%"), p.autorestart, d.logPath(p.name), p.maxBytes, p.backups)
		}
		conf := filepath.Join(dir, "supervisord.conf")
		os.WriteFile(conf, []byte(b.String()), 0o644)
		d.cmd = exec.Command("supervisord", "-n", "-c", conf)
	}
	if err := d.launch(); err != nil {
		return nil, err
	}
	return d, nil
}

// launch starts d.cmd and waits until its control socket answers.
func (d *daemon) launch() error {
	d.cmd.Stdout, d.cmd.Stderr = nil, nil
	d.start = time.Now()
	if err := d.cmd.Start(); err != nil {
		return err
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if c, err := net.Dial("unix", strings.TrimPrefix(d.url, "unix://")); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			d.stop()
			return fmt.Errorf("%s did not open its socket", d.kind)
		}
		time.Sleep(5 * time.Millisecond)
	}
	d.client, _ = client.New(d.url, "", "")
	return nil
}

// waitRunning waits until n processes are RUNNING and returns the time
// since the daemon started.
func (d *daemon) waitRunning(n int, limit time.Duration) (time.Duration, error) {
	deadline := d.start.Add(limit)
	// A process list costs the daemon (and a 2-core machine) enough to
	// slow down what it measures: until the daemon has as many children
	// as programs, only /proc is read. That costs too (4 ms with 5000
	// children), so it is read at 1/20 of the machine's time at most.
	for time.Now().Before(deadline) {
		t := time.Now()
		if len(childPids(d.pid())) >= n {
			break
		}
		time.Sleep(max(10*time.Millisecond, 20*time.Since(t)))
	}
	return d.pollRunning(n, deadline)
}

// pollRunning asks the daemon every 20 ms until n processes are RUNNING,
// and returns the time since it started. An adopting daemon is waited for
// this way alone: the processes it adopts after its predecessor's death
// are not its children.
func (d *daemon) pollRunning(n int, deadline time.Time) (time.Duration, error) {
	every := 20 * time.Millisecond
	for {
		v, err := d.client.Call("supervisor.getAllProcessInfo")
		if err == nil {
			running, fatal, why := 0, 0, ""
			for _, p := range v.([]any) {
				switch statename(p) {
				case "RUNNING":
					running++
				case "FATAL":
					fatal++
					why = spawnerr(p)
				}
			}
			if running >= n {
				return time.Since(d.start), nil
			}
			if fatal > 0 && running+fatal >= n {
				return time.Since(d.start), fmt.Errorf("%s: %d of %d FATAL (%s)", d.kind, fatal, n, why)
			}
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s: not all %d running after %s", d.kind, n, deadline.Sub(d.start).Round(time.Second))
		}
		time.Sleep(every)
	}
}

// stop stops the daemon. One that does not stop within two minutes is
// killed, and so are the children it leaves behind (each leads a process
// group of its own), so they do not weigh on the next measurement.
func (d *daemon) stop() {
	kids := childStarts(d.pid())
	d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { d.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		fmt.Fprintf(os.Stderr, "%s did not stop within two minutes: killed with its children\n", d.kind)
		d.cmd.Process.Kill()
		<-done
		for pid, start := range kids {
			if startTime(pid) == start {
				syscall.Kill(-pid, syscall.SIGKILL)
			}
		}
	}
	os.RemoveAll(d.dir)
}

// freeAddr is a loopback address with a port nothing listens on now.
func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:9811"
	}
	defer l.Close()
	return l.Addr().String()
}
