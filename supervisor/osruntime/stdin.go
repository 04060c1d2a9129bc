package osruntime

import (
	"errors"
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// stdinQueue is how much a process's stdin may hold in the daemon while
// the process does not read: a writer is never blocked by it.
const stdinQueue = 1 << 20

var errStdinFull = errors.New("stdin queue full: the process does not read its stdin")

// stdinPipe is the daemon's end of a process's stdin: a queue drained by a
// goroutine of its own, so no writer waits for the process to read. The
// fd holder keeps a duplicate, so a process reading its stdin sees no end
// of file while no daemon runs.
type stdinPipe struct {
	f      *os.File
	id     string // under this id with the holder
	mu     sync.Mutex
	queue  [][]byte
	queued int
	wake   chan struct{}
	err    error // the write that failed (the process closed its stdin)
	closed bool
}

// stdinID names a stdin pipe for the holder by its inode, which the
// journal records with the spawn.
func stdinID(ino uint64) string { return stdinIDPrefix + strconv.FormatUint(ino, 10) }

const stdinIDPrefix = "stdin\t"

// newStdin makes the pipe of one spawn: the read end for the child (the
// caller closes it after the fork), the write end for the daemon.
func (r *Runtime) newStdin() (child *os.File, sp *stdinPipe, ino uint64, err error) {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		return nil, nil, 0, os.NewSyscallError("pipe2", err)
	}
	var st unix.Stat_t
	unix.Fstat(fds[1], &st)
	sp = r.adoptStdin(fds[1], stdinID(st.Ino))
	if r.holder != nil {
		r.holder.Store(sp.id, fds[1])
	}
	return os.NewFile(uintptr(fds[0]), "stdin"), sp, st.Ino, nil
}

// adoptStdin drives a stdin write end (new, or a previous daemon's).
func (r *Runtime) adoptStdin(fd int, id string) *stdinPipe {
	// Non-blocking, so the write waits in the runtime's poller and close
	// can end it (a grandchild may hold the read end and never read).
	unix.SetNonblock(fd, true)
	sp := &stdinPipe{f: os.NewFile(uintptr(fd), "stdin"), id: id, wake: make(chan struct{}, 1)}
	go sp.drain()
	return sp
}

// write queues b.
func (sp *stdinPipe) write(b []byte) error {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	switch {
	case sp.err != nil:
		return sp.err
	case sp.closed:
		return os.ErrClosed
	case sp.queued+len(b) > stdinQueue:
		return errStdinFull
	}
	sp.queue = append(sp.queue, append([]byte(nil), b...))
	sp.queued += len(b)
	select {
	case sp.wake <- struct{}{}:
	default:
	}
	return nil
}

func (sp *stdinPipe) drain() {
	for range sp.wake {
		for {
			sp.mu.Lock()
			if len(sp.queue) == 0 || sp.err != nil {
				closed := sp.closed
				sp.mu.Unlock()
				if closed {
					return
				}
				break
			}
			b := sp.queue[0]
			sp.mu.Unlock()
			_, err := sp.f.Write(b) // blocks while the process does not read
			sp.mu.Lock()
			sp.queue = sp.queue[1:]
			sp.queued -= len(b)
			if err != nil {
				sp.err = err
			}
			sp.mu.Unlock()
		}
	}
}

// close ends the pipe: its process has gone, and what is still queued is
// for nobody.
func (sp *stdinPipe) close() {
	sp.mu.Lock()
	sp.closed, sp.queue, sp.queued = true, nil, 0
	sp.mu.Unlock()
	sp.f.Close() // ends a write that waits
	select {
	case sp.wake <- struct{}{}:
	default:
	}
}
