package holder

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Fence is what the holder does to a cluster singleton's process if no
// newer fence replaces this one: its stop signal at Stop, SIGKILL at Kill.
// The process is named by a pidfd, and its cgroup (if it has one) by an
// open cgroup.kill: neither can reach another process, whatever pids are
// reused meanwhile.
type Fence struct {
	Sig   syscall.Signal
	Group bool // the stop signal goes to the process group
	Stop  time.Time
	Kill  time.Time
	// Pidfd is the process's; KillFile its cgroup's cgroup.kill, or -1.
	// The client owns them once given.
	Pidfd, KillFile int
}

// fence is one armed fence in the holder.
type fence struct {
	pidfd, killFile int
	stop, kill      *time.Timer
}

// fence arms the fence a 'K' message describes, and returns the
// descriptors it did not keep.
func (s *server) fence(msg string, fds []int) []int {
	id, params, ok := strings.Cut(msg, "\n")
	var sig, stopMS, killMS int64
	var group int
	if !ok || len(fds) < 1 || len(fds) > 2 {
		return fds
	}
	if _, err := fmt.Sscanf(params, "%d %d %d %d", &sig, &group, &stopMS, &killMS); err != nil {
		return fds
	}
	f := &fence{pidfd: fds[0], killFile: -1}
	if len(fds) == 2 {
		f.killFile = fds[1]
	}
	f.stop = time.AfterFunc(time.Duration(stopMS)*time.Millisecond, func() {
		if group == 1 && unix.PidfdSendSignal(f.pidfd, 0, nil, 0) == nil {
			// The leader lives, so its process group is still its own.
			if pid := pidOf(f.pidfd); pid > 0 {
				syscall.Kill(-pid, syscall.Signal(sig))
				return
			}
		}
		unix.PidfdSendSignal(f.pidfd, syscall.Signal(sig), nil, 0)
	})
	f.kill = time.AfterFunc(time.Duration(killMS)*time.Millisecond, func() {
		if f.killFile >= 0 {
			syscall.Write(f.killFile, []byte("1"))
		}
		if unix.PidfdSendSignal(f.pidfd, 0, nil, 0) == nil {
			if pid := pidOf(f.pidfd); pid > 0 {
				syscall.Kill(-pid, syscall.SIGKILL)
			}
		}
		unix.PidfdSendSignal(f.pidfd, syscall.SIGKILL, nil, 0)
		s.mu.Lock()
		if s.fences[id] == f {
			delete(s.fences, id)
			f.close()
		}
		s.mu.Unlock()
	})
	s.mu.Lock()
	if old := s.fences[id]; old != nil {
		old.close()
	}
	s.fences[id] = f
	s.makeRoomLocked()
	s.mu.Unlock()
	return nil
}

func (s *server) cancelFence(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.fences[id]; f != nil {
		f.close()
		delete(s.fences, id)
	}
}

func (f *fence) close() {
	f.stop.Stop()
	f.kill.Stop()
	syscall.Close(f.pidfd)
	if f.killFile >= 0 {
		syscall.Close(f.killFile)
	}
}

// pidOf reads a pidfd's pid from /proc/self/fdinfo ("Pid:\t123"); -1 once
// the process has ended.
func pidOf(pidfd int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", pidfd))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Pid:"); ok {
			var pid int
			fmt.Sscanf(strings.TrimSpace(v), "%d", &pid)
			return pid
		}
	}
	return -1
}

// Fence arms (or moves) the holder's fence for id. The holder keeps it
// across a daemon's death; a successor moves or cancels it.
func (c *Client) Fence(id string, f Fence) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.fences[id]; ok {
		closeFence(old)
	}
	c.fences[id] = f
	c.sendFenceLocked(id, f)
}

// Unfence cancels id's fence: its process stopped, or its lease is
// released.
func (c *Client) Unfence(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.fences[id]; ok {
		closeFence(old)
		delete(c.fences, id)
	}
	c.sendLocked('C', id)
}

func (c *Client) sendFenceLocked(id string, f Fence) {
	group := 0
	if f.Group {
		group = 1
	}
	msg := fmt.Sprintf("%s\n%d %d %d %d", id, int(f.Sig), group,
		max(time.Until(f.Stop).Milliseconds(), 0), max(time.Until(f.Kill).Milliseconds(), 0))
	fds := []int{f.Pidfd}
	if f.KillFile >= 0 {
		fds = append(fds, f.KillFile)
	}
	c.sendLocked('K', msg, fds...)
}

func closeFence(f Fence) {
	syscall.Close(f.Pidfd)
	if f.KillFile >= 0 {
		syscall.Close(f.KillFile)
	}
}
