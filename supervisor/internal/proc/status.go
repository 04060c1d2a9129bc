package proc

import (
	"fmt"
	"syscall"
)

// Describe renders a wait status as supervisord does: "exit status 1",
// "terminated by SIGTERM", with " (core dumped)" when there is a core.
func Describe(ws syscall.WaitStatus) string {
	switch {
	case ws.Exited():
		return fmt.Sprintf("exit status %d", ws.ExitStatus())
	case ws.Signaled():
		msg := "terminated by " + SignalName(ws.Signal())
		if ws.CoreDump() {
			msg += " (core dumped)"
		}
		return msg
	}
	return fmt.Sprintf("unknown termination cause 0x%04x", int(ws))
}

// ExitCode is supervisord's exit status: the code, or -1 for a signal death.
func ExitCode(ws syscall.WaitStatus) int {
	if ws.Exited() {
		return ws.ExitStatus()
	}
	return -1
}

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
}

// SignalName is the signal's C name, "SIGTERM"; unknown numbers print as
// "signal 40".
func SignalName(sig syscall.Signal) string {
	if n, ok := signalNames[sig]; ok {
		return n
	}
	return fmt.Sprintf("signal %d", int(sig))
}

// ParseSignal accepts a name with or without SIG, in any case ("TERM",
// "sigterm"), or a number ("15").
func ParseSignal(s string) (syscall.Signal, bool) {
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err == nil && fmt.Sprint(n) == s {
		if n > 0 && n < 65 {
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
	return 0, false
}
