package supervisor

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
)

// Diff names the groups a new configuration adds, changes and removes
// compared with the running one, each sorted by name.
type Diff struct {
	Added, Changed, Removed []string
}

// Empty reports whether the configuration is unchanged.
func (d Diff) Empty() bool { return len(d.Added)+len(d.Changed)+len(d.Removed) == 0 }

// Diff compares groups with the active configuration.
func (s *Supervisor) Diff(groups []GroupSpec) Diff {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.diffLocked(groups)
}

// diffLocked lists groups as supervisord's reloadConfig does, and so in
// the order supervisorctl's update applies them (its reread sorts them
// by name): by group priority, then by name, as supervisord sorts its
// group configurations.
func (s *Supervisor) diffLocked(groups []GroupSpec) Diff {
	active := map[string]*group{}
	for _, g := range s.groups {
		active[g.spec.Name] = g
	}
	var added, changed, removed []*GroupSpec
	seen := map[string]bool{}
	for i := range groups {
		ng := &groups[i]
		seen[ng.Name] = true
		switch og := active[ng.Name]; {
		case og == nil:
			added = append(added, ng)
		case !og.spec.Equal(ng):
			changed = append(changed, ng)
		}
	}
	for _, g := range s.groups {
		if !seen[g.spec.Name] {
			removed = append(removed, &g.spec)
		}
	}
	names := func(gs []*GroupSpec) []string {
		slices.SortFunc(gs, func(a, b *GroupSpec) int {
			return cmp.Or(cmp.Compare(a.Priority, b.Priority), strings.Compare(a.Name, b.Name))
		})
		var out []string
		for _, g := range gs {
			out = append(out, g.Name)
		}
		return out
	}
	return Diff{Added: names(added), Changed: names(changed), Removed: names(removed)}
}

// Reread loads the configuration with Loader and reports what changed,
// touching no process. A load error changes nothing.
func (s *Supervisor) Reread() (Diff, error) {
	if s.Loader == nil {
		return Diff{}, errors.New("no configuration loader")
	}
	groups, err := s.Loader()
	if err != nil {
		return Diff{}, err
	}
	s.mu.Lock()
	s.pending = groups
	d := s.diffLocked(groups)
	s.mu.Unlock()
	return d, nil
}

// Update rereads the configuration and applies it: see Apply.
func (s *Supervisor) Update(ctx context.Context) (Diff, error) {
	if _, err := s.Reread(); err != nil {
		return Diff{}, err
	}
	s.mu.RLock()
	groups := s.pending
	s.mu.RUnlock()
	return s.Apply(ctx, groups)
}

// Apply makes groups the running configuration. Processes whose spec is
// unchanged are not touched and keep their PIDs (an operator's stop stays in
// force); removed processes are stopped and dropped; changed ones are
// stopped, reaped, and started again with the new spec if they were running
// or are autostart and not stopped by an operator; added ones start if
// autostart. Stops run first in descending priority, then starts.
func (s *Supervisor) Apply(ctx context.Context, groups []GroupSpec) (Diff, error) {
	if s.closing.Load() {
		return Diff{}, ErrShutdown
	}
	var d Diff
	err := commit(ctx, func(ctx context.Context) {
		s.applyMu.Lock()
		defer s.applyMu.Unlock()
		d = s.applyLocked(ctx, groups, keepIntent)
		s.mu.Lock()
		s.pending = groups
		s.mu.Unlock()
	})
	if err != nil {
		return Diff{}, err
	}
	return d, nil
}

// commit runs work to its end whatever becomes of ctx, which only bounds
// how long the caller waits for it: a client hanging up in the middle of
// an update must not leave an old process running untracked, or a changed
// one stopped for good.
func commit(ctx context.Context, work func(context.Context)) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		work(context.WithoutCancel(ctx))
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ApplyGroup makes the pending spec of one group the running one, as Apply
// does for the whole configuration: its unchanged processes keep running.
func (s *Supervisor) ApplyGroup(ctx context.Context, name string) error {
	if s.closing.Load() {
		return opErr("update", name, ErrShutdown, "")
	}
	var err error
	if cerr := commit(ctx, func(ctx context.Context) {
		s.applyMu.Lock()
		defer s.applyMu.Unlock()
		groups, ok := s.withPendingGroup(name)
		if !ok {
			err = opErr("update", name, ErrBadName, "")
			return
		}
		s.applyLocked(ctx, groups, asAdded)
	}); cerr != nil {
		return cerr
	}
	return err
}

// withPendingGroup is the running configuration with group name replaced
// by (or extended with) its pending spec.
func (s *Supervisor) withPendingGroup(name string) ([]GroupSpec, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	pi := slices.IndexFunc(s.pending, func(g GroupSpec) bool { return g.Name == name })
	if pi < 0 {
		return nil, false
	}
	groups := make([]GroupSpec, 0, len(s.groups)+1)
	found := false
	for _, g := range s.groups {
		if g.spec.Name == name {
			groups, found = append(groups, s.pending[pi]), true
		} else {
			groups = append(groups, g.spec)
		}
	}
	if !found {
		groups = append(groups, s.pending[pi])
	}
	return groups, true
}

