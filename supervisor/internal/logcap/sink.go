// Package logcap pumps a child's output pipes into rotated log files. Log
// trouble never blocks the child: bytes that cannot be written are dropped
// and counted.
package logcap

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
	"gopkg.in/natefinch/lumberjack.v2"
)

// Sink is one rotated log file. It writes through its own descriptor, so
// pipes can be spliced into it, decides rotation itself, to the byte, and
// leaves naming and pruning of backups to lumberjack.
type Sink struct {
	Path     string // not to be changed: a hub finds its sinks by it
	MaxBytes int64  // rotate when the file would grow past this; 0 never
	Backups  int    // rotated files kept; 0 truncates instead

	Log *slog.Logger

	mu sync.Mutex
	// lj names and prunes backups; looked up at the first rotation, as
	// most programs' logs never rotate.
	lj      *lumberjack.Logger
	f       *os.File // nil until the next write opens the path
	fd      int
	size    int64 // the write offset, which is the file's size
	regular bool  // f is a regular file (its size can be checked)
	// wholeWrites: a write is never split across files (see NewLineSink).
	wholeWrites bool
	noSplice    bool // the kernel cannot splice into f
	closed      bool
	dirChecked  bool
	// rotateFailed: the last rotation failed; the file grows past
	// MaxBytes until rotateAfter, when the next write tries again.
	rotateFailed bool
	// When the next warning, rotation and check of the path may come, on
	// the daemon's monotonic clock (see monoNow): 8 bytes each, where a
	// time.Time takes 24, in a struct each log has.
	warnAfter, rotateAfter, checkAfter time.Duration

	written   atomic.Int64
	dropped   atomic.Int64
	rotations atomic.Int64
	drains    atomic.Int64 // pump batches, which tests count

	hub  *Hub // the hub sharing it (in hub.sinks under its clean Path), nil for a sink of its own
	refs int  // OpenSinks not yet closed; guarded by hub.mu
	// pipes is how many pipes not yet at EOF write into it: once none
	// does (the program stopped, and what it left), the file is closed,
	// as supervisord closes a stopped program's log: deleting it frees
	// the disk, and its file system can be unmounted. The next output
	// opens it again.
	pipes int
}

func (s *Sink) attach() {
	s.mu.Lock()
	s.pipes++
	s.mu.Unlock()
}

func (s *Sink) detach() {
	s.mu.Lock()
	s.pipes--
	idle := s.pipes == 0
	if idle {
		s.closeLocked()
	}
	s.mu.Unlock()
	if idle && s.hub != nil {
		s.hub.closeUnreferenced(s)
	}
}

// closeUnreferenced closes s for good if its last Close came while pipes
// still wrote into it (see Close) and none does now.
func (h *Hub) closeUnreferenced(s *Sink) {
	key := filepath.Clean(s.Path)
	h.mu.Lock()
	if s.refs > 0 || h.sinks[key] != s {
		h.mu.Unlock()
		return
	}
	s.mu.Lock()
	if s.pipes > 0 {
		s.mu.Unlock()
		h.mu.Unlock()
		return
	}
	delete(h.sinks, key)
	s.mu.Unlock()
	h.mu.Unlock()
	s.closeForGood()
}

// clockStart is the origin of monoNow.
var clockStart = time.Now()

// monoNow is a monotonic time: how long the daemon has run.
func monoNow() time.Duration { return time.Since(clockStart) }

// OpenSink returns the hub's sink for path, shared with every other stream
// that logs there: the first one's rotation settings hold. Each OpenSink
// needs its own Close.
func (h *Hub) OpenSink(path string, maxBytes int64, backups int, log *slog.Logger) *Sink {
	key := filepath.Clean(path)
	h.mu.Lock()
	defer h.mu.Unlock()
	if s := h.sinks[key]; s != nil {
		s.refs++
		return s
	}
	s := NewSink(path, maxBytes, backups, log)
	s.hub, s.refs = h, 1
	h.sinks[key] = s
	return s
}

