package logcap

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSink_RotationWithoutADescriptorKeepsOutput: a daemon at its
// descriptor limit cannot open a rotation's new file (lumberjack renames
// the old one first). The output goes on into the file being written, and
// into a new one at the path once a descriptor is free: nothing is
// dropped.
func TestSink_RotationWithoutADescriptorKeepsOutput(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	s := NewSink(path, 100, 2, nil)
	defer s.Close()
	line := []byte(strings.Repeat("x", 39) + "\n")
	restore := noDescriptorLeft(t, s, line)
	defer restore()
	written := len(line)
	for range 5 { // past MaxBytes: a rotation that cannot open its file
		s.Write(line)
		written += len(line)
	}
	time.Sleep(1100 * time.Millisecond) // the sink looks for its path once a second
	s.Write(line)
	written += len(line)
	restore()
	time.Sleep(1100 * time.Millisecond)
	s.Write(line)
	written += len(line)

	if d := s.Dropped(); d != 0 {
		t.Errorf("%d bytes dropped", d)
	}
	got := 0
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		got += len(b)
	}
	if got != written {
		t.Errorf("%d bytes in %d files, %d written", got, len(files), written)
	}
	if st, err := os.Stat(path); err != nil || st.Size() == 0 {
		t.Errorf("no new file at the path once a descriptor was free: %v", err)
	}
}

// noDescriptorLeft writes line to s (opening its file, at a descriptor
// above 64 free ones), then lowers the descriptor limit to that number
// and takes every descriptor under it: no open succeeds until restore.
func noDescriptorLeft(t *testing.T, s *Sink, line []byte) (restore func()) {
	t.Helper()
	var low []*os.File
	for range 64 {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		low = append(low, f)
	}
	s.Write(line)
	for _, f := range low {
		f.Close()
	}
	var saved syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &saved); err != nil {
		t.Fatal(err)
	}
	limited := saved
	limited.Cur = uint64(s.fd)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &limited); err != nil {
		t.Fatal(err)
	}
	var filler []*os.File
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			break
		}
		filler = append(filler, f)
	}
	return func() {
		for _, f := range filler {
			f.Close()
		}
		filler = nil
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &saved)
	}
}

// TestSink_DeletedFileIsLetGo: a log deleted under the sink while no
// descriptor is free for a new one is not written on (its space would
// stay pinned, its bytes counted as written): they are dropped, and
// counted so.
func TestSink_DeletedFileIsLetGo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	s := NewSink(path, 0, 0, nil)
	defer s.Close()
	line := []byte("a line\n")
	restore := noDescriptorLeft(t, s, line)
	defer restore()
	os.Remove(path)
	time.Sleep(1100 * time.Millisecond) // the sink looks for its path once a second
	s.Write(line)
	if s.Dropped() != int64(len(line)) {
		t.Errorf("%d bytes dropped, want the line written after the deletion", s.Dropped())
	}
}
