package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ctlsup/ctlsup/supervisor/osruntime"
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
// Each entry is name=fd@address: the address (socket path, host:port, or
// "systemd" for a socket systemd passed) the listener served, so a new
// image whose configuration moved it opens the new one instead.
func takeInherited() map[string]inheritedFD {
	v, ok := os.LookupEnv(inheritEnv)
	if !ok {
		return nil
	}
	os.Unsetenv(inheritEnv)
	files := map[string]inheritedFD{}
	for _, kv := range strings.Split(v, ",") {
		name, rest, _ := strings.Cut(kv, "=")
		num, addr, _ := strings.Cut(rest, "@")
		fd, err := strconv.Atoi(num)
		if err != nil || fd < 3 {
			continue
		}
		syscall.CloseOnExec(fd)
		addr, _ = url.QueryUnescape(addr)
		files[name] = inheritedFD{os.NewFile(uintptr(fd), name), addr}
	}
	return files
}

// inheritedFD is a descriptor a previous image passed, and what it served.
type inheritedFD struct {
	f    *os.File
	addr string
}

// closeUnclaimed closes what the previous image passed that nothing took
// (a listener the configuration no longer has).
func (m *Main) closeUnclaimed() {
	for name, in := range m.inherited {
		in.f.Close()
		delete(m.inherited, name)
	}
}

// inheritedListener turns a passed descriptor back into a listener, if it
// served want (or systemd's socket, when want is ""), reporting the
// address it served.
func (m *Main) inheritedListener(name, want string) (net.Listener, string) {
	in, ok := m.inherited[name]
	if !ok {
		return nil, ""
	}
	delete(m.inherited, name)
	defer in.f.Close()
	if in.addr != want && in.addr != systemdAddr {
		m.Logger.Info("the configuration moved a listener: opening the new one", "name", name, "was", in.addr, "now", want)
		return nil, ""
	}
	l, err := net.FileListener(in.f)
	if err != nil {
		m.Logger.Error("cannot take over an inherited listener", "name", name, "err", err)
		return nil, ""
	}
	return l, in.addr
}

// systemdAddr marks a socket systemd passed: it is systemd's to remove.
const systemdAddr = "systemd"

// checkUpgrade runs the binary on disk with --check on the configuration:
// a binary that cannot start here, or cannot read the configuration, is
// refused before the running daemon is replaced by it.
func (m *Main) checkUpgrade() error {
	rt, ok := m.runtime.Load().(*osruntime.Runtime)
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
	return m.configInForce()
}

// configInForce refuses an upgrade while the programs' configuration on
// disk differs from the one running: the new image reads it from disk,
// and would apply it as update does, restarting what changed. An upgrade
// changes the binary, not the programs in force; update does.
func (m *Main) configInForce() error {
	groups, err := m.load()
	if err != nil {
		// The new binary's check read it: a key only it knows, say,
		// which update refuses as well. Nothing to compare with.
		m.Logger.Warn("upgrade: the running binary cannot read the configuration on disk, which the new one accepts: the new image applies it as update does", "err", err)
		return nil
	}
	d := m.Supervisor.Diff(groups)
	if d.Empty() {
		return nil
	}
	var parts []string
	for _, c := range []struct {
		what  string
		names []string
	}{{"added", d.Added}, {"changed", d.Changed}, {"removed", d.Removed}} {
		if len(c.names) > 0 {
			parts = append(parts, c.what+": "+strings.Join(c.names, ", "))
		}
	}
	return fmt.Errorf("the configuration on disk is not the one running (%s), and the new binary would apply it: apply it first (ctlsup update), or put the running one back", strings.Join(parts, "; "))
}

// upgrade executes the binary on disk in place, which checkUpgrade has
// approved. It returns only if that failed; the daemon then carries on as
// it was.
func (m *Main) upgrade() {
	m.Logger.Info("upgrading: executing the binary on disk in place", "binary", exePath, "pid", os.Getpid())
	m.notifyReloading()
	m.pauseServing()
	// Nothing is spawned from here on, so no child can inherit the
	// descriptors passed to the new image.
	undo := m.Supervisor.Detach()
	pass, env, err := m.passable()
	if err == nil {
		// USR1, USR2 and HUP end a process by default: one that came
		// while the new image starts, before its runtime handles it, would
		// end the daemon (a burst of USR1 did). Ignored across the exec,
		// which keeps an ignored disposition (the new runtime goes on
		// ignoring them until main asks for them): another USR1 would be
		// another upgrade, and a new image reads its configuration and
		// opens its logs as it starts anyway. TERM, INT and QUIT must not
		// be lost: one that came during the pause (queued for this loop,
		// which the exec would drop) ends the upgrade and is acted on;
		// one that comes from here on ends the daemon as a crash does,
		// its programs held for the next start.
		signal.Ignore(execSafe...)
		signal.Reset(execEnding...)
		if m.endingQueued() {
			err = errors.New("a signal to stop or detach came first")
		} else {
			err = syscall.Exec(exePath, os.Args, append(os.Environ(), inheritEnv+"="+env))
		}
		if m.SignalSink != nil {
			signal.Notify(m.SignalSink, execSafe...)
			signal.Notify(m.SignalSink, execEnding...)
		}
	}
	m.Logger.Error("upgrade failed: carrying on with the running binary", "err", err)
	// Closed first: undo starts helpers, which must not inherit them.
	closeAll(pass)
	undo()
	m.resumeServing()
	m.notify("READY=1")
}