// NewSink returns a sink for path, not shared. Nothing is opened until the
// first write.
func NewSink(path string, maxBytes int64, backups int, log *slog.Logger) *Sink {
	return &Sink{Path: path, MaxBytes: maxBytes, Backups: backups, Log: log}
}

// NewLineSink is a sink for a log written a whole record at a time (the
// daemon's own): it rotates before a write that would take the file past
// maxBytes, as supervisord's handler rotates after one, so that no record
// is split across two files. A record larger than maxBytes gets a file
// of its own.
func NewLineSink(path string, maxBytes int64, backups int) *Sink {
	return &Sink{Path: path, MaxBytes: maxBytes, Backups: backups, wholeWrites: true}
}

// rotators keeps one lumberjack.Logger per log path and backup count for
// the life of the process. A Logger that has rotated runs a goroutine that
// prunes backups and that nothing ever stops; one Logger per sink would
// leave one such goroutine behind per sink closed by an update or reload.
var rotators = struct {
	sync.Mutex
	m map[rotatorKey]*lumberjack.Logger
}{m: map[rotatorKey]*lumberjack.Logger{}}

type rotatorKey struct {
	path    string
	backups int
}

func rotator(path string, backups int) *lumberjack.Logger {
	k := rotatorKey{filepath.Clean(path), backups}
	rotators.Lock()
	defer rotators.Unlock()
	lj := rotators.m[k]
	if lj == nil {
		lj = &lumberjack.Logger{
			Filename:   path,
			MaxSize:    1 << 30, // megabytes: lumberjack never rotates on its own
			MaxBackups: backups,
		}
		rotators.m[k] = lj
	}
	return lj
}

// Write appends p, rotating exactly at MaxBytes. It never returns an error:
// what cannot be written is counted as dropped. The file (and its
// directory) is made by the first write, not at a spawn as supervisord
// does: a stream that is never written leaves no empty log, and a spawn
// does not wait for a new inode (0.3 ms of CPU on the ext4 the benchmarks
// ran on). A program that never writes costs no descriptor either, which
// every fork would copy.
func (s *Sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || len(p) == 0 {
		return len(p), nil
	}
	if err := s.readyLocked(); err != nil {
		s.failLocked(int64(len(p)), err)
		return len(p), nil
	}
	if s.wholeWrites && s.rotatesLocked() && s.size > 0 && s.size+int64(len(p)) > s.MaxBytes {
		s.rotateLocked()
		if s.f == nil {
			s.failLocked(int64(len(p)), errors.New("no file to write after a rotation"))
			return len(p), nil
		}
	}
	for rest := p; len(rest) > 0; {
		room, err := s.roomLocked()
		if err != nil {
			s.failLocked(int64(len(rest)), err)
			break
		}
		if s.wholeWrites {
			room = int64(len(rest))
		}
		if s.f == nil {
			s.dropped.Add(int64(len(rest)))
			break
		}
		n, err := s.f.Write(rest[:min(int64(len(rest)), room)])
		s.size += int64(n)
		s.written.Add(int64(n))
		if err != nil {
			s.failLocked(int64(len(rest)-n), err)
			break
		}
		rest = rest[n:]
	}
	return len(p), nil
}

// readyLocked opens the file when needed and checks that it is still the
// file at Path, of the size written; an error means the write is dropped.
func (s *Sink) readyLocked() error {
	if s.f != nil {
		s.checkLocked()
	}
	if s.f == nil {
		return s.openLocked()
	}
	return nil
}

// roomLocked is how much may be written before the next rotation, rotating
// first when the file is full. The file is closed (nil), and the error
// returned, when the rotated one cannot be opened.
func (s *Sink) roomLocked() (int64, error) {
	if !s.rotatesLocked() {
		return 1 << 30, nil
	}
	if s.size >= s.MaxBytes {
		s.rotateLocked()
		switch {
		case s.f == nil:
			return 0, errors.New("no file to write after a rotation") // the caller counts what it drops, then tells
		case s.rotateFailed:
			return 1 << 30, nil // past MaxBytes until a rotation succeeds
		}
	}
	return max(s.MaxBytes-s.size, 1), nil
}

