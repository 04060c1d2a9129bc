package testhelper

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// ProcStatus is what tests wait on in /proc/PID/status.
type ProcStatus struct {
	PPid    int
	State   byte // the leader thread's: 'S', 'R', 'Z', ...
	Threads int  // a zombie leader counts
	SigCgt  uint64
}

// ReadProcStatus reads /proc/PID/status; false if it cannot be read (the
// process is gone).
func ReadProcStatus(pid int) (ProcStatus, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return ProcStatus{}, false
	}
	var s ProcStatus
	for _, line := range strings.Split(string(b), "\n") {
		key, v, _ := strings.Cut(line, ":\t")
		switch key {
		case "PPid":
			s.PPid, _ = strconv.Atoi(v)
		case "State":
			if v != "" {
				s.State = v[0]
			}
		case "Threads":
			s.Threads, _ = strconv.Atoi(v)
		case "SigCgt":
			s.SigCgt, _ = strconv.ParseUint(v, 16, 64)
		}
	}
	return s, true
}

// Catches reports whether the process has a handler for sig: a shell's
// trap or a program's own handler is in place.
func (s ProcStatus) Catches(sig syscall.Signal) bool { return s.SigCgt&(1<<(sig-1)) != 0 }
