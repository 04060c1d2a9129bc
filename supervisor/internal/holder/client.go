package holder

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctlsup/ctlsup/supervisor/internal/proc"
)

// sendTimeout bounds one message to the holder; retryEvery spaces the
// attempts to reach one after it was lost.
const (
	sendTimeout = 2 * time.Second
	retryEvery  = 10 * time.Second
	// quitWait bounds the wait for a holder told to quit to exit.
	quitWait = 2 * time.Second
)

// Client is the daemon's side of the holder. It keeps the set of
// descriptors it has stored, so that a holder that died is replaced and
// given them again; a missing holder never stops the daemon (the programs
// then lose their reader only while no daemon runs).
type Client struct {
	dir string
	log *slog.Logger

	mu      sync.Mutex
	conn    *net.UnixConn
	held    map[string]int // id → the daemon's own descriptor
	fences  map[string]Fence
	closed  bool
	lastTry time.Time
	// reconnected runs, on a goroutine of its own, once a holder is
	// reached again: it may be a new one, lacking what was handed over.
	reconnected func()
	// undropped are ids dropped while no holder was reached (detached,
	// or lost): the holder is told once reached again, or it would keep
	// them for as long as it lives.
	undropped map[string]bool
	marks     int // counts the listings' marks
}

// OnReconnect sets what runs once a holder is reached again.
func (c *Client) OnReconnect(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reconnected = f
}

// Connect reaches the holder of dir, starting one if none answers.
func Connect(dir string, log *slog.Logger) *Client {
	c := &Client{dir: dir, log: log, held: map[string]int{}, fences: map[string]Fence{}}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.connectLocked(); err != nil {
		log.Warn("no fd holder: programs' output pipes will not outlive the daemon", "err", err)
	}
	return c
}

func (c *Client) connectLocked() error {
	conn, err := dial(c.dir)
	if err != nil {
		if err := start(c.dir); err != nil {
			return err
		}
		for i := 0; i < 200 && err != nil; i++ {
			time.Sleep(5 * time.Millisecond)
			conn, err = dial(c.dir)
		}
		if err != nil {
			return err
		}
	}
	c.conn = conn
	go c.watch(conn)
	return nil
}

func dial(dir string) (*net.UnixConn, error) {
	return net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: filepath.Join(dir, SocketName), Net: "unixpacket"})
}

// start runs the holder: this binary again, in a session of its own so that
// no terminal or session signal reaches it, with /dev/null for stdio so it
// keeps no pipe of whoever started the daemon.
func start(dir string) error {
	_, err := proc.Start(proc.Attr{Path: "/proc/self/exe", Argv: []string{Arg0, dir}, Dir: "/",
		Env: []string{}, Umask: -1, Files: make([]*os.File, 3), Session: true})
	if err != nil {
		return fmt.Errorf("cannot start fd holder: %w", err)
	}
	return nil
}

// watch notices the holder's death (its end closed) and replaces it.
func (c *Client) watch(conn *net.UnixConn) {
	buf := make([]byte, maxMsg)
	for {
		if _, err := conn.Read(buf); err != nil {
			break
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.conn != nil && c.conn != conn {
		return // closed, or a newer connection serves
	}
	// Dropped already by a failed send (the holder died under it, or a
	// reconnect reached the dying one): no send may come to reconnect,
	// so this goroutine does.
	if c.conn == conn {
		c.dropConnLocked(errors.New("fd holder went away"))
	}
	// A holder dying closes its connections before its listening socket:
	// a reconnect that fast may reach the dying one and be reset. Try
	// again, soon at first, until one holds the descriptors or the
	// client is closed (a successor will start its own).
	for delay := 20 * time.Millisecond; ; delay = min(2*delay, retryEvery) {
		c.lastTry = time.Time{}
		if c.reconnectLocked() || c.closed || c.conn != nil {
			return
		}
		c.mu.Unlock()
		time.Sleep(delay)
		c.mu.Lock()
	}
}

// dropConnLocked gives up the connection to the holder.
func (c *Client) dropConnLocked(err error) {
	c.log.Warn("fd holder lost; another will be started", "err", err)
	c.conn.Close()
	c.conn = nil
}

// reconnectLocked reaches (or starts) a holder and gives it every
// descriptor held, at most once per retryEvery.
func (c *Client) reconnectLocked() bool {
	if c.closed || time.Since(c.lastTry) < retryEvery {
		return false
	}
	c.lastTry = time.Now()
	if err := c.connectLocked(); err != nil {
		c.log.Error("cannot reach an fd holder", "err", err)
		return false
	}
	for id, fd := range c.held {
		if err := c.writeLocked('S', id, fd); err != nil {
			c.dropConnLocked(err)
			return false
		}
	}
	for id, f := range c.fences {
		c.sendFenceLocked(id, f)
	}
	for id := range c.undropped {
		if _, again := c.held[id]; !again && c.conn != nil {
			if err := c.writeLocked('D', id); err != nil {
				c.dropConnLocked(err)
				return false
			}
		}
		delete(c.undropped, id)
	}
	if c.conn != nil && c.reconnected != nil {
		go c.reconnected()
	}
	return c.conn != nil
}

func (c *Client) sendLocked(op byte, id string, fds ...int) {
	if c.conn == nil && !c.reconnectLocked() {
		return
	}
	if c.conn == nil {
		return
	}
	if err := c.writeLocked(op, id, fds...); err != nil {
		c.dropConnLocked(err)
	}
}

// writeLocked sends one message. A holder that stopped reading (stopped,
// or wedged) must not stop spawns: a send gives up after sendTimeout.
func (c *Client) writeLocked(op byte, id string, fds ...int) error {
	var oob []byte
	if len(fds) > 0 {
		oob = syscall.UnixRights(fds...)
	}
	c.conn.SetWriteDeadline(time.Now().Add(sendTimeout))
	_, _, err := c.conn.WriteMsgUnix(append([]byte{op}, id...), oob, nil)
	return err
}

// Store gives the holder a duplicate of fd under id. The daemon keeps fd
// and must Drop id before closing it.
func (c *Client) Store(id string, fd int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.held[id] = fd
	c.sendLocked('S', id, fd)
}

// Hand gives the holder f under id and closes it: the daemon keeps no
// copy, so a holder that had to be started again lacks it. For what only
// a successor needs, such as a pidfd that tells how a process ended while
// no daemon ran: the holder keeps it only while its descriptor table has
// room beside what Store gives it, which keeps programs alive.
func (c *Client) Hand(id string, f *os.File) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sendLocked('H', id, int(f.Fd()))
	f.Close()
}

// Drop tells the holder to close its duplicate of id.
func (c *Client) Drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.held, id) // also for ids a previous daemon stored
	c.sendLocked('D', id)
	if c.conn == nil {
		if c.undropped == nil {
			c.undropped = map[string]bool{}
		}
		c.undropped[id] = true
	}
}

