package logcap

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// One epoll instance of ctlsupd's own watches every idle log pipe. Each
// pipe is armed one-shot: once it has fired, writes into it wake nothing
// until its batch is done and it is armed again. (The runtime's
// poller cannot do this: a pipe registered there wakes it on every
// write(2), so a program writing line by line would cost one wake-up per
// line however the reads are batched.) An idle pipe costs no goroutine and
// no timer; a busy one has one goroutine while its batch lasts. The epoll
// descriptor itself waits in the runtime's poller, so no thread sits in
// epoll_wait.
type poller struct {
	broken atomic.Bool // epoll failed: every pipe is polled on a timer
	closed atomic.Bool // its hub closed: run ends quietly
	// degraded: a pipe was drained on a timer, no epoll to be had; a
	// start is then tried again at most once a second (lastTry).
	degraded atomic.Bool
	lastTry  atomic.Int64
	running  atomic.Bool // started: read without startMu
	// startMu guards the start: a start that failed (out of descriptors)
	// is tried again by the next watch, not kept as the poller's fate.
	startMu sync.Mutex
	started bool
	epfd    atomic.Int32 // -1 until started (NewHub): a pipe drained on a timer may finish meanwhile
	file    *os.File     // keeps epfd open and in the runtime's poller
	raw     syscall.RawConn
	mu      sync.Mutex
	pipes   map[int32]*reader
}

// errClosed: the hub was closed.
var errClosed = errors.New("log capture closed")

// watch starts watching r's pipe.
func (p *poller) watch(r *reader) error {
	if p.closed.Load() {
		return errClosed
	}
	startErr := p.ensureStarted()
	if errors.Is(startErr, errClosed) {
		return startErr
	}
	p.mu.Lock()
	if p.closed.Load() {
		p.mu.Unlock() // Close, which sets closed first, took its list
		return errClosed
	}
	if p.pipes == nil {
		p.pipes = map[int32]*reader{}
	}
	p.pipes[int32(r.fd)] = r
	p.mu.Unlock()
	if startErr != nil {
		// No epoll descriptor to be had (out of descriptors): the pipe is
		// drained on a timer, as when epoll fails, rather than given up,
		// which would leave the program's next write an EPIPE.
		if !p.degraded.Swap(true) {
			slog.Warn("log capture: draining a pipe on a timer until epoll can be had", "err", startErr)
		}
		go r.pollBroken()
		return nil
	}
	if p.broken.Load() {
		go r.pollBroken()
		return nil
	}
	if err := p.ctl(unix.EPOLL_CTL_ADD, r.fd); err != nil {
		p.forget(r.fd)
		return err
	}
	return nil
}

// ensureStarted starts the poller unless it runs. A start that failed is
// tried again next time: its epoll descriptor may be back.
func (p *poller) ensureStarted() error {
	p.startMu.Lock()
	defer p.startMu.Unlock()
	if p.started {
		return nil
	}
	if p.closed.Load() {
		return errClosed
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err == nil {
		if err = unix.SetNonblock(epfd, true); err != nil {
			unix.Close(epfd)
		}
	}
	if err != nil {
		return fmt.Errorf("cannot watch log pipes: %w", err)
	}
	// The epoll descriptor itself waits in the runtime's poller. A thread
	// blocked in epoll_wait would hold a P: the runtime takes it back
	// after 10 ms, and each time its monitor then polls every 20 µs for a
	// millisecond, which under a busy log cost as much CPU as the copying.
	f := os.NewFile(uintptr(epfd), "log pipes")
	if p.raw, err = f.SyscallConn(); err != nil {
		f.Close()
		return fmt.Errorf("cannot watch log pipes: %w", err)
	}
	p.epfd.Store(int32(epfd))
	p.mu.Lock()
	p.file = f
	if p.pipes == nil {
		p.pipes = map[int32]*reader{}
	}
	p.mu.Unlock()
	p.started = true
	p.running.Store(true)
	go p.run()
	return nil
}

func (p *poller) ctl(op, fd int) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT, Fd: int32(fd)}
	return unix.EpollCtl(int(p.epfd.Load()), op, fd, &ev)
}

func (p *poller) forget(fd int) {
	p.mu.Lock()
	delete(p.pipes, int32(fd))
	p.mu.Unlock()
}

