package supervisor

import (
	"context"
	"errors"
	"strings"
	"syscall"
)

// Target is what an operation acts on: every process, one group, or one
// process. The API layer reads it from a namespec.
type Target struct {
	All   bool
	Group string // every process of this group
	Name  string // one process: "group:name", or "name" whose group has its name
}

// All targets every process.
func All() Target { return Target{All: true} }

// Group targets every process of a group.
func Group(name string) Target { return Target{Group: name} }

// Process targets one process by "group:name" or "name".
func Process(name string) Target { return Target{Name: name} }

// String is the target as a namespec.
func (t Target) String() string {
	switch {
	case t.All:
		return "all"
	case t.Group != "":
		return t.Group + ":*"
	}
	return t.Name
}

// Start starts what t names, in priority order. A process gives one
// Result; an unknown process or group is an error of the whole call.
func (s *Supervisor) Start(ctx context.Context, t Target, w Wait) ([]Result, error) {
	switch {
	case t.All:
		return s.startAll(ctx, w)
	case t.Group != "":
		return s.startGroup(ctx, t.Group, w)
	}
	return s.one(t.Name, s.startOne(ctx, t.Name, w))
}

// Stop stops what t names, issuing the stops in priority order as
// supervisord does (a process after those that depend on it).
func (s *Supervisor) Stop(ctx context.Context, t Target, w Wait) ([]Result, error) {
	switch {
	case t.All:
		return s.stopAll(ctx, w)
	case t.Group != "":
		return s.stopGroup(ctx, t.Group, w)
	}
	return s.one(t.Name, s.stopOne(ctx, t.Name, w))
}

// Signal sends sig to what t names.
func (s *Supervisor) Signal(ctx context.Context, t Target, sig syscall.Signal) ([]Result, error) {
	switch {
	case t.All:
		return s.signalAll(ctx, sig)
	case t.Group != "":
		return s.signalGroup(ctx, t.Group, sig)
	}
	return s.one(t.Name, s.signalOne(ctx, t.Name, sig))
}

// Restart restarts what t names: a process with its own restart (a
// program with start_before_stop starts its replacement first); a group or
// every process is stopped, then started.
func (s *Supervisor) Restart(ctx context.Context, t Target, w Wait) ([]Result, error) {
	if !t.All && t.Group == "" {
		return s.one(t.Name, s.restartOne(ctx, t.Name, w))
	}
	if _, err := s.Stop(ctx, t, WaitForDone); err != nil {
		return nil, err
	}
	return s.Start(ctx, t, w)
}

// Err is the error of a call on a target: the call's own, or those of
// its results, joined.
func Err(rs []Result, err error) error {
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range rs {
		errs = append(errs, r.Err)
	}
	return errors.Join(errs...)
}

// one turns a single-process outcome into a result; an unknown name stays
// an error of the whole call, as a group operation's unknown group does.
func (s *Supervisor) one(name string, err error) ([]Result, error) {
	if errors.Is(err, ErrBadName) || errors.Is(err, ErrShutdown) {
		return nil, err
	}
	group, proc := name, name
	if g, n, ok := strings.Cut(name, ":"); ok {
		group, proc = g, n
	}
	return []Result{{Name: proc, Group: group, Err: err}}, nil
}