// rotatesLocked says whether the open file is rotated at MaxBytes: only a
// regular file is. A log path that names a device (/dev/null, a
// terminal) or a FIFO is written and never rotated: a rotation renames
// the path, and /dev/null renamed by a root daemon is gone for the whole
// system.
func (s *Sink) rotatesLocked() bool {
	return s.MaxBytes > 0 && s.regular && (!s.rotateFailed || monoNow() >= s.rotateAfter)
}

// rotateRetry is how long a log whose rotation failed (its directory no
// longer writable, an append-only file) grows past MaxBytes before the
// next try: trying again at every write would leave a byte of room each
// time, and the program's output would crawl.
const rotateRetry = 10 * time.Second

// openLocked opens Path for writing at its end, creating it with the usual
// log mode (lumberjack keeps an existing file's mode across rotations). It
// does not use O_APPEND, which splice(2) refuses; checkLocked notices a
// file truncated under it instead.
func (s *Sink) openLocked() error {
	os.MkdirAll(filepath.Dir(s.Path), 0o755)
	s.checkDirLocked()
	// O_NONBLOCK: a FIFO planted at the path, which nothing reads, fails
	// the open (ENXIO) instead of blocking it, and with it the pump.
	f, err := openNoFollow(s.Path, os.O_CREATE|os.O_WRONLY|syscall.O_NONBLOCK)
	if err != nil {
		return err
	}
	end, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		end = 0 // a device such as /dev/full
	}
	st, err := f.Stat()
	s.f, s.fd, s.size = f, int(f.Fd()), end
	s.regular = err == nil && st.Mode().IsRegular()
	s.noSplice = false
	s.checkAfter = monoNow() + time.Second
	return nil
}

func (s *Sink) closeLocked() {
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
}

// checkLocked keeps writing at the file's end when it was truncated under
// the sink (logrotate's copytruncate, `> file`), and, at most once a
// second, reopens the path when it no longer names the file being written
// (deleted, or moved aside without SIGUSR2; a device or FIFO replaced by
// a file): writing into an unlinked file would lose everything.
func (s *Sink) checkLocked() {
	var st unix.Stat_t
	err := unix.Fstat(s.fd, &st)
	if err == nil && s.regular && st.Size < s.size {
		if end, err := s.f.Seek(0, io.SeekEnd); err == nil {
			s.size = end
		}
	}
	if monoNow() < s.checkAfter {
		return
	}
	s.checkAfter = monoNow() + time.Second
	var cur unix.Stat_t
	if perr := unix.Stat(s.Path, &cur); perr != nil || err != nil || cur.Dev != st.Dev || cur.Ino != st.Ino {
		if err := s.reopenLocked(); err != nil && s.f != nil {
			s.warnLocked("cannot open log; writing on to the file it names no longer", err)
		}
	}
}

// reopenLocked opens a new file at Path in place of the one being
// written, which stays open until then: when no descriptor is free, the
// output goes on where it went (a rotated file keeps it) instead of
// nowhere. When the old descriptor's number is under the limit, giving
// it up frees one, so it is closed first and the open tried again; a
// file that has been deleted is let go too (writing into it would only
// pin its space: the output is dropped, and counted).
func (s *Sink) reopenLocked() error {
	old := s.f
	s.f = nil
	err := s.openLocked()
	if err != nil && old != nil && (errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)) && fdUnderLimit(s.fd) {
		old.Close()
		old = nil
		err = s.openLocked()
	}
	if err == nil {
		if old != nil {
			old.Close()
		}
		return nil
	}
	var st unix.Stat_t
	if old != nil && unix.Fstat(int(old.Fd()), &st) == nil && st.Nlink > 0 {
		s.f = old
	} else if old != nil {
		old.Close()
	}
	return err
}

