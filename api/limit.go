package api

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// MaxConns bounds the connections a listener holds, so that clients cannot
// starve the programs of file descriptors. A connection over the limit
// is not refused: another is closed to make room (see victimLocked).
// Refusing newcomers let any local user, or 32 browser tabs behind one
// proxy, lock Nagios and supervisorctl out.
const MaxConns = 256

// Timeouts of the control servers: a client has ReadHeaderTimeout to send
// a request's headers and ReadTimeout to send all of it (a slow body holds
// nothing longer). A keep-alive connection is closed after IdleTimeout
// unused, supervisord's zombie timeout: a client that keeps one connection
// between calls a minute or more apart (superlance's memmon on TICK_60,
// through supervisor's SupervisorTransport, which does not retry a call
// on a closed connection) must find it open. (Zero would not do: Go's
// server then takes ReadTimeout.)
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 30 * time.Second
	IdleTimeout       = 30 * time.Minute
)

// youngConn is how long a new connection is spared while older ones can
// make room: time for its request to be read and answered.
const youngConn = time.Second

// LimitListener holds l to max connections (see MaxConns); full, if set,
// is told each time one was closed to make room.
func LimitListener(l net.Listener, max int, full func()) net.Listener {
	return &limited{Listener: l, max: max, full: full, conns: map[*limitedConn]struct{}{}, born: time.Now()}
}

type limited struct {
	net.Listener
	max   int
	full  func()
	born  time.Time // times are counted from here, on the monotonic clock
	mu    sync.Mutex
	conns map[*limitedConn]struct{}
}

func (l *limited) now() int64 { return int64(time.Since(l.born)) }

// Accept is called by one goroutine, the server's loop: the room made for
// a connection is not taken by another. Out of descriptors, it closes a
// connection that is only waiting (see victimLocked) for the one queued.
func (l *limited) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil && (errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)) && l.makeRoom(true) != rankNone {
		c, err = l.Listener.Accept()
	}
	if err != nil {
		return nil, err
	}
	for {
		l.mu.Lock()
		if len(l.conns) < l.max {
			lc := &limitedConn{Conn: c, l: l, accepted: l.now()}
			lc.last.Store(lc.accepted)
			l.conns[lc] = struct{}{}
			l.mu.Unlock()
			return lc, nil
		}
		l.mu.Unlock()
		l.makeRoom(false)
	}
}

// makeRoom closes the connection victimLocked picks, and says its rank;
// idleOnly: only one that was answered (and waits for nothing), else it
// closes none and says rankNone.
func (l *limited) makeRoom(idleOnly bool) int {
	l.mu.Lock()
	victim, rank := l.victimLocked(idleOnly)
	l.mu.Unlock()
	if victim == nil {
		return rankNone
	}
	victim.Close()
	if l.full != nil {
		l.full()
	}
	return rank
}

// Ranks of the connections to close for room, first to last.
const (
	// rankUnanswered: older than youngConn and never answered: a socket
	// that sends nothing or half a request (what a flood holds), or a
	// request still being served, oldest first.
	rankUnanswered = iota
	// rankYoung: accepted less than youngConn ago, oldest first: a flood
	// faster than MaxConns a second closes its own, and a newcomer
	// lives for MaxConns accepts.
	rankYoung
	// rankAnswered: older and answered at least once: a kept connection,
	// least recently used first.
	rankAnswered
	rankNone // nothing to close
)

// victimLocked is the connection to close to make room, and its rank;
// answeredOnly: of the kept connections alone.
func (l *limited) victimLocked(answeredOnly bool) (*limitedConn, int) {
	now := l.now()
	var victim *limitedConn
	var vRank int
	var vKey int64
	for c := range l.conns {
		rank, key := rankYoung, c.accepted
		if now-c.accepted >= int64(youngConn) {
			if c.answered.Load() {
				rank, key = rankAnswered, c.last.Load()
			} else {
				rank = rankUnanswered
			}
		}
		if answeredOnly && rank != rankAnswered {
			continue
		}
		if victim == nil || rank < vRank || rank == vRank && key < vKey {
			victim, vRank, vKey = c, rank, key
		}
	}
	return victim, vRank
}

type limitedConn struct {
	net.Conn
	l        *limited
	accepted int64        // when it was accepted (see limited.now)
	last     atomic.Int64 // when it last read or wrote
	answered atomic.Bool  // the server has written to it
	once     sync.Once
}

func (c *limitedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.last.Store(c.l.now())
	}
	return n, err
}

func (c *limitedConn) Write(b []byte) (int, error) {
	c.last.Store(c.l.now())
	if !c.answered.Load() {
		c.answered.Store(true)
	}
	return c.Conn.Write(b)
}

func (c *limitedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

// SetDeadline reaches the listener below, so a limited listener can be
// paused; Unwrap gives it, to pass its socket across an upgrade in place.
func (l *limited) SetDeadline(t time.Time) error {
	if d, ok := l.Listener.(interface{ SetDeadline(time.Time) error }); ok {
		return d.SetDeadline(t)
	}
	return nil
}

func (l *limited) Unwrap() net.Listener { return l.Listener }
