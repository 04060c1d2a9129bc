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
	time.Sleep(200 * time.Millisecond) // the server accepts every one meanwhile
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err == io.EOF {
			closed++
		} else {
			held++
		}
		c.Close()
	}
	if held != api.MaxConnsPerHost || closed != api.MaxConnsPerHost {
		t.Errorf("%d connections held and %d closed; want %d each", held, closed, api.MaxConnsPerHost)
	}
	resp, err := http.Get("http://" + l.Addr().String())
	if err != nil {
		t.Fatalf("the server stopped answering: %v", err)
	}
	resp.Body.Close()
}
