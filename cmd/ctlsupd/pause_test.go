package main

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ctlsup/ctlsup/api"
	"github.com/ctlsup/ctlsup/supervisor"
)

// TestBusyConns_StreamsAreNoAnswersToWaitFor: a client following the
// main log (tail -f) or the web page's state stream is not waited for by
// an upgrade, which waited its whole 5 s for one, and held every control
// request meanwhile; a request being answered still is.
func TestBusyConns_StreamsAreNoAnswersToWaitFor(t *testing.T) {
	log := filepath.Join(t.TempDir(), "ctlsupd.log")
	os.WriteFile(log, []byte("a line\n"), 0o644)
	srv := api.NewServer(supervisor.New(nil, nil))
	srv.MainLog = log
	b := newBusyConns()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv, ConnState: b.track,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return api.WithStreaming(ctx, func() { b.streaming(c) })
		}}
	go hs.Serve(l)
	t.Cleanup(func() { hs.Close() })
	for _, path := range []string{"/mainlogtail", "/ui/state"} {
		resp, err := http.Get("http://" + l.Addr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if line, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
			t.Fatalf("%s: %q, %v", path, line, err)
		}
		waited := make(chan struct{})
		go func() { b.wait(time.Hour); close(waited) }()
		select {
		case <-waited:
		case <-time.After(30 * time.Second):
			t.Fatalf("the wait for answers waits for %s", path)
		}
	}
	// A request under way is waited for.
	active := &net.TCPConn{}
	b.track(active, http.StateActive)
	done := make(chan struct{})
	go func() { b.wait(time.Hour); close(done) }()
	select {
	case <-done:
		t.Fatal("the wait did not wait for a request under way")
	case <-time.After(100 * time.Millisecond):
	}
	b.track(active, http.StateIdle)
	<-done
}
