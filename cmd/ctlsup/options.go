package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ctlsup/ctlsup/supervisor/config"
)

// options are supervisorctl's command-line options, short and long
// (-c/--configuration, -s/--serverurl, -u/--username, -p/--password,
// -i/--interactive, -r/--history_file, -h/--help, -?), with a short
// option's value glued to it (-c/etc/x.conf) or apart, as getopt takes
// them; scripts and cron jobs written for supervisorctl pass them so.
type options struct {
	fs   *flag.FlagSet
	help bool
}

func (m *Main) newOptions() *options {
	o := &options{fs: flag.NewFlagSet("ctlsup", flag.ContinueOnError)}
	fs := o.fs
	fs.SetOutput(io.Discard)
	server := func(v string) error {
		if m.ServerURL == "" {
			m.ServerURL = v
		} else {
			m.Peers = append(m.Peers, v)
		}
		return nil
	}
	for _, name := range []string{"c", "configuration"} {
		fs.StringVar(&m.ConfigPath, name, "", "")
	}
	for _, name := range []string{"s", "serverurl"} {
		fs.Func(name, "", server)
	}
	for _, name := range []string{"u", "username"} {
		fs.StringVar(&m.Username, name, "", "")
	}
	for _, name := range []string{"p", "password"} {
		fs.StringVar(&m.Password, name, "", "")
	}
	// Without a command the shell starts anyway, and with one
	// supervisorctl 4.2.5 runs it alone: -i changes nothing.
	for _, name := range []string{"i", "interactive"} {
		fs.Bool(name, false, "")
	}
	// The shell keeps no history: the file is accepted and left alone.
	for _, name := range []string{"r", "history_file"} {
		fs.String(name, "", "")
	}
	for _, name := range []string{"h", "help", "?"} {
		fs.BoolVar(&o.help, name, false, "")
	}
	return o
}

// unglue splits a short option from a value glued to it (-uadmin), up to
// the first argument that is no option.
func (o *options) unglue(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || !strings.HasPrefix(a, "-") || a == "-" {
			return append(out, args[i:]...)
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f := o.fs.Lookup(name)
		switch {
		case f == nil && !strings.HasPrefix(a, "--") && len(a) > 2 && strings.ContainsRune("csupr", rune(a[1])):
			out = append(out, a[:2], a[2:])
		case f != nil && !hasValue && !isBool(f):
			// Its value is the next argument, whatever it looks like
			// (-p -secret).
			out = append(out, a)
			if i+1 < len(args) {
				i++
				out = append(out, args[i])
			}
		default:
			out = append(out, a)
		}
	}
	return out
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// usage is the help -h prints, on stdout as supervisorctl's.
const usage = `ctlsup -- control ctlsupd (or supervisord) from the command line.

Usage: ctlsup [options] [action [arguments]]

Options:
-c/--configuration FILENAME -- configuration file path (searches if not given)
-h/--help -- print usage message and exit
-i/--interactive -- accepted (the shell starts when no action is given)
-s/--serverurl URL -- URL on which the server listens (unix:///path or
                      http://host:port); again for more servers
-u/--username USERNAME -- username to use for authentication with server
-p/--password PASSWORD -- password to use for authentication with server
-r/--history_file -- accepted; the shell keeps no history

action [arguments] -- see below

Actions are commands like "tail" or "stop".  If no action is given on the
command line, a shell interpreting actions typed interactively is started.
Use the action "help" to find out about available actions.
`

// parseError is a command-line error as supervisorctl words it, naming
// the option as it was typed (--bogus, where Go's flag says -bogus).
func parseError(err error, args []string) string {
	msg := err.Error()
	typed := func(name string) string {
		for _, a := range args {
			if opt, _, _ := strings.Cut(a, "="); strings.TrimLeft(opt, "-") == strings.TrimLeft(name, "-") {
				return opt
			}
		}
		return name
	}
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		return "option " + typed(name) + " not recognized"
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
		return "option " + typed(name) + " requires argument"
	}
	return msg
}

// searchPaths are where a file is looked for when no -c is given:
// ctlsupd's own default, then where supervisorctl looks for its own
// (beside the program, here, and Debian's).
func (m *Main) searchPaths() []string {
	if m.defaultPaths != nil {
		return m.defaultPaths
	}
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	here := filepath.Dir(filepath.Dir(exe))
	return []string{config.DefaultPath, filepath.Join(here, "etc", "supervisord.conf"), filepath.Join(here, "supervisord.conf"),
		"supervisord.conf", "etc/supervisord.conf", "/etc/supervisord.conf", "/etc/supervisor/supervisord.conf"}
}

// errorAndHelp prints a command-line error as supervisorctl does.
func (m *Main) errorAndHelp(msg string) int {
	fmt.Fprintf(m.Stderr, "Error: %s\nFor help, use %s -h\n", msg, os.Args[0])
	return exitInvalidArgs
}
