package osruntime

import (
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctlsup/ctlsup/supervisor"
	"github.com/ctlsup/ctlsup/supervisor/internal/cgroup"
	"github.com/ctlsup/ctlsup/supervisor/internal/logcap"
	"github.com/ctlsup/ctlsup/supervisor/internal/proc"
)

// heldPipe is a read end a previous daemon left with the holder.
type heldPipe struct {
	id     string
	fd     int
	ino    uint64
	stream string
}

// takeHeldPipes takes back the read ends the holder kept, by process name.
func (r *Runtime) takeHeldPipes() {
	r.heldPipes, r.heldStdin, r.heldPidfds = map[string][]heldPipe{}, map[uint64]int{}, map[uint64]int{}
	if r.holder == nil {
		return
	}
	fds, err := r.holder.Take()
	if err != nil {
		r.Logger.Warn("cannot take pipes back from the fd holder", "err", err)
	}
	for id, fd := range fds {
		if ino, ok := strings.CutPrefix(id, stdinIDPrefix); ok {
			if n, err := strconv.ParseUint(ino, 10, 64); err == nil {
				r.heldStdin[n] = fd
				continue
			}
		}
		if r.heldPidfd(id, fd) {
			continue
		}
		if key, ok := strings.CutPrefix(id, socketIDPrefix); ok {
			if r.socks.held == nil {
				r.socks.held = map[string]int{}
			}
			r.socks.held[key] = fd
			continue
		}
		ino, stream, name, ok := logcap.ParsePipeID(id)
		if !ok {
			syscall.Close(fd)
			r.holder.Drop(id)
			continue
		}
		r.heldPipes[name] = append(r.heldPipes[name], heldPipe{id: id, fd: fd, ino: ino, stream: stream})
	}
}

// resolve proves a journal entry's process is still the one recorded (or
// finds the child of a spawn whose pid was not recorded yet) and keeps it
// for Adopt. An entry whose process is gone stays, so the engine learns
// that it ended while no daemon ran; if two entries name one process, one
// survives (survivorOf) and the other is stopped.
func (r *Runtime) resolve(e *journalEntry) {
	if e.Pid == 0 && e.Ended {
		// Reaped before its pid was recorded: a process found by its
		// pipes or cgroup now is something it left, not it. Its cgroup,
		// claimed by nothing, is swept at the adoption's end.
		r.state.gone(e.ID)
		return
	}
	if e.Pid == 0 {
		pid, start, ok, ended := r.findByKeptPidfd(e)
		if ended {
			// Its leader ended before its pid was recorded, as above:
			// whatever holds its pipes or cgroup now is something it
			// left (the pidfd, not a search, says which process it was).
			r.state.gone(e.ID)
			return
		}
		if !ok {
			pid, start, ok = findByPipes(e.Pipes)
		}
		if !ok {
			pid, start, ok = r.findInLeaf(e)
		}
		if !ok {
			r.state.gone(e.ID) // the fork never happened, or its child is gone
			return
		}
		e.Pid, e.StartTime = pid, start
		if e.SpawnedAt == 0 {
			e.SpawnedAt = time.Now().UnixMilli()
		}
		// Journaled, so that a successor of this daemon need not search.
		r.state.started(e.ID, e.Pid, e.StartTime, time.UnixMilli(e.SpawnedAt))
	}
	if prev := r.survivors[e.Name]; prev != nil {
		keep, other := survivorOf(prev, e)
		r.stopLeftover(other)
		e = keep
	}
	r.survivors[e.Name] = e
}

// survivorOf decides between two entries of one process, a replacement
// started before its predecessor's stop (start_before_stop) and that
// predecessor: the one whose leader still runs; else the predecessor,
// unless its stop had begun: until the replacement was ready the
// predecessor served, and the replacement, cut short, may never be.
func survivorOf(a, b *journalEntry) (keep, other *journalEntry) {
	older, newer := a, b
	if a.ID > b.ID {
		older, newer = b, a
	}
	if keepNewer(liveness(older), liveness(newer), older.Stopping) {
		return newer, older
	}
	return older, newer
}

// keepNewer is survivorOf's choice, by the two processes' liveness.
func keepNewer(older, newer int, olderStopping bool) bool {
	return newer > older || // the predecessor ended (reaped, or unseen)
		newer == older && olderStopping
}

// Liveness of a journal entry's process, in order: provably ended, cannot
// tell (out of descriptors), provably running. One that cannot be told
// is neither kept over a running one nor given up for an ended one.
const (
	liveEnded = iota
	liveUnknown
	liveRunning
)

