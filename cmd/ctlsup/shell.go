package main

import (
	"bufio"
	"fmt"
	"strings"
)

// shell is the interactive mode: status first, then one command a line
// until quit, exit or end of input. It exits 0 whatever the commands did,
// as supervisorctl's does: a script piping commands in checks output.
func (m *Main) shell() int {
	m.onecmd("status")
	m.exit = 0
	sc := bufio.NewScanner(m.Stdin)
	for {
		fmt.Fprint(m.Stdout, "ctlsup> ")
		if !sc.Scan() {
			m.out("")
			return 0
		}
		line := strings.TrimSpace(sc.Text())
		if line == "quit" || line == "exit" {
			return 0
		}
		m.onecmd(line)
	}
}
