package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ctlsup/ctlsup/api/xmlrpc"
	"github.com/ctlsup/ctlsup/supervisor/config"
)

// supervisorctl's options in getopt's terms: -c/--configuration,
// -s/--serverurl, -u/--username, -p/--password, -i/--interactive,
// -r/--history_file, -h/--help and -?. Scripts and cron jobs written for
// supervisorctl pass them so.
const shortOptions = "h?c:s:u:p:ir:"

var longOptions = []string{"help", "configuration=", "serverurl=", "username=", "password=", "interactive", "history_file="}

// shortOf is the short option a long one is another name for.
var shortOf = map[string]byte{"help": 'h', "configuration": 'c', "serverurl": 's', "username": 'u', "password": 'p',
	"interactive": 'i', "history_file": 'r'}

// parseOptions sets m's fields from the options in args, in their order
// as supervisorctl applies them, and returns the action and its
// arguments; help is set by -h, which wins over what follows it. An
// error is worded as supervisorctl's.
func (m *Main) parseOptions(args []string) (action []string, help bool, err error) {
	opts, rest, err := getopt(args, shortOptions, longOptions)
	if err != nil {
		return nil, false, err
	}
	given := map[byte]bool{}
	for _, o := range opts {
		key := o.name[1]
		if long, ok := strings.CutPrefix(o.name, "--"); ok {
			key = shortOf[long]
		}
		if key == 'h' || key == '?' {
			return nil, true, nil
		}
		// More -s options are more servers, whose status is shown in one
		// table; supervisorctl takes one of each.
		if given[key] && key != 's' {
			return nil, false, fmt.Errorf("conflicting command line option %s", xmlrpc.PyQuote(o.name))
		}
		given[key] = true
		switch key {
		case 'c':
			m.ConfigPath = o.value
		case 's':
			if err := pyURL(o.value); err != nil {
				return nil, false, fmt.Errorf("invalid value for %s %s: %v", o.name, xmlrpc.PyQuote(o.value), err)
			}
			if m.ServerURL == "" {
				m.ServerURL = o.value
			} else {
				m.Peers = append(m.Peers, o.value)
			}
		case 'u':
			m.Username = o.value
		case 'p':
			m.Password = o.value
		case 'i':
			// Without an action the shell starts anyway; with one,
			// supervisorctl 4.2.5 runs it alone, asking as its shell does.
			m.interactive = true
		}
		// The shell keeps no history: -r's file is accepted and left alone.
	}
	return rest, false, nil
}

// usage is the help -h prints, on stdout as supervisorctl's.
const usage = `ctlsup -- control ctlsupd (or supervisord) from the command line.

Usage: ctlsup [options] [action [arguments]]

Options:
-c/--configuration FILENAME -- configuration file path (searches if not given)
-h/--help -- print usage message and exit
-i/--interactive -- ask, as the shell does, before shutdown or reload and
                     for credentials the server wants
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
