package api_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/ctlsup/ctlsup/api"
)

// TestLimitListener: a flood of silent TCP connections holds at most
// MaxConns of the daemon's descriptors, yet neither locks out a new
// client nor costs a client its idle keep-alive connection: the silent
// ones are closed first to make room.
func TestLimitListener(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	full := make(chan struct{}, 4*api.MaxConns)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) }),
		ReadHeaderTimeout: api.ReadHeaderTimeout, IdleTimeout: api.IdleTimeout}
	go srv.Serve(api.LimitListener(l, api.MaxConns, func() { full <- struct{}{} }))
	defer srv.Close()

	// A client that keeps its connection, as supervisor's transport does.
	kept, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Close()
	keptReader := bufio.NewReader(kept)
	ask := func() error {
		kept.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(kept, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return err
		}
		resp, err := http.ReadResponse(keptReader, nil)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return nil
	}
	if err := ask(); err != nil {
		t.Fatal(err)
	}

	var flood []net.Conn
	defer func() {
		for _, c := range flood {
			c.Close()
		}
	}()
	for range 2 * api.MaxConns {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		flood = append(flood, c)
	}
	// Every connection past the limit closed one of the flood's; a new
	// client is answered meanwhile.
	deadline := time.After(20 * time.Second)
	for range api.MaxConns + 1 {
		select {
		case <-full:
		case <-deadline:
			t.Fatalf("fewer than %d connections were closed for room", api.MaxConns+1)
		}
	}
	resp, err := http.Get("http://" + l.Addr().String())
	if err != nil {
		t.Fatalf("a new client during the flood: %v", err)
	}
	resp.Body.Close()
	if err := ask(); err != nil {
		t.Errorf("the kept connection was closed for the flood: %v", err)
	}
	closed := 0
	for _, c := range flood {
		c.SetReadDeadline(time.Now().Add(time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err == io.EOF {
			closed++
		}
	}
	if closed < api.MaxConns {
		t.Errorf("%d of the flood's %d connections closed; want at least %d", closed, len(flood), api.MaxConns)
	}
}