// fdUnderLimit says whether descriptor fd is one a new open could get
// back once it is closed: not if the limit was lowered under it.
func fdUnderLimit(fd int) bool {
	var rl unix.Rlimit
	return unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) == nil && uint64(fd) < rl.Cur
}

// rotateLocked rotates the file at Path and opens the new one. The file
// being written stays open until its successor is (see reopenLocked): a
// rotation that fails (a directory no longer writable; no descriptor to
// spare, when lumberjack may have renamed the file already) leaves output
// going where it went, past logfile_maxbytes, instead of nowhere, and the
// next try is rotateRetry later.
func (s *Sink) rotateLocked() {
	var err error
	if s.Backups == 0 {
		err = truncateNoFollow(s.Path)
	} else {
		// lumberjack names backups to the millisecond; two rotations in one
		// millisecond would overwrite a backup.
		if wait := s.rotateAfter - monoNow(); wait > 0 && !s.rotateFailed {
			time.Sleep(wait)
		}
		if s.lj == nil {
			s.lj = rotator(s.Path, s.Backups)
		}
		err = asDirWriter(filepath.Dir(s.Path), s.lj.Rotate)
		s.lj.Close() // lumberjack made the new file; the sink opens its own
		// Run as the directory's writer, lumberjack cannot give the new
		// file the old one's owner: it belongs to that writer, as it
		// should in that directory.
		if pe := (*os.PathError)(nil); errors.As(err, &pe) && pe.Op == "chown" {
			err = nil
		}
		s.rotateAfter = monoNow() + time.Millisecond
	}
	if err == nil || s.renamedLocked() {
		// Rotated, or renamed before lumberjack failed to make the new
		// file (no descriptor): either way the path wants a new file.
		if oerr := s.reopenLocked(); oerr != nil {
			err = errors.Join(err, oerr)
		} else {
			err = nil
		}
	}
	s.rotateFailed = err != nil
	if err != nil {
		s.rotateAfter = monoNow() + rotateRetry
		s.warnLocked("cannot rotate log; it grows past logfile_maxbytes until a rotation succeeds", err)
		return
	}
	s.rotations.Add(1)
}

// renamedLocked says whether Path no longer names the open file.
func (s *Sink) renamedLocked() bool {
	var open, cur unix.Stat_t
	if s.f == nil || unix.Fstat(s.fd, &open) != nil {
		return false
	}
	return unix.Stat(s.Path, &cur) != nil || cur.Dev != open.Dev || cur.Ino != open.Ino
}

func (s *Sink) failLocked(lost int64, err error) {
	s.dropped.Add(lost)
	s.closeLocked() // reopen on the next write: the disk may have come back
	s.warnLocked("cannot write log; dropping output", err)
}

// warnLocked logs a problem at most once a minute per sink.
func (s *Sink) warnLocked(msg string, err error) {
	if t := monoNow(); t >= s.warnAfter {
		s.warnAfter = t + time.Minute
		if s.Log != nil {
			s.Log.Warn(msg, "path", s.Path, "err", err, "dropped_bytes", s.dropped.Load())
		}
	}
}

// Reopen closes the file; the next write opens the path again, so a file
// renamed by logrotate is left alone and a new one is created.
func (s *Sink) Reopen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeLocked()
	return nil
}

