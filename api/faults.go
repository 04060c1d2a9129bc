// Package api serves supervisord's XML-RPC interface (POST /RPC2) and its
// log streaming (GET /logtail, /mainlogtail) over the engine, so the real
// supervisorctl and every tool built on it drive ctlsupd unchanged.
package api

import (
	"errors"

	"github.com/ctlsup/ctlsup/api/xmlrpc"
	"github.com/ctlsup/ctlsup/supervisor"
)

// supervisord's fault codes.
const (
	faultUnknownMethod        = 1
	faultIncorrectParameters  = 2
	faultBadArguments         = 3
	faultSignatureUnsupported = 4
	faultShutdownState        = 6
	faultBadName              = 10
	faultBadSignal            = 11
	faultNoFile               = 20
	faultNotExecutable        = 21
	faultFailed               = 30
	faultAbnormalTermination  = 40
	faultSpawnError           = 50
	faultAlreadyStarted       = 60
	faultNotRunning           = 70
	faultSuccess              = 80
	faultAlreadyAdded         = 90
	faultStillRunning         = 91
	faultCantReread           = 92
)

var faultNames = map[int]string{
	faultUnknownMethod: "UNKNOWN_METHOD", faultIncorrectParameters: "INCORRECT_PARAMETERS",
	faultBadArguments: "BAD_ARGUMENTS", faultSignatureUnsupported: "SIGNATURE_UNSUPPORTED",
	faultShutdownState: "SHUTDOWN_STATE", faultBadName: "BAD_NAME", faultBadSignal: "BAD_SIGNAL",
	faultNoFile: "NO_FILE", faultNotExecutable: "NOT_EXECUTABLE", faultFailed: "FAILED",
	faultAbnormalTermination: "ABNORMAL_TERMINATION", faultSpawnError: "SPAWN_ERROR",
	faultAlreadyStarted: "ALREADY_STARTED", faultNotRunning: "NOT_RUNNING", faultSuccess: "SUCCESS",
	faultAlreadyAdded: "ALREADY_ADDED", faultStillRunning: "STILL_RUNNING", faultCantReread: "CANT_REREAD",
}

// engineFaults maps the engine's error classes to fault codes: the one
// place where engine errors become wire errors.
var engineFaults = []struct {
	err  error
	code int
}{
	{supervisor.ErrBadName, faultBadName},
	{supervisor.ErrBadSignal, faultBadSignal},
	{supervisor.ErrNoFile, faultNoFile},
	{supervisor.ErrNotExecutable, faultNotExecutable},
	{supervisor.ErrFailed, faultFailed},
	{supervisor.ErrAbnormalTermination, faultAbnormalTermination},
	{supervisor.ErrSpawn, faultSpawnError},
	{supervisor.ErrAlreadyStarted, faultAlreadyStarted},
	{supervisor.ErrNotRunning, faultNotRunning},
	{supervisor.ErrAlreadyAdded, faultAlreadyAdded},
	{supervisor.ErrStillRunning, faultStillRunning},
	{supervisor.ErrShutdown, faultShutdownState},
}

// fault builds supervisord's fault: "NAME" or "NAME: detail".
func fault(code int, detail string) *xmlrpc.Fault {
	s := faultNames[code]
	if detail != "" {
		s += ": " + detail
	}
	return &xmlrpc.Fault{Code: code, String: s}
}

// toFault turns any error into a fault; name is the namespec the caller
// gave, which supervisord puts in most fault strings.
func toFault(err error, name string) *xmlrpc.Fault {
	var f *xmlrpc.Fault
	if errors.As(err, &f) {
		return f
	}
	for _, m := range engineFaults {
		if errors.Is(err, m.err) {
			if m.code == faultShutdownState {
				return fault(m.code, "")
			}
			detail := name
			var oe *supervisor.OpError
			if (m.code == faultNoFile || m.code == faultNotExecutable || m.code == faultFailed) && errors.As(err, &oe) && oe.Detail != "" {
				detail = oe.Detail
			}
			// supervisord's text is "CODE: " and the name, even an
			// empty one ("BAD_NAME: ").
			return &xmlrpc.Fault{Code: m.code, String: faultNames[m.code] + ": " + detail}
		}
	}
	return fault(faultFailed, err.Error())
}
