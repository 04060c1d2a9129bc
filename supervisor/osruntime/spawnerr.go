package osruntime

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/ctlsup/ctlsup/supervisor"
	"github.com/ctlsup/ctlsup/supervisor/internal/logcap"
	"github.com/ctlsup/ctlsup/supervisor/internal/proc"
)

// spawnFailure says why a fork or its child failed, in supervisord's words
// ("couldn't chdir to /srv/app: EACCES"), naming the step where the fork
// learnt it. Go's fork reports only the errno: a missing directory is then
// recognised by looking, and anything else is the exec's.
func spawnFailure(spec *supervisor.ProcessSpec, cred *proc.Credential, err error) error {
	if cg := (*cgroupError)(nil); errors.As(err, &cg) {
		return cg
	}
	var child *proc.ChildError
	if errors.As(err, &child) {
		name := errnoName(child.Errno)
		switch child.Step {
		case proc.StepCred:
			uid := "?"
			if cred != nil {
				uid = fmt.Sprint(cred.Uid)
			}
			return fmt.Errorf("couldn't setuid to %s: %s", uid, name)
		case proc.StepChdir:
			return fmt.Errorf("couldn't chdir to %s: %s", spec.Directory, name)
		}
		return fmt.Errorf("couldn't exec %s: %s", spec.Argv[0], name)
	}
	if spec.Directory != "" && errors.Is(err, syscall.ENOENT) {
		if _, serr := os.Stat(spec.Directory); serr != nil {
			return fmt.Errorf("couldn't chdir to %s: ENOENT", spec.Directory)
		}
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return fmt.Errorf("couldn't exec %s: %s", spec.Argv[0], errnoName(errno))
	}
	return fmt.Errorf("couldn't exec %s: %w", spec.Argv[0], err)
}

// errnoName is an errno as supervisord prints one: its symbol (EACCES).
func errnoName(e syscall.Errno) string {
	if name := unix.ErrnoName(e); name != "" {
		return name
	}
	return e.Error()
}

// cgroupError is a spawn that did not happen for want of its cgroup.
type cgroupError struct{ err error }

func (e *cgroupError) Error() string { return "cannot create the process's cgroup: " + e.err.Error() }
func (e *cgroupError) Unwrap() error { return e.err }

// tellChildLog writes why a forked child failed before its exec into the
// child's own stderr pipe, so its stderr log (stdout's when redirected)
// says it, where an operator who runs `tail` looks: supervisord's child
// writes the same line there. The pipe's reader is still pumping: it
// reaches EOF once the caller closes the write end.
//
// Go's fork reports a child's failure as a bare errno, as it does the
// fork's own: those the daemon's resources explain (no process or
// memory for a fork, no descriptor) are not the program's and are left
// to its status. A spawn that failed before any fork (command not found,
// no pipes, no cgroup) had no child and writes nothing.
func tellChildLog(pipes logcap.Pipes, err, why error) {
	if pipes.Stderr == nil || !childFailed(err) {
		return
	}
	pipes.Stderr.Write([]byte("ctlsupd: " + why.Error() + "\n"))
}

// childFailed reports whether err is a forked child's failure: one its
// forker named the step of, or Go's fork's errno (see tellChildLog).
func childFailed(err error) bool {
	var child *proc.ChildError
	if errors.As(err, &child) {
		return true
	}
	var fork *os.PathError
	var errno syscall.Errno
	if !errors.As(err, &fork) || fork.Op != proc.OpFork || !errors.As(fork.Err, &errno) {
		return false
	}
	switch errno {
	case syscall.EAGAIN, syscall.ENOMEM, syscall.EMFILE, syscall.ENFILE:
		return false
	}
	return true
}
