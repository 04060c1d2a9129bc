package supervisor

import (
	"context"
	"path"
	"slices"
	"strings"
)

// MatchDependency reports whether a depends_on pattern names a process:
// its full name, its group ("group", "group:*"), or a glob of full names.
func MatchDependency(pattern string, p *ProcessSpec) bool {
	full := p.Group + ":" + p.Name
	switch pattern {
	case p.FullName(), full, p.Group, p.Group + ":*":
		return true
	}
	if ok, _ := path.Match(pattern, p.FullName()); ok {
		return true
	}
	ok, _ := path.Match(pattern, full)
	return ok
}

// depsLocked lists the processes p depends on. s.mu is held.
func (s *Supervisor) depsLocked(p *process) []*process {
	var deps []*process
	for _, pat := range p.spec.DependsOn {
		for _, q := range s.allLocked() {
			if q != p && !slices.Contains(deps, q) && MatchDependency(pat, q.spec) {
				deps = append(deps, q)
			}
		}
	}
	return deps
}

// issueStart asks p to start. A process with dependencies first waits,
// STARTING with no pid, until they are ready (starting those that are
// not running), then spawns; a dependency that fails makes its start
// fail. The wait runs on its own, so a start of many issues every start
// at once, in priority order, whatever depends on what.
func (s *Supervisor) issueStart(ctx context.Context, p *process, name string, auto bool) error {
	s.mu.RLock()
	deps := s.depsLocked(p)
	s.mu.RUnlock()
	if s.needsLease(p) {
		if err := p.send(ctx, command{kind: cmdWait, text: clusterWait("", ""), auto: auto}); err != nil {
			return opErr("start", name, err, startDetail(err, p))
		}
		go s.leaseWaiter(p)
		return nil
	}
	if len(deps) == 0 {
		if err := p.send(ctx, command{kind: cmdStart, auto: auto}); err != nil {
			return opErr("start", name, err, startDetail(err, p))
		}
		return nil
	}
	names := make([]string, len(deps))
	for i, d := range deps {
		names[i] = d.spec.FullName()
	}
	if err := p.send(ctx, command{kind: cmdWait, text: "waiting for " + strings.Join(names, ", "), auto: auto}); err != nil {
		return opErr("start", name, err, startDetail(err, p))
	}
	go s.awaitDeps(p, deps)
	return nil
}

// awaitDeps starts what p depends on if it is not running, and tells p
// once all of it is RUNNING (ready), or that one failed. It gives up when
// p stops waiting (stopped meanwhile) or the daemon closes.
func (s *Supervisor) awaitDeps(p *process, deps []*process) {
	ctx := context.Background() // committed: the wait ends with p's state
	for _, d := range deps {
		s.mu.RLock()
		redo := s.redoing[d] // its successor's restart is under way: not started twice
		s.mu.RUnlock()
		if st := d.info.Load(); st.State.IsStopped() && !st.Waiting && !redo {
			s.issueStart(ctx, d, d.spec.FullName(), true)
		}
	}
	for {
		changed := s.changes.wait()
		if !p.info.Load().Waiting || s.closing.Load() {
			return
		}
		// Looked up again each time: an update may have replaced them.
		s.mu.RLock()
		deps = s.depsLocked(p)
		cycle := s.waitsOnLocked(deps, p, map[*process]bool{})
		ready, failed := true, ""
		for _, d := range deps {
			switch st := d.info.Load(); {
			case st.State == Running:
			case st.State.IsStopped() && !st.Waiting && !s.redoing[d]:
				failed = "dependency " + d.spec.FullName() + " is " + st.State.String()
			default:
				ready = false // a dependency a successor stops to start again is waited for
			}
		}
		s.mu.RUnlock()
		if cycle {
			// Groups of two configurations can close a cycle that
			// neither had: waiting would never end.
			p.send(ctx, command{kind: cmdDepsFailed, text: "dependency cycle: " + p.spec.FullName() + " waits for itself"})
			return
		}
		if failed != "" {
			p.send(ctx, command{kind: cmdDepsFailed, text: failed})
			return
		}
		if ready {
			p.send(ctx, command{kind: cmdDepsReady})
			return
		}
		select {
		case <-changed:
		case <-s.quit:
			return
		}
	}
}

