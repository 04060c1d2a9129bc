package main

import (
	"fmt"
	"strings"

	"github.com/ctlsup/ctlsup/supervisor/config"
	"github.com/ctlsup/ctlsup/supervisor/osruntime"
)

// doCheck validates the ctlsupd configuration without a running daemon:
// `check`, `check FILE` or `check -c FILE`.
func doCheck(m *Main, arg string) error {
	path := m.ConfigPath
	switch f := m.words(arg); {
	case len(f) == 1:
		path = f[0]
	case len(f) == 2 && f[0] == "-c":
		path = f[1]
	case len(f) > 0:
		m.out("Error: check takes a file: check [-c] FILE")
		m.exit = exitGeneric
		return nil
	}
	if path == "" {
		path = config.DefaultPath
	}
	cfg, err := config.Load(path)
	if err == nil {
		err = cfg.Check(osruntime.CheckUser)
	}
	if err != nil {
		m.out(err.Error())
		m.exit = exitGeneric
		return nil
	}
	var b strings.Builder
	cfg.WriteSummary(&b)
	for _, w := range cfg.CheckCommands(osruntime.CheckCommand) {
		fmt.Fprintf(&b, "warning: %v\n", w)
	}
	m.out(strings.TrimSuffix(b.String(), "\n"))
	return nil
}
