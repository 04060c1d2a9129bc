package logcap

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// lines returns n bytes of unique, numbered lines.
func lines(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "%09d %s\n", i, strings.Repeat("y", 70))
	}
	return b.Bytes()[:n]
}

// logFiles returns the backups, oldest first, then the current file.
func logFiles(t *testing.T, path string) []string {
	t.Helper()
	matches, _ := filepath.Glob(strings.TrimSuffix(path, ".log") + "-*.log")
	slices.Sort(matches) // lumberjack's timestamped names sort by age
	return append(matches, path)
}

// TestSink_RotatesExactly writes 3 MB through a pipe with maxbytes 1MB and
// two backups: the current file plus two backups hold every byte once.
func TestSink_RotatesExactly(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "worker.log")
	s := NewSink(path, 1<<20, 2, nil)
	c := &Capture{Stdout: s, Hub: testHub}
	pp, err := c.Attach()
	w := pp.Stdout
	if err != nil {
		t.Fatal(err)
	}
	data := lines(3 << 20)
	for off := 0; off < len(data); off += 50_000 { // odd chunk sizes
		w.Write(data[off:min(off+50_000, len(data))])
	}
	w.Close()
	deadline := time.Now().Add(10 * time.Second)
	for s.Written() < int64(len(data)) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	c.Close()
	files := logFiles(t, path)
	if len(files) != 3 {
		t.Fatalf("files %v, want the current one and 2 backups", files)
	}
	var all []byte
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if len(b) != 1<<20 {
			t.Errorf("%s has %d bytes, want exactly 1 MiB", filepath.Base(f), len(b))
		}
		all = append(all, b...)
	}
	if !bytes.Equal(all, data) {
		t.Errorf("the files do not hold the written bytes in order, once each (%d of %d bytes)", len(all), len(data))
	}
	if s.Rotations() != 2 || s.Dropped() != 0 {
		t.Errorf("rotations %d dropped %d", s.Rotations(), s.Dropped())
	}
}

// TestSink_LineSinkKeepsRecordsWhole: the daemon's log rotates before a
// record that would not fit, so each file holds whole records, at most
// maxbytes of them, and a record larger than that a file of its own.
func TestSink_LineSinkKeepsRecordsWhole(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ctlsupd.log")
	s := NewLineSink(path, 1000, 10)
	var all []byte
	for i := range 60 {
		record := fmt.Appendf(nil, "time=%d msg=spawned process=p%02d pid=%d\n", i, i, 1000+i)
		if i == 30 {
			record = append(bytes.Repeat([]byte("x"), 1500), '\n')
		}
		s.Write(record)
		all = append(all, record...)
	}
	s.Close()
	var got []byte
	for _, f := range logFiles(t, path) {
		b, _ := os.ReadFile(f)
		if len(b) > 1000 && !bytes.Equal(b, all[bytes.Index(all, []byte("xxx")):][:1501]) {
			t.Errorf("%s: %d bytes, more than 1000 and not the one large record", filepath.Base(f), len(b))
		}
		if len(b) == 0 || b[len(b)-1] != '\n' {
			t.Errorf("%s does not end with a whole record: %q", filepath.Base(f), b)
		}
		got = append(got, b...)
	}
	if !bytes.Equal(got, all) {
		t.Errorf("the files do not hold the records in order, once each (%d of %d bytes)", len(got), len(all))
	}
}

// TestSink_OldBackupsArePruned keeps at most logfile_backups backups.
func TestSink_OldBackupsArePruned(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.log")
	s := NewSink(path, 10_000, 2, nil)
	s.Write(lines(100_000))
	deadline := time.Now().Add(10 * time.Second)
	for len(logFiles(t, path)) > 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // lumberjack prunes in the background
	}
	if n := len(logFiles(t, path)); n != 3 {
		t.Errorf("%d files, want the current one and 2 backups", n)
	}
	s.Close()
}

