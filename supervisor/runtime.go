package supervisor

import (
	"context"
	"syscall"
)

// Runtime is what the engine needs from the operating system. The real one
// (NewOSRuntime) spawns, reaps and captures logs; tests supply fakes whose
// processes exit when the test says so.
type Runtime interface {
	// Open prepares the runtime before any process starts; the real runtime
	// stops leftovers of a previous daemon here.
	Open(ctx context.Context) error
	// NewOutput prepares log capture for a process spec. It never fails: a
	// log that cannot be written drops bytes and counts them.
	NewOutput(spec *ProcessSpec) Output
	// Start spawns one process. Errors wrap ErrNoFile or ErrNotExecutable
	// when the command cannot be run at all.
	Start(spec *ProcessSpec, out Output) (Child, error)
	// Check reports ErrNoFile or ErrNotExecutable for a command that cannot
	// be spawned, without spawning it.
	Check(spec *ProcessSpec) error
	// Close releases what Open took, after every process has stopped.
	Close() error
}

// Child is one spawned process.
type Child interface {
	Pid() int
	// Signal sends sig to the process, or to its whole process group.
	// Signalling a process that already exited is not an error.
	Signal(sig syscall.Signal, group bool) error
	// Done delivers the exit status exactly once.
	Done() <-chan ExitStatus
}

// Output is a process's log capture, kept across its restarts.
type Output interface {
	Stats() OutputStats
	Reopen() error
	Clear() error // truncate the log files
	Close() error
}

// OutputStats counts what a process's log capture has done.
type OutputStats struct {
	StdoutBytes, StderrBytes     int64 // written to the log files
	StdoutDropped, StderrDropped int64 // lost because the log could not be written
	Rotations                    int64
}
