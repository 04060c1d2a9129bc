package proc

import (
	"errors"
	"os"
	"slices"
	"strings"
	"syscall"
)

// Identity is what proves a process is the one this daemon started: its
// pid and its start time (clock ticks after boot). A pid alone may have
// been reused by a stranger.
type Identity struct {
	Pid       int
	StartTime uint64
}

// Alive reports whether the process provably still runs (a zombie does
// not count): only then may it be signalled.
func (id Identity) Alive() bool { return Alive(id.Pid, id.StartTime) }

// Gone reports whether the process has provably ended: a process that
// cannot be looked up (out of descriptors) is neither Alive nor Gone.
func (id Identity) Gone() bool {
	alive, known := id.check()
	return known && !alive
}

// Check tells whether the process still runs; known is false when that
// cannot be told (out of descriptors).
func (id Identity) Check() (alive, known bool) { return check(id.Pid, id.StartTime) }

func (id Identity) check() (alive, known bool) { return check(id.Pid, id.StartTime) }

// errCannotTell is a signal not sent because /proc could not be read to
// prove its target (out of descriptors).
var errCannotTell = errors.New("cannot tell whether the process is still ours: /proc unreadable (out of file descriptors?)")

// GroupOurs reports whether process group id.Pid is provably still the
// group this leader founded, or what is left of it: only then may it be
// signalled. While the leader lives (same start time), the group is its.
// Once it is gone, the id proves nothing by itself: the group may have
// emptied, a stranger taken the pid, founded a group of that id (setsid,
// as a double-forking daemon does) and left it. What is left of ours
// descends from this process, the programs' child subreaper (anything a
// program leaves behind is re-parented to it), so the group is ours only
// if every member does. A group left by a previous daemon, whose members
// went to init, cannot be proven ours once its leader is gone.
func GroupOurs(id Identity) bool {
	ours, known := groupOurs(id)
	return ours && known
}

// groupOurs is GroupOurs, with known false when /proc could not be read.
func groupOurs(id Identity) (ours, known bool) {
	st, err := ReadStat(id.Pid)
	if err == nil {
		return st.StartTime == id.StartTime, true
	}
	if !statGone(err) {
		return false, false
	}
	// No member at all (most exits): nothing to signal and nothing to
	// prove, told by kill(2) without a scan of /proc.
	if errors.Is(syscall.Kill(-id.Pid, 0), syscall.ESRCH) {
		return true, true
	}
	members, ok := GroupMembers(id.Pid)
	if !ok {
		return false, false
	}
	self := os.Getpid()
	for _, m := range members {
		switch descentOf(m, self) {
		case memberGone:
			// Ended since the listing: nothing of it to prove.
		case cannotTell:
			return false, false
		case notDescendant:
			return false, true
		}
	}
	return true, true
}

// UnprovenMembers lists the members of a gone leader's process group
// that do not descend from this process: left alone, as a stranger's
// would be (what a previous daemon's program left went to init).
func UnprovenMembers(id Identity) []int {
	if alive, _ := check(id.Pid, id.StartTime); alive || errors.Is(syscall.Kill(-id.Pid, 0), syscall.ESRCH) {
		return nil
	}
	members, _ := GroupMembers(id.Pid)
	self := os.Getpid()
	return slices.DeleteFunc(members, func(m int) bool { return descentOf(m, self) != notDescendant })
}

// descent is how a process relates to an ancestor, as /proc tells.
type descent int

const (
	descendant descent = iota
	notDescendant
	memberGone // the process itself ended
	cannotTell // /proc unreadable, or the tree kept changing under the walk
)

// descentOf tells whether pid descends from ancestor, by the parents in
// /proc. A parent that ends during the walk re-parents its children, and
// a pid reused meanwhile names a process younger than its supposed
// child: either way the walk starts again, three times at most.
func descentOf(pid, ancestor int) descent {
	for range 3 {
		if d, again := walkUp(pid, ancestor); !again {
			return d
		}
	}
	return cannotTell
}

func walkUp(member, ancestor int) (d descent, again bool) {
	pid, child := member, uint64(0)
	for range 128 { // deeper than any real tree
		st, err := ReadStat(pid)
		switch {
		case err != nil && !statGone(err):
			return cannotTell, false
		case err != nil && pid == member:
			return memberGone, false
		case pid == member && (!st.Running() || st.Ppid == 0):
			// Ending (a zombie), or being reaped: /proc shows a process
			// whose parent has let it go with no parent at all.
			return memberGone, false
		case err != nil, st.Ppid == 0, child != 0 && st.StartTime > child:
			return cannotTell, true
		case st.Ppid == ancestor:
			return descendant, false
		case st.Ppid <= 1:
			return notDescendant, false
		}
		pid, child = st.Ppid, st.StartTime
	}
	return cannotTell, false
}

// OursGroupMembers lists the live members of the leader's process group,
// or none when the group id now belongs to someone else; ok is false
// when /proc could not be read, and then the list says nothing.
func OursGroupMembers(id Identity) (pids []int, ok bool) {
	ours, known := groupOurs(id)
	if !known {
		return nil, false
	}
	if !ours {
		return nil, true
	}
	return GroupMembers(id.Pid)
}

// BootID is this boot's identity (/proc/sys/kernel/random/boot_id): a pid
// and start time recorded under another boot mean nothing now.
func BootID() string {
	b, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return strings.TrimSpace(string(b))
}