// execEnding are the handled signals that end the daemon (see upgrade).
var execEnding = []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT}

// endingQueued reports whether a signal of execEnding waits in Signals,
// and leaves every signal that waited there for the loop that reads it.
func (m *Main) endingQueued() bool {
	if m.SignalSink == nil {
		return false
	}
	var queued []os.Signal
	for drained := false; !drained; {
		select {
		case sig := <-m.Signals:
			queued = append(queued, sig)
		default:
			drained = true
		}
	}
	ending := false
	for _, sig := range queued {
		ending = ending || slices.Contains(execEnding, sig)
		select {
		case m.SignalSink <- sig:
		default: // the channel is the loop's only: what it held fits again
		}
	}
	return ending
}

// execSafe are the handled signals whose loss across an upgrade's exec
// costs nothing (see upgrade).
var execSafe = []os.Signal{syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGHUP}

// passable duplicates the descriptors the new image needs and names them
// for CTLSUPD_INHERIT. dup(2) leaves close-on-exec off, and working on
// the raw descriptors keeps the shared sockets non-blocking (os.File.Fd
// would make them blocking for the running listeners too).
func (m *Main) passable() (fds []int, env string, err error) {
	var parts []string
	add := func(name string, fd int, err error) error {
		if err != nil {
			return fmt.Errorf("cannot pass %s: %w", name, err)
		}
		fds = append(fds, fd)
		parts = append(parts, name+"="+strconv.Itoa(fd)+"@"+url.QueryEscape(m.listenAddr[name]))
		return nil
	}
	defer func() {
		if err != nil {
			closeAll(fds)
			fds, env = nil, ""
		}
	}()
	if m.lock != nil {
		fd, err := syscall.Dup(int(m.lock.Fd()))
		if err := add("lock", fd, err); err != nil {
			return nil, "", err
		}
	}
	for name, l := range m.listeners {
		p, ok := l.(*pausable)
		if !ok {
			return nil, "", fmt.Errorf("cannot pass %s", name)
		}
		fd, err := p.dup()
		if err := add(name, fd, err); err != nil {
			return nil, "", err
		}
	}
	return fds, strings.Join(parts, ","), nil
}

func closeAll(fds []int) {
	for _, fd := range fds {
		syscall.Close(fd)
	}
}

// pauseServing stops accepting connections and waits (5 s at most) until
// the requests under way are answered: new clients queue in the sockets'
// backlogs for the next image. The answers tell the clients to close
// their connections (keep-alives off, which closes the idle ones too), so
// that a client's next call, the start of supervisorctl's restart after
// its stop, goes to the backlog and not to a connection the exec closes.
func (m *Main) pauseServing() {
	m.keepAlives(false)
	var parked []<-chan struct{}
	for _, l := range m.listeners {
		if p, ok := l.(*pausable); ok {
			parked = append(parked, p.pause())
		}
	}
	// A connection Accept returned as the pause came is counted only
	// once Accept has returned it: wait for each to stop accepting.
	giveUp := time.After(time.Second)
	for _, ch := range parked {
		select {
		case <-ch:
		case <-giveUp:
		}
	}
	if m.control != nil {
		m.control.conns.wait(5 * time.Second)
	}
}

func (m *Main) resumeServing() {
	m.keepAlives(true)
	for _, l := range m.listeners {
		if p, ok := l.(*pausable); ok {
			p.resume()
		}
	}
}

func (m *Main) keepAlives(on bool) {
	if m.control != nil {
		for _, srv := range m.control.servers {
			srv.SetKeepAlivesEnabled(on)
		}
	}
	if m.metricsServer != nil {
		m.metricsServer.SetKeepAlivesEnabled(on)
	}
}
