package osruntime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ctlsup/ctlsup/supervisor"
	"github.com/ctlsup/ctlsup/supervisor/testhelper"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestReady_Kinds: with each readiness rule a process is STARTING until it
// is ready (not merely up for startsecs), then RUNNING.
func TestReady_Kinds(t *testing.T) {
	dir := t.TempDir()
	addr1, addr2 := freeAddr(t), freeAddr(t)
	file := filepath.Join(dir, "ready-file")
	for _, tc := range []struct {
		name  string
		argv  []string
		ready supervisor.Readiness
	}{
		{"notify", testhelper.Argv("notify", "600ms", "warming up"), supervisor.Readiness{Kind: supervisor.ReadyNotify}},
		{"tcp", testhelper.Argv("serve-after", "600ms", addr1), supervisor.Readiness{Kind: supervisor.ReadyTCP, Target: addr1}},
		{"http", testhelper.Argv("serve-after", "600ms", addr2), supervisor.Readiness{Kind: supervisor.ReadyHTTP, Target: "http://" + addr2 + "/"}},
		{"exec", testhelper.Argv("touch-after", "600ms", file), supervisor.Readiness{Kind: supervisor.ReadyExec, Argv: []string{"test", "-e", file}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := helperSpec(dir, tc.name, tc.argv, func(s *supervisor.ProcessSpec) {
				s.Ready, s.StartSecs = tc.ready, 10*time.Second
			})
			h := openOS(t, spec)
			t0 := time.Now()
			info := h.wait(tc.name, func(i *supervisor.ProcessInfo) bool { return i.Pid != 0 })
			if info.State != supervisor.Starting {
				t.Errorf("before it is ready: %s", info.State)
			}
			if tc.name == "notify" {
				st := h.wait(tc.name, func(i *supervisor.ProcessInfo) bool { return i.StatusText != "" })
				if st.State == supervisor.Starting && st.StatusText != "warming up" {
					t.Errorf("STATUS= not shown: %q", st.StatusText)
				}
			}
			h.wait(tc.name, inState(supervisor.Running))
			if took := time.Since(t0); took < 500*time.Millisecond {
				t.Errorf("RUNNING after %s, before it was ready", took)
			}
		})
	}
}

// TestReady_NotReadyInTime: a process not ready within startsecs is
// stopped and its start counts as failed.
func TestReady_NotReadyInTime(t *testing.T) {
	spec := helperSpec(t.TempDir(), "mute", testhelper.Argv("notify", "never"), func(s *supervisor.ProcessSpec) {
		s.Ready, s.StartSecs, s.StartRetries, s.StopWait = supervisor.Readiness{Kind: supervisor.ReadyNotify}, 300*time.Millisecond, 0, time.Second
	})
	h := openOS(t, spec)
	info := h.wait("mute", inState(supervisor.Fatal))
	if !strings.Contains(info.SpawnErr, "not ready within startsecs") {
		t.Errorf("FATAL for %q", info.SpawnErr)
	}
}

// TestReady_NotifyFromAnotherProgramIsIgnored: READY=1 counts only from
// the spawn it belongs to.
func TestReady_NotifyFromAnotherProgramIsIgnored(t *testing.T) {
	dir := t.TempDir()
	waiting := helperSpec(dir, "waiting", testhelper.Argv("notify", "never"), func(s *supervisor.ProcessSpec) {
		s.Ready, s.StartSecs = supervisor.Readiness{Kind: supervisor.ReadyNotify}, 30*time.Second
	})
	liar := helperSpec(dir, "liar", testhelper.Argv("notify", "10ms"), func(s *supervisor.ProcessSpec) {
		s.Ready, s.StartSecs = supervisor.Readiness{Kind: supervisor.ReadyNotify}, 30*time.Second
	})
	h := openOS(t, waiting, liar)
	h.wait("liar", inState(supervisor.Running))
	time.Sleep(200 * time.Millisecond)
	if info, _ := h.s.Process("waiting"); info.State != supervisor.Starting {
		t.Errorf("waiting is %s after another program's READY=1", info.State)
	}
}

