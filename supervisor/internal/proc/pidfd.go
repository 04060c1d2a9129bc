package proc

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// pidfdInfo is the kernel's struct pidfd_info (Linux 6.13; the exit code
// from 6.15), as far as this package reads it.
type pidfdInfo struct {
	Mask     uint64
	CgroupID uint64
	Pid      uint32
	Tgid     uint32
	Ppid     uint32
	Ruid     uint32
	Rgid     uint32
	Euid     uint32
	Egid     uint32
	Suid     uint32
	Sgid     uint32
	Fsuid    uint32
	Fsgid    uint32
	ExitCode int32
}

const (
	pidfdInfoExit = 1 << 3
	// _IOWR(0xFF, 11, struct pidfd_info) with the 64-byte first version.
	pidfdGetInfo = 3<<30 | 64<<16 | 0xFF<<8 | 11
)

// exitFromPidfd asks the kernel how a process that was not our child
// ended. The status is there once its new parent (init, or a service
// manager) has reaped it, which some inits do only every second or two:
// where the kernel keeps exits (ExitsOutliveTheParent) it is asked until
// exitWait has passed, polling ever less often; elsewhere nothing is
// known.
func exitFromPidfd(fd int) (syscall.WaitStatus, bool) {
	deadline := time.Now().Add(exitWait)
	for poll := time.Duration(0); ; poll = min(2*poll+5*time.Millisecond, 100*time.Millisecond) {
		time.Sleep(poll)
		var info [64]byte
		(*pidfdInfo)(unsafe.Pointer(&info)).Mask = pidfdInfoExit
		_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), pidfdGetInfo, uintptr(unsafe.Pointer(&info)))
		if errno == syscall.ENOTTY || errno == syscall.EINVAL || errno == syscall.EOPNOTSUPP {
			return 0, false // the kernel has no PIDFD_GET_INFO
		}
		if errno == 0 {
			pi := (*pidfdInfo)(unsafe.Pointer(&info))
			if pi.Mask&pidfdInfoExit != 0 {
				return syscall.WaitStatus(pi.ExitCode), true
			}
		}
		if !ExitsOutliveTheParent() || time.Now().After(deadline) {
			return 0, false
		}
	}
}

// exitWait bounds how long an exit's status is waited for: a zombie whose
// parent never reaps it keeps it from the kernel for good, and its
// program is restarted only after. Meanwhile the process shows as
// running, as the zombie it is.
const exitWait = 10 * time.Second

// pidfdProcess asks the kernel which process a pidfd names and who its
// parent is (PIDFD_GET_INFO, Linux 6.13), without /proc. ok is false
// where the kernel cannot say: too old, or the process reaped.
func pidfdProcess(f *os.File) (pid, ppid int, ok bool) {
	raw, err := f.SyscallConn()
	if err != nil {
		return 0, 0, false
	}
	if raw.Control(func(fd uintptr) { pid, ppid, ok = pidfdProcessFD(fd) }) != nil {
		return 0, 0, false
	}
	return pid, ppid, ok
}

func pidfdProcessFD(fd uintptr) (pid, ppid int, ok bool) {
	var info [64]byte
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, pidfdGetInfo, uintptr(unsafe.Pointer(&info))); errno != 0 {
		return 0, 0, false
	}
	pi := (*pidfdInfo)(unsafe.Pointer(&info))
	return int(pi.Tgid), int(pi.Ppid), pi.Tgid != 0
}

// PidfdNamesAnother reports whether the kernel says f names a live
// process other than pid: a pidfd kept for a spawn whose journaled pid
// was corrected since.
func PidfdNamesAnother(f *os.File, pid int) bool {
	named, _, ok := pidfdProcess(f)
	return ok && named != pid
}

