package signame

import (
	"syscall"
	"testing"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]syscall.Signal{
		"HUP": syscall.SIGHUP, "hup": syscall.SIGHUP, "SIGHUP": syscall.SIGHUP, "1": syscall.SIGHUP,
		"USR2": syscall.SIGUSR2, "sigterm": syscall.SIGTERM,
		"0": 0, "34": 34, "RTMAX": 64, "CLD": syscall.SIGCHLD, "sigiot": syscall.SIGABRT,
		// As Python's int() and strip() read them.
		" HUP ": syscall.SIGHUP, "+15": syscall.SIGTERM, "015": syscall.SIGTERM, "1_5": syscall.SIGTERM, " 9\n": syscall.SIGKILL,
	} {
		if got, ok := Parse(in); !ok || got != want {
			t.Errorf("Parse(%q) = %v, %v", in, got, ok)
		}
	}
	for _, bad := range []string{"BOGUS", "", "-1", "35", "63", "65", "99", "SIG", "SIG_DFL", "_15", "15_", "1__5", "+", "1 5", "99999999999999999999"} {
		if _, ok := Parse(bad); ok {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}
