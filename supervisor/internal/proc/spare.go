package proc

import (
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
// Two, because a check opens a pidfd and then reads /proc under it.
// Nobody waits for one: a borrower that finds none answers "cannot tell".
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
	select {
	case s := <-spares:
		unix.Close(s)
		return open()
	default:
		return fd, err
	}
}

// closeShort closes a descriptor openShort gave, and takes back a spare
// it may have used.
func closeShort(fd int) {
	unix.Close(fd)
	if len(spares) < cap(spares) {
		keepSpares()
	}
}
