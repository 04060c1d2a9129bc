package proc

import (
	"fmt"
	"syscall"

	"github.com/ctlsup/ctlsup/supervisor/signame"
)

// Describe renders a wait status as supervisord does: "exit status 1",
// "terminated by SIGTERM", with " (core dumped)" when there is a core.
func Describe(ws syscall.WaitStatus) string {
	switch {
	case ws.Exited():
		return fmt.Sprintf("exit status %d", ws.ExitStatus())
	case ws.Signaled():
		msg := "terminated by " + signame.Name(ws.Signal())
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
