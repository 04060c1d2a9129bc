package logcap

import (
	"errors"
	"io"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// One epoll instance, outside the runtime's poller, watches every idle log
// pipe. Each pipe is armed one-shot: once it has fired, writes into it wake
// nothing until its batch is done and it is armed again. (The runtime's
// poller cannot do this: a pipe registered there wakes it on every
// write(2), so a program writing line by line would cost one wake-up per
// line however the reads are batched.) An idle pipe costs no goroutine and
// no timer; a busy one has one goroutine while its batch lasts.
type poller struct {
	once  sync.Once
	epfd  int
	err   error
	mu    sync.Mutex
	pipes map[int32]*reader
}

var logPipes poller

// watch starts watching r's pipe.
func watch(r *reader) error {
	p := &logPipes
	p.once.Do(p.start)
	if p.err != nil {
		return p.err
	}
	p.mu.Lock()
	p.pipes[int32(r.fd)] = r
	p.mu.Unlock()
	if err := p.ctl(unix.EPOLL_CTL_ADD, r.fd); err != nil {
		p.forget(r.fd)
		return err
	}
	return nil
}

func (p *poller) start() {
	p.epfd, p.err = unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if p.err != nil {
		p.err = errors.Join(errors.New("cannot watch log pipes"), p.err)
		return
	}
	p.pipes = map[int32]*reader{}
	go p.run()
}

func (p *poller) ctl(op, fd int) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT, Fd: int32(fd)}
	return unix.EpollCtl(p.epfd, op, fd, &ev)
}

func (p *poller) forget(fd int) {
	p.mu.Lock()
	delete(p.pipes, int32(fd))
	p.mu.Unlock()
}

// run hands every pipe that fired to a batch of its own.
func (p *poller) run() {
	events := make([]unix.EpollEvent, 256)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err != nil {
			if err == syscall.EINTR {
				continue
			}
			panic("logcap: epoll_wait: " + err.Error()) // only a bad epfd
		}
		p.mu.Lock()
		for _, ev := range events[:n] {
			if r := p.pipes[ev.Fd]; r != nil {
				go r.batch()
			}
		}
		p.mu.Unlock()
	}
}

// Batching: after a drain the reader waits before looking at the pipe
// again, so a program writing line by line costs one wake-up per batch
// instead of one per write(2). The wait is what fills half the pipe at the
// rate just seen, ramps up from nothing after a pause, and never exceeds
// maxBatchWait, so the child does not find the pipe full because of it.
const (
	maxBatchWait = 10 * time.Millisecond
	bigPipe      = 1 << 20 // a busy pipe grows to this when the kernel allows
)

// reader is the daemon's end of one output pipe.
type reader struct {
	// mu orders one batch before the next: the hand-over goes through the
	// kernel (re-arm, then epoll_wait), which the memory model does not see.
	mu       sync.Mutex
	fd       int
	s        Stream
	capacity int
	grown    bool
	wait     time.Duration
	last     time.Time
}

// batch drains the pipe until it stays empty for one wait, then arms it
// again; at EOF it closes the pipe.
func (r *reader) batch() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.capacity == 0 {
		r.capacity, _ = unix.FcntlInt(uintptr(r.fd), unix.F_GETPIPE_SZ, 0)
		r.capacity = max(r.capacity, 4096)
	}
	for {
		moved, err := drainTo(r.s, r.fd)
		if err != errEmpty && err != errNoMore {
			r.finish(err)
			return
		}
		now := time.Now()
		if moved == 0 {
			r.wait, r.last = 0, now
			if err := logPipes.ctl(unix.EPOLL_CTL_MOD, r.fd); err != nil {
				r.finish(err)
			}
			return
		}
		if moved >= int64(r.capacity/2) {
			r.grow()
			r.wait, r.last = 0, now
			continue // a fast producer: drain again at once
		}
		halfFull := time.Duration(float64(r.capacity/2) / float64(moved) * float64(now.Sub(r.last)))
		r.wait = min(halfFull, maxBatchWait, 2*r.wait+time.Millisecond)
		r.last = now
		time.Sleep(r.wait)
	}
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

func (r *reader) finish(err error) {
	unix.EpollCtl(logPipes.epfd, unix.EPOLL_CTL_DEL, r.fd, nil)
	logPipes.forget(r.fd)
	unix.Close(r.fd)
	if f, ok := r.s.(interface{ Flush() }); ok {
		f.Flush()
	}
	if err != io.EOF {
		if sink, ok := r.s.(*Sink); ok && sink.Log != nil {
			sink.Log.Warn("log pipe read failed", "path", sink.Path, "err", err)
		}
	}
}
