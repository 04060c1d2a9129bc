//go:build linux && !amd64 && !arm64

package proc

import "syscall"

// Elsewhere the helper or Go's own fork forks every child (see
// sharedfork.go).
type sharedFork struct{ forks int }

func newSharedFork(uint64) *sharedFork { return nil }

func (*sharedFork) forkLocked(string, []string, *syscall.ProcAttr, inChild) (int, error, bool) {
	return 0, nil, false
}

func (*sharedFork) close() {}