// TestSink_NoBackupsTruncates: logfile_backups = 0 keeps one file.
func TestSink_NoBackupsTruncates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.log")
	s := NewSink(path, 1000, 0, nil)
	data := lines(2500)
	s.Write(data)
	s.Close()
	if files := logFiles(t, path); len(files) != 1 {
		t.Errorf("files %v", files)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, data[2000:]) {
		t.Errorf("current file holds %d bytes, want the last 500", len(b))
	}
}

// TestSink_UnwritableDropsAndCounts: a log that cannot be written costs the
// writer nothing; the bytes are counted as dropped.
func TestSink_UnwritableDropsAndCounts(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "not-a-dir")
	os.WriteFile(blocker, nil, 0o644)
	s := NewSink(filepath.Join(blocker, "p.log"), 1<<20, 2, nil)
	c := &Capture{Stdout: s, Hub: testHub}
	pp, err := c.Attach()
	w := pp.Stdout
	if err != nil {
		t.Fatal(err)
	}
	data := lines(4 << 20) // far more than a pipe buffer holds
	done := make(chan struct{})
	go func() { w.Write(data); w.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the writer was blocked by an unwritable log")
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.Dropped() < int64(len(data)) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	c.Close() // no more attempts to create the directory while it is removed
	if s.Dropped() != int64(len(data)) || s.Written() != 0 {
		t.Errorf("dropped %d written %d, want all %d dropped", s.Dropped(), s.Written(), len(data))
	}
}

// TestSink_ReopenAfterRename is logrotate's sequence: rename, then SIGUSR2.
func TestSink_ReopenAfterRename(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.log")
	s := NewSink(path, 0, 0, nil)
	s.Write([]byte("before\n"))
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	s.Write([]byte("still old\n"))
	s.Reopen()
	s.Write([]byte("after\n"))
	s.Close()
	if got, _ := os.ReadFile(path + ".1"); string(got) != "before\nstill old\n" {
		t.Errorf("rotated file %q", got)
	}
	if got, _ := os.ReadFile(path); string(got) != "after\n" {
		t.Errorf("new file %q", got)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o644 {
		t.Errorf("new log mode %v, want 0644", st.Mode().Perm())
	}
}

// TestSink_DeletedWhileWriting: a log deleted under the writer is created
// again within a second and writing goes on into it.
func TestSink_DeletedWhileWriting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.log")
	s := NewSink(path, 0, 0, nil)
	defer s.Close()
	s.Write([]byte("first\n"))
	os.Remove(path)
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.Write([]byte("more\n"))
		if b, err := os.ReadFile(path); err == nil && strings.Contains(string(b), "more") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the deleted log was never created again")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSink_ResumesWhenWritable: once an unwritable log directory can be
// written, output reaches the file again.
func TestSink_ResumesWhenWritable(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "logs")
	os.WriteFile(blocker, nil, 0o644) // a file where the directory should be
	s := NewSink(filepath.Join(blocker, "p.log"), 0, 0, nil)
	defer s.Close()
	s.Write([]byte("lost\n"))
	if s.Dropped() != 5 {
		t.Fatalf("dropped %d", s.Dropped())
	}
	os.Remove(blocker)
	os.Mkdir(blocker, 0o755)
	s.Write([]byte("kept\n"))
	if b, _ := os.ReadFile(filepath.Join(blocker, "p.log")); string(b) != "kept\n" {
		t.Errorf("log %q after the directory came back", b)
	}
}

// BenchmarkPump measures the log pump: bytes through a pipe into a rotated
// file, in 64 KiB writes as a fast producer makes them.
func BenchmarkPump(b *testing.B) {
	dir := b.TempDir()
	s := NewSink(filepath.Join(dir, "p.log"), 50<<20, 2, nil)
	c := &Capture{Stdout: s, Hub: testHub}
	pp, err := c.Attach()
	w := pp.Stdout
	if err != nil {
		b.Fatal(err)
	}
	chunk := lines(64 << 10)
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	for b.Loop() {
		w.Write(chunk)
	}
	w.Close()
	for s.Written() < int64(b.N)*int64(len(chunk)) {
		time.Sleep(time.Millisecond)
	}
	c.Close()
}

