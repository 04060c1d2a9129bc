package supervisor

import (
	"context"
	"errors"
	"strings"
	"syscall"
)

// Target is what a namespec names: one process, a whole group, or all.
type Target struct {
	All   bool
	Group string // set for "group:*" and "group:"
	Name  string // set for "name" and "group:name"
}

// ParseName reads a supervisorctl namespec: "all", "group:*" or "group:"
// for a whole group, otherwise one process ("name" or "group:name").
func ParseName(spec string) Target {
	if spec == "all" {
		return Target{All: true}
	}
	if g, rest, ok := strings.Cut(spec, ":"); ok && (rest == "*" || rest == "") {
		return Target{Group: g}
	}
	return Target{Name: spec}
}

// Start starts what spec names. A single process gives one Result.
func (s *Supervisor) Start(ctx context.Context, spec string, w Wait) ([]Result, error) {
	switch t := ParseName(spec); {
	case t.All:
		return s.StartAll(ctx, w)
	case t.Group != "":
		return s.StartGroup(ctx, t.Group, w)
	default:
		return s.one(t.Name, s.StartProcess(ctx, t.Name, w))
	}
}

// Stop stops what spec names.
func (s *Supervisor) Stop(ctx context.Context, spec string, w Wait) ([]Result, error) {
	switch t := ParseName(spec); {
	case t.All:
		return s.StopAll(ctx, w)
	case t.Group != "":
		return s.StopGroup(ctx, t.Group, w)
	default:
		return s.one(t.Name, s.StopProcess(ctx, t.Name, w))
	}
}

// Signal signals what spec names.
func (s *Supervisor) Signal(ctx context.Context, spec string, sig syscall.Signal) ([]Result, error) {
	switch t := ParseName(spec); {
	case t.All:
		return s.SignalAll(ctx, sig)
	case t.Group != "":
		return s.SignalGroup(ctx, t.Group, sig)
	default:
		return s.one(t.Name, s.SignalProcess(ctx, t.Name, sig))
	}
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