// TestDepends_WaitsForThePort: a celery stand-in that depends on a redis
// stand-in starts only once redis's port answers.
func TestDepends_WaitsForThePort(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	redis := helperSpec(dir, "redis", testhelper.Argv("serve-after", "700ms", addr), func(s *supervisor.ProcessSpec) {
		s.Ready, s.StartSecs, s.Priority = supervisor.Readiness{Kind: supervisor.ReadyTCP, Target: addr}, 10*time.Second, 900
	})
	celery := helperSpec(dir, "celery", []string{"/bin/sh", "-c", "exec 3<>/dev/tcp/" + strings.Replace(addr, ":", "/", 1) + " 2>/dev/null && echo connected || echo refused; exec sleep 1000"}, func(s *supervisor.ProcessSpec) {
		s.DependsOn, s.Priority = []string{"redis"}, 1
	})
	// /bin/sh may lack /dev/tcp: bash has it.
	celery.Argv[0] = "/bin/bash"
	h := openOS(t, celery, redis)
	h.wait("celery", inState(supervisor.Running))
	eventually(t, "celery's try", func() bool { return strings.Contains(readFile(celery.Stdout.Path), "e") })
	if out := readFile(celery.Stdout.Path); !strings.Contains(out, "connected") {
		t.Errorf("celery started before redis listened: %q", out)
	}
}

// TestSockets_HeldAcrossRestarts: a program given a socket gets it as fd
// 3 with LISTEN_FDS and its own LISTEN_PID; the port never closes while it
// restarts: a connection made meanwhile waits in the backlog and is served.
func TestSockets_HeldAcrossRestarts(t *testing.T) {
	addr := freeAddr(t)
	spec := helperSpec(t.TempDir(), "web", testhelper.Argv("listen-fds"), func(s *supervisor.ProcessSpec) {
		s.Sockets = []supervisor.SocketSpec{{Name: "http", Network: "tcp", Address: addr, Backlog: 128}}
		s.Ready, s.StartSecs = supervisor.Readiness{Kind: supervisor.ReadyHTTP, Target: "http://" + addr + "/"}, 10*time.Second
	})
	h := openOS(t, spec)
	first := h.wait("web", inState(supervisor.Running))
	// Its output reaches the log after its port answers the probe, at
	// the capture's pace: waited for.
	eventually(t, "the program's report", func() bool { return strings.Contains(readFile(spec.Stdout.Path), "\n") })
	if out := readFile(spec.Stdout.Path); !strings.Contains(out, "LISTEN_FDS 1 LISTEN_PID ok true names http") {
		t.Fatalf("the program saw: %q", out)
	}
	get := func() (string, error) {
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get("http://" + addr + "/")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b), nil
	}
	if err := supervisor.Err(h.s.Stop(context.Background(), supervisor.Process("web"), supervisor.WaitForDone)); err != nil {
		t.Fatal(err)
	}
	// Stopped, the port still accepts: the request waits for a server.
	answer := make(chan string, 1)
	go func() {
		body, err := get()
		answer <- fmt.Sprint(body, err)
	}()
	time.Sleep(200 * time.Millisecond)
	if err := supervisor.Err(h.s.Start(context.Background(), supervisor.Process("web"), supervisor.WaitForDone)); err != nil {
		t.Fatal(err)
	}
	second, _ := h.s.Process("web")
	if got := <-answer; got != fmt.Sprintf("pid %d<nil>", second.Pid) || second.Pid == first.Pid {
		t.Errorf("a request made while stopped: %q (pids %d then %d)", got, first.Pid, second.Pid)
	}
}