// TestSink_DiskFull writes into /dev/full, where every write fails with
// ENOSPC: nothing blocks, every byte is counted as dropped.
func TestSink_DiskFull(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Fatalf("/dev/full: %v", err)
	}
	s := NewSink("/dev/full", 0, 0, nil)
	defer s.Close()
	data := lines(1 << 20)
	done := make(chan struct{})
	go func() {
		for off := 0; off < len(data); off += 64 << 10 {
			s.Write(data[off:min(off+64<<10, len(data))])
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("writing to a full disk blocked")
	}
	if s.Dropped() != int64(len(data)) || s.Written() != 0 {
		t.Errorf("dropped %d written %d, want all %d dropped", s.Dropped(), s.Written(), len(data))
	}
}

// TestSink_NoGoroutinePerRotatedSink: sinks that rotated and were closed,
// as 100 updates or reloads close them, leave no goroutine each behind
// (lumberjack's pruning goroutine is never stopped, so there is one per
// log path, not one per sink).
func TestSink_NoGoroutinePerRotatedSink(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cycled.log")
	cycle := func() {
		s := NewSink(path, 100, 3, nil)
		s.Write(bytes.Repeat([]byte("x"), 250)) // two rotations
		s.Close()
	}
	cycle()
	time.Sleep(50 * time.Millisecond)
	before := runtime.NumGoroutine()
	for range 100 {
		cycle()
	}
	time.Sleep(50 * time.Millisecond)
	if after := runtime.NumGoroutine(); after > before+5 {
		t.Errorf("goroutines: %d before 100 rotated sinks, %d after", before, after)
	}
}

// TestSink_DoesNotFollowPlantedLinks: a log path that is a symbolic link
// (planted by a program's user in a directory it can write) is never
// followed: writes are dropped and counted, clear and reopen leave the
// target alone.
func TestSink_DoesNotFollowPlantedLinks(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "shadow")
	os.WriteFile(target, []byte("secret\n"), 0o600)
	path := filepath.Join(dir, "web.log")
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	s := NewSink(path, 0, 0, nil)
	s.Write([]byte("appended\n"))
	s.Reopen()
	s.Write([]byte("after reopen\n"))
	if err := s.Clear(); err == nil {
		t.Error("clear of a link succeeded")
	}
	s.Close()
	if b, _ := os.ReadFile(target); string(b) != "secret\n" {
		t.Errorf("the link's target was changed: %q", b)
	}
	if s.Dropped() != int64(len("appended\n")+len("after reopen\n")) {
		t.Errorf("dropped %d bytes", s.Dropped())
	}

	// A link planted after the file was deleted is noticed and not followed.
	path2 := filepath.Join(dir, "worker.log")
	s2 := NewSink(path2, 0, 0, nil)
	s2.Write([]byte("first\n"))
	os.Remove(path2)
	os.Symlink(target, path2)
	s2.mu.Lock()
	s2.checkAfter = 0 // the sink looks at its path at most once a second
	s2.mu.Unlock()
	s2.Write([]byte("second\n"))
	s2.Close()
	if b, _ := os.ReadFile(target); string(b) != "secret\n" {
		t.Errorf("the link's target was changed: %q", b)
	}
}

// logDir makes dir/NAME with mode and owner under a parent every user may
// enter, as a log directory's parents are, and returns it.
func logDir(t *testing.T, name string, mode os.FileMode, owner int) string {
	t.Helper()
	parent := t.TempDir()
	os.Chmod(parent, 0o755)
	os.Chmod(filepath.Dir(parent), 0o755)
	dir := filepath.Join(parent, name)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	os.Chown(dir, owner, owner)
	os.Chmod(dir, mode)
	return dir
}

