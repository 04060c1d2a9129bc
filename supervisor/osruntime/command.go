package osruntime

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ctlsup/ctlsup/supervisor"
	"github.com/ctlsup/ctlsup/supervisor/internal/cgroup"
	"github.com/ctlsup/ctlsup/supervisor/internal/proc"
)

// Commands (on_exit and on_fatal actions, exec readiness probes) are
// contained as programs are: each runs in a process group, and in a cgroup
// of its own where cgroups are in use, so what it leaves running (a
// setsid'd child, a double-forked daemon) is killed when it exits. The
// daemon stops those still running when it closes, and waits for them, so
// none outlives it. One a crash or an in-place upgrade leaves behind is
// killed by the successor, which removes every cgroup its journal does not
// claim (in process-group mode it runs to its end).

// commands are the commands running.
type commands struct {
	mu      sync.Mutex
	closed  bool
	running sync.WaitGroup
	cut     chan struct{} // closed when the daemon closes
	warned  atomic.Bool   // that a command's cgroup could not be made
}

// errClosing: a command asked for once the daemon has begun to close.
var errClosing = errors.New("not run: the daemon is shutting down")

// commandStopWait is how long a command running when the daemon closes
// has between SIGTERM and SIGKILL.
const commandStopWait = 5 * time.Second

// commandCgroup begins a command's cgroup's name, which the daemon's
// start time and a journal id (no program's spawn shares it) end.
const commandCgroup = "ctlsup-command"

func (c *commands) begin() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.running.Add(1)
	return true
}

// stop stops the commands running and waits for them.
func (c *commands) stop() {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.cut)
	}
	c.mu.Unlock()
	c.running.Wait()
}

// Run runs argv to completion under the reaper, which must be running (the
// runtime is open), with its output in a temporary file; it kills the
// command when ctx ends. exec.Cmd cannot be used: its Wait would race the
// reaper.
func (r *Runtime) Run(ctx context.Context, argv []string) (output []byte, status supervisor.ExitStatus, err error) {
	return r.run(ctx, proc.Attr{Path: argv[0], Argv: argv, Env: os.Environ(), Umask: -1})
}

// RunCommand runs a shell command (an on_fatal or on_exit action) with env
// added to the daemon's environment, for at most a minute.
func (r *Runtime) RunCommand(ctx context.Context, command string, env []string) ([]byte, supervisor.ExitStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var base []string
	for _, kv := range os.Environ() {
		// What systemd addressed to the daemon alone, as for programs.
		if !strings.HasPrefix(kv, "NOTIFY_SOCKET=") && !strings.HasPrefix(kv, "LISTEN_") && !strings.HasPrefix(kv, "WATCHDOG_") {
			base = append(base, kv)
		}
	}
	return r.run(ctx, proc.Attr{Path: "/bin/sh", Argv: []string{"/bin/sh", "-c", command}, Env: append(base, env...), Umask: -1})
}

// run is Run with the child's attributes: a readiness command runs as its
// program does (user, directory, environment).
func (r *Runtime) run(ctx context.Context, a proc.Attr) (output []byte, status supervisor.ExitStatus, err error) {
	if !r.commands.begin() {
		return nil, status, errClosing
	}
	defer r.commands.running.Done()
	out, err := os.CreateTemp("", "ctlsup-run-")
	if err != nil {
		return nil, status, err
	}
	defer os.Remove(out.Name())
	defer out.Close()
	exited := make(chan supervisor.ExitStatus, 1)
	a.Files = []*os.File{nil, out, out}
	a.OnExit = func(_ int, ws syscall.WaitStatus, _ bool) {
		exited <- supervisor.ExitStatus{Code: proc.ExitCode(ws), Signaled: ws.Signaled(), Text: proc.Describe(ws)}
	}
	p, err := r.startCommand(a)
	if err != nil {
		return nil, status, err
	}
	// The leader too, by its pidfd: it may have left its cgroup (su's
	// pam_systemd, systemd-run --scope), where the cgroup's kill misses it.
	signal := func(sig syscall.Signal) {
		p.SignalGroup(sig)
		p.Signal(sig)
	}
	// After SIGKILL the exit is waited for a while only: a process stuck
	// in the kernel (a dead NFS mount) must not hold the daemon's stop.
	kill := func() {
		signal(syscall.SIGKILL)
		select {
		case status = <-exited:
		case <-time.After(commandStopWait):
			status = supervisor.ExitStatus{Code: -1, Text: "still running after SIGKILL"}
		}
	}
	select {
	case status = <-exited:
	case <-ctx.Done():
		kill()
		err = ctx.Err()
	case <-r.commands.cut:
		signal(syscall.SIGTERM)
		select {
		case status = <-exited:
		case <-time.After(commandStopWait):
			kill()
		}
		err = errClosing
	}
	output, _ = os.ReadFile(out.Name())
	return output, status, err
}

// startCommand starts a command in a cgroup of its own, removed once
// nothing of it runs; without one (cgroups off, or none can be made) its
// process group contains it. A refused clone into a cgroup (a container's
// seccomp filter) turns cgroups off, as a program's spawn does.
func (r *Runtime) startCommand(a proc.Attr) (*proc.Process, error) {
	if !r.useCgroups() {
		return r.startProcess(a)
	}
	// Named for this daemon alone: a successor never takes the cgroup of
	// a command a crash left for its own, nor sweeps its own away.
	leaf, dir, err := r.cgroups.NewLeaf(commandCgroup+"-"+strconv.FormatInt(r.born.UnixNano(), 36), r.state.newID(), cgroup.Limits{})
	if leaf == nil {
		if r.commands.warned.CompareAndSwap(false, true) {
			r.Logger.Warn("cannot create a command's cgroup: its process group contains it", "command", strings.Join(a.Argv, " "), "err", err)
		}
		return r.startProcess(a)
	}
	a.CgroupDir, a.Container = dir, leaf
	a.OnGone = func() { leaf.Remove() }
	p, err := r.startProcess(a)
	dir.Close()
	if err != nil {
		leaf.Remove()
		if errors.Is(err, syscall.ENOSYS) {
			r.dropCgroups(err)
			a.CgroupDir, a.Container, a.OnGone = nil, nil, nil
			return r.startProcess(a)
		}
	}
	return p, err
}
