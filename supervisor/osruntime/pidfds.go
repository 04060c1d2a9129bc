package osruntime

import (
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/ctlsup/ctlsup/supervisor/internal/proc"
)

// A pidfd on each spawn waits in the fd holder, where it outlives the
// daemon: a program that ends while no daemon runs is reaped by its new
// parent (init), and the successor, which could not open a pidfd on it any
// more, asks the kept one how it exited. Without it the exit is "status
// unknown", which is not expected: a one-shot job (autorestart =
// "unexpected") that finished meanwhile would run again. Only where the
// kernel keeps the status (Linux 6.15); elsewhere no pidfd is kept.

const pidfdIDPrefix = "pidfd\t"

func pidfdID(spawn uint64) string { return pidfdIDPrefix + strconv.FormatUint(spawn, 10) }

// keepsPidfds reports whether the holder is given a pidfd on each spawn.
func (r *Runtime) keepsPidfds() bool { return r.holder != nil && proc.ExitsOutliveTheParent() }

// Whether the holder has c's pidfd: handed by keepPidfd (or by a previous
// daemon, for an adopted process), or c gone. The two may race: a process
// that exits at once can be gone before its pidfd is handed, and whichever
// comes second sends the Drop.
const (
	pidfdHanded int32 = 1
	pidfdGone   int32 = 2
)

// keepPidfd gives the holder a pidfd on c's process p, which it has just
// spawned, or adopted without one kept.
func (r *Runtime) keepPidfd(c *osChild, p *proc.Process) {
	if !r.keepsPidfds() {
		return
	}
	f, err := p.OpenPidfd()
	if err != nil {
		return // reaped already: this daemon journals its exit
	}
	r.holder.Hand(pidfdID(c.id), f)
	if c.pidfdKept.Swap(pidfdHanded) == pidfdGone {
		r.holder.Drop(pidfdID(c.id))
	}
}

// rekeepPidfds hands a holder that was started again (the old one died)
// a pidfd on every live process the fences know: one per program, the
// newest (a start_before_stop predecessor still stopping is not among
// them, and ends "status unknown" should the daemon die before it does).
func (r *Runtime) rekeepPidfds() {
	if !r.keepsPidfds() {
		return
	}
	r.fences.mu.Lock()
	live := slices.Collect(maps.Values(r.fences.live))
	r.fences.mu.Unlock()
	for _, c := range live {
		if c.pidfdKept.Load() != pidfdHanded {
			continue
		}
		f, err := c.p.OpenPidfd()
		if err != nil {
			continue
		}
		r.holder.Hand(pidfdID(c.id), f)
		if c.pidfdKept.Load() == pidfdGone {
			r.holder.Drop(pidfdID(c.id)) // gone meanwhile: its Drop may have come first
		}
	}
}

// dropPidfd tells the holder c's process has ended and its exit is known.
func (r *Runtime) dropPidfd(c *osChild) {
	if c.pidfdKept.Swap(pidfdGone) == pidfdHanded {
		r.holder.Drop(pidfdID(c.id))
	}
}

// heldPidfd sorts a descriptor the holder gave back: a kept pidfd, by spawn.
func (r *Runtime) heldPidfd(id string, fd int) bool {
	n, ok := strings.CutPrefix(id, pidfdIDPrefix)
	if !ok {
		return false
	}
	spawn, err := strconv.ParseUint(n, 10, 64)
	if err != nil {
		syscall.Close(fd)
		r.holder.Drop(id)
		return true
	}
	r.heldPidfds[spawn] = fd
	return true
}

// takePidfd is the pidfd kept on a spawn a previous daemon journaled, nil
// if none. The holder keeps its own until the spawn is gone.
func (r *Runtime) takePidfd(spawn uint64) *os.File {
	fd, ok := r.heldPidfds[spawn]
	if !ok {
		return nil
	}
	delete(r.heldPidfds, spawn)
	unix.SetNonblock(fd, true) // Adopt may wait on it in the runtime's poller
	return os.NewFile(uintptr(fd), "pidfd")
}

// dropUnclaimedPidfds ends the adoption's pidfds no process took.
func (r *Runtime) dropUnclaimedPidfds() {
	for spawn, fd := range r.heldPidfds {
		syscall.Close(fd)
		r.holder.Drop(pidfdID(spawn))
	}
	r.heldPidfds = nil
}
