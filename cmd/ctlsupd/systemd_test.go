package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ctlsup/ctlsup/api/client"
	"github.com/ctlsup/ctlsup/supervisor/testhelper"
)

// notifySocket listens like systemd does and delivers each datagram.
func notifySocket(t *testing.T) (string, <-chan string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	msgs := make(chan string, 1000)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	return path, msgs
}

// next returns the next message that is not a STATUS= update.
func next(t *testing.T, msgs <-chan string, statuses *[]string) string {
	t.Helper()
	for {
		select {
		case m := <-msgs:
			if strings.HasPrefix(m, "STATUS=") {
				*statuses = append(*statuses, m)
				continue
			}
			return m
		case <-time.After(10 * time.Second):
			t.Fatal("no sd_notify message")
		}
	}
}

// TestSystemd_NotifySequence runs ctlsupd under a fake NOTIFY_SOCKET
// through start, SIGHUP and SIGTERM.
func TestSystemd_NotifySequence(t *testing.T) {
	sock, msgs := notifySocket(t)
	path := testConfig(t, map[string]string{"a.toml": program("web", "sleep") + program("worker", "sleep", "numprocs = 2")})
	cmd := exec.Command(daemonBinary, "-c", path)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock)
	out := &testhelper.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var statuses []string
	if m := next(t, msgs, &statuses); m != "READY=1" {
		t.Fatalf("first message %q, want READY=1\n%s", m, out)
	}
	cmd.Process.Signal(syscall.SIGHUP)
	if m := next(t, msgs, &statuses); !strings.HasPrefix(m, "RELOADING=1\nMONOTONIC_USEC=") {
		t.Errorf("on SIGHUP %q, want RELOADING=1 with MONOTONIC_USEC", m)
	}
	if m := next(t, msgs, &statuses); m != "READY=1" {
		t.Errorf("after the reload %q, want READY=1", m)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !containsString(statuses, "STATUS=3 running, 0 backoff, 0 fatal") && time.Now().Before(deadline) {
		select {
		case m := <-msgs:
			if strings.HasPrefix(m, "STATUS=") {
				statuses = append(statuses, m)
			}
		case <-time.After(100 * time.Millisecond):
		}
	}
	if !containsString(statuses, "STATUS=3 running, 0 backoff, 0 fatal") {
		t.Errorf("STATUS never said all three run: %q", statuses)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if m := next(t, msgs, &statuses); m != "STOPPING=1" {
		t.Errorf("on SIGTERM %q, want STOPPING=1", m)
	}
	if m := next(t, msgs, &statuses); m != "EXTEND_TIMEOUT_USEC=15000000" {
		t.Errorf("while stopping %q, want EXTEND_TIMEOUT_USEC", m)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit: %v", err)
	}
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestSystemd_WatchdogNeedsAnAnsweringEngine: pings flow while the engine
// answers and stop when it is wedged.
func TestSystemd_WatchdogNeedsAnAnsweringEngine(t *testing.T) {
	sock, msgs := notifySocket(t)
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "200000")
	path := testConfig(t, map[string]string{"a.toml": program("web", "sleep")})
	r := &runningMain{sigs: make(chan os.Signal, 1), done: make(chan error, 1), stderr: &testhelper.SyncBuffer{}}
	var wedged atomic.Bool
	var passed atomic.Int64 // pings the engine answered: each is sent
	blocked := make(chan struct{})
	var blockedOnce sync.Once
	started := make(chan struct{})
	r.m = &Main{ConfigPath: path, Stdout: r.stderr, Stderr: r.stderr, Signals: r.sigs,
		Started: func(m *Main) { close(started) }}
	r.m.pingHook = func(ctx context.Context) error {
		if wedged.Load() {
			blockedOnce.Do(func() { close(blocked) })
			<-ctx.Done()
			return ctx.Err()
		}
		err := r.m.engine.Load().Ping(ctx)
		if err == nil {
			passed.Add(1)
		}
		return err
	}
	go func() { r.done <- r.m.Run(context.Background()) }()
	<-started
	got := 0 // WATCHDOG=1 received
	// readUntil reads messages until done says so or d has passed.
	readUntil := func(d time.Duration, done func() bool) {
		end := time.After(d)
		for !done() {
			select {
			case m := <-msgs:
				if m == "WATCHDOG=1" {
					got++
				}
			case <-end:
				return
			}
		}
	}
	readUntil(10*time.Second, func() bool { return got >= 5 })
	if got < 5 {
		t.Fatalf("%d pings in 10 s with a 200ms watchdog", got)
	}
	wedged.Store(true)
	select {
	case <-blocked:
	case <-time.After(10 * time.Second):
		t.Fatal("the watchdog stopped asking the engine")
	}
	// The watchdog asks, then sends, one ping at a time: once a ping
	// waits on the wedged engine, every answered one has been sent.
	want := int(passed.Load())
	readUntil(10*time.Second, func() bool { return got >= want })
	if got != want {
		t.Fatalf("%d pings received, %d answered by the engine", got, want)
	}
	readUntil(time.Second, func() bool { return false })
	if got != want {
		t.Errorf("%d pings while the engine was wedged", got-want)
	}
	r.sigs <- syscall.SIGTERM
	<-r.done
}

// TestSystemd_SocketActivation passes the control socket and the metrics
// listener by fd, named as FileDescriptorName= names them.
func TestSystemd_SocketActivation(t *testing.T) {
	dir := t.TempDir()
	ctlPath := filepath.Join(dir, "passed.sock")
	ctl, err := net.ListenUnix("unix", &net.UnixAddr{Name: ctlPath, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	met, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ctlFile, _ := ctl.File()
	metFile, _ := met.File()
	path := testConfig(t, map[string]string{"a.toml": program("web", "sleep")})
	// LISTEN_PID must be the daemon's own pid: a shell sets it and execs.
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ exec "$0" "$@"`, daemonBinary, "-c", path)
	cmd.Env = append(os.Environ(), "LISTEN_FDS=2", "LISTEN_FDNAMES=control:metrics")
	cmd.ExtraFiles = []*os.File{ctlFile, metFile}
	out := &testhelper.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer testhelper.Stop(cmd)
	c, _ := client.New("unix://"+ctlPath, "", "")
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := c.Call("supervisor.getState"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no answer on the passed control socket:\n%s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := http.Get(fmt.Sprintf("http://%s/metrics", met.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "ctlsup_build_info") {
		t.Errorf("metrics on the passed listener: %d %.200s", resp.StatusCode, body)
	}
	if _, err := os.Stat(filepath.Join(dir, "state", "ctlsup.sock")); err == nil {
		t.Error("ctlsupd made its own socket although systemd passed one")
	}
}

// TestExtendStop_Bounded: EXTEND_TIMEOUT_USEC stops once the longest
// stopwaitsecs and its margin have passed, even if a stop never ends (a
// child in D state), so systemctl stop cannot hang for ever.
func TestExtendStop_Bounded(t *testing.T) {
	path, msgs := notifySocket(t)
	t.Setenv("NOTIFY_SOCKET", path)
	m := &Main{Logger: slog.New(slog.DiscardHandler)}
	ended := make(chan struct{})
	go func() {
		m.extendStop(make(chan struct{}), 50*time.Millisecond) // never done
		close(ended)
	}()
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("extendStop went on past its limit")
	}
	if got := <-msgs; !strings.HasPrefix(got, "EXTEND_TIMEOUT_USEC=") {
		t.Errorf("first message %q", got)
	}
}