func liveness(e *journalEntry) int {
	if e.Ended {
		return liveEnded
	}
	switch alive, known := (proc.Identity{Pid: e.Pid, StartTime: e.StartTime}).Check(); {
	case !known:
		return liveUnknown
	case alive:
		return liveRunning
	}
	return liveEnded
}

// findByKeptPidfd asks the pidfd the holder kept since a spawn whose pid
// was not recorded which process its leader is, or whether it ended: a
// search by pipes or cgroup could find a descendant that took them over.
// ok and ended are both false where the pidfd cannot tell (there is
// none, or the kernel is older than 6.13).
func (r *Runtime) findByKeptPidfd(e *journalEntry) (pid int, start uint64, ok, ended bool) {
	fd, kept := r.heldPidfds[e.ID]
	if !kept {
		return 0, 0, false, false
	}
	id, ended, known := proc.KeptPidfdLeader(fd)
	return id.Pid, id.StartTime, known && !ended, ended
}

// findByPipes finds the leader of a process group holding one of the pipes
// as its stdout or stderr: a child forked just before the daemon died,
// before its pid was recorded.
func findByPipes(inodes []uint64) (pid int, start uint64, ok bool) {
	want := map[string]bool{}
	for _, ino := range inodes {
		if ino != 0 {
			want["pipe:["+strconv.FormatUint(ino, 10)+"]"] = true
		}
	}
	if len(want) == 0 {
		return 0, 0, false
	}
	pids, _ := proc.Pids()
	for _, p := range pids {
		for _, fd := range []int{1, 2} {
			if link, _ := os.Readlink(proc.FDPath(p, fd)); want[link] {
				if st, err := proc.ReadStat(p); err == nil && st.Pgrp == p && st.Running() {
					return p, st.StartTime, true
				}
			}
		}
	}
	return 0, 0, false
}

