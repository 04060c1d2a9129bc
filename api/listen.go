package api

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ListenUnix creates the control socket at path with mode and, if set,
// owner ("user" or "user:group"), before it accepts anything: the socket is
// made in a private directory, given its mode and owner, then moved into
// place. An existing socket is replaced only if nothing answers on it; any
// other file at path is an error.
func ListenUnix(path string, mode os.FileMode, owner string) (*net.UnixListener, error) {
	if len(path) > maxSocketPath {
		return nil, fmt.Errorf("%s: a unix socket's path may have at most %d bytes (its clients connect by it)", path, maxSocketPath)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	if st, err := os.Lstat(path); err == nil {
		if st.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("%s is in use by a running server", path)
		}
		os.Remove(path)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(path), ".ctlsup-sock-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	tmpPath := filepath.Join(tmp, "s")
	l, err := bindIn(tmp, tmpPath)
	if err != nil {
		return nil, err
	}
	l.SetUnlinkOnClose(false)
	fail := func(err error) (*net.UnixListener, error) { l.Close(); return nil, err }
	if err := os.Chmod(tmpPath, mode); err != nil {
		return fail(err)
	}
	if owner != "" {
		uid, gid, err := lookupOwner(owner)
		if err != nil {
			return fail(err)
		}
		if err := os.Chown(tmpPath, uid, gid); err != nil {
			return fail(err)
		}
	}
	if err := os.Rename(tmpPath, path); err != nil {
		return fail(err)
	}
	return l, nil
}

// maxSocketPath is the longest path a unix socket is bound or connected
// by: sockaddr_un's 108 bytes, less the terminating NUL.
const maxSocketPath = 107

// bindIn binds a socket at tmpPath, in the directory dir, by a path that
// names dir through its descriptor when tmpPath itself is too long: the
// temporary directory must not make a socket path that fits fail.
func bindIn(dir, tmpPath string) (*net.UnixListener, error) {
	if len(tmpPath) <= maxSocketPath {
		return net.ListenUnix("unix", &net.UnixAddr{Name: tmpPath, Net: "unix"})
	}
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	short := fmt.Sprintf("/proc/self/fd/%d/%s", d.Fd(), filepath.Base(tmpPath))
	return net.ListenUnix("unix", &net.UnixAddr{Name: short, Net: "unix"})
}

func lookupOwner(owner string) (uid, gid int, err error) {
	name, group, _ := strings.Cut(owner, ":")
	u, err := user.Lookup(name)
	if err != nil {
		return 0, 0, fmt.Errorf("socket_owner: unknown user %q", name)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	if group != "" {
		g, err := user.LookupGroup(group)
		if err != nil {
			return 0, 0, fmt.Errorf("socket_owner: unknown group %q", group)
		}
		gid, _ = strconv.Atoi(g.Gid)
	}
	return uid, gid, nil
}

// ErrInsecure refuses a TCP control listener reachable from other hosts
// without credentials.
var ErrInsecure = errors.New("http_listen off loopback needs username and password")

// CheckTCP refuses a non-loopback TCP listener without credentials.
func CheckTCP(addr, username, password string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); (ip == nil || !ip.IsLoopback()) && host != "localhost" && (username == "" || password == "") {
		return ErrInsecure
	}
	return nil
}
