package api_test

import (
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/ctlsup/ctlsup/api"
)

// TestLimitListener: a flood of idle TCP connections from one peer holds at
// most MaxConnsPerHost of the daemon's descriptors; the rest are closed at
// once, and the server goes on answering.
func TestLimitListener(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) }),
		ReadHeaderTimeout: api.ReadHeaderTimeout}
	go srv.Serve(api.LimitListener(l, api.MaxConns, api.MaxConnsPerHost))
	defer srv.Close()

	var held, closed int
	var conns []net.Conn
	for range 2 * api.MaxConnsPerHost {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	// A connection the server has not got to yet reads as held: rounds
	// go on until the excess is closed, or 10 s.
	open := conns
	for deadline := time.Now().Add(10 * time.Second); closed < api.MaxConnsPerHost && time.Now().Before(deadline); {
		var still []net.Conn
		for _, c := range open {
			c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			if _, err := c.Read(make([]byte, 1)); err == io.EOF {
				closed++
				c.Close()
			} else {
				still = append(still, c)
			}
		}
		open = still
	}
	held = len(open)
	for _, c := range open {
		c.Close()
	}
	if held != api.MaxConnsPerHost || closed != api.MaxConnsPerHost {
		t.Errorf("%d connections held and %d closed; want %d each", held, closed, api.MaxConnsPerHost)
	}
	// The flood's connections closed, their places are given back as the
	// server sees them close.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get("http://" + l.Addr().String())
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server stopped answering: %v", err)
		}
	}
}