// Clear empties the file; writing goes on at its start. A device or a
// FIFO has nothing to empty.
func (s *Sink) Clear() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeLocked()
	if st, err := os.Lstat(s.Path); err == nil && !st.Mode().IsRegular() && st.Mode()&os.ModeSymlink == 0 {
		return nil
	}
	err := truncateNoFollow(s.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// Close closes the file for good, once every user of a shared sink has
// closed it; later writes are discarded.
func (s *Sink) Close() error {
	if h := s.hub; h != nil {
		h.mu.Lock()
		s.refs--
		last := s.refs == 0
		if last {
			s.mu.Lock()
			pumped := s.pipes > 0
			s.mu.Unlock()
			if pumped {
				// What a stopped process left still writes (a wrapper's
				// server finishing its stop, at shutdown or as its
				// program is removed): its lines are kept until its
				// last pipe is at EOF (closeUnreferenced).
				h.mu.Unlock()
				return nil
			}
			delete(h.sinks, filepath.Clean(s.Path))
		}
		h.mu.Unlock()
		if !last {
			return nil
		}
	}
	return s.closeForGood()
}

// closeForGood closes the file, and drops what is written from now on.
func (s *Sink) closeForGood() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.closeLocked()
	if s.lj == nil {
		return nil
	}
	return s.lj.Close()
}

// Written, Dropped and Rotations are the sink's counters.
func (s *Sink) Written() int64   { return s.written.Load() }
func (s *Sink) Dropped() int64   { return s.dropped.Load() }
func (s *Sink) Rotations() int64 { return s.rotations.Load() }

// A program's user who can write into its log directory could plant
// NAME.log -> /etc/shadow there: a root daemon following the link would
// append to, create or truncate any file. Log files are opened and
// truncated without following a symbolic link in their last component.

// errSymlink refuses a log path that is a symbolic link.
var errSymlink = errors.New("the log file is a symbolic link: not followed")

func openNoFollow(path string, flag int) (*os.File, error) {
	f, err := os.OpenFile(path, flag|syscall.O_NOFOLLOW, 0o644)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("%s: %w", path, errSymlink)
	}
	return f, err
}

func truncateNoFollow(path string) error {
	f, err := openNoFollow(path, os.O_WRONLY|syscall.O_NONBLOCK)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Truncate(0)
}

// asDirWriter runs fn, which renames and creates files by path
// (lumberjack's rotation), with the file system identity of whoever else
// can write into dir, when a root daemon's log directory is writable by
// another user: a link that user plants in the middle of the rotation
// then reaches nothing that user could not write anyway. The identity is
// the directory's owner (nobody for root) with the directory's group when
// that group may write it (a setgid log directory of group adm: its
// owner, not nobody, can reach it through a parent only it may enter), or
// nobody when others may.
func asDirWriter(dir string, fn func() error) error {
	if os.Geteuid() != 0 {
		return fn()
	}
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		return fn()
	}
	uid, gid := int(st.Uid), int(st.Gid)
	sticky := st.Mode&syscall.S_ISVTX != 0
	switch {
	case sticky && st.Mode&0o022 != 0 && (st.Mode&0o002 == 0 || !linksProtected()):
		// Only a file's owner or the directory's may rename it there, so
		// only they can rotate root's log, and only the kernel's
		// protected_symlinks and protected_hardlinks (for world-writable
		// sticky directories) keep them from following a link another
		// user planted in the middle of the rotation.
		return fmt.Errorf("%s is writable by others and sticky: rotating there could follow a planted link", dir)
	case sticky && uid != 0 && st.Mode&0o022 != 0:
		return withFSID(uid, gid, fn) // its owner may rename anything in it
	case sticky && uid == 0 && st.Mode&0o002 != 0:
		return fn() // /tmp: the kernel does not follow others' links for root
	case st.Mode&0o002 != 0:
		uid, gid = nobody, nobody
	case st.Mode&0o020 != 0:
		if uid == 0 {
			uid = nobody // the group's members, not root, may plant links
		}
	case uid == 0:
		return fn() // only root can write it
	}
	return withFSID(uid, gid, fn)
}

// linksProtected reports whether the kernel follows no symbolic link in
// a world-writable sticky directory for anyone but the link's owner or
// the directory's, and lets no one link a file they may not write
// (fs.protected_symlinks and fs.protected_hardlinks, on under systemd).
func linksProtected() bool {
	for _, name := range []string{"protected_symlinks", "protected_hardlinks"} {
		b, err := os.ReadFile("/proc/sys/fs/" + name)
		if err != nil || len(b) == 0 || b[0] == '0' {
			return false
		}
	}
	return true
}

