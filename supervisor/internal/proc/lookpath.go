package proc

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Reasons a command cannot be spawned, found before forking as supervisord
// finds them.
var (
	ErrNotFound      = errors.New("can't find command")
	ErrNotExecutable = errors.New("not executable")
)

// LookPath resolves a command as supervisord does: a name with a slash is
// used as is, otherwise it is searched in path (the program's PATH). The
// error texts are supervisord's.
func LookPath(cmd, path, dir string) (string, error) {
	if strings.Contains(cmd, "/") {
		full := cmd
		if !filepath.IsAbs(full) && dir != "" {
			full = filepath.Join(dir, full)
		}
		return cmd, checkExec(cmd, full)
	}
	for _, d := range filepath.SplitList(path) {
		if d == "" {
			d = "."
		}
		full := filepath.Join(d, cmd)
		if _, err := os.Stat(full); err == nil {
			return full, checkExec(full, full)
		}
	}
	return "", fmt.Errorf("%w '%s'", ErrNotFound, cmd)
}

func checkExec(name, full string) error {
	st, err := os.Stat(full)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w '%s'", ErrNotFound, name)
	}
	if err != nil {
		return notExecutable(fmt.Sprintf("command at '%s': %v", name, err))
	}
	if st.IsDir() {
		return notExecutable(fmt.Sprintf("command at '%s' is a directory", name))
	}
	if st.Mode()&0o111 == 0 {
		return notExecutable(fmt.Sprintf("command at '%s' is not executable", name))
	}
	return nil
}

// notExecutable is ErrNotExecutable, reading as supervisord's text alone.
type notExecutable string

func (e notExecutable) Error() string        { return string(e) }
func (e notExecutable) Is(target error) bool { return target == ErrNotExecutable }
