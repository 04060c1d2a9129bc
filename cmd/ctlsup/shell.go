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
	sc := bufio.NewScanner(m.Stdin)
	// shutdown and reload ask first here, as supervisorctl's shell does;
	// the answer is the next line (end of input is no).
	m.confirm = func(question string) bool {
		fmt.Fprint(m.Stdout, question)
		return sc.Scan() && strings.HasPrefix(strings.ToLower(sc.Text()), "y")
	}
	m.onecmd("status")
	m.exit = 0
	for {
		fmt.Fprint(m.Stdout, "ctlsup> ")
		if !sc.Scan() {
			m.out("")
			return 0
		}
		line := strings.TrimSpace(sc.Text())
		if line == "quit" || line == "exit" {
			m.out("") // as at the end of input, as supervisorctl does
			return 0
		}
		m.onecmd(line)
	}
}
