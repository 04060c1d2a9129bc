package cgroup

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctlsup/ctlsup/supervisor/internal/proc"
)

// Limits are a leaf's resource limits; zero values mean none.
type Limits struct {
	MemoryMax  int64 // memory.max, bytes
	MemoryHigh int64 // memory.high, bytes
	CPUMax     int   // cpu.max quota in percent of one CPU (150 = 1.5 CPUs)
	PidsMax    int   // pids.max
}

// Leaf is the cgroup of one spawn.
type Leaf struct {
	Path     string // in the file system
	name     string // as /proc/PID/cgroup names it
	killable bool
	// Whether the leaf has the memory and pids controllers: a usage
	// reading opens no file it cannot have.
	memory, pids bool
}

func (m *Manager) leaf(name string) *Leaf {
	return &Leaf{Path: filepath.Join(m.Base, name), name: m.name + "/" + name, killable: m.Killable,
		memory: m.Has("memory"), pids: m.Has("pids")}
}

// LeafName names a spawn's leaf: the program's full name, escaped so that
// it is one path component no interface file of the parent can clash with,
// then "@" and the spawn's id.
func LeafName(name string, id uint64) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == ':' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, `\x%02x`, c)
		}
	}
	return b.String() + "@" + strconv.FormatUint(id, 10)
}

// NewLeaf creates the leaf for one spawn with its limits, and returns it
// with a descriptor of its directory for clone3 (CLONE_INTO_CGROUP): the
// child starts inside it, so not even its first fork escapes. Limits whose
// controller the base lacks are reported in the error, which does not stop
// the spawn.
func (m *Manager) NewLeaf(name string, id uint64, lim Limits) (*Leaf, *os.File, error) {
	l := m.leaf(LeafName(name, id))
	err := os.Mkdir(l.Path, 0o755)
	if errors.Is(err, os.ErrExist) {
		// Only if a journal write was lost can an id come again: an
		// empty leaf is made afresh, a populated one is someone's.
		if err = unix.Rmdir(l.Path); err == nil {
			err = os.Mkdir(l.Path, 0o755)
		}
	}
	if err != nil {
		return nil, nil, err
	}
	dir, err := os.OpenFile(l.Path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		os.Remove(l.Path)
		return nil, nil, err
	}
	return l, dir, m.apply(l, lim)
}

func (m *Manager) apply(l *Leaf, lim Limits) error {
	var errs []error
	set := func(controller, file, value string) {
		if !m.Has(controller) {
			errs = append(errs, fmt.Errorf("%s not applied: the %s controller is not available to ctlsupd's cgroup", file, controller))
			return
		}
		if err := writeFile(filepath.Join(l.Path, file), value); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", file, err))
		}
	}
	if lim.MemoryMax > 0 {
		set("memory", "memory.max", strconv.FormatInt(lim.MemoryMax, 10))
		// No swap beyond the limit: a program over memory_max is killed,
		// not swapped to a crawl, as the limit's users expect.
		if m.Has("memory") {
			writeFile(filepath.Join(l.Path, "memory.swap.max"), "0")
		}
	}
	if lim.MemoryHigh > 0 {
		set("memory", "memory.high", strconv.FormatInt(lim.MemoryHigh, 10))
	}
	if lim.CPUMax > 0 {
		const period = 100000
		set("cpu", "cpu.max", fmt.Sprintf("%d %d", lim.CPUMax*period/100, period))
	}
	if lim.PidsMax > 0 {
		set("pids", "pids.max", strconv.Itoa(lim.PidsMax))
	}
	return errors.Join(errs...)
}

// Open returns the leaf at path if it lies directly under the base: what a
// previous daemon's journal names is trusted only there.
func (m *Manager) Open(path string) (*Leaf, bool) {
	if path == "" || filepath.Dir(path) != m.Base || filepath.Base(path) == "daemon" || !exists(filepath.Join(path, "cgroup.procs")) {
		return nil, false
	}
	return m.leaf(filepath.Base(path)), true
}

// Leaves lists the spawn leaves under the base.
func (m *Manager) Leaves() []*Leaf {
	ents, _ := os.ReadDir(m.Base)
	var out []*Leaf
	for _, e := range ents {
		if e.IsDir() && e.Name() != "daemon" {
			out = append(out, m.leaf(e.Name()))
		}
	}
	return out
}

// Populated reports whether a live process remains in the leaf (zombies
// do not count). A leaf that is gone is empty.
func (l *Leaf) Populated() bool {
	var buf [256]byte
	b, err := proc.ReadSmall(l.Path+"/cgroup.events", buf[:])
	if err != nil {
		// Removed, it is empty; unreadable for want of descriptors, a
		// member may remain.
		return proc.OutOfResources(err)
	}
	return keyed(b, "populated") == 1
}

