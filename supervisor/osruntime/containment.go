package osruntime

import (
	"sync"

	"github.com/ctlsup/ctlsup/supervisor"
	"github.com/ctlsup/ctlsup/supervisor/internal/cgroup"
	"github.com/ctlsup/ctlsup/supervisor/internal/proc"
)

// Containment modes, as the startup log, the metric and the README name
// them.
const (
	ModeCgroup       = "cgroup"
	ModeProcessGroup = "process-group"
)

// Containment says how programs are contained: "cgroup" (each spawn in a
// cgroup of its own, below Base) or "process-group" (the fallback), and
// why the fallback runs.
type Containment struct {
	Mode        string
	Base        string   // the cgroup holding the spawns' leaves
	Controllers []string // enabled for the leaves
	Reason      string   // why cgroups are not used
}

// Containment reports the mode chosen at Open.
func (r *Runtime) Containment() Containment {
	if r.cgroups == nil {
		reason := "not opened"
		if r.cgroupErr != nil {
			reason = r.cgroupErr.Error()
		}
		return Containment{Mode: ModeProcessGroup, Reason: reason}
	}
	return Containment{Mode: ModeCgroup, Base: r.cgroups.Base, Controllers: r.cgroups.Controllers}
}

// openContainment sets up cgroups, or says why process groups must do.
func (r *Runtime) openContainment() {
	r.cgroups, r.cgroupErr = cgroup.Setup(r.StateDir, r.Logger)
	c := r.Containment()
	if c.Mode == ModeCgroup {
		r.Logger.Info("containment: a cgroup per process", "cgroup", c.Base, "controllers", c.Controllers)
	} else {
		r.Logger.Warn("containment: process groups (setsid and double forks can escape them)", "reason", c.Reason)
	}
}

func leafLimits(l supervisor.Limits) cgroup.Limits {
	return cgroup.Limits{MemoryMax: l.MemoryMax, MemoryHigh: l.MemoryHigh, CPUMax: l.CPUMax, PidsMax: l.PidsMax}
}

// account is what one program has used across its spawns, so its CPU
// counter never goes down: a spawn's final usage is added when it is gone.
type account struct {
	cpuDone float64 // spawns that are gone
	oomDone int64
	cur     *spawnUsage // the current spawn, if any
}

// spawnUsage is one spawn's part of its account.
type spawnUsage struct {
	leaf     *cgroup.Leaf  // its cgroup; nil in process-group mode
	id       proc.Identity // its leader, once forked
	cpuSeen  float64       // the most it was seen using (process-group mode)
	peakSeen int64
}

// accounts are the runtime's accounts by process name.
type accounts struct {
	mu sync.Mutex
	m  map[string]*account
}

func (a *accounts) get(name string) *account {
	if a.m == nil {
		a.m = map[string]*account{}
	}
	acc := a.m[name]
	if acc == nil {
		acc = &account{}
		a.m[name] = acc
	}
	return acc
}

// begin starts accounting a spawn, before its fork.
func (a *accounts) begin(name string, leaf *cgroup.Leaf) *spawnUsage {
	a.mu.Lock()
	defer a.mu.Unlock()
	sp := &spawnUsage{leaf: leaf}
	a.get(name).cur = sp
	return sp
}

// forked names the spawn's leader.
func (a *accounts) forked(sp *spawnUsage, id proc.Identity) {
	a.mu.Lock()
	defer a.mu.Unlock()
	sp.id = id
}

// end closes the account of a spawn none of whose processes remain.
func (a *accounts) end(name string, sp *spawnUsage) {
	a.mu.Lock()
	defer a.mu.Unlock()
	acc := a.get(name)
	if sp.leaf != nil {
		st := sp.leaf.Stat()
		acc.cpuDone += st.CPUSeconds
		acc.oomDone += st.OOMKills
	} else {
		acc.cpuDone += sp.cpuSeen
	}
	if acc.cur == sp {
		acc.cur = nil
	}
}

// Usage reads what every process uses: from its cgroup, or in
// process-group mode from one scan of /proc. CPU counts every spawn since
// the daemon started, and never goes down.
func (r *Runtime) Usage() map[string]supervisor.Usage {
	var groups map[int]proc.GroupStat
	r.acct.mu.Lock()
	defer r.acct.mu.Unlock()
	out := make(map[string]supervisor.Usage, len(r.acct.m))
	for name, acc := range r.acct.m {
		u := supervisor.Usage{CPUSeconds: acc.cpuDone, OOMKills: acc.oomDone}
		sp := acc.cur
		switch {
		case sp == nil:
		case sp.leaf != nil:
			st := sp.leaf.Stat()
			u.CPUSeconds += st.CPUSeconds
			u.OOMKills += st.OOMKills
			u.MemoryBytes, u.MemoryPeakBytes, u.Tasks = st.MemoryBytes, st.MemoryPeakBytes, st.Tasks
			u.RSSBytes = proc.ResidentBytes(sp.leaf.Procs())
			if !st.HasMemory {
				u.MemoryBytes = u.RSSBytes
			}
			u.Cgroup = sp.leaf.Path
		case sp.id.Pid != 0:
			if groups == nil {
				groups = proc.GroupUsage()
			}
			g := groups[sp.id.Pid]
			if !proc.GroupOurs(sp.id) {
				g = proc.GroupStat{}
			}
			// Members that exit unwaited-for take their time with them:
			// the highest sum seen keeps the counter from going down.
			sp.cpuSeen = max(sp.cpuSeen, g.CPUSeconds)
			u.CPUSeconds += sp.cpuSeen
			u.RSSBytes, u.MemoryBytes, u.Tasks = g.RSSBytes, g.RSSBytes, g.Members
		}
		if sp != nil {
			sp.peakSeen = max(sp.peakSeen, u.MemoryPeakBytes, u.MemoryBytes)
			u.MemoryPeakBytes = sp.peakSeen
		}
		out[name] = u
	}
	return out
}
