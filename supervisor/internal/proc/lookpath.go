package proc

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Reasons a command cannot be spawned, found before forking as supervisord
// finds them.
var (
	ErrNotFound      = errors.New("can't find command")
	ErrNotExecutable = errors.New("not executable")
)

// LookPath resolves a command as supervisord does: a name with a slash is
// used as is, otherwise it is searched in path (the program's PATH). The
// error texts are supervisord's. Every spawn searches afresh, as
// supervisord does (a binary installed earlier in PATH is found), and
// a miss allocates nothing: os.Stat's FileInfo and error for each were
// a third of what starting a program allocated, garbage that spread the
// start's live objects over more memory.
func LookPath(cmd, path, dir string) (string, error) {
	var st syscall.Stat_t
	if strings.Contains(cmd, "/") {
		full := cmd
		if !filepath.IsAbs(full) && dir != "" {
			full = filepath.Join(dir, full)
		}
		return cmd, checkExec(cmd, statErr(full, syscall.Stat(full, &st)), &st)
	}
	if path == "" || strings.IndexByte(cmd, 0) >= 0 {
		// No PATH searches nothing; a NUL names no file.
		return "", fmt.Errorf("%w '%s'", ErrNotFound, cmd)
	}
	var buf []byte
	for d := range strings.SplitSeq(path, string(filepath.ListSeparator)) {
		if d == "" {
			d = "."
		}
		if strings.IndexByte(d, 0) >= 0 {
			continue // names no directory
		}
		if filepath.Clean(d) != d {
			// Joined as filepath.Join cleans it (lexically, as the old
			// search did); clean entries are joined in buf, unchanged.
			full := filepath.Join(d, cmd)
			if syscall.Stat(full, &st) == nil {
				return full, checkExec(full, nil, &st)
			}
			continue
		}
		buf = append(append(append(append(buf[:0], d...), '/'), cmd...), 0)
		if statz(buf, &st) == nil {
			full := filepath.Join(d, cmd)
			return full, checkExec(full, nil, &st)
		}
	}
	return "", fmt.Errorf("%w '%s'", ErrNotFound, cmd)
}

// statz is stat(2) of a NUL-terminated path, which syscall.Stat would
// copy to make one.
func statz(path []byte, st *syscall.Stat_t) error {
	atFDCWD := unix.AT_FDCWD
	_, _, errno := syscall.Syscall6(unix.SYS_NEWFSTATAT, uintptr(atFDCWD), uintptr(unsafe.Pointer(&path[0])), uintptr(unsafe.Pointer(st)), 0, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// statErr is a stat's error with its path, as os.Stat would give it.
func statErr(path string, err error) error {
	if err == nil {
		return nil
	}
	return &fs.PathError{Op: "stat", Path: path, Err: err}
}

// checkExec judges what a stat of the command found.
func checkExec(name string, err error, st *syscall.Stat_t) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w '%s'", ErrNotFound, name)
	}
	if err != nil {
		return notExecutable(fmt.Sprintf("command at '%s': %v", name, err))
	}
	if st.Mode&syscall.S_IFMT == syscall.S_IFDIR {
		return notExecutable(fmt.Sprintf("command at '%s' is a directory", name))
	}
	if st.Mode&0o111 == 0 {
		return notExecutable(fmt.Sprintf("command at '%s' is not executable", name))
	}
	return nil
}

// notExecutable is ErrNotExecutable, reading as supervisord's text alone.
type notExecutable string

func (e notExecutable) Error() string        { return string(e) }
func (e notExecutable) Is(target error) bool { return target == ErrNotExecutable }
