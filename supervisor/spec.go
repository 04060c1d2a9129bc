package supervisor

import (
	"reflect"
	"syscall"
	"time"
)

// AutoRestart says when an exited process is started again.
type AutoRestart int

const (
	// RestartUnexpected restarts when the exit code is not in ExitCodes
	// (supervisord's default, "unexpected").
	RestartUnexpected AutoRestart = iota
	// RestartAlways restarts after every exit.
	RestartAlways
	// RestartNever leaves the process EXITED.
	RestartNever
)

// LogSpec says where one output stream of a process goes.
type LogSpec struct {
	Path     string // "" discards the stream
	MaxBytes int64  // rotate at this size; 0 never rotates
	Backups  int    // rotated files kept; 0 truncates instead of keeping one
	// auto: the daemon chose Path (supervisord's AUTO). Unexported, it is
	// no part of what a spec runs (nor of its fingerprint).
	auto bool
}

// AutoLog is a log at a path the daemon chose, as supervisord's AUTO,
// whose file exists from the start: a program that has not written yet,
// or never ran, has an empty log there, not none.
func AutoLog(path string, maxBytes int64, backups int) LogSpec {
	return LogSpec{Path: path, MaxBytes: maxBytes, Backups: backups, auto: true}
}

// Auto reports whether the daemon chose the log's path (AutoLog).
func (l LogSpec) Auto() bool { return l.auto }

// ConsoleFD reports whether a log path names the daemon's own standard
// output or error, and which: the containers' idiom (stdout_logfile =
// /dev/stdout), where the daemon passes a program's output on to its own
// and there is no file to rotate, clear or read back. /proc/1/fd/1 is
// the same idiom where the supervisor is PID 1 (or its init shares the
// container's output with it): the daemon writes to its own output, never
// into another process's descriptor.
func ConsoleFD(path string) (int, bool) {
	switch path {
	case "/dev/stdout", "/dev/fd/1", "/proc/self/fd/1", "/proc/1/fd/1":
		return 1, true
	case "/dev/stderr", "/dev/fd/2", "/proc/self/fd/2", "/proc/1/fd/2":
		return 2, true
	}
	return 0, false
}

// ProcessSpec is everything the engine needs to run one process. Config
// loaders produce it; the engine never sees files or TOML.
type ProcessSpec struct {
	Name     string // process name inside its group: "gunicorn", "worker_00"
	Group    string // group name: the instance, or the program of no instance
	Program  string // program name the process came from
	Instance string // instance name, "" for a program of no instance

	Argv        []string          // command; Argv[0] is resolved against PATH
	Directory   string            // working directory, "" = daemon's
	User        string            // run as this user, "" = daemon's user
	Umask       int               // file mode creation mask; -1 = inherit
	Environment map[string]string // instance then program environment, merged; nil when none

	// The booleans are kept together, as the padding after a lone one
	// would take a spec (one per program) past its 512-byte size class.
	Priority        int
	AutoRestart     AutoRestart
	ExitCodes       []int
	StartSecs       time.Duration //lint:ignore ST1011 supervisord's name for it
	StartRetries    int           // -1 retries forever
	StopSignal      syscall.Signal
	StopWait        time.Duration
	RestartMaxDelay time.Duration // cap of the crash-loop back-off
	AutoStart       bool
	StopAsGroup     bool
	KillAsGroup     bool
	Singleton       bool
	// ClusterSingleton keeps the process to one daemon of the cluster:
	// it runs only while this daemon holds its lease (see Leases).
	ClusterSingleton bool

	RedirectStderr bool
	Stdout         LogSpec
	Stderr         LogSpec

	Limits Limits

	// Sockets are listening sockets the daemon owns and hands over the
	// systemd way: fds 3, 4, ... with LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES.
	Sockets []SocketSpec
	// Ready says when the process is RUNNING; the zero value is
	// supervisord's rule (up for startsecs).
	Ready Readiness
	// DependsOn names processes ("name", "group:name", "group:*") that must
	// be ready before this one starts, and stop only after it.
	DependsOn []string
	// RollingUpdate makes an update replace this program's changed
	// processes that many at a time, each batch ready before the next
	// stops; 0 replaces them all at once, as supervisord. An int32 beside
	// the booleans below: a spec (one per program) stays in the 512-byte
	// size class (TestProcessSpec_FitsItsSizeClass).
	RollingUpdate int32
	// Stdin gives the process a pipe as stdin, which SendStdin writes to;
	// otherwise it reads /dev/null.
	Stdin bool
	// StdoutEvents and StderrEvents send its output as PROCESS_LOG events
	// (supervisord's stdout_events_enabled, stderr_events_enabled).
	StdoutEvents, StderrEvents bool
	// StartBeforeStop makes a replacement (a rolling update or restart,
	// the web page's restart, memory_restart) start before the process
	// it replaces stops, which stops once the new one is ready.
	StartBeforeStop bool
	// StdoutCaptureMaxBytes and StderrCaptureMaxBytes turn on capture
	// mode: output between <!--XSUPERVISOR:BEGIN--> and
	// <!--XSUPERVISOR:END--> (at most this many bytes) is sent as a
	// PROCESS_COMMUNICATION event.
	StdoutCaptureMaxBytes, StderrCaptureMaxBytes int64
	// OnFatal and OnExit are what happens when the process goes FATAL, or
	// exits (EXITED): "shutdown" stops the daemon (a container's PID 1
	// then exits), any other value is a command run with the event in its
	// environment; "" does nothing. What event listeners were for.
	OnFatal, OnExit string
}

