package proc

import (
	"errors"
	"os"
	"strings"
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
// signalled. A process group's id stays allocated while any member
// lives, so the number cannot name another process meanwhile. If a live
// process holds that pid with another start time, every member of ours
// is gone and the group with that id, if any, is a stranger's.
func GroupOurs(id Identity) bool {
	ours, known := groupOurs(id)
	return ours && known
}

// groupOurs is GroupOurs, with known false when /proc could not be read.
func groupOurs(id Identity) (ours, known bool) {
	st, err := ReadStat(id.Pid)
	if err != nil {
		// No process has that pid: any member with that pgid is ours.
		return true, statGone(err)
	}
	return st.StartTime == id.StartTime, true
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
