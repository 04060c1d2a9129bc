package config

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/ctlsup/ctlsup/supervisor"
)

// reader reads typed values from one TOML table. The first error is kept and
// later reads return zero values, so a loader reads every key in a row and
// checks r.err once.
type reader struct {
	f    *file
	path []string // key path of the table: ["program", "gunicorn"]
	desc string   // `program "gunicorn"`
	m    map[string]any
	err  error
}

func (r *reader) fail(key, format string, args ...any) {
	if r.err != nil {
		return
	}
	line := r.f.line(append(slices.Clone(r.path), key)...)
	r.err = &Error{File: r.f.name, Line: line, Table: r.desc, Key: key, Msg: fmt.Sprintf(format, args...)}
}

func (r *reader) has(key string) bool { _, ok := r.m[key]; return ok }

// checkKeys rejects every key not in allowed: a typo in a supervisor config
// is the most common silent failure. All of a table's unknown keys are
// told at once, in the file's order, so that an operator fixes them in
// one round.
func (r *reader) checkKeys(allowed []string) {
	if r.err != nil {
		return
	}
	var unknown []*Error
	for _, k := range slices.Sorted(maps.Keys(r.m)) {
		if !slices.Contains(allowed, k) {
			line := r.f.line(append(slices.Clone(r.path), k)...)
			unknown = append(unknown, &Error{File: r.f.name, Line: line, Table: r.desc, Key: k, Msg: unknownKey(k, allowed)})
		}
	}
	slices.SortStableFunc(unknown, func(a, b *Error) int { return a.Line - b.Line })
	if r.f.unknownKeys != nil {
		for _, e := range unknown {
			*r.f.unknownKeys = append(*r.f.unknownKeys, e)
		}
		return
	}
	switch len(unknown) {
	case 0:
	case 1:
		r.err = unknown[0]
	default:
		errs := make([]error, len(unknown))
		for i, e := range unknown {
			errs[i] = e
		}
		r.err = errors.Join(errs...)
	}
}

// each calls fn for every *Error err is or joins.
func each(err error, fn func(*Error)) {
	if e, ok := err.(*Error); ok {
		fn(e)
		return
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			each(e, fn)
		}
	}
}

func typeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case bool:
		return "a boolean"
	case float64:
		return "a float"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("%T", v)
}

func (r *reader) str(key, def string) string {
	v, ok := r.m[key]
	if !ok {
		return def
	}
	s, ok := v.(string)
	if !ok {
		r.fail(key, "%s must be a string, not %s", key, typeName(v))
	}
	return s
}

func (r *reader) integer(key string, def, lo int) int {
	v, ok := r.m[key]
	if !ok {
		return def
	}
	n, ok := v.(int64)
	if !ok {
		r.fail(key, "%s must be an integer, not %s", key, typeName(v))
		return def
	}
	if int(n) < lo {
		r.fail(key, "%s = %d, but it must be at least %d", key, n, lo)
	}
	return int(n)
}

func (r *reader) boolean(key string, def bool) bool {
	v, ok := r.m[key]
	if !ok {
		return def
	}
	b, ok := v.(bool)
	if !ok {
		r.fail(key, "%s must be true or false, not %s", key, typeName(v))
	}
	return b
}

func (r *reader) strings(key string) []string {
	v, ok := r.m[key]
	if !ok {
		return nil
	}
	arr, ok := v.([]any)
	if !ok {
		r.fail(key, "%s must be an array of strings, not %s", key, typeName(v))
		return nil
	}
	out := make([]string, 0, len(arr))
	for _, e := range arr {
		s, ok := e.(string)
		if !ok {
			r.fail(key, "%s must be an array of strings, but holds %s", key, typeName(e))
			return nil
		}
		out = append(out, s)
	}
	return out
}

func (r *reader) ints(key string, def []int) []int {
	v, ok := r.m[key]
	if !ok {
		return def
	}
	arr, ok := v.([]any)
	if !ok {
		r.fail(key, "%s must be an array of integers, not %s", key, typeName(v))
		return def
	}
	out := make([]int, 0, len(arr))
	for _, e := range arr {
		n, ok := e.(int64)
		if !ok {
			r.fail(key, "%s must be an array of integers, but holds %s", key, typeName(e))
			return def
		}
		out = append(out, int(n))
	}
	return out
}

