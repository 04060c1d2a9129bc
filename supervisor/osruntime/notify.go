package osruntime

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

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
	once  sync.Once
	conn  *net.UnixConn
	addr  string
	err   error
	mu    sync.Mutex
	watch map[*osChild]bool
}

// address starts the socket on first use and returns its NOTIFY_SOCKET.
func (r *Runtime) notifyAddress() (string, error) {
	n := &r.notify
	n.once.Do(func() {
		path := filepath.Join(r.StateDir, "notify.sock")
		if len(path) >= 100 { // sun_path's limit: an abstract name instead
			sum := sha256.Sum256([]byte(path))
			path = "@ctlsup-notify-" + hex.EncodeToString(sum[:8])
		} else {
			os.Remove(path)
		}
		name := path
		if strings.HasPrefix(name, "@") {
			name = "\x00" + name[1:]
		}
		n.conn, n.err = net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
		if n.err != nil {
			return
		}
		if raw, err := n.conn.SyscallConn(); err == nil {
			raw.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1) })
		}
		n.addr, n.watch = path, map[*osChild]bool{}
		go r.receiveNotes()
	})
	return n.addr, n.err
}

// receiveNotes hands each datagram to the spawn its sender belongs to.
func (r *Runtime) receiveNotes() {
	n := &r.notify
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(unix.SizeofUcred))
	for {
		nb, noob, _, _, err := n.conn.ReadMsgUnix(buf, oob)
		if err != nil {
			return // closed
		}
		pid := senderPid(oob[:noob])
		if pid <= 0 {
			continue
		}
		note := parseNote(buf[:nb])
		n.mu.Lock()
		for c := range n.watch {
			if c.owns(pid) {
				c.note(note)
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
	r.notify.mu.Lock()
	r.notify.watch[c] = true
	r.notify.mu.Unlock()
}

func (r *Runtime) unwatchNotes(c *osChild) {
	r.notify.mu.Lock()
	delete(r.notify.watch, c)
	r.notify.mu.Unlock()
}

func (r *Runtime) closeNotify() {
	n := &r.notify
	n.once.Do(func() {}) // never started: stays so
	if n.conn != nil {
		n.conn.Close()
		if !strings.HasPrefix(n.addr, "@") {
			os.Remove(n.addr)
		}
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
	if c.leaf != nil {
		return c.leaf.Contains(pid)
	}
	st, err := proc.ReadStat(pid)
	return err == nil && st.Pgrp == c.p.Pid && proc.GroupOurs(c.p.Identity())
}

// note passes a readiness note to the engine without ever blocking the
// receiver: a STATUS= that finds the queue full is dropped, a READY=1 is
// kept.
func (c *osChild) note(n supervisor.Note) {
	select {
	case c.notes <- n:
	default:
		if n.Ready {
			go func() {
				select {
				case c.notes <- n:
				case <-c.p.Done():
				}
			}()
		}
	}
}

// Notes delivers the spawn's readiness notes.
func (c *osChild) Notes() <-chan supervisor.Note { return c.notes }
