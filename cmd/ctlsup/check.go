package main

import (
	"fmt"
	"strings"

	"github.com/ctlsup/ctlsup/supervisor/config"
)

// doCheck validates the ctlsupd configuration without a running daemon.
func doCheck(m *Main, arg string) error {
	path := m.ConfigPath
	if f := strings.Fields(arg); len(f) == 1 {
		path = f[0]
	}
	if path == "" {
		path = config.DefaultPath
	}
	cfg, err := config.Load(path)
	if err != nil {
		m.out(err.Error())
		m.exit = exitGeneric
		return nil
	}
	n := 0
	for _, g := range cfg.Groups {
		for _, p := range g.Processes {
			m.out(fmt.Sprintf("%-40s %s", p.FullName(), strings.Join(p.Argv, " ")))
			n++
		}
	}
	m.out(fmt.Sprintf("%s: OK, %d groups, %d processes", cfg.Daemon.File, len(cfg.Groups), n))
	return nil
}
