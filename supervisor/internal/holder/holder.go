// Package holder keeps duplicates of the read ends of the programs' output
// pipes in a tiny process of its own, so that a pipe keeps a reader while
// no daemon runs: after ctlsupd is killed, a program's writes wait in its
// pipe (until the pipe is full) instead of failing with EPIPE, and the next
// daemon takes the read ends back and goes on where the old one stopped.
// The idea is s6's fd holder. The holder never reads the pipes; it only
// holds them.
//
// Protocol: one SOCK_SEQPACKET message per operation on state_dir/holder.sock,
// a byte for the operation followed by an identifier:
//
//	'S' id + one descriptor  store (replacing the one under id)
//	'H' id + one descriptor  store a spare: kept only while there is room
//	'D' id                   drop
//	'L' [mark]               list: answered by 'F' id + descriptor per entry, then 'E'
//	'Y' mark                 mark: what this connection sent before is handled
//	'Q'                      quit: answered by 'q', then the holder exits
//	'K' id \n params + fds   fence (replacing the one under id); see fence.go
//	'C' id                   cancel a fence
//
// The holder also fences cluster singletons: a program whose lease the
// daemon stopped renewing (because the daemon died) gets its stop signal
// and SIGKILL at the times the daemon last gave, as it would have done.
package holder

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Arg0 marks a re-execution of the daemon's binary as the holder.
const Arg0 = "ctlsup-holder"

// SocketName and LockName are the holder's files in the state directory.
const (
	SocketName = "holder.sock"
	LockName   = "holder.lock"
)

const maxMsg = 4096

// The holder runs before main in any binary that links this package.
func init() {
	if len(os.Args) != 2 || os.Args[0] != Arg0 {
		return
	}
	if err := serve(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "ctlsup-holder:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

type server struct {
	mu  sync.Mutex
	fds map[string]int
	// spares are what 'H' stored: given up first when descriptors run
	// short (see makeRoomLocked).
	spares map[string]int
	// base is how many descriptors the holder had open before its first
	// client (stdio, its lock, the listener, the runtime's own); see
	// makeRoomLocked.
	base     int
	fences   map[string]*fence
	conns    map[*net.UnixConn]uint64 // connections being handled, by accept order
	accepted uint64
	// marks are the 'Y' marks handled and not yet waited for by a listing,
	// with when they came; marked is closed and replaced each time one
	// arrives.
	marks  map[string]time.Time
	marked chan struct{}
	quit   chan struct{}
	once   sync.Once
}

// serve holds descriptors for clients until asked to quit or terminated.
// A second holder on the same directory exits at once.
func serve(dir string) error {
	lock, err := os.OpenFile(filepath.Join(dir, LockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return nil // another holder serves this directory
	}
	// Signals meant for a terminal or the daemon's session are not for it;
	// TERM is: whoever kills everything kills the holder too.
	signal.Ignore(syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGPIPE, syscall.SIGUSR1, syscall.SIGUSR2)
	path := filepath.Join(dir, SocketName)
	os.Remove(path)
	old := syscall.Umask(0o077)
	l, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	syscall.Umask(old)
	if err != nil {
		return err
	}
	s := &server{fds: map[string]int{}, spares: map[string]int{}, fences: map[string]*fence{}, conns: map[*net.UnixConn]uint64{},
		marks: map[string]time.Time{}, marked: make(chan struct{}), quit: make(chan struct{}), base: openDescriptors()}
	go func() {
		<-s.quit
		l.Close()
	}()
	go s.exitWhenIdle()
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			select {
			case <-s.quit:
				return nil
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			continue
		}
		if !trusted(c) {
			c.Close()
			continue
		}
		// Registered before its handler runs: a listing must wait for what
		// a client that already hung up had sent (see settle).
		s.mu.Lock()
		s.accepted++
		s.conns[c] = s.accepted
		s.makeRoomLocked()
		s.mu.Unlock()
		go s.handle(c)
	}
}

// trusted admits only clients of the holder's own user, or root.
func trusted(c *net.UnixConn) bool {
	raw, err := c.SyscallConn()
	if err != nil {
		return false
	}
	var cred *syscall.Ucred
	raw.Control(func(fd uintptr) {
		cred, err = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	})
	return err == nil && (cred.Uid == 0 || int(cred.Uid) == os.Getuid())
}

func (s *server) handle(c *net.UnixConn) {
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	buf := make([]byte, maxMsg)
	oob := make([]byte, syscall.CmsgSpace(4*4))
	first := true
	for {
		n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
		if err != nil || n == 0 {
			return
		}
		fds := receivedFDs(oob[:oobn])
		op, id := buf[0], string(buf[1:n])
		if first {
			// A client that reconnects sent its earlier messages on a
			// connection it closed: they come first.
			s.settle(c, true)
			first = false
		}
		switch op {
		case 'S':
			if len(fds) == 1 {
				s.store(id, fds[0])
				fds = fds[1:]
			}
		case 'H':
			if len(fds) == 1 {
				s.storeSpare(id, fds[0])
				fds = fds[1:]
			}
		case 'D':
			s.drop(id)
		case 'K':
			fds = s.fence(id, fds)
		case 'C':
			s.cancelFence(id)
		case 'Y':
			s.mark(id)
		case 'L':
			s.settle(c, false)
			if id != "" {
				s.awaitMark(id)
			}
			s.list(c)
		case 'Q':
			c.Write([]byte{'q'})
			s.once.Do(func() { close(s.quit) })
		}
		for _, fd := range fds {
			syscall.Close(fd)
		}
	}
}

func (s *server) store(id string, fd int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forgetLocked(id)
	s.fds[id] = fd
	s.makeRoomLocked()
}

// storeSpare keeps fd under id unless descriptors run short: a spare (a
// pidfd, which tells a successor how a process ended) must never take the
// place of a pipe, whose read end keeps its program alive while no daemon
// runs. It never replaces what 'S' stored under the same id, and always
// a spare kept under it, which takes no more room: a pidfd handed again
// under a spawn's id supersedes the one kept.
func (s *server) storeSpare(id string, fd int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, stored := s.fds[id]
	_, replaces := s.spares[id]
	if stored || !replaces && s.freeLocked()-1 < s.reserve() {
		syscall.Close(fd)
		return
	}
	s.forgetLocked(id)
	s.spares[id] = fd
}

// Descriptors the holder keeps free, while it has spares to let go: a
// message's descriptors are installed as it is received, and one that
// finds the table full is dropped by the kernel.
func (s *server) reserve() int {
	return max(4, limitNofile()/32)
}

// limitNofile is the holder's descriptor limit (read each time: it may
// be changed from outside, by prlimit).
func limitNofile() int {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) != nil || lim.Cur > 1<<30 {
		return 1 << 30
	}
	return int(lim.Cur)
}

// freeLocked is how many more descriptors the holder may open.
func (s *server) freeLocked() int {
	open := s.base + len(s.conns) + len(s.fds) + len(s.spares)
	for _, f := range s.fences {
		open++
		if f.killFile >= 0 {
			open++
		}
	}
	return limitNofile() - open
}

// makeRoomLocked lets spares go until a reserve is free again, after
// anything that took descriptors (a store, a fence, a connection).
func (s *server) makeRoomLocked() {
	for s.freeLocked() < s.reserve() && len(s.spares) > 0 {
		victim, highest := "", -1
		for id, spare := range s.spares {
			if spare > highest {
				victim, highest = id, spare
			}
		}
		syscall.Close(highest)
		delete(s.spares, victim)
	}
}

// openDescriptors counts this process's open descriptors.
func openDescriptors() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	return len(ents) - 1 // the directory's own, open while read
}

