package supervisor

import (
	"errors"
	"fmt"
)

// Error classes returned by engine operations. The control API maps each to
// a supervisord fault code; callers test them with errors.Is.
var (
	ErrBadName             = errors.New("no such process")
	ErrBadSignal           = errors.New("bad signal")
	ErrNoFile              = errors.New("no such file")
	ErrNotExecutable       = errors.New("file is not executable")
	ErrFailed              = errors.New("failed")
	ErrAbnormalTermination = errors.New("abnormal termination")
	ErrSpawn               = errors.New("spawn error")
	ErrAlreadyStarted      = errors.New("already started")
	ErrNotRunning          = errors.New("not running")
	ErrAlreadyAdded        = errors.New("process group already active")
	ErrStillRunning        = errors.New("process group still running")
	ErrShutdown            = errors.New("supervisor shutting down")
)

// OpError describes a failed operation on a named process or group.
type OpError struct {
	Op     string // "start", "stop", "signal", ...
	Name   string // the name as the caller gave it
	Err    error  // one of the Err* classes
	Detail string // extra text, such as a spawn error or a lock holder
}

func (e *OpError) Error() string {
	msg := fmt.Sprintf("%s %s: %v", e.Op, e.Name, e.Err)
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

func (e *OpError) Unwrap() error { return e.Err }

func opErr(op, name string, err error, detail string) error {
	return &OpError{Op: op, Name: name, Err: err, Detail: detail}
}

// startDetail is what a refused start says beside its fault: the command
// check's reason ("can't find command '/opt/app/bin/celery'"), as
// supervisord's NO_FILE and NOT_EXECUTABLE give it, else the last spawn
// error.
func startDetail(err error, p *process) string {
	if errors.Is(err, ErrNoFile) || errors.Is(err, ErrNotExecutable) {
		return err.Error()
	}
	return p.info.Load().SpawnErr
}
