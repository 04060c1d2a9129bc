package osruntime

import (
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/ctlsup/ctlsup/supervisor"
	"github.com/ctlsup/ctlsup/supervisor/internal/holder"
	"golang.org/x/sys/unix"
)

// fences are the cluster singletons' fence deadlines, by process name,
// and the live child of each name they apply to: the holder carries them
// out if the daemon dies before moving them.
type fences struct {
	mu        sync.Mutex
	deadlines map[string]fenceSpec
	live      map[string]*osChild
}

type fenceSpec struct {
	deadline time.Time
	stopWait time.Duration
	sig      syscall.Signal
	group    bool
}

// Fence implements supervisor.Fencer.
func (r *Runtime) Fence(spec *supervisor.ProcessSpec, deadline time.Time) {
	name := spec.FullName()
	f := fenceSpec{deadline: deadline, stopWait: spec.StopWait, sig: spec.StopSignal, group: spec.StopAsGroup}
	r.fences.mu.Lock()
	if r.fences.deadlines == nil {
		r.fences.deadlines, r.fences.live = map[string]fenceSpec{}, map[string]*osChild{}
	}
	if deadline.IsZero() {
		delete(r.fences.deadlines, name)
	} else {
		r.fences.deadlines[name] = f
	}
	c := r.fences.live[name]
	r.fences.mu.Unlock()
	if r.holder == nil {
		return
	}
	if deadline.IsZero() || c == nil {
		r.holder.Unfence(name)
		return
	}
	r.sendFence(c, f)
}

// fenceLive registers c as its name's live process, fenced at once if its
// name has a fence.
func (r *Runtime) fenceLive(c *osChild) {
	r.fences.mu.Lock()
	if r.fences.live == nil {
		r.fences.deadlines, r.fences.live = map[string]fenceSpec{}, map[string]*osChild{}
	}
	r.fences.live[c.name] = c
	f, ok := r.fences.deadlines[c.name]
	r.fences.mu.Unlock()
	if ok && r.holder != nil {
		r.sendFence(c, f)
	}
}

// fenceGone forgets c once it has ended.
func (r *Runtime) fenceGone(c *osChild) {
	r.fences.mu.Lock()
	defer r.fences.mu.Unlock()
	if r.fences.live[c.name] == c {
		delete(r.fences.live, c.name)
	}
}

// sendFence hands the holder c's fence, naming c by a pidfd proven to be
// c (same start time) and by its cgroup's cgroup.kill.
func (r *Runtime) sendFence(c *osChild, f fenceSpec) {
	if c.p == nil {
		return
	}
	pidfd, err := unix.PidfdOpen(c.p.Pid, 0)
	if err != nil {
		r.Logger.Warn("cannot fence the process: it will not be stopped if the daemon dies", "process", c.name, "err", err)
		return
	}
	switch alive, known := c.p.Identity().Check(); {
	case !known:
		syscall.Close(pidfd)
		r.Logger.Warn("cannot fence the process: it will not be stopped if the daemon dies", "process", c.name, "err", "out of file descriptors")
		return
	case !alive:
		syscall.Close(pidfd) // ended, and the pid is someone else's now
		return
	}
	killFile := -1
	if c.leaf != nil {
		if kf, err := os.OpenFile(filepath.Join(c.leaf.Path, "cgroup.kill"), os.O_WRONLY, 0); err == nil {
			if fd, err := syscall.Dup(int(kf.Fd())); err == nil {
				killFile = fd
			}
			kf.Close()
		}
	}
	r.holder.Fence(c.name, holder.Fence{Sig: f.sig, Group: f.group, Stop: f.deadline.Add(-f.stopWait), Kill: f.deadline, Pidfd: pidfd, KillFile: killFile})
}
