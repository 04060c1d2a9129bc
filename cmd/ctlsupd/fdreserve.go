package main

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// fdReserve keeps a few descriptors open on /dev/null for the control and
// metrics listeners. A daemon out of descriptors (a low LimitNOFILE, the
// pipes of many programs, more of them held while adopting) fails every
// accept with EMFILE, and Go's server retries for ever while supervisorctl
// waits in the backlog: the daemon can no longer be told anything, not
// even to stop programs to free descriptors. Closing one descriptor of
// the reserve lets the waiting connection in (the kernel gives the lowest
// free number); the reserve is refilled after each accept, as far as
// descriptors are free again.
type fdReserve struct {
	mu     sync.Mutex
	fds    []int
	want   int
	log    *slog.Logger
	warned time.Time
}

// controlReserve is how many: each lets one more connection in while the
// descriptors are gone.
const controlReserve = 8

func newFDReserve(n int, log *slog.Logger) *fdReserve {
	r := &fdReserve{want: n, log: log}
	r.mu.Lock()
	r.fillLocked()
	r.mu.Unlock()
	return r
}

func (r *fdReserve) fillLocked() {
	for len(r.fds) < r.want {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return
		}
		r.fds = append(r.fds, fd)
	}
}

// release gives one descriptor of the reserve back to the kernel, for
// the connection an accept could not take, warning at most once a minute
// that the descriptors ran out. Releasing them all would leave the rest
// free for anything to take.
func (r *fdReserve) release(cause error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.warned) > time.Minute {
		r.warned = time.Now()
		var lim unix.Rlimit
		unix.Getrlimit(unix.RLIMIT_NOFILE, &lim)
		r.log.Warn("out of file descriptors: a control connection uses the reserve; raise LimitNOFILE or run fewer programs",
			"limit", lim.Cur, "err", cause)
	}
	if n := len(r.fds); n > 0 {
		unix.Close(r.fds[n-1])
		r.fds = r.fds[:n-1]
	}
}

func (r *fdReserve) refill() {
	r.mu.Lock()
	r.fillLocked()
	r.mu.Unlock()
}

// listen makes l accept through the reserve when descriptors run out.
func (r *fdReserve) listen(l net.Listener) net.Listener {
	return &reserveListener{Listener: l, r: r}
}

type reserveListener struct {
	net.Listener
	r *fdReserve
}

func (l *reserveListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil && (errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)) {
		// The connection is still queued: the kernel takes a descriptor
		// before it takes the connection.
		l.r.release(err)
		c, err = l.Listener.Accept()
	}
	l.r.refill()
	if err != nil {
		return nil, err
	}
	return &reserveConn{Conn: c, r: l.r}, nil
}

// reserveConn gives the reserve its descriptor back as it closes: left to
// the next accept, the one it frees was taken meanwhile by whatever else
// wanted one (a pidfd, a log file), and once connections had used up the
// reserve the control socket answered no one again.
type reserveConn struct {
	net.Conn
	r *fdReserve
}

func (c *reserveConn) Close() error {
	err := c.Conn.Close()
	c.r.refill()
	return err
}