// KeptPidfdLeader tells, from a pidfd kept since a spawn (a raw
// descriptor the caller keeps), what became of the spawn's leader: ended
// (exited, reaped or not), or running as id, its start time read while
// it provably still had that pid. known is false where that cannot be
// told: a kernel without PIDFD_GET_INFO, or /proc unreadable (out of
// descriptors).
func KeptPidfdLeader(fd int) (id Identity, ended, known bool) {
	if pidfdExited(fd) {
		return Identity{}, true, true
	}
	pid, _, ok := pidfdProcessFD(uintptr(fd))
	if !ok {
		// Reaped since the poll above, or a kernel that cannot say.
		exited := pidfdExited(fd)
		return Identity{}, exited, exited
	}
	// Out of descriptors, /proc is tried again for a while: the search
	// a caller falls back on could find another process.
	st, err := ReadStat(pid)
	for try := 0; err != nil && !errors.Is(err, syscall.ENOENT) && try < statRetries; try++ {
		time.Sleep(100 * time.Millisecond)
		st, err = ReadStat(pid)
	}
	if pidfdExited(fd) {
		// Ended meanwhile: the pid, and what /proc said of it, may be
		// another's already.
		return Identity{}, true, true
	}
	if err != nil {
		return Identity{}, false, false
	}
	return Identity{Pid: pid, StartTime: st.StartTime}, false, true
}

// statRetries bounds KeptPidfdLeader's wait for a descriptor: 2 s.
const statRetries = 20

// pidfdExited reports whether the process a pidfd names has terminated.
func pidfdExited(fd int) bool {
	p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(p, 0)
		if err == unix.EINTR {
			continue
		}
		return n > 0 && p[0].Revents&(unix.POLLIN|unix.POLLHUP) != 0
	}
}

// ExitsOutliveTheParent reports whether the kernel keeps a process's exit
// status for whoever holds a pidfd on it, after its parent reaped it
// (PIDFD_INFO_EXIT, Linux 6.15): a pidfd kept while no daemon runs then
// tells how a program that ended meanwhile exited.
func ExitsOutliveTheParent() bool {
	exitInfoOnce.Do(func() {
		var u unix.Utsname
		if unix.Uname(&u) == nil {
			exitInfoKept = kernelAtLeast(unix.ByteSliceToString(u.Release[:]), 6, 15)
		}
	})
	return exitInfoKept
}

var (
	exitInfoOnce sync.Once
	exitInfoKept bool
)

// kernelAtLeast compares a kernel release ("6.18.44-cloud") with major.minor.
func kernelAtLeast(release string, major, minor int) bool {
	var ma, mi int
	if _, err := fmt.Sscanf(release, "%d.%d", &ma, &mi); err != nil {
		return false
	}
	return ma > major || ma == major && mi >= minor
}

// watchPidfd opens a pidfd on id and checks, with the pidfd pinning the
// process, that it is still the one recorded: ESRCH if it is not,
// another error if that cannot be told (out of descriptors). The returned file waits in
// the runtime's poller: readable once the process has terminated.
func watchPidfd(id Identity) (*os.File, error) {
	fd, err := unix.PidfdOpen(id.Pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return nil, os.NewSyscallError("pidfd_open", err)
	}
	if fd >= LastFreeFD() {
		// Kept for good, it would take a descriptor the control socket's
		// reserve or a log file needs: the process is watched through
		// /proc instead, until one lower down is free.
		unix.Close(fd)
		return nil, os.NewSyscallError("pidfd_open", unix.EMFILE)
	}
	switch alive, known := id.check(); {
	case !known:
		unix.Close(fd)
		return nil, errCannotTell
	case !alive:
		unix.Close(fd)
		return nil, syscall.ESRCH
	}
	return os.NewFile(uintptr(fd), "pidfd"), nil
}

// LastFreeFD is where the descriptors a watch may keep end: the last
// 1/32 of the soft limit, at least 16, are left to short-lived uses.
func LastFreeFD() int {
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) != nil || lim.Cur > 1<<30 {
		return 1 << 30
	}
	return int(lim.Cur) - max(int(lim.Cur)/32, 16)
}

// pidfdReadable reports whether the process behind f has terminated.
func pidfdReadable(f *os.File) bool {
	raw, err := f.SyscallConn()
	if err != nil {
		return false
	}
	readable := false
	raw.Control(func(fd uintptr) { readable = pidfdExited(int(fd)) })
	return readable
}

// waitPidfd blocks until the process behind f terminates.
func waitPidfd(f *os.File) {
	raw, err := f.SyscallConn()
	if err != nil {
		return
	}
	exited := func(fd uintptr, timeout int) bool {
		p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, _ := unix.Poll(p, timeout)
		return n > 0
	}
	if raw.Read(func(fd uintptr) bool { return exited(fd, 0) }) != nil {
		// Not in the runtime's poller: wait in poll(2) on a thread.
		raw.Control(func(fd uintptr) {
			for !exited(fd, -1) {
			}
		})
	}
}
