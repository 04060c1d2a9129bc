// Package cgroup gives every spawn a cgroup v2 of its own below the
// daemon's, as systemd gives every unit one: the kernel then knows every
// process a program started, setsid and double forks included, so stops
// kill all of them (cgroup.kill), and CPU, memory, tasks and OOM kills are
// counted for the program as a whole.
//
// Layout, below the daemon's own cgroup D:
//
//	D/ctlsup-HASH/          the base: one per state directory (HASH names it)
//	D/ctlsup-HASH/daemon    the daemon itself, when D is not a root cgroup
//	D/ctlsup-HASH/NAME@ID   one leaf per spawn (NAME escaped, ID its journal id)
//
// cgroups v2's "no internal processes" rule lets a cgroup hand controllers
// to its children only while it has no process of its own, so the daemon
// moves into a leaf of its own when it is not in a root cgroup (the root is
// exempt). Controllers (cpu, memory, pids, io) are enabled where the parent
// offers them; without any, cgroup.kill, cgroup.events and cpu.stat still
// work, which is what containment and CPU accounting need.
package cgroup

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ctlsup/ctlsup/supervisor/internal/proc"
)

// wanted are the controllers a leaf may use, in the order they are enabled.
var wanted = []string{"cpu", "memory", "pids", "io"}

// Manager is the daemon's base cgroup.
type Manager struct {
	Base string // absolute path of the base
	name string // the base as /proc/PID/cgroup names it

	Controllers []string // enabled for the leaves
	Killable    bool     // cgroup.kill exists (Linux 5.14); else freeze and kill
	log         *slog.Logger
}

