package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
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

	"github.com/ctlsup/ctlsup/api/client"
	"github.com/ctlsup/ctlsup/api/xmlrpc"
	"github.com/ctlsup/ctlsup/supervisor/testhelper"
)

// copyBinary installs the daemon binary at path, as a package upgrade
// would: a new file renamed over the old one.
func copyBinary(t *testing.T, path string) {
	t.Helper()
	src, err := os.Open(daemonBinary)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	tmp := path + ".new"
	dst, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	dst.Close()
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestUpgrade_InPlace upgrades ctlsupd twice (ctlsup.upgrade, then SIGUSR1)
// to a binary installed over its own while a program logs as fast as it
// can: the daemon keeps its pid and now runs the new binary, every program
// keeps its pid, no line is lost or written twice, and the control socket
// answers every call made meanwhile.
func TestUpgrade_InPlace(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "ctlsupd")
	copyBinary(t, bin)
	var argv []string
	for _, a := range testhelper.Argv("numbered", "upgrade", "fast") {
		argv = append(argv, strconv.Quote(a))
	}
	path := testConfig(t, map[string]string{"app.toml": program("ticker", "tick") + `
[program.fast]
command = [` + strings.Join(argv, ", ") + `]
startsecs = 0
logfile_maxbytes = "4MB"
logfile_backups = 100
`})
	sock := filepath.Join(filepath.Dir(path), "state", "ctlsup.sock")
	out := &testhelper.SyncBuffer{}
	d := exec.Command(bin, "-c", path)
	d.Stdout, d.Stderr = out, out
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { testhelper.Stop(d) })
	waitUntil(t, "both programs RUNNING", out, func() bool { return len(statusPidsOrNil(sock)) == 2 })
	before := statusPids(t, sock)

	// Call the control socket without pause, a new connection each time.
	getState, _ := xmlrpc.EncodeCall("supervisor.getState")
	var calls, failures atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			// Connection: close, as supervisorctl's calls: a kept-alive
			// connection would linger in the client's pool and count
			// against the daemon's connection limit.
			hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
				DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
					var d net.Dialer
					return d.DialContext(ctx, "unix", sock)
				}}}
			resp, err := hc.Post("http://localhost/RPC2", "text/xml", bytes.NewReader(getState))
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil && resp.StatusCode != 200 {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
			}
			if err != nil {
				failures.Add(1)
				t.Logf("%s call failed: %v", time.Now().Format("15:04:05.000000"), err)
			}
			calls.Add(1)
		}
	})

	exe := func() string { l, _ := os.Readlink("/proc/" + strconv.Itoa(d.Process.Pid) + "/exe"); return l }
	for round, how := range []string{"ctlsup.upgrade", "SIGUSR1"} {
		copyBinary(t, bin)
		if !strings.HasSuffix(exe(), "(deleted)") {
			t.Fatalf("the running binary should have been replaced on disk: %s", exe())
		}
		if how == "SIGUSR1" {
			d.Process.Signal(syscall.SIGUSR1)
		} else {
			c, _ := client.New("unix://"+sock, "", "")
			if _, err := c.Call("ctlsup.upgrade"); err != nil {
				t.Fatalf("ctlsup.upgrade: %v", err)
			}
			c.Close()
		}
		waitUntil(t, "the new image to run", out, func() bool {
			return !strings.HasSuffix(exe(), "(deleted)") && strings.Count(out.String(), "ctlsupd started") == round+2
		})
		after := statusPids(t, sock)
		for name, pid := range before {
			if after[name] != pid {
				t.Errorf("after %s, %s has pid %d, had %d", how, name, after[name], pid)
			}
		}
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	if n := failures.Load(); n > 0 {
		t.Errorf("%d of %d control calls failed during the upgrades\n%s", n, calls.Load(), out)
	}
	t.Logf("%d control calls answered during two upgrades", calls.Load())

	d.Process.Signal(syscall.SIGTERM)
	if err := d.Wait(); err != nil {
		t.Errorf("ctlsupd exit: %v\n%s", err, out)
	}
	checkNumbered(t, filepath.Join(filepath.Dir(path), "log", "fast.log"))
	checkTicks(t, tickNumbers(t, filepath.Join(filepath.Dir(path), "log", "ticker.log")))
}

