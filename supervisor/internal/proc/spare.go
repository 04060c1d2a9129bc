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
// spare's place when the descriptors have run out, waiting for one up to
// spareWait. The descriptor is closed with closeShort.
func openShort(open func() (int, error)) (int, error) { return openSpare(open, spareWait) }

// openFileShort is openShort for a file, with no closure made unless the
// descriptors have run out: a metrics scrape reads a few files a program.
func openFileShort(path string, flags int, wait time.Duration) (int, error) {
	fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0)
	if err != unix.EMFILE {
		return fd, err
	}
	return openSpare(func() (int, error) { return unix.Open(path, flags|unix.O_CLOEXEC, 0) }, wait)
}

func openSpare(open func() (int, error), wait time.Duration) (int, error) {
	fd, err := open()
	if err != unix.EMFILE {
		return fd, err
	}
	// In a spare's place: another opener may take the slot between the
	// spare's close and the open, and then the wait goes on.
	inPlace := func(s int) (int, error) {
		unix.Close(s)
		fd, err := open()
		if err != nil {
			keepSpares() // the slot it freed may be free again
		}
		return fd, err
	}
	if wait <= 0 {
		select {
		case s := <-spares:
			return inPlace(s)
		default:
			return fd, err
		}
	}
	expired := time.NewTimer(wait)
	defer expired.Stop()
	retry := time.NewTicker(spareRetry)
	defer retry.Stop()
	for {
		select {
		case s := <-spares:
			if fd, err = inPlace(s); err != unix.EMFILE {
				return fd, err
			}
		case <-expired.C:
			return fd, err
		case <-retry.C:
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
