package supervisor

import (
	"context"
	"errors"
	"slices"
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

func (s *Supervisor) diffLocked(groups []GroupSpec) Diff {
	var d Diff
	active := map[string]*group{}
	for _, g := range s.groups {
		active[g.spec.Name] = g
	}
	seen := map[string]bool{}
	for i := range groups {
		ng := &groups[i]
		seen[ng.Name] = true
		switch og := active[ng.Name]; {
		case og == nil:
			d.Added = append(d.Added, ng.Name)
		case !og.spec.Equal(ng):
			d.Changed = append(d.Changed, ng.Name)
		}
	}
	for name := range active {
		if !seen[name] {
			d.Removed = append(d.Removed, name)
		}
	}
	slices.Sort(d.Added)
	slices.Sort(d.Changed)
	slices.Sort(d.Removed)
	return d
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
	s.applyMu.Lock()
	defer s.applyMu.Unlock()

	s.mu.RLock()
	d := s.diffLocked(groups)
	old := map[string]*process{}
	for name, p := range s.byName {
		old[name] = p
	}
	s.mu.RUnlock()

	var retire []*process // stopped and dropped
	var restart []string  // new processes to start after the stops
	keep := map[string]*process{}
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
			case op.spec.Equal(ps):
				keep[name] = op
			default:
				info := op.info.Load()
				if info.State.IsRunning() || (ps.AutoStart && !info.Stopped) {
					restart = append(restart, name)
				}
				retire = append(retire, op)
			}
		}
	}
	for name, op := range old {
		if keep[name] == nil && !slices.Contains(retire, op) {
			retire = append(retire, op)
		}
	}
	s.shutdown(ctx, retire)

	s.mu.Lock()
	s.groups = s.groups[:0]
	s.byName = map[string]*process{}
	for _, gs := range groups {
		g := &group{spec: gs}
		for _, ps := range gs.Processes {
			p := keep[ps.FullName()]
			if p == nil {
				p = s.newProcess(ps)
			}
			g.procs = append(g.procs, p)
			s.byName[ps.FullName()] = p
		}
		s.groups = append(s.groups, g)
	}
	s.pending = groups
	var starts []*process
	for _, name := range restart {
		starts = append(starts, s.byName[name])
	}
	s.mu.Unlock()

	s.fanOut(ctx, starts, ascending, func(p *process) error {
		return p.send(ctx, command{kind: cmdStart})
	})
	return d, nil
}