// StopChanged stops the processes of a group that the pending configuration
// changes or drops, leaving the others running (all of a listener pool
// that is replaced whole, see replacedWhole): the first step of updating
// one group without restarting what did not change.
func (s *Supervisor) StopChanged(ctx context.Context, name string, w Wait) ([]Result, error) {
	procs, err := s.groupProcs("stop", name)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	next := s.pendingSpecsLocked(name)
	whole := false
	if pi := slices.IndexFunc(s.pending, func(g GroupSpec) bool { return g.Name == name }); pi >= 0 {
		for _, g := range s.groups {
			whole = whole || g.spec.Name == name && replacedWhole(&g.spec, &s.pending[pi])
		}
	}
	s.mu.RUnlock()
	if !whole {
		procs = slices.DeleteFunc(procs, func(p *process) bool {
			ns := next[p.spec.FullName()]
			return ns != nil && (ns.Equal(p.spec) || rolls(p, ns))
		})
	}
	return s.stopMany(ctx, procs, w, passing), nil
}

// replacedWhole reports whether a change of a group replaces it whole: a
// changed listener group is, as supervisord replaces a changed group, so
// that its listeners start afresh with the new pool.
func replacedWhole(running, next *GroupSpec) bool {
	return (running.Listener != nil || next.Listener != nil) && !running.Equal(next)
}

// pendingSpecsLocked maps the namespecs of a group's processes in the
// pending configuration to their specs. Must be called with s.mu held.
func (s *Supervisor) pendingSpecsLocked(group string) map[string]*ProcessSpec {
	next := map[string]*ProcessSpec{}
	for i := range s.pending {
		if s.pending[i].Name == group {
			for j := range s.pending[i].Processes {
				ps := &s.pending[i].Processes[j]
				next[ps.FullName()] = ps
			}
		}
	}
	return next
}

// startRule decides whether the replacement of a changed process starts.
type startRule func(old *ProcessInfo, spec *ProcessSpec) bool

// keepIntent restarts what ran, and what should run unless an operator
// stopped it: reread + update (SIGHUP).
func keepIntent(old *ProcessInfo, spec *ProcessSpec) bool {
	return old.State.IsRunning() || (spec.AutoStart && !old.Stopped)
}

// asAdded starts what autostart says, as a group removed and added again
// does: supervisorctl's update sequence.
func asAdded(_ *ProcessInfo, spec *ProcessSpec) bool { return spec.AutoStart }

// applyLocked makes groups the running configuration. Must be called with
// s.applyMu held.
func (s *Supervisor) applyLocked(ctx context.Context, groups []GroupSpec, startChanged startRule) Diff {

	s.mu.RLock()
	d := s.diffLocked(groups)
	old := map[string]*process{}
	for name, p := range s.byName {
		old[name] = p
	}
	s.mu.RUnlock()

	var retire []*process  // stopped and dropped
	var restart []string   // new processes to start after the stops
	var rollouts []rollout // running processes replaced a batch at a time
	keep := map[string]*process{}
	replaced := map[string]bool{}
	s.mu.RLock()
	for _, og := range s.groups {
		for _, g := range groups {
			if g.Name == og.spec.Name && replacedWhole(&og.spec, &g) {
				replaced[g.Name] = true
			}
		}
	}
	s.mu.RUnlock()
	for _, g := range groups {
		for i := range g.Processes {
			ps := &g.Processes[i]
			name := ps.FullName()
			op := old[name]
			switch {
			case op == nil:
				if ps.AutoStart {
					restart = append(restart, name)
				}
			case op.spec.Equal(ps) && !replaced[g.Name]:
				keep[name] = op
			case rolls(op, ps) && !replaced[g.Name]:
				keep[name] = op // until its replacement is ready
				rollouts = append(rollouts, rollout{op, ps})
			default:
				if startChanged(op.info.Load(), ps) {
					restart = append(restart, name)
				}
				retire = append(retire, op)
			}
		}
	}
	var removed []*process
	for name, op := range old {
		if keep[name] == nil && !slices.Contains(retire, op) {
			retire = append(retire, op)
			removed = append(removed, op)
		}
	}
	s.shutdown(ctx, retire)
	// A removed program's stop by an operator ends with it: should it come
	// back, autostart decides, as for any new program.
	for _, op := range removed {
		s.rt.Hold(op.spec, nil)
	}

	s.mu.Lock()
	// A new array: the old one's tail would keep removed groups, their
	// processes and specs, reachable until the list grew over them.
	s.groups = make([]*group, 0, len(groups))
	s.byName = map[string]*process{}
	s.registryGen.Add(1)
	shared := sharedNames(groups, nil)
	for _, gs := range groups {
		g := &group{spec: gs}
		for i := range gs.Processes {
			ps := &gs.Processes[i]
			p := keep[ps.FullName()]
			if p == nil {
				p = s.newProcess(ps, false, gs.Listener != nil, shared[ps.Name])
			}
			p.groupPrio.Store(int64(gs.Priority))
			p.nameShared.Store(shared[ps.Name]) // a kept one's may change
			g.procs = append(g.procs, p)
			s.byName[ps.FullName()] = p
		}
		s.groups = append(s.groups, g)
	}
	var starts []*process
	for _, name := range restart {
		starts = append(starts, s.byName[name])
	}
	s.mu.Unlock()

	s.keepSockets()
	s.startPools()
	for _, g := range d.Removed {
		s.emitGroup(false, g)
	}
	for _, g := range d.Added {
		s.emitGroup(true, g)
	}
	if s.closing.Load() {
		return d // shutting down meanwhile: start nothing only to stop it
	}
	s.inLevels(starts, ascending, func(p *process) error {
		return s.issueStart(ctx, p, p.spec.FullName(), true)
	}, nil)
	s.roll(ctx, rollouts)
	return d
}

// rolls reports whether an update replaces a running process a batch at a
// time rather than stopping it with the others.
func rolls(p *process, next *ProcessSpec) bool {
	return next.RollingUpdate > 0 && p.info.Load().State.IsRunning()
}