// Take returns every descriptor the holder keeps, by id: the read ends a
// previous daemon stored. The holder keeps its duplicates; the caller owns
// the returned descriptors and Stores again those it goes on using.
func (c *Client) Take() (map[string]int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		return nil, errors.New("no fd holder")
	}
	// A connection of its own, so the watcher does not eat the answers;
	// the mark on the main one keeps the listing after what was sent
	// there (the nonce: a re-executed daemon keeps its pid). A holder
	// older than marks ignores them and lists at once; a mark that could
	// not be sent is not waited for.
	c.marks++
	mark := fmt.Sprintf("%d.%d.%d", os.Getpid(), c.marks, rand.Uint64())
	if err := c.writeLocked('Y', mark); err != nil {
		c.dropConnLocked(err)
		mark = ""
	}
	conn, err := dial(c.dir)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if _, err := conn.Write(append([]byte{'L'}, mark...)); err != nil {
		return nil, err
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	out := map[string]int{}
	buf := make([]byte, maxMsg)
	oob := make([]byte, syscall.CmsgSpace(4*4))
	for {
		n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
		if err != nil {
			for _, fd := range out {
				syscall.Close(fd)
			}
			return nil, err
		}
		if n == 0 || buf[0] == 'E' {
			return out, nil
		}
		fds := receivedFDs(oob[:oobn])
		if buf[0] == 'F' && len(fds) == 1 {
			out[string(buf[1:n])] = fds[0]
			fds = fds[1:]
		}
		for _, fd := range fds {
			syscall.Close(fd)
		}
	}
}

// Quit stops the holder: the daemon is shutting down and every program has
// stopped, so nothing needs holding.
func (c *Client) Quit() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.conn == nil {
		return
	}
	// A daemon that has stopped leaves no holder behind, as an operator
	// (or systemd's stop) expects: the holder's end is waited for, on a
	// pidfd on the connection's peer, at most quitWait in all.
	deadline := time.Now().Add(quitWait)
	ended := peerPidfd(c.conn)
	if ended >= 0 {
		defer unix.Close(ended)
	}
	c.conn.SetWriteDeadline(deadline)
	if _, _, err := c.conn.WriteMsgUnix([]byte{'Q'}, nil, nil); err != nil {
		c.conn.Close()
		c.conn = nil
		return // not told: it goes once idle (see exitWhenIdle)
	}
	// Its answer, then the end of the connection as it exits.
	c.conn.SetReadDeadline(deadline)
	io.Copy(io.Discard, c.conn)
	c.conn.Close()
	c.conn = nil
	for ended >= 0 {
		wait := time.Until(deadline)
		if wait <= 0 {
			return
		}
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(ended), Events: unix.POLLIN}}, int(wait.Milliseconds())+1)
		if err != unix.EINTR && (err != nil || n > 0) {
			return
		}
	}
}

// peerPidfd opens a pidfd on the process at the other end of conn, -1 if
// none can be. SO_PEERCRED gives the pid the holder had when it listened:
// the connection not hung up after the open proves the pidfd is the
// holder's, not a process given its pid since.
func peerPidfd(conn *net.UnixConn) int {
	raw, err := conn.SyscallConn()
	if err != nil {
		return -1
	}
	fd := -1
	raw.Control(func(sock uintptr) {
		cred, err := unix.GetsockoptUcred(int(sock), unix.SOL_SOCKET, unix.SO_PEERCRED)
		if err != nil || cred.Pid <= 0 {
			return
		}
		pfd, err := unix.PidfdOpen(int(cred.Pid), 0)
		if err != nil {
			return
		}
		pfds := []unix.PollFd{{Fd: int32(sock), Events: unix.POLLRDHUP}}
		if n, err := unix.Poll(pfds, 0); err != nil || (n > 0 && pfds[0].Revents&(unix.POLLRDHUP|unix.POLLHUP|unix.POLLERR) != 0) {
			unix.Close(pfd)
			return
		}
		fd = pfd
	})
	return fd
}

// Detach lets go of the holder without stopping it: the daemon exits or
// re-executes and leaves the programs running.
func (c *Client) Detach() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

// Reattach undoes Detach: the daemon carries on after all, and gives a
// holder (the same one, or a new one) its descriptors again.
func (c *Client) Reattach() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed, c.lastTry = false, time.Time{}
	c.reconnectLocked()
}