// TestSink_RotationRunsAsTheDirectorysWriter: in a log directory another
// user can write, rotation runs with that user's file system identity, so
// a link planted in the middle of it reaches nothing that user could not
// write anyway; and the identity is back to root afterwards.
func TestSink_RotationRunsAsTheDirectorysWriter(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: a daemon that is not root cannot reach another user's files anyway")
	}
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("root only\n"), 0o600)
	err := withFSID(nobody, nobody, func() error {
		f, err := os.OpenFile(secret, os.O_WRONLY|os.O_TRUNC, 0)
		if err == nil {
			f.Close()
		}
		return err
	})
	if !errors.Is(err, os.ErrPermission) {
		t.Fatalf("truncating a root-only file as nobody: %v, want permission denied", err)
	}
	if b, _ := os.ReadFile(secret); string(b) != "root only\n" {
		t.Fatal("the root-only file was truncated")
	}
	if f, err := os.OpenFile(secret, os.O_WRONLY|os.O_APPEND, 0); err != nil {
		t.Fatalf("root's identity was not restored: %v", err)
	} else {
		f.Close()
	}

	// A rotation in a directory nobody owns still rotates (sticky too:
	// its owner may rename root's log).
	for _, mode := range []os.FileMode{0o755, 0o755 | os.ModeSticky} {
		dir := logDir(t, "logs", mode, nobody)
		s := NewSink(filepath.Join(dir, "web.log"), 100, 3, nil)
		s.Write(bytes.Repeat([]byte("x"), 250))
		s.Close()
		if backups, _ := filepath.Glob(filepath.Join(dir, "web-*.log")); len(backups) != 2 {
			t.Errorf("backups after two rotations in nobody's directory (%v): %v", mode, backups)
		}
	}
}

// TestSink_RotatesInAGroupWritableDirectory: a root-owned log directory
// its group may write (a setgid directory of group adm) rotates as a
// member of that group would, not as nobody, who may not write it.
func TestSink_RotatesInAGroupWritableDirectory(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: only a root daemon changes identity to rotate")
	}
	dir := logDir(t, "logs", 0o775|os.ModeSetgid, 0)
	s := NewSink(filepath.Join(dir, "web.log"), 100, 3, nil)
	s.Write(bytes.Repeat([]byte("x"), 250))
	s.Close()
	if backups, _ := filepath.Glob(filepath.Join(dir, "web-*.log")); len(backups) != 2 || s.Rotations() != 2 {
		t.Errorf("backups after two rotations in a group-writable directory: %v (%d counted)", backups, s.Rotations())
	}
}

// TestSink_RotationDropsSupplementaryGroups: the identity a rotation runs
// with has no supplementary group (root's own would reach files that no
// user of the directory may write), and the thread gets them back after.
func TestSink_RotationDropsSupplementaryGroups(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: only a root daemon changes identity to rotate")
	}
	// This thread gets a supplementary group (adm), as a daemon started
	// from a root shell has some; setgroups(2) itself is per thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	adm := []uint32{4}
	if _, _, errno := syscall.RawSyscall(syscall.SYS_SETGROUPS, 1, uintptr(unsafe.Pointer(&adm[0])), 0); errno != 0 {
		t.Fatal(errno)
	}
	defer syscall.RawSyscall(syscall.SYS_SETGROUPS, 0, 0, 0)
	var inside []int
	err := withFSID(nobody, nobody, func() error {
		var err error
		inside, err = syscall.Getgroups()
		return err
	})
	if err != nil || len(inside) != 0 {
		t.Errorf("groups while rotating: %v (%v), want none", inside, err)
	}
	if after, _ := syscall.Getgroups(); !slices.Equal(after, []int{4}) {
		t.Errorf("groups %v after a rotation, [4] before", after)
	}
}

// TestSink_NoRotationInAStickyDirectoryOthersWrite: in a sticky directory
// others may write (a group's, where the kernel does not guard links) no
// identity but root can rename root's log, and root could follow a link
// planted in the middle of the rotation: the log is not rotated, and
// says so.
func TestSink_NoRotationInAStickyDirectoryOthersWrite(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: only a root daemon changes identity to rotate")
	}
	for _, owner := range []int{0, nobody} { // root's, or another user's
		dir := logDir(t, "logs", 0o775|os.ModeSticky, owner)
		log := &bytes.Buffer{}
		s := NewSink(filepath.Join(dir, "web.log"), 100, 3, slog.New(slog.NewTextHandler(log, nil)))
		s.Write(bytes.Repeat([]byte("x"), 250))
		s.Close()
		if backups, _ := filepath.Glob(filepath.Join(dir, "web-*.log")); len(backups) != 0 || s.Rotations() != 0 {
			t.Errorf("rotated in a sticky group-writable directory of uid %d: %v", owner, backups)
		}
		if !strings.Contains(log.String(), "sticky") {
			t.Errorf("the refusal is not said:\n%s", log)
		}
	}
}

