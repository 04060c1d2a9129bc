package api

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// MaxConns bounds the connections a listener holds, so that clients cannot
// starve the programs of file descriptors. A connection over the limit
// does not wait and is not refused: the connection used least recently
// is closed to make room. An idle client, a tail left open or a flood of
// sockets that send nothing thus gives way to the next request; refusing
// newcomers instead let any local user (or 32 browser tabs behind one
// proxy) lock Nagios and supervisorctl out.
const MaxConns = 256

// Timeouts of the control servers: a client has ReadTimeout to send a whole
// request (a slow body holds nothing longer). An idle keep-alive
// connection stays open, as supervisord's do: supervisor's
// SupervisorTransport, which superlance's listeners and dashboards keep
// for their lifetime, never reconnects. MaxConns bounds what idle
// connections hold.
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 30 * time.Second
	IdleTimeout       = 365 * 24 * time.Hour
)

// LimitListener holds l to max connections (see MaxConns); full, if set,
// is told each time one was closed to make room.
func LimitListener(l net.Listener, max int, full func()) net.Listener {
	return &limited{Listener: l, max: max, full: full, conns: map[*limitedConn]struct{}{}, born: time.Now()}
}

type limited struct {
	net.Listener
	max   int
	full  func()
	born  time.Time // activity is counted from here, on the monotonic clock
	mu    sync.Mutex
	conns map[*limitedConn]struct{}
}

func (l *limited) now() int64 { return int64(time.Since(l.born)) }

// Accept is called by one goroutine, the server's loop: the room made for
// a connection is not taken by another.
func (l *limited) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	for {
		l.mu.Lock()
		if len(l.conns) < l.max {
			lc := &limitedConn{Conn: c, l: l}
			lc.last.Store(l.now())
			l.conns[lc] = struct{}{}
			l.mu.Unlock()
			return lc, nil
		}
		victim := l.leastUsedLocked()
		l.mu.Unlock()
		victim.Close()
		if l.full != nil {
			l.full()
		}
	}
}

// leastUsedLocked is the connection to close for room: the oldest of
// those that never sent a byte (a flood of silent sockets goes first, not
// a request under way), else the one used least recently.
func (l *limited) leastUsedLocked() *limitedConn {
	var victim *limitedConn
	for o := range l.conns {
		switch {
		case victim == nil:
			victim = o
		case o.spoke.Load() != victim.spoke.Load():
			if !o.spoke.Load() {
				victim = o
			}
		case o.last.Load() < victim.last.Load():
			victim = o
		}
	}
	return victim
}

type limitedConn struct {
	net.Conn
	l     *limited
	last  atomic.Int64 // when it last read or wrote (see limited.now)
	spoke atomic.Bool  // it has sent a byte
	once  sync.Once
}

func (c *limitedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.last.Store(c.l.now())
		if !c.spoke.Load() {
			c.spoke.Store(true)
		}
	}
	return n, err
}

func (c *limitedConn) Write(b []byte) (int, error) {
	c.last.Store(c.l.now())
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
