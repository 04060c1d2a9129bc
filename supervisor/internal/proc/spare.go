package proc

import (
	"time"

	"golang.org/x/sys/unix"
)

// A daemon out of descriptors (a low LimitNOFILE, every program's pipes,
// a successor given back what the holder kept) must still tell its
// processes apart: an open of /proc/PID/stat that fails with EMFILE says
// nothing about the process, and taken for "ended" it had a live program
// started a second time beside itself. A few descriptors are kept on
// /dev/null for such short-lived opens (a /proc read, a pidfd that pins a
// process while its identity is checked): on EMFILE one is closed and the
// open tried again in its place (the kernel gives the lowest free
// number), and it is taken again once the borrowed descriptor is closed.
// Two, because a check opens a pidfd and then reads /proc under it. A
// borrower that finds none waits a little (spareWait) for one to come
// back, then answers "cannot tell".
var spares = make(chan int, 2)

// keepSpares takes the spare descriptors that are missing, as far as
// descriptors are free.
func keepSpares() {
	for len(spares) < cap(spares) {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return
		}
		select {
		case spares <- fd:
		default:
			unix.Close(fd) // another taker filled it meanwhile
			return
		}
	}
}

// openShort runs open (which returns a new descriptor), and once more in a
// spare's place when the descriptors have run out. The descriptor is
// closed with closeShort.
func openShort(open func() (int, error)) (int, error) {
	fd, err := open()
	if err != unix.EMFILE {
		return fd, err
	}
	wait := time.NewTimer(spareWait)
	defer wait.Stop()
	for {
		select {
		case s := <-spares:
			unix.Close(s)
			return open()
		case <-wait.C:
			return fd, err
		case <-time.After(spareRetry):
			// A descriptor may have been freed meanwhile, or a borrower
			// closed its own without the spare coming back.
			if fd, err = open(); err != unix.EMFILE {
				return fd, err
			}
		}
	}
}

// spareWait bounds the wait for a spare; spareRetry is how often the open
// is tried again meanwhile.
const (
	spareWait  = 100 * time.Millisecond
	spareRetry = 10 * time.Millisecond
)

// closeShort closes a descriptor openShort gave, and takes back a spare
// it may have used.
func closeShort(fd int) {
	unix.Close(fd)
	if len(spares) < cap(spares) {
		keepSpares()
	}
}
