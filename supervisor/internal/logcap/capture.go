package logcap

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
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

// Keeper keeps duplicates of pipe read ends outside the daemon (the fd
// holder), so a pipe keeps a reader while no daemon runs.
type Keeper interface {
	Store(id string, fd int)
	Drop(id string)
}

// Capture is the output of one process: a stream per stream (stderr may
// share stdout's, or be nil to discard it), kept across restarts.
type Capture struct {
	Stdout, Stderr Stream
	Redirect       bool // stderr goes into stdout's pipe
	// Keeper, if set, is given every read end under PipeID(ino, stream,
	// Name) before the child is spawned, and told when it reached EOF.
	Keeper Keeper
	Name   string
	Hub    *Hub // whose poller pumps the pipes

	mu      sync.Mutex
	readers []*reader // pipes of this and earlier spawns not yet at EOF
}

// Stream names, as pipe ids carry them.
const (
	StreamStdout = "stdout"
	StreamStderr = "stderr"
)

// PipeID names a read end for the Keeper: its inode, its stream and the
// process it belongs to.
func PipeID(ino uint64, stream, name string) string {
	return fmt.Sprintf("%d\t%s\t%s", ino, stream, name)
}

// ParsePipeID splits what PipeID joined.
func ParsePipeID(id string) (ino uint64, stream, name string, ok bool) {
	f := strings.SplitN(id, "\t", 3)
	if len(f) != 3 {
		return 0, "", "", false
	}
	ino, err := strconv.ParseUint(f[0], 10, 64)
	return ino, f[1], f[2], err == nil
}

// Pipes are the write ends for one spawn (nil means /dev/null) and the
// inodes of the pipes (0 where there is none).
type Pipes struct {
	Stdout, Stderr *os.File
	Inodes         [2]uint64
}

// Attach makes the pipes for one spawn and starts their pumps. The caller
// closes the write ends right after the spawn. A pump ends at EOF, when the
// child and every grandchild holding the pipe have closed it.
func (c *Capture) Attach() (Pipes, error) {
	var p Pipes
	var err error
	if c.Stdout != nil {
		if p.Stdout, p.Inodes[0], err = c.pipe(c.Stdout, StreamStdout); err != nil {
			return Pipes{}, err
		}
	}
	if c.Redirect {
		p.Stderr = p.Stdout
		return p, nil
	}
	if c.Stderr != nil {
		if p.Stderr, p.Inodes[1], err = c.pipe(c.Stderr, StreamStderr); err != nil {
			if p.Stdout != nil {
				p.Stdout.Close()
			}
			return Pipes{}, err
		}
	}
	return p, nil
}

func (c *Capture) pipe(s Stream, stream string) (*os.File, uint64, error) {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		return nil, 0, os.NewSyscallError("pipe2", err)
	}
	r, err := c.read(fds[0], s, stream)
	if err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, 0, err
	}
	return os.NewFile(uintptr(fds[1]), "|1"), r.ino, nil
}

// read starts pumping read end fd into s, giving it to the Keeper first.
func (c *Capture) read(fd int, s Stream, stream string) (*reader, error) {
	// Only the daemon's end is non-blocking: the child gets an ordinary pipe.
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	r := &reader{hub: c.Hub, fd: fd, s: s, ino: st.Ino}
	if c.Keeper != nil {
		r.keeper, r.id = c.Keeper, PipeID(st.Ino, stream, c.Name)
		c.Keeper.Store(r.id, fd)
	}
	if r.sink = sinkOf(s); r.sink != nil {
		r.sink.attach()
	}
	if err := c.Hub.poller.watch(r); err != nil {
		if r.keeper != nil {
			r.keeper.Drop(r.id)
		}
		r.detach()
		return nil, err
	}
	c.mu.Lock()
	c.readers = slices.DeleteFunc(c.readers, (*reader).done)
	c.readers = append(c.readers, r)
	c.mu.Unlock()
	return r, nil
}

// sinkOf is the log file a stream writes into, if any: the stream itself,
// or what a wrapper (one that hands the engine the bytes too) unwraps to.
func sinkOf(s Stream) *Sink {
	for s != nil {
		switch x := s.(type) {
		case *Sink:
			return x
		case interface{ Unwrap() Stream }:
			s = x.Unwrap()
		default:
			return nil
		}
	}
	return nil
}

// Adopt pumps a read end a previous daemon left (from the fd holder, or
// reopened through /proc) into the stream it belongs to, and owns fd from
// now on. A stream this capture discards takes nothing: fd is closed.
func (c *Capture) Adopt(fd int, stream string) error {
	s := c.Stdout
	if stream == StreamStderr && !c.Redirect {
		s = c.Stderr
	}
	if s == nil {
		unix.Close(fd)
		return nil
	}
	if _, err := c.read(fd, s, stream); err != nil {
		unix.Close(fd)
		return err
	}
	return nil
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

// Flush takes what the pipes hold now, without waiting for more: the
// output a process wrote before it exited, read before its exit is told.
func (c *Capture) Flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.readers {
		r.flush()
	}
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
