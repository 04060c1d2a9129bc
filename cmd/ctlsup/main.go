// Command ctlsup is supervisorctl for ctlsupd (and for supervisord): the
// same commands, output and exit codes, plus check, status --json.
package main

import "os"

func main() {
	m := NewMain()
	os.Exit(m.Run(os.Args[1:]))
}
