package logcap

import (
	"errors"
	"io"
	"os"
	"slices"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// bufSize is how much one read takes from a pipe.
const bufSize = 64 << 10

// Stream is where a pipe's bytes go: a rotated log file (Sink) or a
// console (Prefixed).
type Stream interface {
	io.Writer
	Reopen() error
	Clear() error
	Close() error
	Written() int64
	Dropped() int64
	Rotations() int64
}

// Capture is the output of one process: a stream per stream (stderr may
// share stdout's, or be nil to discard it), kept across restarts.
type Capture struct {
	Stdout, Stderr Stream
	Redirect       bool // stderr goes into stdout's pipe

	mu      sync.Mutex
	readers []*reader // pipes of this and earlier spawns not yet at EOF
}

// Attach makes the pipes for one spawn and starts their pumps. It returns
// the write ends for the child's fds 1 and 2 (nil means /dev/null), which
// the caller closes right after the spawn. A pump ends at EOF, when the
// child and every grandchild holding the pipe have closed it.
func (c *Capture) Attach() (stdout, stderr *os.File, err error) {
	if c.Stdout != nil {
		if stdout, err = c.pipe(c.Stdout); err != nil {
			return nil, nil, err
		}
	}
	if c.Redirect {
		return stdout, stdout, nil
	}
	if c.Stderr != nil {
		if stderr, err = c.pipe(c.Stderr); err != nil {
			if stdout != nil {
				stdout.Close()
			}
			return nil, nil, err
		}
	}
	return stdout, stderr, nil
}

func (c *Capture) pipe(s Stream) (*os.File, error) {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		return nil, os.NewSyscallError("pipe2", err)
	}
	// Only the daemon's end is non-blocking: the child gets an ordinary pipe.
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, err
	}
	s.Write(nil)
	r := &reader{fd: fds[0], s: s}
	if err := watch(r); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, err
	}
	c.mu.Lock()
	c.readers = slices.DeleteFunc(c.readers, (*reader).done)
	c.readers = append(c.readers, r)
	c.mu.Unlock()
	return os.NewFile(uintptr(fds[1]), "|1"), nil
}

// bufs lends read buffers only while a pipe has data: a thousand idle
// programs must not hold a thousand 64 KiB buffers.
var bufs = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

// errNoMore: the drain stopped at its cap with more in the pipe.
var errNoMore = errors.New("drain capped")

// drainTo empties the pipe into s: straight into a Sink's file, or through
// a pooled buffer into any other stream.
func drainTo(s Stream, fd int) (int64, error) {
	if sink, ok := s.(*Sink); ok {
		n, err := sink.drain(fd)
		if err == nil {
			err = errNoMore
		}
		return n, err
	}
	buf := bufs.Get().(*[]byte)
	defer bufs.Put(buf)
	var moved int64
	for moved < drainCap {
		n, err := syscall.Read(fd, *buf)
		switch {
		case n > 0:
			s.Write((*buf)[:n])
			moved += int64(n)
		case err == nil:
			return moved, io.EOF
		case err == syscall.EINTR:
		case err == syscall.EAGAIN:
			return moved, errEmpty
		default:
			return moved, err
		}
	}
	return moved, errNoMore
}

// Reopen reopens both log files.
func (c *Capture) Reopen() error {
	return errors.Join(reopen(c.Stdout), reopen(c.Stderr))
}

// Clear empties both log files.
func (c *Capture) Clear() error {
	var err error
	if c.Stdout != nil {
		err = c.Stdout.Clear()
	}
	if c.Stderr != nil && c.Stderr != c.Stdout {
		err = errors.Join(err, c.Stderr.Clear())
	}
	return err
}

// Close closes both log files for good, after taking what the pipes hold:
// a program's last lines before it exited are in its pipe, and a batch may
// not have taken them yet. Each stream is closed once, even when both are
// one shared sink: each holds its own reference.
func (c *Capture) Close() error {
	c.mu.Lock()
	for _, r := range c.readers {
		r.flush()
	}
	c.readers = nil
	c.mu.Unlock()
	var err error
	if c.Stdout != nil {
		err = c.Stdout.Close()
	}
	if c.Stderr != nil {
		err = errors.Join(err, c.Stderr.Close())
	}
	return err
}

func reopen(s Stream) error {
	if s == nil {
		return nil
	}
	return s.Reopen()
}
