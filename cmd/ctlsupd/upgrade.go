package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ctlsup/ctlsup/supervisor"
)

// An upgrade executes the daemon's binary on disk in place, as nginx and
// systemd's daemon-reexec do: the pid stays, so the programs stay its
// children, and the new image adopts them from the state journal and the
// fd holder, like a daemon started after a crash, but with their exit
// statuses kept (the old image stops reaping before the exec). The control
// socket, TCP listeners, metrics listener and the state_dir lock cross the
// exec as descriptors named in CTLSUPD_INHERIT, so a client connecting
// meanwhile waits in the listen backlog instead of being refused.

const inheritEnv = "CTLSUPD_INHERIT"

// exePath is the daemon's binary as it was started: an upgrade executes
// whatever that path names now.
var exePath = func() string {
	p, err := os.Executable()
	if err != nil {
		return "/proc/self/exe"
	}
	return strings.TrimSuffix(p, " (deleted)")
}()

// takeInherited returns the descriptors a previous image passed, by name,
// and removes the variable so that no child sees it.
func takeInherited() map[string]*os.File {
	v, ok := os.LookupEnv(inheritEnv)
	if !ok {
		return nil
	}
	os.Unsetenv(inheritEnv)
	files := map[string]*os.File{}
	for _, kv := range strings.Split(v, ",") {
		name, num, _ := strings.Cut(kv, "=")
		fd, err := strconv.Atoi(num)
		if err != nil || fd < 3 {
			continue
		}
		syscall.CloseOnExec(fd)
		files[name] = os.NewFile(uintptr(fd), name)
	}
	return files
}

// inheritedListener turns a passed descriptor back into a listener.
func (m *Main) inheritedListener(name string) net.Listener {
	f := m.inherited[name]
	if f == nil {
		return nil
	}
	delete(m.inherited, name)
	defer f.Close()
	l, err := net.FileListener(f)
	if err != nil {
		m.Logger.Error("cannot take over an inherited listener", "name", name, "err", err)
		return nil
	}
	return l
}

// checkUpgrade runs the binary on disk with --check on the configuration:
// a binary that cannot start here, or cannot read the configuration, is
// refused before the running daemon is replaced by it.
func (m *Main) checkUpgrade() error {
	rt, ok := m.runtime.Load().(*supervisor.OSRuntime)
	if !ok {
		return errors.New("no runtime to run the check")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, st, err := rt.Run(ctx, []string{exePath, "--check", "-c", m.ConfigPath})
	if err != nil {
		return fmt.Errorf("cannot run %s --check: %w", exePath, err)
	}
	if st.Code != 0 || st.Signaled {
		return fmt.Errorf("%s --check failed (%s): %s", exePath, st.Text, strings.TrimSpace(string(out)))
	}
	return nil
}

// upgrade executes the binary on disk in place. It returns only if that
// failed; the daemon then carries on as it was.
func (m *Main) upgrade(checked bool) {
	if !checked {
		if err := m.checkUpgrade(); err != nil {
			m.Logger.Error("upgrade refused", "err", err)
			return
		}
	}
	m.Logger.Info("upgrading: executing the binary on disk in place", "binary", exePath, "pid", os.Getpid())
	m.notifyReloading()
	m.pauseServing()
	// Nothing is spawned from here on, so no child can inherit the
	// descriptors passed to the new image.
	undo := m.Supervisor.Detach()
	pass, env, err := m.passable()
	if err == nil {
		err = syscall.Exec(exePath, os.Args, append(os.Environ(), inheritEnv+"="+env))
	}
	m.Logger.Error("upgrade failed: carrying on with the running binary", "err", err)
	undo()
	for _, f := range pass {
		f.Close()
	}
	m.resumeServing()
	m.notify("READY=1")
}

// passable duplicates the descriptors the new image needs, without
// close-on-exec, and names them for CTLSUPD_INHERIT.
func (m *Main) passable() (map[string]*os.File, string, error) {
	if m.inherited == nil {
		m.inherited = map[string]*os.File{}
	}
	files := map[string]*os.File{}
	add := func(name string, f *os.File, err error) error {
		if err != nil {
			return fmt.Errorf("cannot pass %s: %w", name, err)
		}
		// The duplicate from File carries close-on-exec: clear it.
		if _, _, errno := syscall.Syscall(syscall.SYS_FCNTL, f.Fd(), syscall.F_SETFD, 0); errno != 0 {
			f.Close()
			return fmt.Errorf("cannot pass %s: %w", name, errno)
		}
		files[name] = f
		return nil
	}
	fail := func(err error) (map[string]*os.File, string, error) {
		for _, f := range files {
			f.Close()
		}
		return nil, "", err
	}
	if m.lock != nil {
		fd, err := syscall.Dup(int(m.lock.Fd()))
		var f *os.File
		if err == nil {
			f = os.NewFile(uintptr(fd), "lock")
		}
		if err := add("lock", f, err); err != nil {
			return fail(err)
		}
	}
	for name, l := range m.listeners {
		fl, ok := l.(interface{ File() (*os.File, error) })
		if !ok {
			return fail(fmt.Errorf("cannot pass %s", name))
		}
		f, err := fl.File()
		if err := add(name, f, err); err != nil {
			return fail(err)
		}
	}
	var parts []string
	for name, f := range files {
		parts = append(parts, name+"="+strconv.Itoa(int(f.Fd())))
	}
	return files, strings.Join(parts, ","), nil
}

// pauseServing stops accepting connections and waits (5 s at most) until
// the requests under way are answered: new clients queue in the sockets'
// backlogs for the next image.
func (m *Main) pauseServing() {
	for _, l := range m.listeners {
		if p, ok := l.(*pausable); ok {
			p.pause()
		}
	}
	if m.control != nil {
		m.control.conns.wait(5 * time.Second)
	}
}

func (m *Main) resumeServing() {
	for _, l := range m.listeners {
		if p, ok := l.(*pausable); ok {
			p.resume()
		}
	}
}
