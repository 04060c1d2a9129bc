package osruntime

import (
	"github.com/ctlsup/ctlsup/supervisor/internal/proc"
)

// openSpawner starts the spawner (see proc.Spawner).
func (r *Runtime) openSpawner() {
	s, err := proc.NewSpawner()
	if err != nil {
		r.Logger.Warn("the daemon forks its children itself", "err", err)
		return
	}
	s.SharedFork.Store(!r.HelperFork)
	r.spawner = s
}

// startProcess forks through the spawner if there is one.
func (r *Runtime) startProcess(a proc.Attr) (*proc.Process, error) {
	if r.spawner == nil {
		return proc.Start(a)
	}
	return r.spawner.Start(a)
}
