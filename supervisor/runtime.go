package supervisor

import (
	"context"
	"syscall"
	"time"
)

// Runtime is what the engine needs from the operating system. The real one
// (supervisor/osruntime, wired in by cmd/) spawns, contains, reaps and
// captures logs; tests supply fakes whose processes exit when the test
// says so.
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
	// Adopt takes over what a previous daemon left for spec: its running
	// process, if any, and output still in its pipes. Called for every
	// process after Open, before anything starts.
	Adopt(spec *ProcessSpec, out Output) Adoption
	// EndAdoption stops what nothing adopted.
	EndAdoption()
	// Hold records that a process is down for good, an operator's stop or
	// its own exit, for a successor; nil: it was started again.
	Hold(spec *ProcessSpec, down *Down)
	// Detach leaves every process running for a successor: after it, the
	// daemon only exits or executes its new image; undo resumes if that
	// failed.
	Detach() (undo func())
	// Check reports ErrNoFile or ErrNotExecutable for a command that cannot
	// be spawned, without spawning it.
	Check(spec *ProcessSpec) error
	// Close releases what Open took, after every process has stopped.
	Close() error
}

// ClosingRuntime is implemented by runtimes that want to be told, before
// the processes stop, that the engine is closing, so that their exits may
// skip bookkeeping that ends with the runtime.
type ClosingRuntime interface {
	Closing()
}

// Child is one spawned process.
type Child interface {
	Pid() int
	// Signal sends sig to the process, or to its whole process group.
	// Signalling a process that already exited is not an error.
	Signal(sig syscall.Signal, group bool) error
	// OnExit has exited called once with the exit status, from any
	// goroutine, at once if the process has ended already. The engine
	// calls it once per child; exited never blocks. Embed Exit for it.
	OnExit(exited func(ExitStatus))
	// Stopping records that a stop of the process began; shutdown: the
	// daemon's own (its stop or reload), after which a successor starts
	// the program only if it autostarts.
	Stopping(shutdown bool)
}

// An ExitDecider is told once the engine has decided what follows the exit
// it reported (a restart, a hold, a back-off, FATAL): the real runtime
// records the exit as it reaps it, and a successor of a daemon that died
// before the decision decides it instead (see Adoption.Ended).
type ExitDecider interface {
	ExitDecided()
}

// An ExitSettler is a Runtime told that a program's retry to come was
// abandoned (stopped, given up on, removed): the exit that led to it,
// left pending so a successor would retry too (see ExitDecider), is
// decided.
type ExitSettler interface {
	SettleExits(spec *ProcessSpec)
}

// An EndedChild can tell that its process has ended before the exit has
// reached the engine through OnExit. At a stop's deadline the engine then
// waits on for the exit instead of sending SIGKILL: when thousands of
// processes stop at once, their exits are collected more slowly than
// stopwaitsecs runs out, and a dead process would be reported as one that
// did not stop.
type EndedChild interface {
	Ended() bool
}

// SocketKeeper is a Runtime that owns listening sockets for its
// processes: KeepSockets binds those specs name and closes the others.
// The engine calls it whenever its processes change.
type SocketKeeper interface {
	KeepSockets(specs []*ProcessSpec)
}

// Tapper is a Runtime that can hand a process's output to the engine as
// well as to its logs: an event listener's answers, PROCESS_LOG events.
// A nil func leaves that stream as NewOutput would.
type Tapper interface {
	NewTappedOutput(spec *ProcessSpec, stdout, stderr func([]byte)) Output
}

// CommandRunner is a Runtime that runs a shell command to completion (an
// on_fatal or on_exit action), with env added to the daemon's.
type CommandRunner interface {
	RunCommand(ctx context.Context, command string, env []string) ([]byte, ExitStatus, error)
}

// StdinWriter is a Child with a pipe as stdin.
type StdinWriter interface {
	// WriteStdin queues b for the process's stdin without blocking; it
	// fails once the process closed its stdin or too much is queued.
	WriteStdin(b []byte) error
}

// Announcer is a Child that reports its readiness: a notify socket's
// READY=1 and STATUS=, or a probe's success. OnNote has noted called for
// each note, from any goroutine; noted never blocks. Embed Notes for it.
type Announcer interface {
	OnNote(noted func(Note))
}

// Note is one readiness report.
type Note struct {
	Ready  bool   // READY=1, or the probe succeeded
	Status string // STATUS=, free text for status
}

// Adoption is what a previous daemon left for one process.
type Adoption struct {
	// Child is its process, still running, or ended while no daemon ran,
	// or ended before the previous daemon had decided what follows (Ended
	// says when); nil if none.
	Child   Child
	Started time.Time // when that process was spawned
	Ended   time.Time // when it ended, if the previous daemon reaped it
	// Stopping, if set, is when a stop of the process began, which the
	// previous daemon did not see end: it goes on (no second stop
	// signal, what is left of stopwaitsecs) and ends in STOPPED.
	Stopping time.Time
	// Restart: the process must be restarted: its configuration changed,
	// its output can no longer be captured, or a stop was under way (which
	// may have been a restart's; an operator's stop that ended is Stopped).
	Restart bool
	// Fresh: restarted, it runs again only if it autostarts, as at a
	// fresh start: its configuration changed while no daemon ran (as
	// after supervisorctl update), or the stop under way was the daemon's
	// own (a stop or reload of the daemon). Restarted for any other
	// reason, it runs again as it did.
	Fresh bool
	// Stopped: an operator had stopped the process, or it had exited for
	// good; it is not autostarted. Down says how, when the journal knows.
	Stopped bool
	Down    Down
}

// Down is how a process ended for good, as a successor shows it.
type Down struct {
	State      State     // Stopped (an operator's stop) or Exited
	Started    time.Time // its last start; zero if not known
	At         time.Time // when it ended; zero if not known
	ExitStatus int       // its last exit code
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

// Ephemeral is the succession half of a Runtime whose processes never
// outlive it (fakes in tests): nothing to adopt, hold or detach.
type Ephemeral struct{}

func (Ephemeral) Adopt(*ProcessSpec, Output) Adoption { return Adoption{} }
func (Ephemeral) EndAdoption()                        {}
func (Ephemeral) Hold(*ProcessSpec, *Down)            {}
func (Ephemeral) Detach() (undo func())               { return func() {} }
