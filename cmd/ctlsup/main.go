// Command ctlsup is supervisorctl for ctlsupd (and for supervisord): the
// same commands, output and exit codes, plus check, status --json.
package main

import (
	"os"
	"runtime/debug"
)

func main() {
	// A command decodes answers of a few megabytes at most and exits;
	// collecting as it goes cost status with 1000 programs 40% of its
	// time. (ctlsup run's own heap stays small either way.)
	debug.SetGCPercent(400)
	m := NewMain()
	os.Exit(m.Run(os.Args[1:]))
}
