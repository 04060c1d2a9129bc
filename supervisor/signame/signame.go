// Package signame names signals as supervisord prints them and reads them
// as supervisorctl users write them.
package signame

import (
	"fmt"
	"strings"
	"syscall"
)

var signalNames = map[syscall.Signal]string{
	syscall.SIGHUP: "SIGHUP", syscall.SIGINT: "SIGINT", syscall.SIGQUIT: "SIGQUIT",
	syscall.SIGILL: "SIGILL", syscall.SIGTRAP: "SIGTRAP", syscall.SIGABRT: "SIGABRT",
	syscall.SIGBUS: "SIGBUS", syscall.SIGFPE: "SIGFPE", syscall.SIGKILL: "SIGKILL",
	syscall.SIGUSR1: "SIGUSR1", syscall.SIGSEGV: "SIGSEGV", syscall.SIGUSR2: "SIGUSR2",
	syscall.SIGPIPE: "SIGPIPE", syscall.SIGALRM: "SIGALRM", syscall.SIGTERM: "SIGTERM",
	syscall.SIGCHLD: "SIGCHLD", syscall.SIGCONT: "SIGCONT", syscall.SIGSTOP: "SIGSTOP",
	syscall.SIGTSTP: "SIGTSTP", syscall.SIGTTIN: "SIGTTIN", syscall.SIGTTOU: "SIGTTOU",
	syscall.SIGURG: "SIGURG", syscall.SIGXCPU: "SIGXCPU", syscall.SIGXFSZ: "SIGXFSZ",
	syscall.SIGVTALRM: "SIGVTALRM", syscall.SIGPROF: "SIGPROF", syscall.SIGWINCH: "SIGWINCH",
	syscall.SIGIO: "SIGIO", syscall.SIGPWR: "SIGPWR", syscall.SIGSYS: "SIGSYS",
	syscall.SIGSTKFLT: "SIGSTKFLT", sigRTMin: "SIGRTMIN", sigRTMax: "SIGRTMAX",
}

// The real-time signals Python's signal module names (glibc's bounds).
const (
	sigRTMin = syscall.Signal(34)
	sigRTMax = syscall.Signal(64)
)

// aliases are the other names Python's signal module gives, which
// supervisorctl users may write.
var aliases = map[string]syscall.Signal{"SIGCLD": syscall.SIGCHLD, "SIGIOT": syscall.SIGABRT, "SIGPOLL": syscall.SIGIO}

// Name is the signal's C name, "SIGTERM"; unknown numbers print as
// "signal 40".
func Name(sig syscall.Signal) string {
	if n, ok := signalNames[sig]; ok {
		return n
	}
	return fmt.Sprintf("signal %d", int(sig))
}

// Parse reads a signal as supervisord's signalProcess does: a name with
// or without SIG, in any case ("TERM", "sigterm"), or a number of a named
// signal ("15"), or 0, which only asks whether the process is alive (as
// kill -0 does: Python's signal module lists 0 as SIG_DFL).
func Parse(s string) (syscall.Signal, bool) {
	s = strings.TrimSpace(s) // Python's int() and strip() take " HUP"
	if n, ok := pyInt(s); ok {
		if _, named := signalNames[syscall.Signal(n)]; named || n == 0 {
			return syscall.Signal(n), true
		}
		return 0, false
	}
	up := []byte(s)
	for i, c := range up {
		if c >= 'a' && c <= 'z' {
			up[i] = c - 'a' + 'A'
		}
	}
	name := string(up)
	if len(name) < 3 || name[:3] != "SIG" {
		name = "SIG" + name
	}
	for sig, n := range signalNames {
		if n == name {
			return sig, true
		}
	}
	sig, ok := aliases[name]
	return sig, ok
}

// pyInt reads a decimal integer as Python's int() does, surrounding
// blanks already trimmed: a sign, leading zeros, and single underscores
// between digits ("+15", "015", "1_5").
func pyInt(s string) (int, bool) {
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg, s = s[0] == '-', s[1:]
	}
	if s == "" || s[0] == '_' || s[len(s)-1] == '_' || strings.Contains(s, "__") {
		return 0, false
	}
	n := 0
	for _, c := range s {
		switch {
		case c == '_':
			continue
		case c < '0' || c > '9' || n > 1<<20:
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}
