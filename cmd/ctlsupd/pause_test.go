package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ctlsup/ctlsup/api"
)

// TestBusyConns_AFollowedLogIsNoAnswerToWaitFor: a client following the
// main log (tail -f) is not waited for by an upgrade, which waited its
// whole 5 s for one, and held every control request meanwhile; a request
// being answered still is.
func TestBusyConns_AFollowedLogIsNoAnswerToWaitFor(t *testing.T) {
	log := filepath.Join(t.TempDir(), "ctlsupd.log")
	os.WriteFile(log, []byte("a line\n"), 0o644)
	srv := api.NewServer(nil)
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
	resp, err := http.Get("http://" + l.Addr().String() + "/mainlogtail")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line := make([]byte, 7)
	if _, err := resp.Body.Read(line); err != nil || string(line) != "a line\n" {
		t.Fatalf("read %q, %v", line, err)
	}
	waited := make(chan struct{})
	go func() { b.wait(time.Hour); close(waited) }()
	select {
	case <-waited:
	case <-time.After(30 * time.Second):
		t.Fatal("the wait for answers waits for a followed log")
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
