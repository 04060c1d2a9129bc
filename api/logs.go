package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/ctlsup/ctlsup/supervisor"
)

// A request may read at most this much log in all (a multicall of reads
// included): the daemon must not be the process that runs out of memory
// because a client asked for a 90 MiB log, or for 2^40 bytes of one.
const maxReadPerRequest = 8 << 20

type budgetKey struct{}

func withReadBudget(ctx context.Context) context.Context {
	left := int64(maxReadPerRequest)
	return context.WithValue(ctx, budgetKey{}, &left)
}

// take reserves n bytes of the request's read budget.
func take(ctx context.Context, n int) bool {
	left, ok := ctx.Value(budgetKey{}).(*int64)
	if !ok {
		left = new(int64)
		*left = maxReadPerRequest
	}
	if int64(n) > *left {
		return false
	}
	*left -= int64(n)
	return true
}

// errTooLarge is the fault for a read over the budget: the client asks for
// a range instead (tail reads the end of a log within it).
func errTooLarge(n int) error {
	return fault(faultFailed, fmt.Sprintf("reading %d bytes is over the limit of %d bytes a request may read; read a smaller range", n, maxReadPerRequest))
}

// readLog reads part of a log file with supervisord's offset semantics:
// offset >= 0 reads length bytes (0 = to the end) from offset; offset < 0
// (with length 0) reads the last -offset bytes. A missing file is NO_FILE,
// unless unwrittenIsEmpty: a spawned process's log is made by its first
// output (supervisord makes it at the spawn), and reads as empty until
// then.
func readLog(ctx context.Context, path string, offset, length int, unwrittenIsEmpty bool) (string, error) {
	// The file first, then the arguments, as supervisord checks them.
	if path == "" {
		return "", fault(faultNoFile, "")
	}
	f, err := openLog(path)
	unwritten := unwrittenIsEmpty && errors.Is(err, fs.ErrNotExist)
	if err != nil && !unwritten {
		return "", fault(faultNoFile, path)
	}
	if length < 0 || (offset < 0 && length != 0) {
		if f != nil {
			f.Close()
		}
		return "", fault(faultBadArguments, "")
	}
	if unwritten {
		return "", nil
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", fault(faultFailed, err.Error())
	}
	size := int(st.Size())
	start, end := offset, size
	if offset < 0 {
		start = max(size+offset, 0)
	} else if length > 0 {
		end = min(offset+length, size)
	}
	if start >= size || start >= end {
		return "", nil
	}
	if !take(ctx, end-start) {
		return "", errTooLarge(end - start)
	}
	buf := make([]byte, end-start)
	n, err := f.ReadAt(buf, int64(start))
	if err != nil && err != io.EOF {
		return "", fault(faultFailed, err.Error())
	}
	return printable(buf[:n]), nil
}

// tailLog is supervisord's tailFile: [data, new offset, overflow]. The
// length is what the client asks for, clamped to what the request may
// still read: a longer tail says overflow, as supervisord's does. A log
// that does not exist (none configured, or not written yet) gives
// supervisord's answer: nothing, at offset 0; one that cannot be opened,
// nothing at the client's offset. With unwrittenIsEmpty (see readLog) a
// log not written yet is supervisord's empty file: it says overflow for
// an offset and length that end before 0.
func tailLog(ctx context.Context, path string, offset, length int, unwrittenIsEmpty bool) []any {
	f, err := openLog(path)
	if path == "" || errors.Is(err, fs.ErrNotExist) {
		return []any{"", 0, unwrittenIsEmpty && path != "" && offset+length < 0}
	}
	if err != nil {
		return []any{"", offset, false}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return []any{"", offset, false}
	}
	sz := int(st.Size())
	// A negative length stays negative until the flags are decided, as
	// in supervisord's tailFile, which says overflow for it.
	length = min(length, maxReadPerRequest)
	for length > 0 && !take(ctx, length) {
		length /= 2
	}
	overflow := false
	if sz > offset+length {
		overflow = true
		offset = sz - 1
	}
	if offset+length > sz {
		if offset > sz-1 {
			length = 0
		}
		offset = max(sz-length, 0)
	}
	offset, length = max(offset, 0), max(length, 0)
	data := make([]byte, length)
	n, _ := f.ReadAt(data, int64(offset))
	return []any{printable(data[:n]), sz, overflow}
}

// printable makes log bytes safe for XML 1.0: invalid UTF-8 and control
// characters other than tab, newline and carriage return become U+FFFD.
// supervisord sends them as they are, and supervisorctl then fails to parse
// the answer (an ANSI colour code breaks `tail`).
func printable(b []byte) string {
	ok := utf8.Valid(b)
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
			ok = false
			break
		}
	}
	if ok {
		return string(b)
	}
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || r == 0xFFFE || r == 0xFFFF {
			return '\uFFFD'
		}
		return r
	}, strings.ToValidUTF8(string(b), "\uFFFD"))
}

// openLog opens a log for reading without blocking: a FIFO planted at a
// log's path, which nothing writes, would block the open until something
// does.
func openLog(path string) (*os.File, error) {
	if _, console := supervisor.ConsoleFD(path); console {
		// The daemon's own stdout or stderr: opened for reading, a pipe's
		// would take what the container runtime is to read.
		return nil, errConsoleLog
	}
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}

var errConsoleLog = errors.New("the log is the daemon's own output")

// truncateNoFollow empties a log file, refusing one that is a symbolic
// link: a root daemon must not truncate where a planted link points.
func truncateNoFollow(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Truncate(0)
}
