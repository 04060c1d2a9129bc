package proc

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Stat is what /proc/PID/stat says about a process.
type Stat struct {
	State     byte   // the leader thread's: 'R', 'S', 'Z', ...
	Ppid      int    // parent's pid
	Pgrp      int    // process group id
	Threads   int    // threads of the process, a zombie leader's among them
	StartTime uint64 // clock ticks after boot: with the pid, identifies a process
}

// Running reports whether the process has not ended. /proc shows the
// leader thread's own state: a leader whose main thread called
// pthread_exit is a zombie while its other threads run on, and the
// process is alive (its pidfd is not readable, waitpid does not report
// it, and a second copy must not start beside it).
func (st Stat) Running() bool {
	return (st.State != 'Z' && st.State != 'X') || st.Threads > 1
}

// ReadStat reads /proc/PID/stat. It allocates little: it runs at every
// spawn, and for every process when a group's members are listed.
func ReadStat(pid int) (Stat, error) { return readStat(pid, spareWait) }

// readStatLocked is ReadStat for callers that hold the reaper's lock: it
// does not wait for a spare descriptor.
func readStatLocked(pid int) (Stat, error) { return readStat(pid, 0) }

func readStat(pid int, spareWait time.Duration) (Stat, error) {
	var buf [1024]byte
	b, err := readSmall("/proc/"+strconv.Itoa(pid)+"/stat", buf[:], spareWait)
	if err == nil && len(b) == len(buf) {
		// A line this long: a command name of parentheses and spaces
		// cannot make it, but the fields after it may grow one day.
		b, err = os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	}
	if err != nil {
		return Stat{}, err
	}
	// The command name is in parentheses and may hold spaces or parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return Stat{}, errors.New("malformed stat")
	}
	// Fields after the name: state(0) ppid(1) pgrp(2) ... num_threads(17)
	// ... starttime(19).
	var f [20][]byte
	n := 0
	for rest := b[i+1:]; n < len(f); n++ {
		rest = bytes.TrimLeft(rest, " \n")
		end := bytes.IndexAny(rest, " \n")
		if end < 0 {
			end = len(rest)
		}
		if end == 0 {
			break
		}
		f[n], rest = rest[:end], rest[end:]
	}
	if n < len(f) {
		return Stat{}, errors.New("malformed stat")
	}
	ppid, _ := strconv.Atoi(string(f[1]))
	pgrp, _ := strconv.Atoi(string(f[2]))
	threads, _ := strconv.Atoi(string(f[17]))
	start, _ := strconv.ParseUint(string(f[19]), 10, 64)
	return Stat{State: f[0][0], Ppid: ppid, Pgrp: pgrp, Threads: threads, StartTime: start}, nil
}

// Alive reports whether the process with this pid and start time provably
// still runs (a zombie does not count, a zombie leader of live threads
// does): only then may it be signalled.
func Alive(pid int, start uint64) bool {
	alive, _ := check(pid, start)
	return alive
}

// check tells whether the process with this pid and start time still
// runs; known is false when /proc could not be read for another reason
// than the process's end (out of descriptors), and then nothing is known:
// not that it runs, not that it ended.
func check(pid int, start uint64) (alive, known bool) {
	st, err := ReadStat(pid)
	if err != nil {
		return false, statGone(err)
	}
	return st.StartTime == start && st.Running(), true
}

// OutOfResources reports whether err is the daemon's want of descriptors
// or memory: it says nothing about the file or process asked about.
func OutOfResources(err error) bool {
	return errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) || errors.Is(err, unix.ENOMEM)
}

// statGone reports whether a failed read of /proc/PID/stat means the
// process has ended: no such entry, or it went while being read. Anything
// else (out of descriptors, a process hidden by hidepid or made
// undumpable) tells nothing about it.
func statGone(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH)
}

// GroupMembers lists the live processes of a process group; ok is false
// when /proc could not be listed (out of descriptors).
func GroupMembers(pgid int) (pids []int, ok bool) {
	pidsNow, ok := Pids()
	for _, pid := range pidsNow {
		if st, err := ReadStat(pid); err == nil && st.Pgrp == pgid && st.Running() {
			pids = append(pids, pid)
		} else if OutOfResources(err) {
			ok = false // an unreadable process (hidepid) is no member we could prove
		}
	}
	return pids, ok
}

