package osruntime

import (
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

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

// Containment reports the mode chosen at Open. Metrics may ask while Open
// runs: the choice is published once made.
func (r *Runtime) Containment() Containment {
	if c := r.containment.Load(); c != nil {
		return *c
	}
	return Containment{Mode: ModeProcessGroup, Reason: "not opened"}
}

// openContainment sets up cgroups, or says why process groups must do.
func (r *Runtime) openContainment() {
	m, err := cgroup.Setup(r.StateDir, r.Logger)
	c := Containment{Mode: ModeProcessGroup}
	if err != nil {
		c.Reason = err.Error()
		r.Logger.Warn("containment: process groups (setsid and double forks can escape them)", "reason", c.Reason)
	} else {
		r.cgroups = m
		c = Containment{Mode: ModeCgroup, Base: m.Base, Controllers: m.Controllers}
		r.Logger.Info("containment: a cgroup per process", "cgroup", c.Base, "controllers", c.Controllers)
	}
	r.containment.Store(&c)
}

// dropCgroups falls back to process groups for good: the kernel refused
// to start a process in a cgroup although it has the feature (a seccomp
// filter that answers clone3 with ENOSYS, as container runtimes' do).
func (r *Runtime) dropCgroups(err error) {
	r.cgroupsOff.Store(true)
	c := Containment{Mode: ModeProcessGroup, Reason: "clone3 into a cgroup failed: " + err.Error()}
	r.containment.Store(&c)
	r.Logger.Warn("containment: process groups from now on (setsid and double forks can escape them)", "reason", c.Reason)
}

// useCgroups reports whether spawns get a cgroup.
func (r *Runtime) useCgroups() bool { return r.cgroups != nil && !r.cgroupsOff.Load() }

// warnLimits says, once per program, that its cgroup limits cannot apply.
func (r *Runtime) warnLimits(spec *supervisor.ProcessSpec) {
	l := spec.Limits
	if l.MemoryMax == 0 && l.MemoryHigh == 0 && l.CPUMax == 0 && l.PidsMax == 0 {
		return
	}
	if _, done := r.limitsWarned.LoadOrStore(spec.FullName(), true); done {
		return
	}
	r.Logger.Warn("memory_max, memory_high, cpu_max and pids_max not applied: no cgroups",
		"process", spec.FullName(), "reason", r.Containment().Reason)
}

func leafLimits(l supervisor.Limits) cgroup.Limits {
	return cgroup.Limits{MemoryMax: l.MemoryMax, MemoryHigh: l.MemoryHigh, CPUMax: l.CPUMax, PidsMax: l.PidsMax}
}

// account is what one program has used across its spawns, so its CPU and
// OOM counters never go down: the spawns still alive (an old one's
// leftovers may outlive its restart by stopwaitsecs) count beside the
// totals of those that are gone.
type account struct {
	cpuDone float64 // spawns that are gone
	oomDone int64
	live    []*spawnUsage // oldest first
	// cpuReported is the highest CPU total a reading returned: a spawn
	// that ends while a reading is under way may leave the totals below
	// what that reading saw of it.
	cpuReported float64
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
	// closing: the engine is closing, and the accounts end with it.
	closing atomic.Bool
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
	acc := a.get(name)
	acc.live = append(acc.live, sp)
	return sp
}

// forked names the spawn's leader.
func (a *accounts) forked(sp *spawnUsage, id proc.Identity) {
	a.mu.Lock()
	defer a.mu.Unlock()
	sp.id = id
}

// abort forgets a spawn whose fork failed.
func (a *accounts) abort(name string, sp *spawnUsage) {
	a.mu.Lock()
	defer a.mu.Unlock()
	acc := a.get(name)
	acc.live = slices.DeleteFunc(acc.live, func(x *spawnUsage) bool { return x == sp })
}

// end closes the account of a spawn none of whose processes remain: what
// it used moves into the totals.
func (a *accounts) end(name string, sp *spawnUsage) {
	// Only what the totals keep is read: an exit is settled for every
	// spawn, and the leaf's memory and task figures die with it. Once the
	// engine is closing, not even cpu.stat: it is the costliest file while
	// thousands of processes exit at once (a shutdown of 10,000 took a
	// median 7.3 s with it, 6.2 s without), and the CPU totals end with the
	// daemon. The OOM kills are still read: a cheap file, and a counter
	// that must not go down.
	var cpu float64
	var oomKills int64
	if sp.leaf != nil {
		if !a.closing.Load() {
			cpu = sp.leaf.CPUSeconds()
		}
		oomKills = sp.leaf.OOMKills()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	acc := a.get(name)
	if !slices.Contains(acc.live, sp) {
		return
	}
	acc.live = slices.DeleteFunc(acc.live, func(x *spawnUsage) bool { return x == sp })
	if sp.leaf != nil {
		acc.cpuDone += max(cpu, sp.cpuSeen)
		acc.oomDone += oomKills
	} else {
		acc.cpuDone += sp.cpuSeen
	}
}

// Closing is called when the engine starts to close, before its processes
// stop: their exits then leave the CPU totals as the last reading saw
// them.
func (r *Runtime) Closing() { r.acct.closing.Store(true) }

// yieldEvery is how many programs' usage a reading reads between yields.
const yieldEvery = 32

// Usage reads what every process uses: from its spawns' cgroups, or in
// process-group mode from one scan of /proc. CPU and OOM kills count every
// spawn since the daemon started and never go down; memory and tasks are
// the newest spawn's. Files are read without the lock, which the reaper
// needs.
func (r *Runtime) Usage() map[string]supervisor.Usage {
	// The spawns' fields are copied under the lock: the fork and other
	// readings write them.
	type spawnCopy struct {
		sp *spawnUsage
		spawnUsage
	}
	type view struct {
		name    string
		acc     *account
		done    float64
		oomDone int64
		live    []spawnCopy
	}
	r.acct.mu.Lock()
	views := make([]view, 0, len(r.acct.m))
	copies := make([]spawnCopy, 0, len(r.acct.m)) // one spawn each, mostly
	for name, acc := range r.acct.m {
		from := len(copies)
		for _, sp := range acc.live {
			copies = append(copies, spawnCopy{sp, *sp})
		}
		views = append(views, view{name, acc, acc.cpuDone, acc.oomDone, copies[from:len(copies):len(copies)]})
	}
	r.acct.mu.Unlock()
	var groups map[int]proc.GroupStat
	out := make(map[string]supervisor.Usage, len(views))
	type sample struct {
		sp   *spawnUsage
		cpu  float64
		peak int64
	}
	var samples []sample
	for n, v := range views {
		if n%yieldEvery == yieldEvery-1 {
			// A reading of 10,000 programs takes half a second of
			// system calls too short for the runtime to hand the P on:
			// on ctlsupd's one P, a scrape or a request beside it would
			// wait for it in 10 ms slices.
			runtime.Gosched()
		}
		u := supervisor.Usage{CPUSeconds: v.done, OOMKills: v.oomDone}
		for i, sp := range v.live {
			newest := i == len(v.live)-1
			var cpu float64
			switch {
			case sp.leaf != nil:
				st := sp.leaf.Stat()
				cpu = st.CPUSeconds
				u.OOMKills += st.OOMKills
				if newest {
					procs := sp.leaf.Procs()
					if st.Tasks < 0 {
						st.Tasks = len(procs)
					}
					u.MemoryBytes, u.MemoryPeakBytes, u.Tasks = st.MemoryBytes, st.MemoryPeakBytes, st.Tasks
					u.RSSBytes = proc.ResidentBytes(procs)
					if !st.HasMemory {
						u.MemoryBytes = u.RSSBytes
					}
					u.Cgroup = sp.leaf.Path
				}
			case sp.id.Pid != 0:
				if groups == nil {
					groups = proc.GroupUsage()
				}
				g := groups[sp.id.Pid]
				if !proc.GroupOurs(sp.id) {
					g = proc.GroupStat{}
				}
				cpu = g.CPUSeconds
				if newest {
					u.RSSBytes, u.MemoryBytes, u.Tasks = g.RSSBytes, g.RSSBytes, g.Members
				}
			}
			// Members that exit unwaited-for take their time with them
			// (process-group mode): the highest sum seen keeps the
			// counter from going down.
			cpu = max(cpu, sp.cpuSeen)
			u.CPUSeconds += cpu
			peak := int64(0)
			if newest {
				peak = max(sp.peakSeen, u.MemoryPeakBytes, u.MemoryBytes)
				u.MemoryPeakBytes = peak
			}
			samples = append(samples, sample{sp.sp, cpu, peak})
		}
		out[v.name] = u
	}
	r.acct.mu.Lock()
	for _, s := range samples {
		s.sp.cpuSeen = max(s.sp.cpuSeen, s.cpu)
		s.sp.peakSeen = max(s.sp.peakSeen, s.peak)
	}
	for _, v := range views {
		u := out[v.name]
		u.CPUSeconds = max(u.CPUSeconds, v.acc.cpuReported)
		v.acc.cpuReported = u.CPUSeconds
		out[v.name] = u
	}
	r.acct.mu.Unlock()
	return out
}
