package config

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ctlsup/ctlsup/supervisor"
)

// Check finds what the files are right about but the machine is not,
// as a spawn would: a user that does not exist (checkUser is the
// runtime's lookup, so loading itself never touches the machine).
func (c *Config) Check(checkUser func(name string) error) error {
	var errs []error
	checked := map[string]bool{}
	for _, g := range c.Groups {
		for _, p := range g.Processes {
			if p.User == "" || checked[p.User] {
				continue
			}
			checked[p.User] = true
			err := checkUser(p.User)
			if err == nil {
				continue
			}
			// Once per user, where it is first named: a missing user is one
			// thing to fix, however many programs run as it.
			if at := c.userAt[p.User]; at != nil {
				e := *at
				e.Msg = fmt.Sprintf("user = %q: %v (on this host)", p.User, err)
				errs = append(errs, &e)
			} else {
				errs = append(errs, fmt.Errorf("process %s: user = %q: %w", p.FullName(), p.User, err))
			}
		}
	}
	return errors.Join(errs...)
}

// CheckCommands finds the commands a spawn would not find on this host,
// as checkCommand (the runtime's lookup) says, once per program and
// command. They are warnings, not errors: supervisord starts with them
// too (the program goes FATAL), a program that does not autostart may
// be installed later, and an upgrade's --check must not refuse the new
// binary for them.
func (c *Config) CheckCommands(checkCommand func(*supervisor.ProcessSpec) error) []error {
	var warnings []error
	checked := map[string]bool{}
	for _, g := range c.Groups {
		for i := range g.Processes {
			p := &g.Processes[i]
			key := p.Program + "\x00" + strings.Join(p.Argv[:min(1, len(p.Argv))], "") + "\x00" + p.Directory + "\x00" + p.Environment["PATH"]
			if checked[key] {
				continue
			}
			checked[key] = true
			err := checkCommand(p)
			if err == nil {
				continue
			}
			if at := c.commandAt[p.Program]; at != nil {
				e := *at
				e.Msg = fmt.Sprintf("command: %v (on this host)", err)
				warnings = append(warnings, &e)
			} else {
				warnings = append(warnings, fmt.Errorf("process %s: command: %w (on this host)", p.FullName(), err))
			}
		}
	}
	return warnings
}

// DropPlaces forgets where each user and command is named, which only
// Check and CheckCommands use (they then report without a line): a
// daemon keeps its configuration for its life, and a place costs about
// 100 bytes a program.
func (c *Config) DropPlaces() { c.userAt, c.commandAt = nil, nil }

// WriteSummary lists every process with its command, then a line saying
// the configuration is fine: what --check and `ctlsup check` print.
func (c *Config) WriteSummary(w io.Writer) {
	n := 0
	for _, g := range c.Groups {
		for _, p := range g.Processes {
			fmt.Fprintf(w, "%-40s %s\n", p.FullName(), strings.Join(p.Argv, " "))
			n++
		}
	}
	fmt.Fprintf(w, "%s: OK, %d groups, %d processes\n", c.Daemon.File, len(c.Groups), n)
}