// Pids lists /proc's processes, through a spare descriptor if need be.
func Pids() ([]int, bool) {
	fd, err := openShort(func() (int, error) {
		return unix.Open("/proc", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	})
	if err != nil {
		return nil, false
	}
	defer closeShort(fd)
	var pids []int
	buf := make([]byte, 16<<10)
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, false
		}
		if n <= 0 {
			return pids, true
		}
		_, _, names := unix.ParseDirent(buf[:n], -1, nil)
		for _, name := range names {
			if pid, err := strconv.Atoi(name); err == nil {
				pids = append(pids, pid)
			}
		}
	}
}

// Leftover is a process a previous daemon started, with its stop settings.
type Leftover struct {
	Pid         int
	StartTime   uint64
	StopSignal  syscall.Signal
	StopWait    time.Duration
	StopAsGroup bool
	KillAsGroup bool
	Container   Container // its cgroup, if it has one
	// StopBegan is when the previous daemon sent the stop signal, zero if
	// it had not: that stop goes on, with no second signal (a shell's
	// trap would run twice) and what is left of StopWait.
	StopBegan time.Time
	killed    bool // SIGKILL sent (and said so) by an earlier try
}

// StopLeftover stops a process that is not this daemon's child, the way the
// daemon would stop its own: stop signal, stopwait, SIGKILL (logged); then
// kills what remains of its process group. Every signal is sent only while
// the process, or its group, is provably the recorded one. It polls /proc,
// since it cannot wait4 on a process it did not start. It reports whether
// the process and its group are provably gone: a stop that could not
// prove its targets (out of descriptors) is for its caller to try again,
// with StopBegan set once the stop signal went out.
func StopLeftover(l *Leftover) bool {
	id := Identity{Pid: l.Pid, StartTime: l.StartTime}
	if !id.Gone() { // or cannot tell: each signal proves its target
		wait := l.StopWait
		if l.StopBegan.IsZero() {
			if err := sendTo(id, l.StopSignal, l.StopAsGroup, l.Container); errors.Is(err, errCannotTell) {
				return false // no SIGKILL before the stop signal went out
			}
			l.StopBegan = time.Now()
		} else {
			wait = min(max(time.Until(l.StopBegan.Add(l.StopWait)), 0), l.StopWait)
		}
		if !waitGone(l.Pid, l.StartTime, wait) {
			if !l.killed {
				logger().Warn("leftover did not stop in time: sending SIGKILL", "pid", l.Pid, "stopwait", l.StopWait)
				l.killed = true
			}
			sendTo(id, syscall.SIGKILL, l.KillAsGroup, l.Container)
			waitGone(l.Pid, l.StartTime, 10*time.Second)
		}
	}
	// A kill takes effect asynchronously: wait until the members are gone,
	// so nothing new starts beside them.
	sw := &sweep{id: id, container: l.Container}
	return sw.killAndWait(time.Now().Add(10*time.Second)) && id.Gone()
}

// sendTo signals a leftover's leader, or its group: through its cgroup
// when it has one, else while the group is provably its.
func sendTo(id Identity, sig syscall.Signal, group bool, c Container) error {
	if group && c != nil {
		if sig == syscall.SIGKILL {
			return c.Kill()
		}
		return signalInContainer(c, id.Pid, sig)
	}
	if group {
		switch ours, known := groupOurs(id); {
		case !known:
			return errCannotTell
		case ours:
			if err := syscall.Kill(-id.Pid, sig); err != nil && err != syscall.ESRCH {
				return err
			}
			return nil
		}
	}
	return signalLeader(id, sig)
}

// signalLeader signals a process that is not our child through a pidfd,
// which pins it while its identity is checked: no reused pid is hit.
func signalLeader(id Identity, sig syscall.Signal) error {
	fd, err := openShort(func() (int, error) { return unix.PidfdOpen(id.Pid, 0) })
	if err == unix.ESRCH {
		return nil // gone
	}
	if err != nil {
		return os.NewSyscallError("pidfd_open", err)
	}
	defer closeShort(fd)
	switch alive, known := id.check(); {
	case !known:
		return errCannotTell
	case !alive:
		return nil
	}
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil && err != syscall.ESRCH {
		return err
	}
	return nil
}

