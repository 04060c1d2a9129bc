package osruntime

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/ctlsup/ctlsup/supervisor"
	"github.com/ctlsup/ctlsup/supervisor/internal/proc"
)

// sockets are the listening sockets the runtime owns, by socketKey. Each is
// bound once and handed to every spawn of the programs that name it, so a
// restart never closes the port: connections wait in the kernel's backlog
// until the new process accepts. The fd holder keeps a duplicate, so the
// sockets outlive the daemon's own death and upgrade too.
type sockets struct {
	mu    sync.Mutex
	open  map[string]*os.File
	specs map[string]supervisor.SocketSpec // the settings each was last given
	held  map[string]int                   // what a previous daemon left with the holder, until taken
}

// socketKey names a socket by its address: a change of its other
// settings (name, mode, owner, backlog) is applied to the socket in place,
// so the port never closes for it.
func socketKey(s supervisor.SocketSpec) string {
	return s.Network + "\t" + s.Address
}

// adjust applies a socket's settings to the bound socket.
func (r *Runtime) adjust(f *os.File, s supervisor.SocketSpec) {
	unix.Listen(int(f.Fd()), max(s.Backlog, 1)) // listen(2) again sets the backlog
	if s.Network == "unix" {
		if s.Mode != 0 {
			os.Chmod(s.Address, os.FileMode(s.Mode))
		}
		if s.Owner != "" {
			if err := chownSocket(s.Address, s.Owner); err != nil {
				r.Logger.Warn("cannot give the socket to its owner", "socket", s.Name, "owner", s.Owner, "err", err)
			}
		}
	}
}

const socketIDPrefix = "socket\t"

// socketFiles returns spec's sockets, binding those not bound yet.
func (r *Runtime) socketFiles(spec *supervisor.ProcessSpec) ([]*os.File, error) {
	var files []*os.File
	for _, s := range spec.Sockets {
		f, err := r.socket(s)
		if err != nil {
			return nil, fmt.Errorf("socket %s (%s): %w", s.Name, s.Address, err)
		}
		files = append(files, f)
	}
	return files, nil
}

func (r *Runtime) socket(s supervisor.SocketSpec) (*os.File, error) {
	key := socketKey(s)
	r.socks.mu.Lock()
	defer r.socks.mu.Unlock()
	if f := r.socks.open[key]; f != nil {
		if r.socks.specs[key] != s {
			r.adjust(f, s)
			r.socks.specs[key] = s
		}
		return f, nil
	}
	if r.socks.specs == nil {
		r.socks.specs = map[string]supervisor.SocketSpec{}
	}
	r.socks.specs[key] = s
	if r.socks.open == nil {
		r.socks.open = map[string]*os.File{}
	}
	if fd, ok := r.socks.held[key]; ok {
		delete(r.socks.held, key)
		f := os.NewFile(uintptr(fd), s.Name)
		r.socks.open[key] = f
		r.adjust(f, s)
		if r.holder != nil {
			r.holder.Store(socketIDPrefix+key, fd) // Take hands it over: stored again for the next holder
		}
		r.Logger.Info("socket taken over from the previous daemon", "socket", s.Name, "address", s.Address)
		return f, nil
	}
	f, err := listen(s)
	if err != nil {
		return nil, err
	}
	r.socks.open[key] = f
	if r.holder != nil {
		r.holder.Store(socketIDPrefix+key, int(f.Fd()))
	}
	r.Logger.Info("socket bound", "socket", s.Name, "address", s.Address)
	return f, nil
}

// KeepSockets binds every socket specs name and closes those no spec names
// any longer: the engine calls it whenever its processes change.
func (r *Runtime) KeepSockets(specs []*supervisor.ProcessSpec) {
	want := map[string]bool{}
	for _, spec := range specs {
		for _, s := range spec.Sockets {
			want[socketKey(s)] = true
			if _, err := r.socket(s); err != nil {
				r.Logger.Error("cannot bind socket", "socket", s.Name, "address", s.Address, "err", err)
			}
		}
	}
	r.socks.mu.Lock()
	defer r.socks.mu.Unlock()
	for key, f := range r.socks.open {
		if !want[key] {
			r.closeSocketLocked(key, f)
		}
	}
	for key, fd := range r.socks.held { // a previous daemon's, for a socket gone from the configuration
		if !want[key] {
			syscall.Close(fd)
			if r.holder != nil {
				r.holder.Drop(socketIDPrefix + key)
			}
			delete(r.socks.held, key)
		}
	}
}

