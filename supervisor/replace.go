package supervisor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// replace puts a process running spec in place of old and waits until it
// is RUNNING (ready, for a program with a readiness rule). With
// StartBeforeStop and old running, the replacement starts first and old
// stops only once it is ready: with a socket the daemon holds, both accept
// meanwhile and nothing is refused. If the replacement fails, old keeps
// running and the error says why. Otherwise old stops first, as a restart.
// Must be called with s.applyMu held: it changes the process tables.
func (s *Supervisor) replace(ctx context.Context, old *process, spec *ProcessSpec) error {
	name := spec.FullName()
	if !spec.StartBeforeStop || !old.info.Load().State.IsRunning() {
		if err := s.shutdown(ctx, []*process{old}); err != nil {
			return err
		}
		np := s.newProcess(spec, false, old.listener, old.nameShared.Load())
		if !s.swap(old, np) {
			s.shutdown(ctx, []*process{np})
			return opErr("restart", name, ErrBadName, "replaced meanwhile")
		}
		return s.start(ctx, np, name, WaitForDone)
	}
	np := s.newProcess(spec, false, old.listener, old.nameShared.Load())
	np.groupPrio.Store(old.groupPrio.Load())
	if err := s.start(ctx, np, name, WaitForDone); err != nil {
		// The old one serves on; the failed replacement goes.
		return errors.Join(err, s.shutdown(context.WithoutCancel(ctx), []*process{np}))
	}
	if !s.swap(old, np) {
		s.shutdown(context.WithoutCancel(ctx), []*process{np})
		return opErr("restart", name, ErrBadName, "replaced meanwhile")
	}
	return s.shutdown(context.WithoutCancel(ctx), []*process{old})
}

// swap registers np where old was, unless old is no longer registered.
func (s *Supervisor) swap(old, np *process) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := old.spec.FullName()
	if s.byName[name] != old {
		return false
	}
	np.groupPrio.Store(old.groupPrio.Load())
	s.byName[name] = np
	s.registryGen.Add(1)
	for _, g := range s.groups {
		if i := slices.Index(g.procs, old); i >= 0 {
			g.procs[i] = np
		}
	}
	return true
}

// rollout is a changed process an update replaces a batch at a time.
type rollout struct {
	old  *process
	spec *ProcessSpec
}

// roll replaces rollouts program by program, RollingUpdate processes at a
// time, each batch ready before the next one stops: the others serve
// meanwhile. A failed batch ends the rollout; the processes not reached
// keep running with their old configuration, and the next update goes on
// from there. Must be called with s.applyMu held.
func (s *Supervisor) roll(ctx context.Context, rolls []rollout) error {
	slices.SortStableFunc(rolls, func(a, b rollout) int {
		return cmp.Or(byLevel(a.old, b.old), cmp.Compare(a.spec.Program, b.spec.Program))
	})
	for start := 0; start < len(rolls); {
		end := start + 1
		batch := max(int(rolls[start].spec.RollingUpdate), 1)
		for end < len(rolls) && end-start < batch && rolls[end].spec.Program == rolls[start].spec.Program {
			end++
		}
		errs := make([]error, end-start)
		var wg sync.WaitGroup
		for i, r := range rolls[start:end] {
			wg.Go(func() { errs[i] = s.replace(ctx, r.old, r.spec) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			s.Logger.Error("rolling update stopped: the processes not reached keep their old configuration", "err", err)
			return fmt.Errorf("rolling update stopped: %w", err)
		}
		start = end
	}
	return nil
}
