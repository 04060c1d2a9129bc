package osruntime

import (
	"os"

	"github.com/ctlsup/ctlsup/supervisor/internal/proc"
)

// helperFromChildren is where forking from the spawner pays in cgroup
// mode. A fork from the daemon copies its descriptor table, two entries
// per running program: 0.23 µs an entry (0.73 ms a fork+exec with none
// open, 3.0 ms with 10,000). The spawner's fork copies a handful, but a
// child bound for a cgroup costs it two cgroup migrations of its own,
// 0.36 ms together. Without cgroups the spawner always pays.
const helperFromChildren = 800

// openSpawner starts the spawner after containment is settled, in the
// daemon's own cgroup.
func (r *Runtime) openSpawner() {
	var home *os.File
	if r.cgroups != nil {
		var err error
		if home, err = os.Open(r.cgroups.Home); err != nil {
			r.Logger.Warn("the daemon forks children bound for cgroups itself", "err", err)
		} else {
			defer home.Close()
		}
	}
	s, err := proc.NewSpawner(home)
	if err != nil {
		r.Logger.Warn("the daemon forks its children itself", "err", err)
		return
	}
	r.spawner, r.spawnerFrom = s, helperFromChildren
}

// startProcess forks through the spawner where that is cheaper.
func (r *Runtime) startProcess(a proc.Attr) (*proc.Process, error) {
	if r.spawner == nil || (a.CgroupDir != nil && (!r.spawner.Cgroups() || r.children.Load() < r.spawnerFrom)) {
		return proc.Start(a)
	}
	return r.spawner.Start(a)
}
