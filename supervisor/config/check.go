package config

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// Check finds what the files are right about but the machine is not,
// as a spawn would: a user that does not exist (checkUser is the
// runtime's lookup, so loading itself never touches the machine).
func (c *Config) Check(checkUser func(name string) error) error {
	var errs []error
	for _, g := range c.Groups {
		for _, p := range g.Processes {
			if p.User == "" {
				continue
			}
			if err := checkUser(p.User); err != nil {
				errs = append(errs, fmt.Errorf("process %s: user = %q: %w", p.FullName(), p.User, err))
			}
		}
	}
	return errors.Join(errs...)
}

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
