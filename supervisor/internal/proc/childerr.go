package proc

import "syscall"

// Steps of a child that may fail, as a raw fork's child reports them in
// childPlan.failed (above bit 32) and the helper in its reply.
const (
	stepSetup   = 0
	stepUnshare = 1
	stepLimit   = 2
	stepCred    = 3 // setgroups, setgid, setuid
	stepChdir   = 4
	stepExec    = 5
)

// ChildStep is the step of a child's setup that failed before its exec.
type ChildStep uint8

const (
	StepCred  ChildStep = stepCred  // setgroups, setgid or setuid
	StepChdir ChildStep = stepChdir // the working directory
	StepExec  ChildStep = stepExec  // the execve itself
)

// ChildError is a child's failure where the forker learnt which step it
// was (the daemon's fork and the helper's into a cgroup do; Go's fork
// reports only the errno): a user who cannot enter the directory is told
// so, not that the command could not be run.
type ChildError struct {
	Step  ChildStep
	Errno syscall.Errno
}

func (e *ChildError) Error() string {
	switch e.Step {
	case StepCred:
		return "setuid: " + e.Errno.Error()
	case StepChdir:
		return "chdir: " + e.Errno.Error()
	}
	return "exec: " + e.Errno.Error()
}

func (e *ChildError) Unwrap() error { return e.Errno }

// childError is the error for a child's errno and the step it reported.
func childError(errno syscall.Errno, step uint64) error {
	switch s := ChildStep(step); s {
	case StepCred, StepChdir, StepExec:
		return &ChildError{Step: s, Errno: errno}
	}
	return errno
}
