package proc

import (
	"encoding/json"
	"errors"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// The spawner runs before main in any binary that links this package. Its
// socket is fd 3; it exits when the daemon's end closes.
func init() {
	if len(os.Args) != 1 || os.Args[0] != spawnerArg0 {
		return
	}
	// Inherited without close-on-exec: no child may inherit them.
	unix.CloseOnExec(3)
	home := -1
	if _, err := unix.FcntlInt(4, unix.F_GETFD, 0); err == nil {
		unix.CloseOnExec(4)
		home = 4
	}
	serveSpawner(3, home)
	os.Exit(0)
}

// serveSpawner answers spawn requests on fd. home is the helper's own
// cgroup directory, or -1 where children get none.
func serveSpawner(fd, home int) {
	// Caught, not ignored: an ignored signal would stay ignored in every
	// child, while a caught one is reset by the exec. The helper lives in
	// a session of its own and ends with its socket.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGPIPE)
	buf := make([]byte, maxSpawnRequest)
	oob := make([]byte, unix.CmsgSpace(4*maxSpawnFiles))
	for {
		n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || n == 0 {
			return
		}
		fds := receivedFDs(oob[:oobn])
		rep, stranded := spawnOne(buf[:n], fds, home)
		for _, f := range fds {
			unix.Close(f)
		}
		b, _ := json.Marshal(rep)
		if sendRetry(fd, b, nil) != nil || stranded {
			// A helper that could not move back home would count in,
			// and die with, a program's cgroup: the daemon starts
			// another.
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
// stranded reports a helper that could not leave the child's cgroup.
func spawnOne(b []byte, fds []int, home int) (rep spawnReply, stranded bool) {
	var req spawnRequest
	if err := json.Unmarshal(b, &req); err != nil {
		return spawnReply{Err: "bad spawn request: " + err.Error()}, false
	}
	sys := &syscall.SysProcAttr{Setpgid: req.Setpgid, Setsid: req.Setsid, Credential: req.Cred, Cloneflags: syscall.CLONE_PARENT}
	if req.Cgroup {
		if len(fds) == 0 || home < 0 {
			return spawnReply{Err: "bad spawn request: no cgroup descriptor"}, false
		}
		if err := joinCgroup(fds[len(fds)-1]); err != nil {
			return replyError(err, false), false
		}
		defer func() {
			if err := joinCgroup(home); err != nil {
				stranded = true
			}
		}()
		fds = fds[:len(fds)-1]
	}
	files := make([]uintptr, len(fds))
	for i, f := range fds {
		files[i] = uintptr(f)
	}
	pid, err := syscall.ForkExec(req.Path, req.Argv, &syscall.ProcAttr{Dir: req.Dir, Env: req.Env, Files: files, Sys: sys})
	if err != nil {
		return replyError(err, true), false
	}
	return spawnReply{Pid: pid}, false
}

func replyError(err error, forked bool) spawnReply {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return spawnReply{Errno: int(errno), Forked: forked}
	}
	return spawnReply{Err: err.Error(), Forked: forked}
}

// joinCgroup moves the helper into the cgroup whose directory is dir.
func joinCgroup(dir int) error {
	fd, err := unix.Openat(dir, "cgroup.procs", unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	_, err = unix.Write(fd, []byte("0"))
	return err
}
