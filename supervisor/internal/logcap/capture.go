package logcap

import (
	"errors"
	"io"
	"os"
	"sync"
	"syscall"
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
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	s.Write(nil)
	go pump(r, s)
	return w, nil
}

// bufs lends read buffers to pumps only while their pipe has data: a
// thousand idle programs must not hold a thousand 64 KiB buffers.
var bufs = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

// pump copies the pipe into s until EOF. It waits for data in the runtime's
// poller without a buffer, then reads what is there with a pooled one.
func pump(r *os.File, s Stream) {
	defer r.Close()
	if f, ok := s.(interface{ Flush() }); ok {
		defer f.Flush()
	}
	rc, err := r.SyscallConn()
	if err != nil {
		return
	}
	for {
		done := false
		err := rc.Read(func(fd uintptr) bool {
			buf := bufs.Get().(*[]byte)
			defer bufs.Put(buf)
			for {
				n, err := syscall.Read(int(fd), *buf)
				switch {
				case n > 0:
					s.Write((*buf)[:n])
					if n < len(*buf) {
						return true // drained for now
					}
				case err == syscall.EINTR:
				case err == syscall.EAGAIN:
					return false // wait for more in the poller
				default:
					done = true // EOF (n == 0) or an error
					if err != nil {
						if sink, ok := s.(*Sink); ok && sink.Log != nil {
							sink.Log.Warn("log pipe read failed", "path", sink.Path, "err", err)
						}
					}
					return true
				}
			}
		})
		if err != nil || done {
			return
		}
	}
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

// Close closes both log files for good.
func (c *Capture) Close() error {
	var err error
	if c.Stdout != nil {
		err = c.Stdout.Close()
	}
	if c.Stderr != nil && c.Stderr != c.Stdout {
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