// TestUpgrade_RestartAcrossIt: supervisorctl's restart is a stop, then a
// start, on one kept-alive connection. An upgrade that comes during the
// stop waits for its answer, which now tells the client to close the
// connection (Connection: close): the start then goes out on a new one,
// which waits in the socket's backlog for the new image and is answered.
// It went out on the old connection, which the old image, detached,
// refused or the exec closed: the program stayed stopped.
func TestUpgrade_RestartAcrossIt(t *testing.T) {
	// The stop takes 4 s: longer than the upgrade's check of the new
	// binary, after which it pauses and turns keep-alives off.
	path := testConfig(t, map[string]string{"app.toml": "[program.slowstop]\n" +
		"command = [\"/bin/sh\", \"-c\", \"trap 'sleep 4; exit 0' TERM; while :; do sleep 0.1; done\"]\nstartsecs = 0\nstopwaitsecs = 10\n"})
	sock := filepath.Join(filepath.Dir(path), "state", "ctlsup.sock")
	d, out := startDaemon(t, path)
	waitUntil(t, "slowstop RUNNING", out, func() bool { return len(statusPidsOrNil(sock)) == 1 })
	waitTrapped(t, out, sock, "slowstop:slowstop")
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body, _ := xmlrpc.EncodeCall("supervisor.stopProcess", "slowstop")
	fmt.Fprintf(conn, "POST /RPC2 HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	waitUntil(t, "the stop under way", out, func() bool { return strings.Contains(out.String(), "waiting for slowstop to stop") })
	d.Process.Signal(syscall.SIGUSR1)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("the stop across the upgrade: %v\n%s", err, out)
	}
	resp.Body.Close()
	if !resp.Close {
		t.Errorf("the answer during the upgrade keeps the connection alive (%v): the client's next call goes to a closed connection", resp.Header)
	}
	c, err := client.New("unix://"+sock, "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Call("supervisor.startProcess", "slowstop"); err != nil {
		t.Fatalf("the start after it: %v\n%s", err, out)
	}
	waitUntil(t, "the new image", out, func() bool { return strings.Count(out.String(), "ctlsupd started") == 2 })
	if len(statusPids(t, sock)) != 1 {
		t.Errorf("slowstop is not running after the restart across the upgrade\n%s", out)
	}
	d.Process.Signal(syscall.SIGTERM)
	d.Wait()
}

// TestUpgrade_SignalBurst: USR1 (and USR2, HUP) sent again and again, as
// a script in a loop might, while the daemon executes its new image: each
// that came before the new runtime handled it ended the daemon (USR1's
// default action), leaving its programs without a supervisor. The daemon
// now lives through the burst, keeps its pid and its programs'.
func TestUpgrade_SignalBurst(t *testing.T) {
	path := testConfig(t, map[string]string{"app.toml": program("ticker", "tick")})
	sock := filepath.Join(filepath.Dir(path), "state", "ctlsup.sock")
	d, out := startDaemon(t, path)
	waitUntil(t, "ticker RUNNING", out, func() bool { return len(statusPidsOrNil(sock)) == 1 })
	before := statusPids(t, sock)
	if before["ticker:ticker"] == 0 {
		t.Fatalf("no ticker:ticker in %v", before)
	}
	exited := make(chan error, 1)
	go func() { exited <- d.Wait() }()
	for i := range 40 {
		d.Process.Signal([]syscall.Signal{syscall.SIGUSR1, syscall.SIGUSR1, syscall.SIGHUP, syscall.SIGUSR2}[i%4])
		time.Sleep(13 * time.Millisecond)
	}
	// Upgrades asked for during the burst may still follow one another;
	// the daemon answers once the last is done.
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("the daemon ended during the burst (%v):\n%s", err, out)
		default:
		}
		if pids := statusPidsOrNil(sock); len(pids) == 1 {
			if pids["ticker:ticker"] != before["ticker:ticker"] {
				t.Errorf("ticker's pid %v, was %v", pids, before)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon does not answer after the burst:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)
	select {
	case err := <-exited:
		t.Fatalf("the daemon ended after the burst (%v):\n%s", err, out)
	default:
	}
}