// TestStdin: a program with stdin = true reads what SendStdin writes; one
// without has none (NO_FILE, as its stdin is /dev/null).
func TestStdin(t *testing.T) {
	dir := t.TempDir()
	cat := helperSpec(dir, "cat", []string{"/bin/cat"}, func(s *supervisor.ProcessSpec) { s.Stdin = true })
	plain := helperSpec(dir, "plain", testhelper.Argv("sleep"), nil)
	h := openOS(t, cat, plain)
	h.wait("cat", inState(supervisor.Running))
	h.wait("plain", inState(supervisor.Running))
	for _, line := range []string{"hello\n", "world\n"} {
		if err := h.s.SendStdin(context.Background(), "cat", []byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "cat's echo", func() bool { return readFile(cat.Stdout.Path) == "hello\nworld\n" })
	if err := h.s.SendStdin(context.Background(), "plain", []byte("x")); !errors.Is(err, supervisor.ErrNoFile) {
		t.Errorf("stdin of a program without one: %v", err)
	}
	supervisor.Err(h.s.Stop(context.Background(), supervisor.Process("cat"), supervisor.WaitForDone))
	if err := h.s.SendStdin(context.Background(), "cat", []byte("x")); !errors.Is(err, supervisor.ErrNotRunning) {
		t.Errorf("stdin of a stopped program: %v", err)
	}
}

// TestActions_OnFatalAndOnExit: on_exit runs a command with the event in
// its environment; on_fatal = "shutdown" asks the daemon to stop.
func TestActions_OnFatalAndOnExit(t *testing.T) {
	dir := t.TempDir()
	record := filepath.Join(dir, "exit-event")
	once := helperSpec(dir, "once", testhelper.Argv("exit", "3"), func(s *supervisor.ProcessSpec) {
		s.AutoRestart, s.StartSecs = supervisor.RestartNever, 0
		s.OnExit = `echo "$CTLSUP_EVENT $CTLSUP_PROCESS $CTLSUP_EXPECTED $CTLSUP_PAYLOAD" > ` + record
	})
	failing := helperSpec(dir, "failing", testhelper.Argv("exit", "1"), func(s *supervisor.ProcessSpec) {
		s.StartSecs, s.StartRetries, s.OnFatal = time.Second, 0, "shutdown"
	})
	shutdown := make(chan struct{}, 1)
	h := openOSWith(t, func(s *supervisor.Supervisor) { s.OnShutdown = func() { shutdown <- struct{}{} } }, once, failing)
	eventually(t, "the on_exit command", func() bool { return strings.Contains(readFile(record), "expected:0") })
	if got := strings.TrimSpace(readFile(record)); !strings.HasPrefix(got, "PROCESS_STATE_EXITED once 0 processname:once groupname:once from_state:RUNNING expected:0 pid:") {
		t.Errorf("on_exit saw %q", got)
	}
	select {
	case <-shutdown:
	case <-time.After(10 * time.Second):
		t.Fatalf("on_fatal = shutdown did not ask for a shutdown:\n%s", h.log)
	}
}

// TestOS_NotifySocketOutOfReachIsSaid: a ready = "notify" program running
// as a user who may not search the state directory could not send its
// READY=1: it sat in STARTING until startsecs had it killed, again and
// again, with nothing to say why. Its spawn fails, saying so.
func TestOS_NotifySocketOutOfReachIsSaid(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("switching users needs root; CI runs as root")
	}
	h := openOS(t, helperSpec(t.TempDir(), "notifier", []string{"/bin/sleep", "1000"}, func(s *supervisor.ProcessSpec) {
		s.StartRetries, s.User = 0, "nobody"
		s.Ready = supervisor.Readiness{Kind: supervisor.ReadyNotify}
	}))
	info := h.wait("notifier", inState(supervisor.Fatal))
	if !strings.Contains(info.SpawnErr, "user nobody cannot reach the notify socket "+filepath.Join(h.dir, "state", "notify.sock")+": it may not search ") ||
		!strings.Contains(info.SpawnErr, "(mode 0700)") {
		t.Errorf("description %q", info.SpawnErr)
	}
}
