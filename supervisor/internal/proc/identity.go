package proc

import (
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

// Alive reports whether the process still runs (a zombie does not count).
func (id Identity) Alive() bool { return Alive(id.Pid, id.StartTime) }

// GroupOurs reports whether process group id.Pid may still be the group
// this leader founded. A process group's id stays allocated while any
// member lives, so the number cannot name another process meanwhile. If a
// live process holds that pid with another start time, every member of
// ours is gone and the group with that id, if any, is a stranger's.
func GroupOurs(id Identity) bool {
	st, err := ReadStat(id.Pid)
	if err != nil {
		return true // no process has that pid: any member with that pgid is ours
	}
	return st.StartTime == id.StartTime
}

// OursGroupMembers lists the live members of the leader's process group,
// or none when the group id now belongs to someone else.
func OursGroupMembers(id Identity) []int {
	if !GroupOurs(id) {
		return nil
	}
	return GroupMembers(id.Pid)
}

// BootID is this boot's identity (/proc/sys/kernel/random/boot_id): a pid
// and start time recorded under another boot mean nothing now.
func BootID() string {
	b, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return strings.TrimSpace(string(b))
}