// nobody is the overflow uid and gid.
const nobody = 65534

// withFSID runs fn on one thread whose file system uid and gid are uid
// and gid, with no supplementary group (the daemon's, root's own, would
// reach files no user of the directory may write): setfsuid(2), and the
// raw setgroups(2), are per thread, and leaving the root identity drops
// the file capabilities (CAP_DAC_OVERRIDE, CAP_CHOWN, ...) with it. A
// thread whose identity cannot be restored is never given back to the
// runtime: it ends with the goroutine.
func withFSID(uid, gid int, fn func() error) error {
	runtime.LockOSThread()
	// The supplementary groups are dropped; where the kernel refuses (a
	// user namespace, no CAP_SETGID) and there are some, it does not
	// rotate.
	n, _, errno := syscall.RawSyscall(syscall.SYS_GETGROUPS, 0, 0, 0)
	groups := make([]uint32, max(n, 1))
	if errno == 0 {
		n, _, errno = syscall.RawSyscall(syscall.SYS_GETGROUPS, n, uintptr(unsafe.Pointer(&groups[0])), 0)
	}
	dropped := false
	if errno == 0 {
		_, _, errno = syscall.RawSyscall(syscall.SYS_SETGROUPS, 0, 0, 0)
		dropped = errno == 0
	}
	oldGID := setfsgid(gid)
	setfsuid(uid)
	var err error
	if currentFSUID() == uid && currentFSGID() == gid && (dropped || n == 0) {
		err = fn()
	} else {
		err = errors.New("cannot take the directory writer's file system identity")
	}
	setfsuid(0)
	setfsgid(oldGID)
	restored := currentFSUID() == 0 && currentFSGID() == oldGID
	if dropped {
		_, _, errno = syscall.RawSyscall(syscall.SYS_SETGROUPS, n, uintptr(unsafe.Pointer(&groups[0])), 0)
		restored = restored && errno == 0
	}
	if !restored {
		return errors.Join(err, errors.New("cannot restore the file system identity"))
	}
	runtime.UnlockOSThread()
	return err
}

func setfsuid(id int) { syscall.RawSyscall(syscall.SYS_SETFSUID, uintptr(id), 0, 0) }

// setfsgid sets the thread's file system gid and returns the one before.
func setfsgid(id int) int {
	old, _, _ := syscall.RawSyscall(syscall.SYS_SETFSGID, uintptr(id), 0, 0)
	return int(old)
}

// currentFSGID reads the thread's file system gid, as currentFSUID.
func currentFSGID() int {
	r, _, _ := syscall.RawSyscall(syscall.SYS_SETFSGID, ^uintptr(0), 0, 0)
	return int(r)
}

// currentFSUID reads the thread's file system uid: setfsuid(-1) changes
// nothing and returns it.
func currentFSUID() int {
	r, _, _ := syscall.RawSyscall(syscall.SYS_SETFSUID, ^uintptr(0), 0, 0)
	return int(r)
}

// checkDirLocked warns, once per sink, when a root daemon writes logs into
// a directory that someone else can write to: links are not followed and
// rotation runs as that user, but such a directory still lets that user
// delete or replace the logs.
func (s *Sink) checkDirLocked() {
	if s.dirChecked || os.Geteuid() != 0 {
		return
	}
	s.dirChecked = true
	dir := filepath.Dir(s.Path)
	var st syscall.Stat_t
	if syscall.Stat(dir, &st) != nil {
		return
	}
	if st.Uid != 0 || st.Mode&0o022 != 0 && st.Mode&syscall.S_ISVTX == 0 {
		if s.Log != nil {
			s.Log.Warn("log directory is writable by another user than root, who can delete or replace the logs; links planted there are not followed",
				"dir", dir, "owner_uid", st.Uid, "mode", fmt.Sprintf("%04o", st.Mode&0o7777))
		}
	}
}
