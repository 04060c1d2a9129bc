package config

import "fmt"

// Error is a configuration error that names where it is: file, line, the
// table (program "x", instance "y", daemon) and the key.
type Error struct {
	File  string
	Line  int    // 0 when unknown
	Table string // `program "celery-beat"`, `instance "turkey"`, "daemon"
	Key   string
	Msg   string
}

func (e *Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.Table == "" {
		return loc + ": " + e.Msg
	}
	return fmt.Sprintf("%s: %s: %s", loc, e.Table, e.Msg)
}
