package osruntime

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctlsup/ctlsup/supervisor"
	"github.com/ctlsup/ctlsup/supervisor/internal/proc"
)

// notifier is the runtime's sd_notify socket, as systemd's
// /run/systemd/notify: programs with ready = "notify" get its path in
// NOTIFY_SOCKET and send READY=1, STATUS=... datagrams. The kernel tells
// the sender's pid (SO_PASSCRED), and a datagram counts only for the
// spawn that pid belongs to (its leader, or a member of its cgroup or
// process group): one program cannot declare another ready. It costs one
// socket and a goroutine parked in the runtime's poller.
type notifier struct {
	mu      sync.Mutex
	conn    *net.UnixConn
	addr    string
	tmpDir  string // holds the socket when state_dir's path is too long
	watch   map[*osChild]bool
	unowned []pendingNote // notes no spawn claimed yet: one may be still forking
}

// pendingNote is a note kept a moment for a spawn that is still forking.
type pendingNote struct {
	pid  int
	note supervisor.Note
	at   time.Time
}

// notifyAddress starts the socket on first use (again after a failure)
// and returns its NOTIFY_SOCKET.
func (r *Runtime) notifyAddress() (string, error) {
	n := &r.notify
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.conn != nil {
		return n.addr, nil
	}
	path := filepath.Join(r.StateDir, "notify.sock")
	if len(path) >= 100 { // sun_path's limit: a short private directory instead
		dir, err := os.MkdirTemp("", "ctlsup-notify-")
		if err != nil {
			return "", err
		}
		os.Chmod(dir, 0o711) // reached by programs of other users, not listed
		n.tmpDir, path = dir, filepath.Join(dir, "notify.sock")
	}
	os.Remove(path)
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return "", err
	}
	// Programs running as other users must be able to send: the kernel's
	// credentials, not the file mode, say who sent what (as systemd's own
	// notify socket, 0777).
	os.Chmod(path, 0o666)
	if raw, err := conn.SyscallConn(); err == nil {
		raw.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1) })
	}
	n.conn, n.addr = conn, path
	if n.watch == nil {
		n.watch = map[*osChild]bool{}
	}
	go r.receiveNotes(conn)
	return n.addr, nil
}

// receiveNotes hands each datagram to the spawn its sender belongs to.
func (r *Runtime) receiveNotes(conn *net.UnixConn) {
	n := &r.notify
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(unix.SizeofUcred))
	for {
		nb, noob, _, _, err := conn.ReadMsgUnix(buf, oob)
		if err != nil {
			return // closed
		}
		pid := senderPid(oob[:noob])
		if pid <= 0 {
			continue
		}
		note := parseNote(buf[:nb])
		n.mu.Lock()
		claimed := false
		for c := range n.watch {
			if c.owns(pid) {
				c.note(note)
				claimed = true
			}
		}
		if !claimed {
			// Its spawn may not be watched yet (the fork has not
			// returned): kept two seconds for watchNotes.
			now := time.Now()
			n.unowned = slices.DeleteFunc(n.unowned, func(p pendingNote) bool { return now.Sub(p.at) > 2*time.Second })
			if len(n.unowned) < 256 {
				n.unowned = append(n.unowned, pendingNote{pid, note, now})
			}
		}
		n.mu.Unlock()
	}
}

func senderPid(oob []byte) int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0
	}
	for _, m := range msgs {
		if cred, err := unix.ParseUnixCredentials(&m); err == nil {
			return int(cred.Pid)
		}
	}
	return 0
}

// parseNote reads the KEY=VALUE lines systemd's protocol has.
func parseNote(b []byte) supervisor.Note {
	var note supervisor.Note
	for _, line := range bytes.Split(b, []byte("\n")) {
		k, v, _ := strings.Cut(string(line), "=")
		switch k {
		case "READY":
			note.Ready = v == "1"
		case "STATUS":
			note.Status = v
		}
	}
	return note
}

func (r *Runtime) watchNotes(c *osChild) {
	n := &r.notify
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.watch == nil {
		n.watch = map[*osChild]bool{}
	}
	n.watch[c] = true
	n.unowned = slices.DeleteFunc(n.unowned, func(p pendingNote) bool {
		if c.owns(p.pid) {
			c.note(p.note)
			return true
		}
		return false
	})
}

func (r *Runtime) unwatchNotes(c *osChild) {
	r.notify.mu.Lock()
	delete(r.notify.watch, c)
	r.notify.mu.Unlock()
}

func (r *Runtime) closeNotify() {
	n := &r.notify
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.conn != nil {
		n.conn.Close()
		os.Remove(n.addr)
		if n.tmpDir != "" {
			os.Remove(n.tmpDir)
		}
		n.conn = nil
	}
}

// owns reports whether pid is the spawn's leader or one of its processes.
func (c *osChild) owns(pid int) bool {
	if c.p == nil {
		return false
	}
	if pid == c.p.Pid {
		return true
	}
	// Without a cgroup only the leader counts: any process of the
	// daemon's session could join another's process group.
	return c.leaf != nil && c.leaf.Contains(pid)
}

// note passes a readiness note to the engine; it never blocks.
func (c *osChild) note(n supervisor.Note) { c.Note(n) }

// reachable tells why a program running as cred could not send to the
// notify socket at path: a directory on the way it may not search (a
// state_dir under a private directory). Its READY=1 would be refused
// (EACCES), and it would sit in STARTING until startsecs had it killed,
// with nothing in status to say why.
func reachable(path string, cred *proc.Credential) error {
	if cred == nil || cred.Uid == 0 {
		return nil // the daemon's own user, or root: it made the path
	}
	for dir := filepath.Dir(path); ; dir = filepath.Dir(dir) {
		var st unix.Stat_t
		if err := unix.Stat(dir, &st); err != nil {
			return fmt.Errorf("ready = \"notify\": cannot tell whether user %s can reach the notify socket %s: %w", cred.Name, path, err)
		}
		bit := uint32(0o001)
		switch {
		case st.Uid == cred.Uid:
			bit = 0o100
		case st.Gid == cred.Gid || slices.Contains(cred.Groups, st.Gid):
			bit = 0o010
		}
		if st.Mode&bit == 0 {
			return fmt.Errorf("ready = \"notify\": user %s cannot reach the notify socket %s: it may not search %s (mode %04o): let it (chmod o+x, or state_dir elsewhere)",
				cred.Name, path, dir, st.Mode&0o7777)
		}
		if dir == "/" || dir == "." {
			return nil
		}
	}
}