// run hands every pipe that fired to a batch of its own. The runtime
// reports the epoll descriptor readable on an edge, so each wake-up takes
// every event before waiting again.
func (p *poller) run() {
	events := make([]unix.EpollEvent, 256)
	err := p.raw.Read(func(fd uintptr) bool {
		for {
			n, err := unix.EpollWait(int(fd), events, 0)
			if err == syscall.EINTR {
				continue
			}
			if err != nil {
				p.fail(err)
				return true
			}
			if n == 0 {
				return false // wait for the next edge
			}
			p.mu.Lock()
			for _, ev := range events[:n] {
				if r := p.pipes[ev.Fd]; r != nil {
					go r.batch()
				}
			}
			p.mu.Unlock()
		}
	})
	if !p.broken.Load() && !p.closed.Load() {
		p.fail(fmt.Errorf("log pipe poller stopped: %v", err))
	}
}

// brokenPoll is how often a pipe is drained once epoll has failed.
const brokenPoll = 10 * time.Millisecond

// fail gives up on epoll (it cannot fail but for a bad descriptor): the
// daemon must go on supervising, so every pipe is then drained on a timer
// by a goroutine of its own, which costs more but loses nothing.
func (p *poller) fail(err error) {
	if p.broken.Swap(true) {
		return
	}
	slog.Error("log capture: epoll failed; draining every pipe on a timer from now on", "err", err)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.pipes {
		go r.pollBroken()
	}
}

// Batching: after a drain the reader waits before looking at the pipe
// again, so a program writing line by line costs one wake-up per batch
// instead of one per write(2). The wait is what fills half the pipe at the
// rate just seen, ramps up after a pause, and never exceeds maxBatchWait,
// so the child does not find the pipe full because of it. A producer that
// would fill the pipe within two minimal waits is not waited for: the next
// write wakes the pipe, as without batching.
const (
	minBatchWait = time.Millisecond
	maxBatchWait = 10 * time.Millisecond
	bigPipe      = 1 << 20 // a busy pipe grows to this when the kernel allows
)

// reader is the daemon's end of one output pipe.
type reader struct {
	// mu guards the pipe and orders one batch before the next: the
	// hand-over goes through the kernel (re-arm, then epoll_wait), which
	// the memory model does not see.
	mu       sync.Mutex
	hub      *Hub
	fd       int
	ino      uint64
	s        Stream
	keeper   Keeper // holds a duplicate of fd under id; nil without one
	id       string
	capacity int
	grown    bool
	wait     time.Duration
	last     time.Time
	finished atomic.Bool // at EOF, its descriptor closed
	polling  atomic.Bool // pollBroken runs for it
	sink     *Sink       // the log file it writes into, if any (see Sink.pipes)
	detached atomic.Bool // the sink no longer counts it
}

// done reports whether the pipe has reached EOF.
func (r *reader) done() bool { return r.finished.Load() }

// flush takes what the pipe holds now.
func (r *reader) flush() {
	r.hub.gate.RLock()
	defer r.hub.gate.RUnlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finished.Load() {
		return
	}
	if _, err := drainTo(r.s, r.fd); err != errEmpty && err != errNoMore {
		r.finish(err)
	}
}

// batch drains the pipe until it stays empty for one wait, then arms it
// again; at EOF it closes the pipe. The lock is not held while waiting, so
// a flush never waits for a batch that a chatty grandchild keeps going.
func (r *reader) batch() {
	for {
		wait, more := r.drainOnce()
		if !more {
			return
		}
		time.Sleep(wait)
	}
}

// pollBroken drains the pipe on a timer until EOF, once epoll has failed:
// one such loop per pipe.
func (r *reader) pollBroken() {
	if !r.polling.CompareAndSwap(false, true) {
		return
	}
	for r.drainBroken() {
		time.Sleep(brokenPoll)
		if r.toEpoll() {
			return
		}
	}
}