// dependentsFirst splits procs into levels to stop one after the other:
// group priorities (in the order o; the processes of one level in their
// own priority order), each process moved after every process in procs
// that depends on it, so a dependency stops only once what needs it has
// stopped. A group's processes stop together, as supervisord's shutdown
// stops a group's (stop_all), not each program priority after the last.
func (s *Supervisor) dependentsFirst(procs []*process, o order) [][]*process {
	sorted := sortBy(procs, o, byLevel)
	rank := map[*process]int{}
	lvl := 0
	for i, p := range sorted {
		if i > 0 && p.groupPrio.Load() != sorted[i-1].groupPrio.Load() {
			lvl++
		}
		rank[p] = lvl
	}
	s.mu.RLock()
	deps := map[*process][]*process{}
	for _, p := range sorted {
		for _, d := range s.depsLocked(p) {
			if _, in := rank[d]; in {
				deps[p] = append(deps[p], d)
			}
		}
	}
	s.mu.RUnlock()
	// A dependency's rank exceeds its dependents' (the graph is acyclic:
	// configurations with a cycle do not load); relax until stable.
	for changed, rounds := true, 0; changed && rounds <= len(sorted); rounds++ {
		changed = false
		for _, p := range sorted {
			for _, d := range deps[p] {
				if rank[d] <= rank[p] {
					rank[d], changed = rank[p]+1, true
				}
			}
		}
	}
	var levels [][]*process
	for _, p := range sorted {
		for len(levels) <= rank[p] {
			levels = append(levels, nil)
		}
		levels[rank[p]] = append(levels[rank[p]], p)
	}
	return slices.DeleteFunc(levels, func(l []*process) bool { return len(l) == 0 })
}

// keepSockets tells the runtime which sockets the processes name now, and
// those the reread configuration names: supervisorctl's update removes a
// changed group before it adds it again, and its socket must stay open
// in between.
func (s *Supervisor) keepSockets() {
	k, ok := s.rt.(SocketKeeper)
	if !ok {
		return
	}
	s.mu.RLock()
	var specs []*ProcessSpec
	for _, p := range s.allLocked() {
		specs = append(specs, p.spec)
	}
	for gi := range s.pending {
		for pi := range s.pending[gi].Processes {
			specs = append(specs, &s.pending[gi].Processes[pi])
		}
	}
	s.mu.RUnlock()
	k.KeepSockets(specs)
}

// waitsOnLocked reports whether one of deps, or what it waits for in
// turn, is waiting for p. s.mu is held.
func (s *Supervisor) waitsOnLocked(deps []*process, p *process, seen map[*process]bool) bool {
	for _, d := range deps {
		if seen[d] || !d.info.Load().Waiting {
			continue
		}
		seen[d] = true
		next := s.depsLocked(d)
		if slices.Contains(next, p) || s.waitsOnLocked(next, p, seen) {
			return true
		}
	}
	return false
}

// dependencyLevels splits procs so that every process comes in a level
// after all of procs that depend on it; with no dependencies, one level.
func (s *Supervisor) dependencyLevels(procs []*process) [][]*process {
	if !s.anyDependencies(procs) {
		return [][]*process{procs}
	}
	in := map[*process]bool{}
	for _, p := range procs {
		in[p] = true
	}
	s.mu.RLock()
	deps := map[*process][]*process{}
	for _, p := range procs {
		for _, d := range s.depsLocked(p) {
			if in[d] {
				deps[p] = append(deps[p], d)
			}
		}
	}
	s.mu.RUnlock()
	rank := map[*process]int{}
	for changed, rounds := true, 0; changed && rounds <= len(procs); rounds++ {
		changed = false
		for _, p := range procs {
			for _, d := range deps[p] {
				if rank[d] <= rank[p] {
					rank[d], changed = rank[p]+1, true
				}
			}
		}
	}
	var levels [][]*process
	for _, p := range procs {
		for len(levels) <= rank[p] {
			levels = append(levels, nil)
		}
		levels[rank[p]] = append(levels[rank[p]], p)
	}
	return slices.DeleteFunc(levels, func(l []*process) bool { return len(l) == 0 })
}
