package osruntime

import (
	"github.com/ctlsup/ctlsup/supervisor"
	"github.com/ctlsup/ctlsup/supervisor/internal/logcap"
)

// NewTappedOutput is NewOutput with the engine given every byte a stream
// carries before it is logged: an event listener's answers, or output
// sent as PROCESS_LOG events. A tapped stream is read into the daemon
// instead of spliced: these are small.
func (r *Runtime) NewTappedOutput(spec *supervisor.ProcessSpec, stdout, stderr func([]byte)) supervisor.Output {
	out := r.NewOutput(spec).(*output)
	if stdout != nil {
		out.Stdout = &tap{inner: out.Stdout, fn: stdout}
	}
	if stderr != nil && !spec.RedirectStderr {
		out.Stderr = &tap{inner: out.Stderr, fn: stderr}
	}
	return out
}

// tap hands each write to fn, then to the log (if any).
type tap struct {
	inner logcap.Stream // nil: the stream is not logged
	fn    func([]byte)
}

func (t *tap) Write(b []byte) (int, error) {
	if len(b) > 0 {
		t.fn(b)
	}
	if t.inner == nil {
		return len(b), nil
	}
	return t.inner.Write(b)
}

// Unwrap is the logged stream, whose log file logcap closes once no pipe
// writes into it.
func (t *tap) Unwrap() logcap.Stream { return t.inner }

func (t *tap) Reopen() error { return t.call(logcap.Stream.Reopen) }
func (t *tap) Clear() error  { return t.call(logcap.Stream.Clear) }
func (t *tap) Close() error  { return t.call(logcap.Stream.Close) }

func (t *tap) call(f func(logcap.Stream) error) error {
	if t.inner == nil {
		return nil
	}
	return f(t.inner)
}

func (t *tap) Written() int64   { return t.count(logcap.Stream.Written) }
func (t *tap) Dropped() int64   { return t.count(logcap.Stream.Dropped) }
func (t *tap) Rotations() int64 { return t.count(logcap.Stream.Rotations) }

func (t *tap) count(f func(logcap.Stream) int64) int64 {
	if t.inner == nil {
		return 0
	}
	return f(t.inner)
}