// toEpoll hands a pipe drained on a timer because no epoll descriptor
// could be had to epoll, once the poller runs (its start is tried again
// at most once a second).
func (r *reader) toEpoll() bool {
	p := &r.hub.poller
	if p.broken.Load() || p.closed.Load() {
		return false
	}
	if !p.running.Load() {
		now := time.Now().UnixNano()
		last := p.lastTry.Load()
		if now-last < int64(time.Second) || !p.lastTry.CompareAndSwap(last, now) || p.ensureStarted() != nil {
			return false
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finished.Load() {
		return true
	}
	if p.ctl(unix.EPOLL_CTL_ADD, r.fd) != nil {
		return false
	}
	r.polling.Store(false)
	return true
}

func (r *reader) drainBroken() bool {
	r.hub.gate.RLock()
	defer r.hub.gate.RUnlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finished.Load() {
		return false
	}
	if _, err := drainTo(r.s, r.fd); err != errEmpty && err != errNoMore {
		r.finish(err)
		return false
	}
	return true
}

// drainOnce drains the pipe and says how long to wait before the next
// drain, or that the batch is over.
func (r *reader) drainOnce() (time.Duration, bool) {
	r.hub.gate.RLock()
	defer r.hub.gate.RUnlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finished.Load() {
		return 0, false // a flush reached EOF after the pipe fired
	}
	if r.polling.Load() {
		return 0, false // drained on a timer: a stale event of a reused number
	}
	if r.capacity == 0 {
		r.capacity, _ = unix.FcntlInt(uintptr(r.fd), unix.F_GETPIPE_SZ, 0)
		r.capacity = max(r.capacity, 4096)
	}
	moved, err := drainTo(r.s, r.fd)
	if err != errEmpty && err != errNoMore {
		r.finish(err)
		return 0, false
	}
	now := time.Now()
	if r.hub.poller.broken.Load() {
		return 0, false // pollBroken drains it from now on
	}
	if moved == 0 {
		r.wait, r.last = 0, now
		if err := r.hub.poller.ctl(unix.EPOLL_CTL_MOD, r.fd); err != nil {
			r.finish(err)
		}
		return 0, false
	}
	if moved >= int64(r.capacity/2) {
		r.grow()
		r.wait, r.last = 0, now
		return 0, true // a fast producer: drain again at once
	}
	fill := time.Duration(float64(r.capacity) / float64(moved) * float64(now.Sub(r.last)))
	r.last = now
	if fill < 2*minBatchWait {
		// Too fast to wait on a timer (which sleeps a millisecond at
		// least): let the next write wake the pipe instead.
		r.wait = 0
		if err := r.hub.poller.ctl(unix.EPOLL_CTL_MOD, r.fd); err != nil {
			r.finish(err)
		}
		return 0, false
	}
	r.wait = max(minBatchWait, min(fill/2, maxBatchWait, 2*r.wait+minBatchWait))
	return r.wait, true
}

// grow enlarges a busy pipe once, so batches can be larger; beyond the
// user's pipe allowance the kernel refuses, and the pipe stays as it is.
func (r *reader) grow() {
	if r.grown {
		return
	}
	r.grown = true
	if c, err := unix.FcntlInt(uintptr(r.fd), unix.F_SETPIPE_SZ, bigPipe); err == nil {
		r.capacity = c
	}
}

// close drains what the pipe holds and closes it, at the hub's end.
func (r *reader) close() {
	r.hub.gate.RLock()
	defer r.hub.gate.RUnlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finished.Load() {
		return
	}
	drainTo(r.s, r.fd)
	r.finish(io.EOF)
}

func (r *reader) finish(err error) {
	r.finished.Store(true)
	if epfd := r.hub.poller.epfd.Load(); epfd >= 0 {
		unix.EpollCtl(int(epfd), unix.EPOLL_CTL_DEL, r.fd, nil)
	}
	r.hub.poller.forget(r.fd)
	if r.keeper != nil {
		r.keeper.Drop(r.id) // before the close: the number may be reused at once
	}
	unix.Close(r.fd)
	if f, ok := r.s.(interface{ Flush() }); ok {
		f.Flush()
	}
	if err != io.EOF && r.sink != nil && r.sink.Log != nil {
		r.sink.Log.Warn("log pipe read failed", "path", r.sink.Path, "err", err)
	}
	r.detach()
}

// detach tells the log file this pipe no longer writes into it, once.
func (r *reader) detach() {
	if r.sink != nil && r.detached.CompareAndSwap(false, true) {
		r.sink.detach()
	}
}
