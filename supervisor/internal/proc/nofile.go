package proc

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// The Go runtime raises its own soft RLIMIT_NOFILE to the hard limit
// (less one) at start, and gives each child it forks the soft limit the
// process started with, which it keeps to itself. A child forked any
// other way (the spawner's raw fork) must get the same, so the daemon
// learns it from a child of Go's fork and hands it to the helper.

// childNofileLocked is the soft descriptor limit Go gives the daemon's
// children, or 0 if it cannot be learnt. reaper.mu is held.
func childNofileLocked() uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	if lim.Max == 0 || lim.Cur != lim.Max-1 {
		return lim.Cur // not raised: children get this one
	}
	// Raised, or started at hard - 1: ask a child what it got.
	r, w, err := os.Pipe()
	if err != nil {
		return 0
	}
	defer r.Close()
	defer w.Close() // sh reads EOF and exits; the reaper collects it
	p, err := forkLocked(Attr{Path: "/bin/sh", Argv: []string{"sh", "-c", "read _"}, Umask: -1,
		Files: []*os.File{r, nil, nil}}, goForkExec)
	if err != nil {
		return 0
	}
	return softNofile("/proc/" + strconv.Itoa(p.Pid) + "/limits")
}

// softNofile reads the soft "Max open files" of a limits file.
func softNofile(path string) uint64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "Max open files"); ok {
			if fields := strings.Fields(rest); len(fields) > 0 {
				n, _ := strconv.ParseUint(fields[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

// nofileTold: the helper runs with the limit the daemon's children get.
var nofileTold bool

// setNofile sets this process's soft descriptor limit; Go's own forks
// then give children the same (Setrlimit tells it so).
func setNofile(soft uint64) {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) != nil || soft == 0 || soft > lim.Max {
		return
	}
	lim.Cur = soft
	nofileTold = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim) == nil
}