// TestSink_FailedRotationDoesNotThrottle: a rotation that fails while the
// file can still be written (its directory no longer writable by the
// rotation's identity) leaves the file growing past MaxBytes until the
// next try, instead of a try, and one byte of room, per byte: every byte
// is written at once, and no rotation is counted.
func TestSink_FailedRotationDoesNotThrottle(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: root writes the file the rotation may not rename")
	}
	dir := logDir(t, "logs", 0o755, 0)
	path := filepath.Join(dir, "web.log")
	os.WriteFile(path, bytes.Repeat([]byte("o"), 200), 0o644)
	os.Chown(dir, 12345, 12345)
	os.Chmod(dir, 0o555) // its owner may not rename in it
	log := &bytes.Buffer{}
	s := NewSink(path, 100, 3, slog.New(slog.NewTextHandler(log, nil)))
	for range 100 {
		s.Write(bytes.Repeat([]byte("x"), 100))
	}
	s.Close()
	if st, _ := os.Stat(path); st.Size() != 200+100*100 {
		t.Errorf("log is %d bytes, want all %d", st.Size(), 200+100*100)
	}
	if s.Rotations() != 0 || s.Dropped() != 0 {
		t.Errorf("%d rotations counted, %d bytes dropped; want none of either", s.Rotations(), s.Dropped())
	}
	if !strings.Contains(log.String(), "cannot rotate log") {
		t.Errorf("the failed rotation is not logged:\n%s", log)
	}
}

// TestSink_CreatedByFirstOutput: a spawn makes no log file; the first
// output makes it and its directory, appends to a file that exists, and
// follows no link planted at the path.
func TestSink_CreatedByFirstOutput(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "new", "sub", "web.log")
	s := NewSink(path, 0, 0, nil)
	c := &Capture{Stdout: s, Hub: testHub}
	defer c.Close()
	pp, err := c.Attach()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(path)); !os.IsNotExist(err) {
		t.Fatalf("the spawn made the log's directory: %v", err)
	}
	pp.Stdout.WriteString("hello\n")
	pp.Stdout.Close()
	deadline := time.Now().Add(10 * time.Second)
	for s.Written() < 6 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if st, err := os.Stat(path); err != nil || st.Size() != 6 || st.Mode().Perm() != 0o644&^umask() {
		t.Fatalf("after the first output: %v, %v", st, err)
	}

	kept := filepath.Join(dir, "kept.log")
	os.WriteFile(kept, []byte("kept\n"), 0o644)
	k := NewSink(kept, 0, 0, nil)
	k.Write([]byte("more\n"))
	k.Close()
	if b, _ := os.ReadFile(kept); string(b) != "kept\nmore\n" {
		t.Errorf("an existing log holds %q after a write", b)
	}

	target := filepath.Join(dir, "shadow")
	link := filepath.Join(dir, "link.log")
	os.Symlink(target, link)
	l := NewSink(link, 0, 0, nil)
	defer l.Close()
	l.Write([]byte("x\n"))
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Errorf("the link's target was created: %v", err)
	}
	if l.Dropped() != 2 {
		t.Errorf("dropped %d bytes at a planted link, want 2", l.Dropped())
	}
}

// TestSink_PlantedFIFO: a FIFO at a log's path, which nothing reads,
// cannot block the sink (and the pump behind it): the write is dropped.
func TestSink_PlantedFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "web.log")
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
	s := NewSink(path, 0, 0, nil)
	done := make(chan struct{})
	go func() { s.Write([]byte("hello\n")); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a write to a FIFO nothing reads is blocked") // and the sink with it: no Close
	}
	s.Close()
	if s.Dropped() != 6 {
		t.Errorf("dropped %d bytes, want 6", s.Dropped())
	}
}

