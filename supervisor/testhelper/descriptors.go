package testhelper

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// ExhaustDescriptors lowers the test binary's soft descriptor limit to
// what is open plus room, and fills the table with /dev/null: the next
// open fails with EMFILE. It returns the filling descriptors (an entry the
// test closes itself, it sets to -1) and a func that gives everything
// back, limit included; the cleanup calls it too.
func ExhaustDescriptors(t testing.TB, room int) (fill []int, release func()) {
	t.Helper()
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	lim := old
	lim.Cur = uint64(len(ents) + room)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	released := false
	release = func() {
		if released {
			return
		}
		released = true
		for _, fd := range fill {
			if fd >= 0 {
				unix.Close(fd)
			}
		}
		unix.Setrlimit(unix.RLIMIT_NOFILE, &old)
	}
	t.Cleanup(release)
	for {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == unix.EMFILE {
			return fill, release
		}
		if err != nil {
			release()
			t.Fatal(err)
		}
		fill = append(fill, fd)
	}
}
