package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ctlsup/ctlsup/api/client"
)

// TestSockets_SurviveTheDaemonsDeath: a socket ctlsupd holds outlives its
// death: the next ctlsupd takes it over from the fd holder (the same
// socket, not a new bind), and a restart then still refuses nothing.
func TestSockets_SurviveTheDaemonsDeath(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	path := testConfig(t, map[string]string{"app.toml": fmt.Sprintf("[socket.http]\nlisten = %q\n", addr) +
		program("web", "listen-fds", `sockets = ["http"]`, `ready = "notify"`)})
	sock := filepath.Join(filepath.Dir(path), "state", "ctlsup.sock")
	first, log1 := startDaemon(t, path)
	waitUntil(t, "web RUNNING", log1, func() bool { return statusPidsOrNil(sock)["web:web"] != 0 })
	first.Process.Signal(syscall.SIGKILL)
	first.Wait()
	second, log2 := startDaemon(t, path)
	waitUntil(t, "web adopted", log2, func() bool { return statusPidsOrNil(sock)["web:web"] != 0 })
	// The log reaches the test through a pipe: wait for the line.
	waitUntil(t, "the socket taken over", log2, func() bool {
		return strings.Contains(log2.String(), "socket taken over from the previous daemon")
	})
	c, _ := client.New("unix://"+sock, "", "")
	if _, err := c.Call("supervisor.stopProcess", "web", true); err != nil {
		t.Fatal(err)
	}
	answer := make(chan string, 1)
	go func() {
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := hc.Get("http://" + addr + "/")
		if err != nil {
			answer <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		answer <- string(b)
	}()
	time.Sleep(200 * time.Millisecond)
	if _, err := c.Call("supervisor.startProcess", "web", true); err != nil {
		t.Fatal(err)
	}
	if got := <-answer; !strings.HasPrefix(got, "pid ") {
		t.Errorf("a request made while web was stopped: %q", got)
	}
	second.Process.Signal(syscall.SIGTERM)
	second.Wait()
}