// TestUpgrade_RefusedWhileTheConfigurationIsNotApplied: the new image
// reads the configuration from disk, so an edit not yet applied would
// go live with the binary, restarting what it changed. The upgrade is
// refused, naming what differs, and goes ahead once update applied it.
func TestUpgrade_RefusedWhileTheConfigurationIsNotApplied(t *testing.T) {
	path := testConfig(t, map[string]string{"app.toml": program("ticker", "tick") + program("sleeper", "sleep")})
	sock := filepath.Join(filepath.Dir(path), "state", "ctlsup.sock")
	_, out := startDaemon(t, path)
	waitUntil(t, "both RUNNING", out, func() bool { return len(statusPidsOrNil(sock)) == 2 })
	before := statusPids(t, sock)
	writeConfd(t, path, map[string]string{"app.toml": program("ticker", "tick", "startretries = 5") + program("sleeper", "sleep")})
	c, err := client.New("unix://"+sock, "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Call("ctlsup.upgrade")
	if err == nil || !strings.Contains(err.Error(), "changed: ticker") {
		t.Fatalf("upgrade with an edit not applied: %v", err)
	}
	if _, err := c.Call("supervisor.reloadConfig"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Call("supervisor.stopProcessGroup", "ticker"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Call("supervisor.removeProcessGroup", "ticker"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Call("supervisor.addProcessGroup", "ticker"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "both RUNNING again", out, func() bool { return len(statusPidsOrNil(sock)) == 2 })
	if _, err := c.Call("ctlsup.upgrade"); err != nil {
		t.Fatalf("upgrade once the edit is applied: %v", err)
	}
	waitUntil(t, "the new image to run", out, func() bool { return strings.Count(out.String(), "ctlsupd started") == 2 })
	if after := statusPids(t, sock); after["sleeper:sleeper"] != before["sleeper:sleeper"] {
		t.Errorf("sleeper's pid %d, was %d", after["sleeper:sleeper"], before["sleeper:sleeper"])
	}
}

// TestUpgrade_TermDuringItsPauseIsObeyed: a TERM that comes while an
// upgrade waits for a request under way (systemctl stop during a deploy)
// was queued for a loop the exec then dropped: the new image ran on.
// The upgrade gives way to it, and the daemon shuts down.
func TestUpgrade_TermDuringItsPauseIsObeyed(t *testing.T) {
	path := testConfig(t, map[string]string{"app.toml": `[program.deaf]
command = ["/bin/sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"]
startsecs = 0
stopwaitsecs = 6
`})
	sock := filepath.Join(filepath.Dir(path), "state", "ctlsup.sock")
	d, out := startDaemon(t, path)
	waitUntil(t, "deaf RUNNING", out, func() bool { return len(statusPidsOrNil(sock)) == 1 })
	// A stop that waits for its end holds the upgrade's pause.
	go func() {
		c, err := client.New("unix://"+sock, "", "")
		if err == nil {
			c.Call("supervisor.stopProcess", "deaf", true)
			c.Close()
		}
	}()
	waitUntil(t, "the stop under way", out, func() bool { return strings.Contains(out.String(), "waiting for deaf") })
	c, err := client.New("unix://"+sock, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Call("ctlsup.upgrade"); err != nil {
		t.Fatalf("ctlsup.upgrade: %v", err)
	}
	c.Close()
	waitUntil(t, "the upgrade's pause", out, func() bool { return strings.Contains(out.String(), "upgrading: executing the binary") })
	d.Process.Signal(syscall.SIGTERM)
	exited := make(chan error, 1)
	go func() { exited <- d.Wait() }()
	select {
	case <-exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("the daemon runs on after a TERM during the upgrade:\n%s", out)
	}
	if !strings.Contains(out.String(), "received SIGTERM") || strings.Count(out.String(), "ctlsupd started") != 1 {
		t.Errorf("not the shutdown the TERM asked for:\n%s", out)
	}
}
