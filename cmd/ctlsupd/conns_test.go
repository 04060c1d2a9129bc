package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ctlsup/ctlsup/api"
	"github.com/ctlsup/ctlsup/api/xmlrpc"
)

// TestControl_IdleConnectionStaysOpen: a client that keeps one connection
// and calls again after a quiet spell longer than a request's read timeout,
// as supervisor's SupervisorTransport does for superlance's listeners
// (memmon on TICK_60), finds it open: supervisord closes no idle
// connection, and that transport never reconnects.
func TestControl_IdleConnectionStaysOpen(t *testing.T) {
	t.Parallel()
	path := testConfig(t, map[string]string{"app.toml": program("web", "sleep")})
	sock := filepath.Join(filepath.Dir(path), "state", "ctlsup.sock")
	_, log := startDaemon(t, path)
	waitUntil(t, "the control socket", log, func() bool { return statusPidsOrNil(sock) != nil })

	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	body, _ := xmlrpc.EncodeCall("supervisor.getState")
	call := func() error {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		req, _ := http.NewRequest("POST", "http://localhost/RPC2", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "text/xml")
		if err := req.Write(c); err != nil {
			return err
		}
		resp, err := http.ReadResponse(r, req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	if err := call(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(api.ReadTimeout + 5*time.Second)
	if err := call(); err != nil {
		t.Errorf("the connection kept through %s of quiet: %v", api.ReadTimeout+5*time.Second, err)
	}
}
