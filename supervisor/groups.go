package supervisor

import (
	"context"
	"slices"
)

// Pending returns the configuration read last (by New or Reread): what
// AddGroup adds from, and what supervisorctl's avail lists.
func (s *Supervisor) Pending() []GroupSpec {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.pending
}

// Active reports whether a group is running under the supervisor.
func (s *Supervisor) Active(group string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.findLocked(group) >= 0
}

func (s *Supervisor) findLocked(name string) int {
	return slices.IndexFunc(s.groups, func(g *group) bool { return g.spec.Name == name })
}

// AddGroup activates a group of the pending configuration and starts its
// autostart processes without waiting for them.
func (s *Supervisor) AddGroup(ctx context.Context, name string) error {
	if s.closing.Load() {
		return opErr("add", name, ErrShutdown, "")
	}
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	s.mu.Lock()
	i := slices.IndexFunc(s.pending, func(g GroupSpec) bool { return g.Name == name })
	if i < 0 {
		s.mu.Unlock()
		return opErr("add", name, ErrBadName, "")
	}
	if s.findLocked(name) >= 0 {
		s.mu.Unlock()
		return opErr("add", name, ErrAlreadyAdded, "")
	}
	g := s.addGroupLocked(s.pending[i], false, sharedNames(s.pending[i:i+1], s.byName))
	s.markSharedNamesLocked()
	s.mu.Unlock()
	s.keepSockets()
	s.startPools()
	s.emitGroup(true, name)
	go s.startAuto(context.WithoutCancel(ctx), g.procs)
	return nil
}

// RemoveGroup drops an active group whose processes are all stopped.
func (s *Supervisor) RemoveGroup(ctx context.Context, name string) error {
	if s.closing.Load() {
		return opErr("remove", name, ErrShutdown, "")
	}
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	s.mu.Lock()
	i := s.findLocked(name)
	if i < 0 {
		s.mu.Unlock()
		return opErr("remove", name, ErrBadName, "")
	}
	g := s.groups[i]
	for _, p := range g.procs {
		if !p.info.Load().State.IsStopped() {
			s.mu.Unlock()
			return opErr("remove", name, ErrStillRunning, "")
		}
	}
	s.groups = slices.Delete(s.groups, i, i+1)
	for _, p := range g.procs {
		delete(s.byName, p.spec.FullName())
	}
	s.registryGen.Add(1)
	s.markSharedNamesLocked()
	s.mu.Unlock()
	// Committed: the group is gone from the tables, so its actors end
	// whatever becomes of ctx.
	s.shutdown(context.WithoutCancel(ctx), g.procs)
	// The operator's stop that came before (supervisorctl update stops a
	// group, then removes it) ends with the group: should it come back,
	// after a restart of the daemon too, autostart decides.
	for _, p := range g.procs {
		s.rt.Hold(p.spec, nil)
	}
	s.keepSockets()
	s.startPools()
	s.emitGroup(false, name)
	return nil
}

// ClearLogs truncates the log files of a process.
func (s *Supervisor) ClearLogs(name string) error {
	p, err := s.lookup("clear", name)
	if err != nil {
		return err
	}
	if err := p.out.Clear(); err != nil {
		return opErr("clear", name, ErrFailed, err.Error())
	}
	return nil
}

// SendStdin writes data to a process's stdin (a process whose spec has
// Stdin): ErrNotRunning when it is not running, ErrNoFile when it has no
// stdin pipe or closed it.
func (s *Supervisor) SendStdin(ctx context.Context, name string, data []byte) error {
	p, err := s.lookup("stdin", name)
	if err != nil {
		return err
	}
	if err := p.send(ctx, command{kind: cmdStdin, data: data}); err != nil {
		return opErr("stdin", name, err, "")
	}
	return nil
}
