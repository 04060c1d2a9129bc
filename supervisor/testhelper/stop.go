package testhelper

import (
	"os/exec"
	"syscall"
	"time"
)

// Stop ends a daemon a test started: SIGTERM, so it stops its programs as
// in production, and SIGKILL only if it has not exited after 15 s. A
// SIGKILLed daemon leaves its programs running (that is what crash
// recovery is for), which a test must not do to the machine.
func Stop(cmd *exec.Cmd) { StopWith(cmd, syscall.SIGTERM) }

// StopWith is Stop with another stop signal.
func StopWith(cmd *exec.Cmd, sig syscall.Signal) {
	if cmd.Process == nil {
		return
	}
	cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}
