package proc

import (
	"errors"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// The spawner runs before main in any binary that links this package. Its
// socket is fd 3; it exits when the daemon's end closes.
func init() {
	if len(os.Args) < 1 || len(os.Args) > 2 || os.Args[0] != spawnerArg0 {
		return
	}
	// The descriptor limit the daemon's children get: the helper's
	// children, however forked, get it too.
	if len(os.Args) == 2 {
		if v, ok := strings.CutPrefix(os.Args[1], "nofile="); ok {
			n, _ := strconv.ParseUint(v, 10, 64)
			setNofile(n)
		}
	}
	// Whatever the daemon had open without close-on-exec when it started
	// the helper (its socket at 3 included) must not reach the children.
	// Marked, not closed: the Go runtime may own some of them by now.
	closeInheritedOnExec()
	serveSpawner(3)
	os.Exit(0)
}

// serveSpawner answers spawn requests on fd.
func serveSpawner(fd int) {
	// Caught, not ignored: an ignored signal would stay ignored in every
	// child, while a caught one is reset by the exec. The helper lives in
	// a session of its own and ends with its socket.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGPIPE)
	buf := make([]byte, maxSpawnRequest)
	oob := make([]byte, unix.CmsgSpace(4*maxSpawnFiles))
	var reply []byte
	for {
		n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || n == 0 {
			return
		}
		fds := receivedFDs(oob[:oobn])
		rep := spawnOne(buf[:n], fds)
		for _, f := range fds {
			unix.Close(f)
		}
		reply = rep.encode(reply[:0])
		if sendRetry(fd, reply, nil) != nil {
			return
		}
	}
}

func receivedFDs(oob []byte) []int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var fds []int
	for _, m := range msgs {
		if got, err := unix.ParseUnixRights(&m); err == nil {
			fds = append(fds, got...)
		}
	}
	return fds
}

// spawnOne forks and execs one request's child as a sibling of the helper.
func spawnOne(b []byte, fds []int) spawnReply {
	var req spawnRequest
	if err := req.decode(b); err != nil {
		return spawnReply{Err: "bad spawn request: " + err.Error()}
	}
	if req.Cgroup {
		if len(fds) < 2 {
			return spawnReply{Err: "bad spawn request: no cgroup descriptor"}
		}
		if !rawForkUsable() {
			return spawnReply{NoCgroup: true}
		}
		return rawCgroupSpawn(&req, fds[:len(fds)-1], fds[len(fds)-1])
	}
	files := make([]uintptr, len(fds))
	for i, f := range fds {
		files[i] = uintptr(f)
	}
	sys := &syscall.SysProcAttr{Setpgid: req.Setpgid, Setsid: req.Setsid, Credential: req.Cred, Cloneflags: syscall.CLONE_PARENT}
	pid, err := syscall.ForkExec(req.Path, req.Argv, &syscall.ProcAttr{Dir: req.Dir, Env: req.Env, Files: files, Sys: sys})
	if err != nil {
		// The child may have failed after its fork: it exits with 253.
		// EAGAIN is the fork's own failure (a tasks limit): no child.
		var errno syscall.Errno
		if errors.As(err, &errno) {
			return spawnReply{Errno: int(errno), Forked: errno != syscall.EAGAIN}
		}
		return spawnReply{Err: err.Error(), Forked: true}
	}
	return spawnReply{Pid: pid}
}