// takeStdin takes back the write end of an adopted process's stdin: the
// one the holder kept, or else a new one opened through /proc (a pipe's
// /proc/PID/fd entry opens as the pipe itself).
func (r *Runtime) takeStdin(e *journalEntry) *stdinPipe {
	id := stdinID(e.Stdin)
	if fd, ok := r.heldStdin[e.Stdin]; ok {
		delete(r.heldStdin, e.Stdin)
		r.holder.Store(id, fd) // Take handed it over: stored again for the next holder
		return r.adoptStdin(fd, id)
	}
	var st unix.Stat_t
	link := proc.FDPath(e.Pid, 0)
	if unix.Stat(link, &st) != nil || st.Ino != e.Stdin {
		return nil
	}
	fd, err := unix.Open(link, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	if r.holder != nil {
		r.holder.Store(id, fd)
	}
	return r.adoptStdin(fd, id)
}

// findInLeaf finds the leader of a spawn whose pid was not recorded in
// the cgroup the journal names: a child that closed its output pipes is
// still there.
func (r *Runtime) findInLeaf(e *journalEntry) (pid int, start uint64, ok bool) {
	leaf := r.leafOf(e)
	if leaf == nil {
		return 0, 0, false
	}
	for _, p := range leaf.Procs() {
		if st, err := proc.ReadStat(p); err == nil && st.Pgrp == p && st.Running() {
			return p, st.StartTime, true
		}
	}
	return 0, 0, false
}

// stopLeftover stops, in the background, a process of a previous daemon
// that nothing adopts, with the stop settings it was started with.
func (r *Runtime) stopLeftover(e *journalEntry) {
	id := proc.Identity{Pid: e.Pid, StartTime: e.StartTime}
	leaf := r.leafOf(e)
	l := proc.Leftover{Pid: e.Pid, StartTime: e.StartTime,
		StopSignal: syscall.Signal(e.StopSignal), StopWait: time.Duration(e.StopWaitMs) * time.Millisecond,
		StopAsGroup: e.StopAsGroup, KillAsGroup: e.KillAsGroup}
	if e.Stopping {
		l.StopBegan = time.Now() // an older ctlsupd's record: its stop's start unknown
		if e.StopAt != 0 {
			l.StopBegan = time.UnixMilli(e.StopAt)
		}
	}
	if leaf != nil {
		l.Container = leaf
		r.claimed[leaf.Path] = true
	}
	members, known := proc.OursGroupMembers(id)
	if id.Gone() && known && len(members) == 0 && (leaf == nil || !leaf.Populated()) {
		if leaf != nil {
			leaf.Remove()
		} else if others, ok := proc.GroupMembers(id.Pid); ok && len(others) > 0 {
			// Its leader is gone, and what is in a group of its id went
			// to init: a stranger's, or its own, nothing tells which.
			r.Logger.Warn("leaving the processes of a process group a previous daemon's program led: its leader is gone, and they cannot be told from a stranger's",
				"process", e.Name, "pgid", id.Pid, "pids", others)
		}
		r.state.gone(e.ID)
		return
	}
	r.Logger.Warn("stopping leftover of a previous daemon", "process", e.Name, "pid", e.Pid)
	// Its output pipes are read on while it stops: closed, its next
	// write would end it (SIGPIPE) before its stop did.
	stopDraining := r.drainLeftover(e)
	// Close waits for it, as it waits for its own programs' stops (with
	// their stopwaitsecs): a leftover that ignores its stop signal must
	// not outlive the daemon's shutdown.
	r.leftoverStops.Add(1)
	go func() {
		defer r.leftoverStops.Done()
		defer stopDraining()
		for warned := false; !proc.StopLeftover(&l); {
			// Out of descriptors, or a member that outlives SIGKILL:
			// its journal entry stays until it is provably gone.
			if !warned {
				r.Logger.Warn("cannot prove a leftover of a previous daemon stopped: trying again", "process", e.Name, "pid", e.Pid)
				warned = true
			}
			select {
			case <-time.After(time.Second):
			case <-r.leftoverCut:
				return // the daemon is closing: the journal keeps it for the next daemon
			}
		}
		if leaf != nil {
			leaf.Remove()
		}
		r.state.gone(e.ID)
	}()
}

// drainLeftover reads, and drops, what a leftover of a previous daemon
// (its program gone from the configuration, so its log with it) writes
// into the pipes the holder kept, until the returned func is called,
// which then closes them and has the holder drop them.
func (r *Runtime) drainLeftover(e *journalEntry) (stop func()) {
	var mine, others []heldPipe
	for _, hp := range r.heldPipes[e.Name] {
		if slices.Contains(e.Pipes, hp.ino) {
			mine = append(mine, hp)
		} else {
			others = append(others, hp)
		}
	}
	if len(mine) > 0 {
		r.heldPipes[e.Name] = others
	}
	var files []*os.File
	var wg sync.WaitGroup
	for _, hp := range mine {
		unix.SetNonblock(hp.fd, true) // so that Close ends a read under way
		f := os.NewFile(uintptr(hp.fd), "leftover's "+hp.stream)
		files = append(files, f)
		wg.Go(func() { io.Copy(io.Discard, f) })
	}
	return func() {
		for _, f := range files {
			f.Close() // ends its copy
		}
		wg.Wait()
		for _, hp := range mine {
			r.holder.Drop(hp.id)
		}
	}
}

// leafOf is the cgroup a journal entry names, if it is one of ours.
func (r *Runtime) leafOf(e *journalEntry) *cgroup.Leaf {
	if r.cgroups == nil {
		return nil
	}
	leaf, ok := r.cgroups.Open(e.Cgroup)
	if !ok {
		return nil
	}
	return leaf
}

// sweepLeaves kills and removes the cgroups under the base that no
// adopted or leftover process claims: spawns whose leader is gone, or
// whose journal entry is, and what they left running. Everything in them
// is ours: nothing else is ever put there.
func (r *Runtime) sweepLeaves() {
	var left []*cgroup.Leaf
	for _, leaf := range r.leftLeaves { // listed before anything spawned
		if r.claimed[leaf.Path] {
			continue
		}
		if leaf.Populated() {
			r.Logger.Warn("killing what a previous daemon's spawn left running", "cgroup", leaf.Path, "pids", leaf.Procs())
			leaf.Kill()
		}
		left = append(left, leaf)
	}
	deadline := time.Now().Add(5 * time.Second) // one for all of them
	for _, leaf := range left {
		leaf.KillAndWait(deadline)
		if err := leaf.Remove(); err != nil {
			r.Logger.Warn("cannot remove a leftover cgroup", "cgroup", leaf.Path, "err", err)
		}
	}
	r.leftLeaves = nil
}

// Adopt takes over the process a previous daemon left running for spec,
// with its pid, and the read ends of its pipes: those the holder kept, or
// else the pipes reopened through /proc/PID/fd. Pipes of earlier spawns of
// spec still holding output are drained into its logs too.
func (r *Runtime) Adopt(spec *supervisor.ProcessSpec, out supervisor.Output) supervisor.Adoption {
	name := spec.FullName()
	h, held := r.held[name]
	if held && h.State == supervisor.Exited && h.fp != "" && !sameConfig(h.fp, spec) {
		// An exit for good under a configuration changed while no daemon
		// ran: as a reload applies a change (keepIntent), autostart
		// decides again; an operator's stop holds whatever changed.
		r.Logger.Info("configuration changed while no daemon ran: its exit no longer holds it down", "process", name)
		r.state.hold(name, nil, "")
		held = false
	}
	a := supervisor.Adoption{Stopped: held, Down: h.Down}
	delete(r.held, name) // asked for: what remains is of programs gone
	capture, _ := out.(*output)
	taken := map[uint64]bool{}
	for _, hp := range r.heldPipes[name] {
		taken[hp.ino] = true
		if capture == nil {
			syscall.Close(hp.fd)
			r.holder.Drop(hp.id)
		} else if err := capture.Adopt(hp.fd, hp.stream); err != nil {
			r.Logger.Warn("cannot take over a log pipe", "process", name, "err", err)
		}
	}
	delete(r.heldPipes, name)
	e := r.survivors[name]
	// An exit the previous engine had not decided is decided here, unless
	// a hold, a live process or a changed configuration decides instead.
	if id, x, ok := r.takePendingExit(name); ok {
		if !held && (e == nil || e.Ended) && (x.Fingerprint == "" || sameConfig(x.Fingerprint, spec)) {
			r.decideExit(&a, id, x)
		} else {
			r.state.decided(id)
		}
	}
	if e == nil {
		return a
	}
	delete(r.survivors, name)
	c := &osChild{name: name, state: r.state, id: e.ID, acct: &r.acct,
		memoryMax: spec.Limits.MemoryMax}
	attr := proc.Attr{GroupGrace: spec.StopWait, LeftoverSignal: spec.StopSignal, OnExit: c.exited, OnGone: c.gone}
	if c.leaf = r.leafOf(e); c.leaf != nil {
		attr.Container = c.leaf
		r.claimed[c.leaf.Path] = true
	}
	c.usage = r.acct.begin(name, c.leaf)
	if attr.Pidfd = r.takePidfd(e.ID); attr.Pidfd != nil && proc.PidfdNamesAnother(attr.Pidfd, e.Pid) {
		// Not this process's: the holder drops its copy, and is given
		// this process's instead, below.
		attr.Pidfd.Close()
		attr.Pidfd = nil
		r.holder.Drop(pidfdID(e.ID))
	}
	if attr.Pidfd != nil {
		c.pidfdKept.Store(pidfdHanded) // the holder keeps its own until c is gone
	} else {
		// Watched through /proc for want of a descriptor, it gets one
		// once a pidfd can be had.
		attr.OnPidfd = func(p *proc.Process) {
			if c.pidfdKept.Load() == 0 {
				r.keepPidfd(c, p)
			}
		}
	}
	if e.Ended {
		// Reaped by the previous daemon, whose engine had its exit and
		// recorded what followed (else decideExit gave the engine the
		// exit): the process is not the engine's child. What it left in
		// its cgroup (or process group) is taken over as the previous
		// daemon held it, killed after stopwaitsecs, or at once by a
		// singleton's next spawn.
		attr.OnExit = nil // told already
		if attr.Pidfd != nil {
			attr.Pidfd.Close() // the previous daemon journaled the exit
		}
		c.journalOrder.Store(exitRecorded) // by the previous daemon
		c.rt = r                           // before the sweep can end: its gone needs it
		r.acct.forked(c.usage, proc.Identity{Pid: e.Pid, StartTime: e.StartTime})
		var err error
		if c.p, err = proc.AdoptEnded(proc.Identity{Pid: e.Pid, StartTime: e.StartTime}, attr); err != nil {
			r.Logger.Error("cannot take over leftovers", "process", name, "pid", e.Pid, "err", err)
			r.dropPidfd(c)
			r.stopLeftover(e)
		}
		return a
	}
	c.rt = r // before an exit Adopt reports at once can end c: its gone needs it
	p, err := proc.Adopt(proc.Identity{Pid: e.Pid, StartTime: e.StartTime}, attr)
	if err != nil {
		r.Logger.Error("cannot adopt", "process", name, "pid", e.Pid, "err", err)
		r.dropPidfd(c)
		r.stopLeftover(e)
		return a
	}
	c.p = p
	r.acct.forked(c.usage, p.Identity())
	r.fenceLive(c)
	if attr.Pidfd == nil {
		r.keepPidfd(c, p) // the holder had none: it was started again since
	}
	if e.Stdin != 0 {
		c.stdin = r.takeStdin(e)
	}
	lost := false
	var later []pendingPipe
	for i, ino := range e.Pipes {
		if ino == 0 || taken[ino] {
			continue
		}
		stream := logcap.StreamStdout
		if i == 1 {
			stream = logcap.StreamStderr
		}
		fd, ok, writing, noRoom := reopenPipe(e.Pid, i+1, ino)
		if noRoom {
			// Not lost for want of a descriptor: restarted, a program
			// that runs would find none for its new pipes either.
			later = append(later, pendingPipe{fd: i + 1, ino: ino, stream: stream})
			continue
		}
		if ok && capture != nil {
			ok = capture.Adopt(fd, stream) == nil
		}
		// Lost only if the program still writes into that pipe: one that
		// closed or redirected its stdout needs no reader.
		lost = lost || (!ok && writing)
	}
	if len(later) > 0 && !lost {
		r.Logger.Warn("out of file descriptors: an adopted process's output is read once one is free", "process", name, "pid", e.Pid)
		go retakePipes(c.p, later, capture, r.Logger)
	}
	// A process that has ended is left to its restart policy, which
	// starts it with the current configuration anyway. Adopt knows: a
	// process it could not look up (out of descriptors) is not ended.
	alive := !p.Ended()
	changed := !sameConfig(e.Fingerprint, spec)
	switch {
	case !alive:
	case lost:
		r.Logger.Warn("the output pipes of an adopted process are gone: restarting it", "process", name, "pid", e.Pid)
	case changed:
		r.Logger.Info("configuration changed since it started (read anew by this daemon): restarting", "process", name, "pid", e.Pid)
	}
	a.Child = c
	a.Started = time.UnixMilli(e.SpawnedAt)
	if e.Stopping {
		a.Stopping = time.Now() // an older ctlsupd's record: its stop's start unknown
		if e.StopAt != 0 {
			a.Stopping = time.UnixMilli(e.StopAt)
		}
		// On the monotonic clock, as the engine goes on with the stop:
		// what is left of stopwaitsecs.
		c.stopAt = time.Now().Add(-min(max(time.Since(a.Stopping), 0), spec.StopWait))
		c.p.Stopping(c.stopAt)
		if spec.StopAsGroup {
			c.p.StopReachedGroup()
		}
	}
	// A stop under way had not ended (an operator's that had would be
	// held): it may have been a restart's, so it ends in a start, whether
	// the process ended meanwhile or not.
	a.Restart = e.Stopping || changed || alive && lost
	a.Fresh = changed || e.Shutdown
	if alive {
		r.Logger.Info("adopted", "pid", e.Pid, "process", name)
	} else {
		// Its pid may be another process's by now: not "adopted".
		r.Logger.Info("ended while no daemon ran", "pid", e.Pid, "process", name)
	}
	return a
}

// takePendingExit takes the latest exit the previous engine had not
// decided of the process named; older ones are settled.
func (r *Runtime) takePendingExit(name string) (uint64, pendingExit, bool) {
	var latest uint64
	for id, x := range r.exits {
		if x.Name != name {
			continue
		}
		if latest != 0 {
			r.state.decided(min(id, latest))
		}
		latest = max(id, latest)
	}
	x, ok := r.exits[latest]
	ok = ok && latest != 0
	for id, x := range r.exits {
		if x.Name == name {
			delete(r.exits, id)
		}
	}
	return latest, x, ok
}

// decideExit hands the engine an exit the previous daemon reaped but died
// before its engine had decided what follows, so that this engine decides
// it as that one would have: a one-shot job that exited stays EXITED
// instead of running again. A stop under way when it ended is finished,
// and the program started again, as any stop under way is (see
// Adoption.Restart).
func (r *Runtime) decideExit(a *supervisor.Adoption, id uint64, x pendingExit) {
	c := &exitedChild{pid: x.Pid, state: r.state, id: id}
	c.Exited(x.Status)
	a.Child = c
	a.Started, a.Ended = x.Started, x.At
	if a.Ended.IsZero() {
		a.Ended = time.Now()
	}
	a.Restart, a.Fresh = x.Stopping, x.Shutdown
	if x.Stopping {
		a.Stopping = a.Ended // the exit ended the stop
	}
	r.Logger.Info("exited before the previous daemon acted on it", "pid", x.Pid, "process", x.Name, "status", x.Status.Text)
}

// exitedChild is a process that had ended, and been reaped, before this
// daemon started; its exit is pending in the journal until decided.
type exitedChild struct {
	pid   int
	state *stateFile
	id    uint64
	supervisor.Exit
}

func (c *exitedChild) Pid() int                          { return c.pid }
func (c *exitedChild) Signal(syscall.Signal, bool) error { return nil }
func (c *exitedChild) Stopping(bool)                     {}
func (c *exitedChild) Ended() bool                       { return true }
func (c *exitedChild) ExitDecided()                      { c.state.decided(c.id) }

// reopenPipe opens a new read end on the pipe a process holds as fd n, if
// it still is the recorded pipe; writing says whether it is, noRoom that
// it could not be opened for want of a descriptor.
func reopenPipe(pid, n int, ino uint64) (fd int, ok, writing, noRoom bool) {
	path := proc.FDPath(pid, n)
	if link, err := os.Readlink(path); err != nil || link != "pipe:["+strconv.FormatUint(ino, 10)+"]" {
		return -1, false, false, false
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, false, true, proc.OutOfResources(err)
	}
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Ino != ino || st.Mode&unix.S_IFMT != unix.S_IFIFO {
		unix.Close(fd)
		return -1, false, true, false
	}
	return fd, true, true, false
}

// pendingPipe is an output pipe of an adopted process not read yet.
type pendingPipe struct {
	fd     int // the process's
	ino    uint64
	stream string
}

// retakePipes reads an adopted process's output pipes that no descriptor
// was left for at its adoption, once one is: meanwhile the holder keeps
// the pipes' read ends, so the program's writes do not fail (they wait
// once a pipe is full). It ends with the process.
func retakePipes(p *proc.Process, pipes []pendingPipe, capture *output, log *slog.Logger) {
	for len(pipes) > 0 {
		select {
		case <-p.Done():
			return
		case <-time.After(pipeRetry):
		}
		pipes = slices.DeleteFunc(pipes, func(pp pendingPipe) bool {
			fd, ok, _, noRoom := reopenPipe(p.Pid, pp.fd, pp.ino)
			if ok && fd >= proc.LastFreeFD() {
				// Kept for good, it would take one of the last
				// descriptors, which short-lived uses need.
				unix.Close(fd)
				noRoom = true
			}
			switch {
			case noRoom:
				return false
			case ok && capture != nil:
				if err := capture.Adopt(fd, pp.stream); err != nil {
					log.Warn("cannot take over a log pipe", "pid", p.Pid, "err", err)
				}
			case ok:
				unix.Close(fd)
			}
			return true
		})
	}
}

// pipeRetry is how often retakePipes tries.
const pipeRetry = time.Second

// EndAdoption stops what a previous daemon left that no process of the
// configuration adopted, and lets go of pipes nobody claimed.
func (r *Runtime) EndAdoption() {
	for _, e := range r.survivors {
		r.stopLeftover(e)
	}
	// An operator's stop of a program removed while no daemon ran would
	// otherwise hold it stopped should it come back.
	for name := range r.held {
		r.state.hold(name, nil, "")
	}
	for id := range r.exits {
		r.state.decided(id) // of programs gone
	}
	r.held, r.exits = nil, nil
	for _, pipes := range r.heldPipes {
		for _, hp := range pipes {
			syscall.Close(hp.fd)
			r.holder.Drop(hp.id)
		}
	}
	for ino, fd := range r.heldStdin {
		syscall.Close(fd)
		r.holder.Drop(stdinID(ino))
	}
	r.dropUnclaimedPidfds()
	r.sweepLeaves()
	r.survivors, r.heldPipes, r.claimed, r.heldStdin = nil, nil, nil, nil
	proc.EndAdoption()
}

// SettleExits is supervisor.ExitSettler's.
func (r *Runtime) SettleExits(spec *supervisor.ProcessSpec) { r.state.settle(spec.FullName()) }

// Hold records that a process is down for good, and how (nil: that it
// was started again). A hold follows an operator's stop or an exit for
// good, seldom enough to sum the spec again (about 15 us).
func (r *Runtime) Hold(spec *supervisor.ProcessSpec, down *supervisor.Down) {
	fp := ""
	if down != nil {
		fp = fingerprint(spec)
	}
	r.state.hold(spec.FullName(), down, fp)
}
