package proc

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func TestDescribe(t *testing.T) {
	for ws, want := range map[syscall.WaitStatus]string{
		0:                             "exit status 0",
		3 << 8:                        "exit status 3",
		syscall.WaitStatus(15):        "terminated by SIGTERM",
		syscall.WaitStatus(9):         "terminated by SIGKILL",
		syscall.WaitStatus(11 | 0x80): "terminated by SIGSEGV (core dumped)",
	} {
		if got := Describe(ws); got != want {
			t.Errorf("Describe(%#x) = %q, want %q", int(ws), got, want)
		}
	}
	if ExitCode(syscall.WaitStatus(15)) != -1 || ExitCode(3<<8) != 3 {
		t.Error("ExitCode: a signal death is -1, an exit its code")
	}
}

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "prog"), []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(dir, "data"), nil, 0o644)
	if got, err := LookPath("prog", "/nonexistent:"+dir, ""); err != nil || got != filepath.Join(dir, "prog") {
		t.Errorf("PATH search: %q, %v", got, err)
	}
	// Entries that are not clean are found, and named, as filepath.Join
	// names them.
	for _, entry := range []string{dir + "/", dir + "//", filepath.Join(dir, "sub") + "/.."} {
		if got, err := LookPath("prog", "/nonexistent:"+entry, ""); err != nil || got != filepath.Join(dir, "prog") {
			t.Errorf("PATH entry %q: %q, %v", entry, got, err)
		}
	}
	// No PATH finds nothing, not what the daemon's directory holds; a
	// NUL names no file.
	t.Chdir(dir)
	if got, err := LookPath("prog", "", ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("an empty PATH found %q, %v", got, err)
	}
	if got, err := LookPath("prog\x00junk", dir, ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("a command with a NUL found %q, %v", got, err)
	}
	for cmd, want := range map[string]error{
		"nosuch": ErrNotFound, filepath.Join(dir, "nosuch"): ErrNotFound,
		filepath.Join(dir, "data"): ErrNotExecutable, dir: ErrNotExecutable,
	} {
		if _, err := LookPath(cmd, dir, ""); !errors.Is(err, want) {
			t.Errorf("LookPath(%q): %v, want %v", cmd, err, want)
		}
	}
	if _, err := LookPath("nosuch", dir, ""); err.Error() != "can't find command 'nosuch'" {
		t.Errorf("error text %q, want supervisord's", err)
	}
	data := filepath.Join(dir, "data")
	if _, err := LookPath(data, dir, ""); err.Error() != "command at '"+data+"' is not executable" {
		t.Errorf("error text %q, want supervisord's", err)
	}
}

// TestLookPath_AllocatesLittle: every spawn searches PATH, and what a
// search allocates is garbage that spreads the start's live objects over
// more memory. A miss costs a path and its C copy, not a FileInfo.
func TestLookPath_AllocatesLittle(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "prog"), []byte("#!/bin/sh\n"), 0o755)
	var path []string
	for i := range 12 {
		path = append(path, filepath.Join(dir, "missing", strconv.Itoa(i)))
	}
	path = append(path, dir)
	pathVar := strings.Join(path, ":")
	var before, after runtime.MemStats
	const runs = 200
	runtime.ReadMemStats(&before)
	for range runs {
		if _, err := LookPath("prog", pathVar, ""); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	perDir := float64(after.TotalAlloc-before.TotalAlloc) / runs / float64(len(path))
	if perDir > 32 {
		t.Errorf("a PATH search allocates %.0f bytes a directory, want at most 32", perDir)
	}
}