// Procs lists the leaf's processes.
func (l *Leaf) Procs() []int {
	var buf [256]byte
	b, err := proc.ReadSmall(l.Path+"/cgroup.procs", buf[:])
	if err != nil || len(b) == len(buf) {
		b, _ = os.ReadFile(filepath.Join(l.Path, "cgroup.procs")) // many processes
	}
	var pids []int
	for f := range strings.FieldsSeq(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// Contains reports whether process pid is in the leaf now. A pid listed
// by Procs may have been reused once its process was reaped; a signal goes
// through a pidfd opened first and checked with Contains after.
func (l *Leaf) Contains(pid int) bool {
	var buf [4096]byte
	b, err := proc.ReadSmall("/proc/"+strconv.Itoa(pid)+"/cgroup", buf[:])
	if err == nil && len(b) == len(buf) {
		b, err = os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	}
	if err != nil {
		return false
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return p == l.name
		}
	}
	return false
}

// Kill sends SIGKILL to every process in the leaf, including any forked
// meanwhile: cgroup.kill, or where the kernel lacks it (before 5.14), a
// freeze, a kill of every member and a thaw, so none forks in between.
func (l *Leaf) Kill() error {
	if l.killable {
		err := writeFile(filepath.Join(l.Path, "cgroup.kill"), "1")
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	if err := writeFile(filepath.Join(l.Path, "cgroup.freeze"), "1"); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	defer writeFile(filepath.Join(l.Path, "cgroup.freeze"), "0")
	// The freeze completes asynchronously; until then a member may fork.
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if b, err := os.ReadFile(filepath.Join(l.Path, "cgroup.events")); err != nil || keyed(b, "frozen") == 1 {
			break
		}
	}
	for _, pid := range l.Procs() {
		// A member may still have exited and its pid been taken by a
		// stranger: pinned by a pidfd, it is killed only if still here.
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			continue
		}
		if l.Contains(pid) {
			unix.PidfdSendSignal(fd, syscall.SIGKILL, nil, 0)
		}
		unix.Close(fd)
	}
	return nil
}

// KillAndWait kills the leaf's processes and waits until none is left or
// the deadline passes; it reports whether the leaf is empty.
func (l *Leaf) KillAndWait(deadline time.Time) bool {
	for l.Populated() {
		l.Kill()
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// Remove deletes the leaf once it is empty.
func (l *Leaf) Remove() error {
	err := unix.Rmdir(l.Path)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	return err
}

// Stat is what a leaf's processes have used.
type Stat struct {
	CPUSeconds      float64 // cpu.stat usage_usec: every process that ever ran in it
	MemoryBytes     int64   // memory.current; 0 without the memory controller
	MemoryPeakBytes int64   // memory.peak
	Tasks           int     // pids.current, or the number of processes
	OOMKills        int64   // memory.events oom_kill
	HasMemory       bool
}

// Stat reads the leaf's accounting files. A metrics scrape reads them for
// every program: through one buffer, without os.ReadFile's allocation
// and fstat. Tasks is -1 without the pids controller: the caller counts
// Procs, which it usually reads anyway.
func (l *Leaf) Stat() Stat {
	st := Stat{Tasks: -1, CPUSeconds: l.CPUSeconds()}
	var buf [512]byte
	dir := l.Path + "/"
	if l.memory {
		if b, err := proc.ReadSmall(dir+"memory.current", buf[:]); err == nil {
			st.HasMemory = true
			st.MemoryBytes, _ = strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64)
			if b, err := proc.ReadSmall(dir+"memory.peak", buf[:]); err == nil {
				st.MemoryPeakBytes, _ = strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64)
			}
			st.OOMKills = l.OOMKills()
		}
	}
	if l.pids {
		if b, err := proc.ReadSmall(dir+"pids.current", buf[:]); err == nil {
			st.Tasks, _ = strconv.Atoi(string(bytes.TrimSpace(b)))
		}
	}
	return st
}

// CPUSeconds is cpu.stat's usage_usec: the CPU time of every process that
// ever ran in the leaf. Reading it flushes the kernel's per-CPU counters,
// the costliest of the leaf's files (tens of microseconds, ten times that
// while thousands of processes exit at once).
func (l *Leaf) CPUSeconds() float64 {
	var buf [512]byte
	b, err := proc.ReadSmall(l.Path+"/cpu.stat", buf[:])
	if err != nil {
		return 0
	}
	return float64(keyed(b, "usage_usec")) / 1e6
}

// OOMKills is memory.events' oom_kill: processes of the leaf the kernel
// killed for memory; 0 without the memory controller.
func (l *Leaf) OOMKills() int64 {
	if !l.memory {
		return 0
	}
	var buf [512]byte
	b, err := proc.ReadSmall(l.Path+"/memory.events", buf[:])
	if err != nil {
		return 0
	}
	return keyed(b, "oom_kill")
}

// keyed reads "key value" lines, as cgroup.events and cpu.stat have. It
// allocates nothing: every exit reads cgroup.events.
func keyed(b []byte, key string) int64 {
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte{'\n'})
		k, v, ok := bytes.Cut(line, []byte{' '})
		if ok && string(k) == key {
			n, _ := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
			return n
		}
	}
	return 0
}
