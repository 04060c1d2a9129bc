package main

import (
	"bufio"
	"fmt"
	"strings"
)

// shell is the interactive mode: status first, then one command a line
// until quit, exit or end of input.
func (m *Main) shell() int {
	m.onecmd("status")
	m.exit = 0
	sc := bufio.NewScanner(m.Stdin)
	for {
		fmt.Fprint(m.Stdout, "ctlsup> ")
		if !sc.Scan() {
			m.out("")
			return m.exit
		}
		line := strings.TrimSpace(sc.Text())
		if line == "quit" || line == "exit" {
			return m.exit
		}
		m.onecmd(line)
	}
}