func umask() os.FileMode {
	m := syscall.Umask(0)
	syscall.Umask(m)
	return os.FileMode(m)
}

// TestSink_NeverRotatesADevice: a log path that names a device or a FIFO
// (stdout_logfile = /dev/null, a supervisord idiom) is written and never
// rotated, whatever its size limit: a rotation renames the path, and a
// root daemon that renamed /dev/null would take it from the whole
// system. A FIFO with a reader stands for the device here; clear leaves
// it alone too.
func TestSink_NeverRotatesADevice(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "null")
	r := fifoWithReader(t, path)
	got := make(chan int)
	go func() {
		total, buf := 0, make([]byte, 4096)
		for total < 1000 {
			n, _ := r.Read(buf)
			total += n
			time.Sleep(time.Millisecond)
		}
		got <- total
	}()
	for _, s := range []*Sink{NewSink(path, 100, 3, nil), NewLineSink(path, 100, 3)} {
		for range 10 {
			s.Write(bytes.Repeat([]byte("x"), 49))
			s.Write([]byte("\n"))
		}
		if err := s.Clear(); err != nil {
			t.Errorf("clear: %v", err)
		}
		s.Close()
		if s.Rotations() != 0 {
			t.Errorf("%d rotations of a FIFO", s.Rotations())
		}
	}
	if st, err := os.Lstat(path); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("the FIFO is no longer at its path: %v %v", st, err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("the directory holds %d entries, want the FIFO alone: %v", len(ents), ents)
	}
	if n := <-got; n < 1000 {
		t.Errorf("the reader got %d bytes", n)
	}
}

// TestSink_DeviceReplacedByAFile: a sink writing to a FIFO (or device)
// whose path then names a regular file writes into that file within a
// second, as it does when a file is moved aside.
func TestSink_DeviceReplacedByAFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out")
	fifoWithReader(t, path)
	s := NewSink(path, 0, 0, nil)
	defer s.Close()
	s.Write([]byte("to the fifo\n"))
	os.Remove(path)
	os.WriteFile(path, nil, 0o644)
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.Write([]byte("to the file\n"))
		if b, _ := os.ReadFile(path); bytes.Contains(b, []byte("to the file")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the sink never wrote into the file that replaced the FIFO")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fifoWithReader makes a FIFO at path and opens its read end, closed when
// the test ends, so that writes to it do not fail.
func fifoWithReader(t *testing.T, path string) *os.File {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// TestSink_ClosedWhileAPipeWritesKeepsItsLines: a shared sink closed by
// its last user (its program removed, or the daemon shutting down) while
// a pipe still writes into it (a stopped wrapper's server finishing its
// stop) keeps those lines until the pipe is at EOF, then closes.
func TestSink_ClosedWhileAPipeWritesKeepsItsLines(t *testing.T) {
	h := NewHub()
	defer h.Close()
	path := filepath.Join(t.TempDir(), "p.log")
	s := h.OpenSink(path, 0, 0, nil)
	c := &Capture{Stdout: s, Hub: h}
	pp, err := c.Attach()
	if err != nil {
		t.Fatal(err)
	}
	w := pp.Stdout
	w.Write([]byte("before\n"))
	waitWritten(t, s, 7)
	c.Close()
	w.Write([]byte("after the close\n"))
	waitWritten(t, s, 7+16)
	if b, _ := os.ReadFile(path); string(b) != "before\nafter the close\n" {
		t.Errorf("log holds %q", b)
	}
	w.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		closed := s.closed
		s.mu.Unlock()
		if closed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the sink is still open after its last pipe's EOF")
		}
		time.Sleep(5 * time.Millisecond)
	}
	h.mu.Lock()
	_, kept := h.sinks[filepath.Clean(path)]
	h.mu.Unlock()
	if kept {
		t.Error("the hub still lists the sink")
	}
}
