package logcap

import (
	"errors"
	"io"
	"syscall"

	"golang.org/x/sys/unix"
)

// drainCap bounds one drain, so a producer faster than the disk cannot keep
// the sink's lock forever.
const drainCap = 4 << 20

// errEmpty means the pipe holds nothing more for now.
var errEmpty = errors.New("pipe empty")

// drain moves what the pipe fd holds into the log. splice(2) moves the
// bytes in the kernel, with no copy through the daemon, rotating exactly at
// MaxBytes. It returns errEmpty once it has taken what the pipe held, io.EOF
// when every writer has closed it, and nil after drainCap bytes.
func (s *Sink) drain(fd int) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drains.Add(1)
	var moved int64
	if s.f == nil && !s.closed && pipeEmpty(fd) {
		return 0, emptyOrEOF(fd) // opened for bytes to write only (see Write)
	}
	for moved < drainCap {
		var failed error
		if !s.closed {
			failed = s.readyLocked()
		}
		if s.closed || failed != nil {
			n, err := discard(fd)
			if failed != nil {
				s.failLocked(int64(n), failed) // counted before it is told
			}
			moved += int64(n)
			if err != nil {
				return moved, err
			}
			continue
		}
		if s.rotatesLocked() && s.size >= s.MaxBytes {
			// Rotate only for bytes to write, as a write would.
			if pipeEmpty(fd) {
				return moved, emptyOrEOF(fd)
			}
		}
		room, rerr := s.roomLocked()
		if rerr != nil || s.f == nil {
			continue // the rotation could not reopen: the next pass drops, counts and tells
		}
		var n int
		var err error
		want := min(room, 1<<30)
		if s.noSplice {
			want = min(room, bufSize)
			n, err = s.copyLocked(fd, int(want))
		} else {
			var n64 int64
			n64, err = unix.Splice(fd, nil, s.fd, nil, int(want), unix.SPLICE_F_NONBLOCK|unix.SPLICE_F_MOVE)
			n = int(n64)
		}
		if n > 0 {
			s.size += int64(n)
			s.written.Add(int64(n))
			moved += int64(n)
		}
		switch {
		case n > 0 && err == nil:
			if int64(n) < want {
				// That was all the pipe held. Looping for what the child
				// writes meanwhile would take it a few bytes at a time.
				return moved, errEmpty
			}
		case err == nil:
			return moved, io.EOF
		case err == syscall.EINTR:
		case err == syscall.EAGAIN:
			return moved, errEmpty
		case err == syscall.EINVAL && !s.noSplice:
			s.noSplice = true // not a file splice can write (a device): copy
		case errors.Is(err, errRead):
			return moved, err
		default: // the log cannot be written: drop, so the child never waits
			d, derr := discard(fd)
			s.failLocked(int64(d), err)
			moved += int64(d)
			if derr != nil {
				return moved, derr
			}
		}
	}
	return moved, nil
}

var errRead = errors.New("log pipe read failed")

// copyLocked moves up to want bytes through a pooled buffer, for files that
// splice cannot write into.
func (s *Sink) copyLocked(fd int, want int) (int, error) {
	buf := bufs.Get().(*[]byte)
	defer bufs.Put(buf)
	n, err := syscall.Read(fd, (*buf)[:want])
	if n <= 0 {
		if err != nil && err != syscall.EAGAIN && err != syscall.EINTR {
			err = errors.Join(errRead, err)
		}
		return 0, err
	}
	w, werr := s.f.Write((*buf)[:n])
	if werr != nil {
		s.dropped.Add(int64(n - w))
	}
	return w, werr
}

// emptyOrEOF tells an empty pipe from one every writer has closed.
// pipeEmpty reports whether the pipe fd holds no byte now. (TIOCINQ is
// FIONREAD: the bytes a pipe holds.)
func pipeEmpty(fd int) bool {
	avail, err := unix.IoctlGetInt(fd, unix.TIOCINQ)
	return err == nil && avail == 0
}

func emptyOrEOF(fd int) error {
	p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	if n, err := unix.Poll(p, 0); err == nil && n > 0 && p[0].Revents&unix.POLLHUP != 0 {
		return io.EOF
	}
	return errEmpty
}

// discard reads and throws away one buffer from the pipe.
func discard(fd int) (int, error) {
	buf := bufs.Get().(*[]byte)
	defer bufs.Put(buf)
	for {
		n, err := syscall.Read(fd, *buf)
		switch {
		case n > 0:
			return n, nil
		case err == nil:
			return 0, io.EOF
		case err == syscall.EINTR:
		case err == syscall.EAGAIN:
			return 0, errEmpty
		default:
			return 0, errors.Join(errRead, err)
		}
	}
}