func (r *Runtime) closeSocketLocked(key string, f *os.File) {
	if r.holder != nil {
		r.holder.Drop(socketIDPrefix + key)
	}
	f.Close()
	delete(r.socks.open, key)
	sp := r.socks.specs[key]
	delete(r.socks.specs, key)
	if sp.Network == "unix" {
		os.Remove(sp.Address)
	}
	r.Logger.Info("socket closed", "socket", sp.Name, "address", sp.Address)
}

// closeSockets closes every socket: the daemon stops.
func (r *Runtime) closeSockets() {
	r.socks.mu.Lock()
	defer r.socks.mu.Unlock()
	for key, f := range r.socks.open {
		r.closeSocketLocked(key, f)
	}
}

// listen binds and listens with the socket's own backlog, which net.Listen
// cannot set. The descriptor stays blocking: the programs accept on it.
func listen(s supervisor.SocketSpec) (*os.File, error) {
	var family int
	var sa unix.Sockaddr
	switch s.Network {
	case "tcp":
		addr, err := net.ResolveTCPAddr("tcp", s.Address)
		if err != nil {
			return nil, err
		}
		if ip4 := addr.IP.To4(); ip4 != nil {
			family = unix.AF_INET
			a := &unix.SockaddrInet4{Port: addr.Port}
			copy(a.Addr[:], ip4)
			sa = a
		} else {
			family = unix.AF_INET6
			a := &unix.SockaddrInet6{Port: addr.Port}
			copy(a.Addr[:], addr.IP.To16())
			if addr.Zone != "" {
				if ifi, err := net.InterfaceByName(addr.Zone); err == nil {
					a.ZoneId = uint32(ifi.Index)
				}
			}
			sa = a
		}
	case "unix":
		if err := removeStaleSocket(s.Address); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(s.Address), 0o755); err != nil {
			return nil, err
		}
		family, sa = unix.AF_UNIX, &unix.SockaddrUnix{Name: s.Address}
	default:
		return nil, fmt.Errorf("unknown network %q", s.Network)
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil && family == unix.AF_INET6 && wildcard(s.Address) {
		// No IPv6: the wildcard on IPv4 alone.
		family, sa = unix.AF_INET, &unix.SockaddrInet4{Port: sa.(*unix.SockaddrInet6).Port}
		fd, err = unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	}
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	if family == unix.AF_INET6 && wildcard(s.Address) {
		unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0) // both families, as Go's net.Listen does
	}
	fail := func(op string, err error) (*os.File, error) {
		unix.Close(fd)
		return nil, os.NewSyscallError(op, err)
	}
	if family != unix.AF_UNIX {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			return fail("setsockopt", err)
		}
		if s.ReusePort {
			if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
				return fail("setsockopt", err)
			}
		}
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fail("bind", err)
	}
	if s.Network == "unix" {
		if s.Mode != 0 {
			if err := os.Chmod(s.Address, os.FileMode(s.Mode)); err != nil {
				unix.Close(fd)
				return nil, err
			}
		}
		if s.Owner != "" {
			if err := chownSocket(s.Address, s.Owner); err != nil {
				unix.Close(fd)
				return nil, err
			}
		}
	}
	if err := unix.Listen(fd, max(s.Backlog, 1)); err != nil {
		return fail("listen", err)
	}
	return os.NewFile(uintptr(fd), s.Name), nil
}

// removeStaleSocket removes a socket file nobody answers on; anything
// else at the path is left, and binding fails.
func removeStaleSocket(path string) error {
	st, err := os.Lstat(path)
	if err != nil || st.Mode()&os.ModeSocket == 0 {
		return nil
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return fmt.Errorf("%s is in use by another process", path)
	}
	return os.Remove(path)
}

// chownSocket gives a unix socket to "user" or "user:group".
func chownSocket(path, owner string) error {
	user, group, _ := strings.Cut(owner, ":")
	cred, err := proc.LookupUser(user)
	if err != nil {
		return err
	}
	gid := int(cred.Gid)
	if group != "" {
		if gid, err = lookupGroup(group); err != nil {
			return err
		}
	}
	return os.Chown(path, int(cred.Uid), gid)
}

func lookupGroup(name string) (int, error) {
	if n, err := strconv.Atoi(name); err == nil {
		return n, nil
	}
	b, err := os.ReadFile("/etc/group")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) > 2 && f[0] == name {
			return strconv.Atoi(f[2])
		}
	}
	return 0, errors.New("no such group: " + name)
}

// wildcard reports an address with no host (":8000"): every interface.
func wildcard(addr string) bool {
	host, _, _ := net.SplitHostPort(addr)
	return host == ""
}