// waitGone waits until the process has provably ended, at most d.
func waitGone(pid int, start uint64, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if alive, known := check(pid, start); known && !alive {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// GroupStat is what the live members of one process group use.
type GroupStat struct {
	RSSBytes int64
	// CPUSeconds is the user and system time of the live members and of
	// the children they have waited for (cutime, cstime).
	CPUSeconds float64
	Members    int
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

// GroupUsage scans /proc once and sums memory and CPU by process group.
func GroupUsage() map[int]GroupStat {
	ents, _ := os.ReadDir("/proc")
	page := int64(os.Getpagesize())
	out := map[int]GroupStat{}
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		// After the name: state(0) ppid(1) pgrp(2) ... utime(11) stime(12)
		// ... num_threads(17) ... rss(21).
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 22 {
			continue
		}
		pgrp, _ := strconv.Atoi(f[2])
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		cutime, _ := strconv.ParseInt(f[13], 10, 64)
		cstime, _ := strconv.ParseInt(f[14], 10, 64)
		rss, _ := strconv.ParseInt(f[21], 10, 64)
		if f[0] == "Z" {
			if threads, _ := strconv.Atoi(f[17]); threads <= 1 {
				continue // ended
			}
			rss = threadResident(e.Name()) // a zombie leader of live threads
		}
		g := out[pgrp]
		g.RSSBytes += rss * page
		g.CPUSeconds += float64(utime+stime+cutime+cstime) / clockTicks
		g.Members++
		out[pgrp] = g
	}
	return out
}

// ResidentBytes sums the resident memory of pids (statm's second field).
func ResidentBytes(pids []int) int64 {
	page := int64(os.Getpagesize())
	var total int64
	var buf [128]byte
	for _, pid := range pids {
		b, err := ReadSmall("/proc/"+strconv.Itoa(pid)+"/statm", buf[:])
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) > 1 {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			if n == 0 {
				n = threadResident(strconv.Itoa(pid))
			}
			total += n * page
		}
	}
	return total
}

// threadResident is the resident pages of process pid as another of its
// threads reports them. A leader whose main thread exited while others
// run on (pthread_exit) reports no memory of its own: its view of the
// address space went with its thread.
func threadResident(pid string) int64 {
	tasks, _ := os.ReadDir("/proc/" + pid + "/task")
	var buf [128]byte
	for _, t := range tasks {
		if t.Name() == pid {
			continue
		}
		b, err := ReadSmall("/proc/"+pid+"/task/"+t.Name()+"/statm", buf[:])
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) > 1 {
			if n, _ := strconv.ParseInt(f[1], 10, 64); n > 0 {
				return n
			}
		}
	}
	return 0
}

// WriteSmall writes a short value to a control file (a cgroup's), through
// a spare descriptor if need be: a kill through cgroup.kill must not fail
// for want of one.
func WriteSmall(path string, value string) error {
	fd, err := openFileShort(path, unix.O_WRONLY, spareWait)
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer closeShort(fd)
	for {
		_, err = unix.Write(fd, []byte(value))
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return &os.PathError{Op: "write", Path: path, Err: err}
	}
	return nil
}

// ReadSmall reads a file of at most len(buf) bytes (a /proc or cgroup
// figure) into buf: open, read, close, nothing allocated but the path's
// NUL-terminated copy. Accounting reads
// a few for every program at each metrics scrape.
func ReadSmall(path string, buf []byte) ([]byte, error) { return readSmall(path, buf, spareWait) }

func readSmall(path string, buf []byte, spareWait time.Duration) ([]byte, error) {
	fd, err := openFileShort(path, unix.O_RDONLY, spareWait)
	if err != nil {
		return nil, err
	}
	defer closeShort(fd)
	n := 0
	for n < len(buf) {
		m, err := unix.Read(fd, buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if m == 0 {
			break
		}
		n += m
	}
	return buf[:n], nil
}

// FDPath is where /proc shows descriptor n of process pid, for readlink,
// stat or open: /proc/PID/fd/N, or, where that is missing, the same
// descriptor as another of its threads sees it. A leader whose main
// thread exited while others run (pthread_exit) shows no descriptors of
// its own, though the process holds them.
func FDPath(pid, n int) string {
	p, fd := strconv.Itoa(pid), strconv.Itoa(n)
	path := "/proc/" + p + "/fd/" + fd
	var st unix.Stat_t
	if unix.Lstat(path, &st) == nil {
		return path
	}
	tasks, _ := os.ReadDir("/proc/" + p + "/task")
	for _, t := range tasks {
		if other := "/proc/" + p + "/task/" + t.Name() + "/fd/" + fd; t.Name() != p && unix.Lstat(other, &st) == nil {
			return other
		}
	}
	return path
}
