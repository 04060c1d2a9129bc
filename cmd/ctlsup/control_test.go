package main

import "testing"

// The lines supervisorctl 4.2.5 prints for each outcome of start, stop and
// signal (supervisorctl.py's _startresult, _stopresult, _signalresult).
func TestOperationText(t *testing.T) {
	named := func(code int, desc string) result {
		return result{group: "cts", name: "beat", hasName: true, code: code, desc: desc}
	}
	tests := []struct {
		op   operation
		r    result
		want string
	}{
		{startOp, named(fSuccess, "OK"), "cts:beat: started"},
		{startOp, named(fBadName, "BAD_NAME: beat"), "cts:beat: ERROR (no such process)"},
		{startOp, named(fNoFile, "NO_FILE"), "cts:beat: ERROR (no such file)"},
		{startOp, named(fNotExecutable, "x"), "cts:beat: ERROR (file is not executable)"},
		{startOp, named(fAlreadyStarted, "x"), "cts:beat: ERROR (already started)"},
		{startOp, named(fSpawnError, "x"), "cts:beat: ERROR (spawn error)"},
		{startOp, named(fAbnormalTermination, "x"), "cts:beat: ERROR (abnormal termination)"},
		{startOp, named(fFailed, "FAILED: cts:beat"), "cts:beat: ERROR (FAILED: cts:beat)"},
		{stopOp, named(fSuccess, "OK"), "cts:beat: stopped"},
		{stopOp, named(fBadName, "x"), "cts:beat: ERROR (no such process)"},
		{stopOp, named(fNotRunning, "x"), "cts:beat: ERROR (not running)"},
		{stopOp, named(fFailed, "FAILED: cts:beat"), "FAILED: cts:beat"},
		{stopOp, named(fSpawnError, "SPAWN_ERROR: x"), "cts:beat: ERROR (SPAWN_ERROR: x)"},
		{signalOp, named(fSuccess, "OK"), "cts:beat: signalled"},
		{signalOp, named(fBadSignal, "x"), "cts:beat: ERROR (bad signal name)"},
		{signalOp, named(fNotRunning, "x"), "cts:beat: ERROR (not running)"},
		{signalOp, named(fFailed, "FAILED: cts:beat"), "FAILED: cts:beat"},
		{startOp, result{group: "web", name: "web", hasName: true, code: fBadName}, "web: ERROR (no such process)"},
	}
	for _, tt := range tests {
		if got := tt.op.text(tt.r); got != tt.want {
			t.Errorf("%s, code %d: %q, want %q", tt.op.done, tt.r.code, got, tt.want)
		}
	}
}