// SocketSpec is a listening socket the daemon binds and keeps across the
// restarts of the programs that use it.
type SocketSpec struct {
	Name      string
	Network   string // "tcp" or "unix"
	Address   string // host:port, or a path
	Mode      uint32 // a unix socket's file mode; 0 leaves the umask's
	Owner     string // a unix socket's "user" or "user:group"
	Backlog   int
	ReusePort bool
}

// ReadyKind is how readiness is learnt.
type ReadyKind string

// Readiness kinds.
const (
	ReadyStartSecs ReadyKind = ""       // up for startsecs, as supervisord
	ReadyNotify    ReadyKind = "notify" // READY=1 on the process's NOTIFY_SOCKET
	ReadyTCP       ReadyKind = "tcp"    // a TCP connect succeeds
	ReadyHTTP      ReadyKind = "http"   // an HTTP GET answers 2xx
	ReadyExec      ReadyKind = "exec"   // a command exits 0
)

// Readiness is a process's readiness rule. For every kind but startsecs,
// StartSecs is the time it has to become ready.
type Readiness struct {
	Kind   ReadyKind
	Target string   // host:port for tcp, a URL for http
	Argv   []string // the command for exec
}

// Limits are a process's resource limits, applied to its cgroup (memory,
// CPU, tasks) or to the process itself (OOM score); zero values set none.
type Limits struct {
	MemoryMax  int64 // memory.max in bytes: the kernel OOM-kills beyond it
	MemoryHigh int64 // memory.high in bytes: reclaimed and throttled beyond it
	CPUMax     int   // CPU quota in percent of one CPU (150: one and a half)
	PidsMax    int   // most tasks at once
	// OOMScoreAdj is the process's oom_score_adj (-1000..1000), nil to
	// inherit the daemon's.
	OOMScoreAdj *int
	// MemoryRestart restarts the process, with its stop signal, once its
	// resident memory (with everything it started) has stayed above this
	// many bytes for two checks in a row: superlance's memmon.
	MemoryRestart int64
}

// FullName is the process's namespec: "group:name", or "name" when the group
// has the process's own name.
func (s *ProcessSpec) FullName() string {
	if s.Group == s.Name {
		return s.Name
	}
	return s.Group + ":" + s.Name
}

func (s *ProcessSpec) exitExpected(code int) bool {
	for _, c := range s.ExitCodes {
		if c == code {
			return true
		}
	}
	return false
}

// Equal reports whether two specs would run the same process the same way.
func (s *ProcessSpec) Equal(o *ProcessSpec) bool { return reflect.DeepEqual(s, o) }

// GroupSpec is a process group: an instance, or a program of no instance.
type GroupSpec struct {
	Name      string
	Priority  int
	Processes []ProcessSpec
	// Listener makes it an event listener pool; nil for other groups.
	Listener *ListenerSpec
}

// Equal reports whether two group specs are identical.
func (g *GroupSpec) Equal(o *GroupSpec) bool { return reflect.DeepEqual(g, o) }
