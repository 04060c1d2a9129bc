package api

import (
	"net"
	"sync"
	"time"
)

// Connection limits keep clients from starving the programs of file
// descriptors: a listener holds at most MaxConns connections, and at most
// MaxConnsPerHost from one TCP peer address; a connection over a limit is
// closed at once, so the backlog keeps moving for everyone else.
const (
	MaxConns        = 256
	MaxConnsPerHost = 32
)

// Timeouts of the control servers: a client has ReadTimeout to send a whole
// request (a slow body holds nothing longer), and an idle keep-alive
// connection is closed after IdleTimeout.
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 30 * time.Second
	IdleTimeout       = 30 * time.Second
)

// LimitListener applies the connection limits to l.
func LimitListener(l net.Listener, max, perHost int) net.Listener {
	return &limited{Listener: l, max: max, perHost: perHost, hosts: map[string]int{}}
}

type limited struct {
	net.Listener
	max, perHost int
	mu           sync.Mutex
	open         int
	hosts        map[string]int
}

func (l *limited) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		host := peerHost(c)
		l.mu.Lock()
		over := l.open >= l.max || (host != "" && l.hosts[host] >= l.perHost)
		if !over {
			l.open++
			if host != "" {
				l.hosts[host]++
			}
		}
		l.mu.Unlock()
		if over {
			c.Close()
			continue
		}
		return &limitedConn{Conn: c, l: l, host: host}, nil
	}
}

func peerHost(c net.Conn) string {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	return ""
}

type limitedConn struct {
	net.Conn
	l    *limited
	host string
	once sync.Once
}

func (c *limitedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		c.l.open--
		if c.host != "" {
			if c.l.hosts[c.host]--; c.l.hosts[c.host] == 0 {
				delete(c.l.hosts, c.host)
			}
		}
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
