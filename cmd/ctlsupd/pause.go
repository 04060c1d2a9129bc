package main

import (
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"time"
)

// pausable is a listener whose Accept can be held without closing the
// socket: across an upgrade, connections that arrive wait in the kernel's
// backlog for the next image, and none is accepted and then dropped.
type pausable struct {
	net.Listener
	conns   *busyConns // counts what Accept hands out, if set
	mu      sync.Mutex
	resumed chan struct{} // nil while accepting; closed by resume
	// parked is closed once Accept waits for the resume: every
	// connection it handed out before is counted by then.
	parked chan struct{}
}

type deadliner interface{ SetDeadline(time.Time) error }

func (l *pausable) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		l.mu.Lock()
		held := l.resumed
		l.mu.Unlock()
		if err == nil {
			// Served, even if the pause came meanwhile: counted until the
			// server reports it, so an upgrade waits for its answer.
			if l.conns != nil {
				l.conns.accepted()
			}
			return c, nil
		}
		if held == nil {
			return nil, err
		}
		l.mu.Lock()
		if l.resumed == held {
			select {
			case <-l.parked:
			default:
				close(l.parked)
			}
		}
		l.mu.Unlock()
		<-held // the deadline that paused Accept: wait to be resumed
	}
}

// pause stops accepting: Accept, woken by a deadline in the past, waits.
// The channel returned is closed once it does: a connection accepted
// just as the pause came is counted by then.
func (l *pausable) pause() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.resumed != nil {
		return l.parked
	}
	l.resumed, l.parked = make(chan struct{}), make(chan struct{})
	if d, ok := l.Listener.(deadliner); ok {
		d.SetDeadline(time.Unix(1, 0))
	}
	return l.parked
}

func (l *pausable) resume() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.resumed == nil {
		return
	}
	if d, ok := l.Listener.(deadliner); ok {
		d.SetDeadline(time.Time{})
	}
	close(l.resumed)
	l.resumed = nil
}

// dup duplicates the listening socket for the next image, without
// close-on-exec.
func (l *pausable) dup() (int, error) {
	inner := l.Listener
	if u, ok := inner.(interface{ Unwrap() net.Listener }); ok {
		inner = u.Unwrap()
	}
	sc, ok := inner.(syscall.Conn)
	if !ok {
		return -1, os.ErrInvalid
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	if cerr := raw.Control(func(s uintptr) { fd, err = syscall.Dup(int(s)) }); cerr != nil {
		return -1, cerr
	}
	return fd, err
}

// busyConns counts a server's connections that are reading or serving a
// request, so an upgrade can wait until every answer is out.
type busyConns struct {
	mu      sync.Mutex
	busy    map[net.Conn]bool
	pending int // accepted, not yet reported by the server
	quiet   *sync.Cond
}

func (b *busyConns) accepted() {
	b.mu.Lock()
	b.pending++
	b.mu.Unlock()
}

func newBusyConns() *busyConns {
	b := &busyConns{busy: map[net.Conn]bool{}}
	b.quiet = sync.NewCond(&b.mu)
	return b
}

// track is an http.Server's ConnState hook.
func (b *busyConns) track(c net.Conn, st http.ConnState) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch st {
	case http.StateNew:
		b.pending = max(b.pending-1, 0)
		b.busy[c] = true
	case http.StateActive:
		b.busy[c] = true
	default:
		delete(b.busy, c)
		if len(b.busy) == 0 && b.pending == 0 {
			b.quiet.Broadcast()
		}
	}
}

// streaming marks c as following a log (tail -f): no answer is due on
// it, and an upgrade closes it at once.
func (b *busyConns) streaming(c net.Conn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.busy, c)
	if len(b.busy) == 0 && b.pending == 0 {
		b.quiet.Broadcast()
	}
}

// wait waits until no connection is busy, or d has passed (a request
// that takes longer, a stop with a long stopwaitsecs).
func (b *busyConns) wait(d time.Duration) {
	t := time.AfterFunc(d, func() { b.mu.Lock(); b.quiet.Broadcast(); b.mu.Unlock() })
	defer t.Stop()
	deadline := time.Now().Add(d)
	b.mu.Lock()
	defer b.mu.Unlock()
	for (len(b.busy) > 0 || b.pending > 0) && time.Now().Before(deadline) {
		b.quiet.Wait()
	}
}