// size reads a byte count: an integer, or a string with KB, MB or GB.
func (r *reader) size(key string, def int64) int64 {
	v, ok := r.m[key]
	if !ok {
		return def
	}
	switch x := v.(type) {
	case int64:
		if x < 0 {
			r.fail(key, "%s = %d, but it must not be negative", key, x)
		}
		return x
	case string:
		n, err := parseSize(x)
		if err != nil {
			r.fail(key, "%s = %q: %v", key, x, err)
		}
		return n
	}
	r.fail(key, `%s must be a size such as "50MB" or a number of bytes, not %s`, key, typeName(v))
	return def
}

func parseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("not a size (use a number with KB, MB or GB)")
	}
	return n * mult, nil
}

var stopSignals = map[string]syscall.Signal{
	"TERM": syscall.SIGTERM, "HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT,
	"KILL": syscall.SIGKILL, "USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2,
}

func (r *reader) signal(key string, def syscall.Signal) syscall.Signal {
	s := r.str(key, "")
	if s == "" || r.err != nil {
		return def
	}
	name := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	sig, ok := stopSignals[name]
	if !ok {
		r.fail(key, "%s = %q is not one of TERM, HUP, INT, QUIT, KILL, USR1, USR2", key, s)
	}
	return sig
}

// octal reads a umask: a string of octal digits ("022") or a TOML integer
// (0o022). -1 when absent.
func (r *reader) octal(key string) int {
	v, ok := r.m[key]
	if !ok {
		return -1
	}
	switch x := v.(type) {
	case int64:
		if x < 0 || x > 0o777 {
			r.fail(key, "%s = %#o is out of range", key, x)
		}
		return int(x)
	case string:
		n, err := strconv.ParseUint(strings.TrimPrefix(x, "0o"), 8, 32)
		if err != nil || n > 0o777 {
			r.fail(key, "%s = %q is not an octal mode such as \"022\"", key, x)
		}
		return int(n)
	}
	r.fail(key, "%s must be an octal string such as \"022\", not %s", key, typeName(v))
	return -1
}

// env reads an environment table; numbers and booleans become strings.
func (r *reader) env(key string) map[string]string {
	v, ok := r.m[key]
	if !ok {
		return map[string]string{}
	}
	t, ok := v.(map[string]any)
	if !ok {
		r.fail(key, "%s must be a table such as { NAME = \"value\" }, not %s", key, typeName(v))
		return map[string]string{}
	}
	out := make(map[string]string, len(t))
	for k, e := range t {
		switch x := e.(type) {
		case string:
			out[k] = x
		case int64, bool, float64:
			out[k] = fmt.Sprint(x)
		default:
			r.fail(key, "%s.%s must be a string, not %s", key, k, typeName(e))
		}
	}
	return out
}

func (r *reader) table(key string) *reader {
	sub := &reader{f: r.f, path: append(slices.Clone(r.path), key), desc: r.desc, m: map[string]any{}}
	v, ok := r.m[key]
	if !ok {
		return sub
	}
	t, ok := v.(map[string]any)
	if !ok {
		r.fail(key, "%s must be a table, not %s", key, typeName(v))
		return sub
	}
	sub.m = t
	return sub
}

// checkPathLength fails a path the kernel would refuse as too long
// (ENAMETOOLONG), which the daemon would otherwise find only when it
// binds, creates or opens it.
func checkPathLength(r *reader, key, path string) {
	const pathMax, nameMax = 4096, 255
	if len(path) >= pathMax {
		r.fail(key, "%s is %d bytes long; a path may have at most %d", key, len(path), pathMax-1)
		return
	}
	for _, name := range strings.Split(path, "/") {
		if len(name) > nameMax {
			r.fail(key, "%s has a name of %d bytes (%.20q...); a file name may have at most %d", key, len(name), name, nameMax)
			return
		}
	}
}

// maxSocketPath is the longest path a unix socket can be bound or
// connected by: sockaddr_un's 108 bytes, less the terminating NUL.
const maxSocketPath = 107

// checkSocketPath fails a unix socket path longer than the kernel takes.
func checkSocketPath(r *reader, key, path string) {
	if len(path) > maxSocketPath {
		r.fail(key, "%s is %d bytes long; a unix socket's path may have at most %d (its clients connect by it)", key, len(path), maxSocketPath)
	}
}

// checkLogPath fails a log path the kernel would refuse, and a file of
// /proc or /sys, which is no log (/proc/self/mem would take the output).
func checkLogPath(r *reader, key, path string) {
	checkPathLength(r, key, path)
	clean := filepath.Clean(path)
	if _, console := supervisor.ConsoleFD(clean); !console && (strings.HasPrefix(clean, "/proc/") || strings.HasPrefix(clean, "/sys/")) {
		r.fail(key, "%s = %q: a file of /proc or /sys is not a log (for the daemon's own output, write /dev/stdout or /dev/stderr)", key, path)
	}
}
