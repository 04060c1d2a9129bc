package api_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ctlsup/ctlsup/api"
)

// TestLimitListener: a flood of silent TCP connections holds at most
// MaxConns of the daemon's descriptors, yet neither locks out a new
// client nor costs a client its idle keep-alive connection: connections
// never answered are closed first to make room.
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
	time.Sleep(1200 * time.Millisecond) // a kept connection is not a new one

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

// TestLimitListener_ChurningFlood: a client that connects in a loop, sends
// a byte and holds each connection (without credentials, which a 401
// would ask for) does not keep others out: a new connection is spared
// while older ones can make room, and a kept connection, answered before,
// outlives the flood's, which never are. (A flood faster than MaxConns a
// second closes newcomers too, after MaxConns accepts.)
func TestLimitListener_ChurningFlood(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) }),
		ReadHeaderTimeout: api.ReadHeaderTimeout, IdleTimeout: api.IdleTimeout}
	go srv.Serve(api.LimitListener(l, api.MaxConns, nil))
	defer srv.Close()
	addr := l.Addr().String()

	kept := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	get := func(c *http.Client) error {
		resp, err := c.Get("http://" + addr)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		return resp.Body.Close()
	}
	if err := get(kept); err != nil {
		t.Fatal(err)
	}

	stop := make(chan struct{})
	var flooders sync.WaitGroup
	flooders.Add(1)
	go func() {
		defer flooders.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			c, err := net.Dial("tcp", addr)
			if err != nil {
				continue
			}
			c.Write([]byte("G"))
			time.AfterFunc(5*time.Second, func() { c.Close() })
		}
	}()
	defer func() {
		close(stop)
		flooders.Wait()
	}()
	time.Sleep(3 * time.Second) // the flood fills the listener

	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	failed := 0
	for range 50 {
		if err := get(fresh); err != nil {
			failed++
		}
	}
	if failed > 0 {
		t.Errorf("%d of 50 new clients failed during the flood", failed)
	}
	if err := get(kept); err != nil {
		t.Errorf("the kept connection: %v", err)
	}
}

// scripted is a listener whose accepts return what a test queued.
type scripted struct {
	net.Listener
	next []func() (net.Conn, error)
}

func (s *scripted) Accept() (net.Conn, error) {
	f := s.next[0]
	s.next = s.next[1:]
	return f()
}

// TestLimitListener_OutOfDescriptors: an accept that fails for want of a
// descriptor closes the least recently used kept connection and accepts
// again; with none kept (only requests under way), it fails as before.
func TestLimitListener_OutOfDescriptors(t *testing.T) {
	emfile := func() (net.Conn, error) { return nil, &net.OpError{Op: "accept", Err: syscall.EMFILE} }
	kept, keptPeer := net.Pipe()
	defer keptPeer.Close()
	busy, _ := net.Pipe() // a request under way, never answered yet
	queued, _ := net.Pipe()
	inner := &scripted{next: []func() (net.Conn, error){
		func() (net.Conn, error) { return kept, nil },
		func() (net.Conn, error) { return busy, nil },
		emfile,
		func() (net.Conn, error) { return queued, nil },
		emfile, emfile,
	}}
	l := api.LimitListener(inner, api.MaxConns, nil)
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, keptPeer)
	c.Write([]byte("HTTP/1.1 200 OK\r\n\r\n")) // answered: a kept connection
	b, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // neither is a new one
	if got, err := l.Accept(); err != nil || got == nil {
		t.Fatalf("out of descriptors with a kept connection: %v", err)
	}
	if _, err := c.Write([]byte("x")); err == nil {
		t.Error("the kept connection is still open")
	}
	if err := b.SetDeadline(time.Now().Add(time.Hour)); err != nil {
		t.Errorf("the request under way was closed: %v", err)
	}
	if _, err := l.Accept(); !errors.Is(err, syscall.EMFILE) {
		t.Errorf("out of descriptors with nothing kept: %v, want EMFILE", err)
	}
}