// Setup finds the cgroup v2 hierarchy and the daemon's place in it,
// creates the base for stateDir and moves the daemon out of the way of
// its controllers. The error says why cgroups cannot be used: the caller
// falls back to process groups.
func Setup(stateDir string, log *slog.Logger) (*Manager, error) {
	if log == nil {
		log = slog.Default()
	}
	if os.Getenv("CTLSUP_CGROUPS") == "off" {
		return nil, errors.New("turned off by CTLSUP_CGROUPS=off")
	}
	if !cloneIntoCgroup() {
		return nil, errors.New("the kernel cannot start a process in a cgroup (CLONE_INTO_CGROUP needs Linux 5.7)")
	}
	mount, root, err := findMount("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	own, err := ownCgroup("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	// A daemon that moved itself into a base's leaf earlier (before an
	// upgrade's exec, or a previous engine of this process) starts from
	// where it was then: bases never nest.
	if filepath.Base(own) == "daemon" && strings.HasPrefix(filepath.Base(filepath.Dir(own)), "ctlsup-") {
		own = filepath.Dir(filepath.Dir(own))
	}
	rel, ok := strings.CutPrefix(own, root)
	if !ok || (rel != "" && !strings.HasPrefix(rel, "/") && root != "/") {
		return nil, fmt.Errorf("the daemon's cgroup %s is outside the cgroup2 mount at %s", own, mount)
	}
	dir := filepath.Join(mount, rel)
	if err := delegated(dir); err != nil {
		return nil, err
	}
	if unix.Access(filepath.Join(dir, "cgroup.procs"), unix.W_OK) != nil {
		return nil, fmt.Errorf("the daemon's cgroup %s is not writable", dir)
	}
	abs, _ := filepath.Abs(stateDir)
	sum := sha256.Sum256([]byte(abs))
	leaf := "ctlsup-" + hex.EncodeToString(sum[:4])
	m := &Manager{Base: filepath.Join(dir, leaf), name: filepath.Join(own, leaf), log: log}
	if err := os.Mkdir(m.Base, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("cannot create cgroup %s: %w", m.Base, err)
	}
	_, err = os.Stat(filepath.Join(m.Base, "cgroup.kill"))
	m.Killable = err == nil
	isRoot := !exists(filepath.Join(dir, "cgroup.type"))
	if !isRoot {
		daemon := filepath.Join(m.Base, "daemon")
		if err := os.Mkdir(daemon, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("cannot create cgroup %s: %w", daemon, err)
		}
		if err := writeFile(filepath.Join(daemon, "cgroup.procs"), "0"); err != nil {
			return nil, fmt.Errorf("cannot move the daemon into %s: %w", daemon, err)
		}
	}
	m.enable(dir)
	return m, nil
}

// enable hands the wanted controllers down from dir to the base, then to
// the leaves, as far as each level allows; what is refused is logged.
func (m *Manager) enable(dir string) {
	offered := controllers(filepath.Join(dir, "cgroup.controllers"))
	for _, c := range wanted {
		if !slices.Contains(offered, c) {
			continue
		}
		if !slices.Contains(controllers(filepath.Join(dir, "cgroup.subtree_control")), c) {
			if err := writeFile(filepath.Join(dir, "cgroup.subtree_control"), "+"+c); err != nil {
				m.log.Warn("cgroup controller not available to programs", "controller", c, "cgroup", dir, "err", err)
				continue
			}
		}
		if err := writeFile(filepath.Join(m.Base, "cgroup.subtree_control"), "+"+c); err != nil {
			m.log.Warn("cgroup controller not available to programs", "controller", c, "cgroup", m.Base, "err", err)
			continue
		}
		m.Controllers = append(m.Controllers, c)
	}
}

// Has reports whether leaves have controller c.
func (m *Manager) Has(c string) bool { return slices.Contains(m.Controllers, c) }

// findMount returns where the cgroup2 hierarchy is mounted and which of its
// cgroups the mount shows as its root.
func findMount(mountinfo string) (mount, root string, err error) {
	f, err := os.Open(mountinfo)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mountpoint options [optional...] - fstype source super
		fields := strings.Fields(sc.Text())
		sep := slices.Index(fields, "-")
		if sep < 5 || sep+1 >= len(fields) || fields[sep+1] != "cgroup2" {
			continue
		}
		return unescapeMount(fields[4]), unescapeMount(fields[3]), nil
	}
	return "", "", errors.New("no cgroup2 hierarchy is mounted")
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ownCgroup is the daemon's cgroup v2 path ("0::/path").
func ownCgroup(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			if strings.HasSuffix(p, " (deleted)") {
				return "", errors.New("the daemon's cgroup was removed")
			}
			return p, nil
		}
	}
	return "", errors.New("the daemon is in no cgroup v2")
}

// delegated refuses a cgroup systemd manages but did not delegate (a unit
// without Delegate=yes): systemd may move or remove what is created in it.
func delegated(dir string) error {
	base := filepath.Base(dir)
	if !strings.HasSuffix(base, ".service") && !strings.HasSuffix(base, ".scope") && !strings.HasSuffix(base, ".slice") {
		return nil
	}
	buf := make([]byte, 8)
	for _, attr := range []string{"trusted.delegate", "user.delegate"} {
		if n, err := unix.Getxattr(dir, attr, buf); err == nil && string(buf[:n]) == "1" {
			return nil
		}
	}
	return fmt.Errorf("systemd manages the daemon's cgroup %s without delegating it (Delegate=yes)", dir)
}

// cloneIntoCgroup reports whether clone3's CLONE_INTO_CGROUP exists
// (Linux 5.7).
func cloneIntoCgroup() bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	var major, minor int
	fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &major, &minor)
	return major > 5 || major == 5 && minor >= 7
}

func controllers(file string) []string {
	b, _ := os.ReadFile(file)
	return strings.Fields(string(b))
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// writeFile writes one value into a cgroup interface file: one write(2),
// as the kernel parses it.
func writeFile(path, value string) error { return proc.WriteSmall(path, value) }

// Close removes the leaves that are empty, and the base with them unless
// the daemon's own leaf keeps it: every program has stopped.
func (m *Manager) Close() {
	for _, l := range m.Leaves() {
		if !l.Populated() {
			l.Remove()
		}
	}
	unix.Rmdir(m.Base)
}