// forgetLocked closes what id names, if anything.
func (s *server) forgetLocked(id string) {
	if fd, ok := s.fds[id]; ok {
		syscall.Close(fd)
		delete(s.fds, id)
	}
	if fd, ok := s.spares[id]; ok {
		syscall.Close(fd)
		delete(s.spares, id)
	}
}

func (s *server) drop(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forgetLocked(id)
}

// idleExit is how long a holder with nothing to hold and no client stays.
const idleExit = 30 * time.Second

// exitWhenIdle ends a holder that holds nothing while no daemon is
// connected: one whose daemon shut down without reaching it.
func (s *server) exitWhenIdle() {
	var idleSince time.Time
	for range time.Tick(idleExit / 6) {
		s.mu.Lock()
		idle := len(s.fds) == 0 && len(s.spares) == 0 && len(s.fences) == 0 && len(s.conns) == 0
		s.mu.Unlock()
		switch {
		case !idle:
			idleSince = time.Time{}
		case idleSince.IsZero():
			idleSince = time.Now()
		case time.Since(idleSince) >= idleExit:
			s.once.Do(func() { close(s.quit) })
			return
		}
	}
}

// settle waits (a few seconds at most) until what clients that have hung
// up sent before they went is handled (only those accepted before self,
// if older): a daemon killed right after a store must not have its
// successor list the holder before that store, nor a client's drop on a
// new connection pass its store on the one it closed.
func (s *server) settle(self *net.UnixConn, older bool) {
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		pending := false
		s.mu.Lock()
		for c, seq := range s.conns {
			if c != self && (!older || seq < s.conns[self]) && hungUp(c) {
				pending = true
			}
		}
		s.mu.Unlock()
		if !pending {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// mark records that a client's connection reached the mark id: what it
// sent there before is handled.
func (s *server) mark(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// A mark whose listing never came (the client's dial failed, or it
	// gave up) is of no use once a listing would have stopped waiting.
	for m, at := range s.marks {
		if time.Since(at) > 2*markWait {
			delete(s.marks, m)
		}
	}
	s.marks[id] = time.Now()
	close(s.marked)
	s.marked = make(chan struct{})
}

const markWait = 3 * time.Second

// awaitMark waits (a few seconds at most) for the mark id: a listing asked
// on a connection of its own must not pass what the same client sent on
// its main connection just before, which another handler reads.
func (s *server) awaitMark(id string) {
	deadline := time.After(markWait)
	for {
		s.mu.Lock()
		_, done := s.marks[id]
		marked := s.marked
		delete(s.marks, id)
		s.mu.Unlock()
		if done {
			return
		}
		select {
		case <-marked:
		case <-deadline:
			return
		}
	}
}

// hungUp reports whether the peer closed the connection (its handler will
// reach EOF once it has read what is queued).
func hungUp(c *net.UnixConn) bool {
	raw, err := c.SyscallConn()
	if err != nil {
		return false
	}
	var hup bool
	raw.Control(func(fd uintptr) {
		p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLRDHUP}}
		if n, _ := unix.Poll(p, 0); n > 0 {
			hup = p[0].Revents&(unix.POLLHUP|unix.POLLRDHUP) != 0
		}
	})
	return hup
}

func (s *server) list(c *net.UnixConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range []map[string]int{s.fds, s.spares} {
		for id, fd := range m {
			if _, _, err := c.WriteMsgUnix(append([]byte{'F'}, id...), syscall.UnixRights(fd), nil); err != nil {
				return
			}
		}
	}
	c.Write([]byte{'E'})
}

func receivedFDs(oob []byte) []int {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var fds []int
	for _, m := range msgs {
		if got, err := syscall.ParseUnixRights(&m); err == nil {
			fds = append(fds, got...)
		}
	}
	return fds
}
