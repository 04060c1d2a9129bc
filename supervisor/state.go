package supervisor

import "strconv"

// State is a process state. The codes are supervisord 4.2.5's, so status
// output and XML-RPC clients read the same numbers and names.
type State int

// Process states, numbered as supervisord numbers them.
const (
	Stopped  State = 0
	Starting State = 10
	Running  State = 20
	Backoff  State = 30
	Stopping State = 40
	Exited   State = 100
	Fatal    State = 200
	Unknown  State = 1000
)

// AllStates lists every state in code order.
var AllStates = []State{Stopped, Starting, Running, Backoff, Stopping, Exited, Fatal, Unknown}

// String returns the state's supervisord name, such as "RUNNING".
func (s State) String() string {
	switch s {
	case Stopped:
		return "STOPPED"
	case Starting:
		return "STARTING"
	case Running:
		return "RUNNING"
	case Backoff:
		return "BACKOFF"
	case Stopping:
		return "STOPPING"
	case Exited:
		return "EXITED"
	case Fatal:
		return "FATAL"
	case Unknown:
		return "UNKNOWN"
	}
	return "STATE(" + strconv.Itoa(int(s)) + ")"
}

// IsRunning reports whether the state counts as running for start and stop:
// a start is refused (already started) and a stop is accepted.
func (s State) IsRunning() bool { return s == Running || s == Backoff || s == Starting }

// IsStopped reports whether no process exists and none is pending: the states
// in which a group may be removed and status exits 3.
func (s State) IsStopped() bool {
	return s == Stopped || s == Exited || s == Fatal || s == Unknown
}

// IsSignallable reports whether a signal may be sent to the process.
func (s State) IsSignallable() bool { return s == Running || s == Starting || s == Stopping }
