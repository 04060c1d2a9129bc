package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

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
			if !pyURL(o.value) {
				return nil, false, fmt.Errorf("invalid value for %s %s: value %s is not a URL", o.name, xmlrpc.PyQuote(o.value), xmlrpc.PyQuote(o.value))
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

// pyURL is supervisorctl's test of a -s value: Python's urlparse finds a
// scheme in it, and a host or a path.
func pyURL(v string) bool {
	v = strings.TrimLeftFunc(v, func(r rune) bool { return r <= ' ' })
	v = strings.NewReplacer("\t", "", "\r", "", "\n", "").Replace(v)
	v, _, _ = strings.Cut(v, "#")
	v, _, _ = strings.Cut(v, "?")
	i := strings.IndexByte(v, ':')
	if i <= 0 || !isASCIILetter(v[0]) || strings.IndexFunc(v[:i], func(r rune) bool {
		return !(r < utf8.RuneSelf && (isASCIILetter(byte(r)) || r >= '0' && r <= '9' || strings.ContainsRune("+-.", r)))
	}) >= 0 {
		return false
	}
	path := v[i+1:]
	if hier, ok := strings.CutPrefix(path, "//"); ok {
		slash := strings.IndexByte(hier, '/')
		if slash != 0 && hier != "" {
			return true // a host
		}
		path = hier[max(slash, 0):]
	}
	// In a scheme that has them, parameters after the last segment's ';'
	// are no part of the path.
	if usesParams[strings.ToLower(v[:i])] {
		from := max(strings.LastIndexByte(path, '/'), 0)
		if semi := strings.IndexByte(path[from:], ';'); semi >= 0 {
			path = path[:from+semi]
		}
	}
	return path != ""
}

// usesParams are the schemes whose paths Python's urlparse splits ';'
// parameters from.
var usesParams = map[string]bool{"ftp": true, "hdl": true, "prospero": true, "http": true, "imap": true, "https": true,
	"shttp": true, "rtsp": true, "rtspu": true, "sip": true, "sips": true, "mms": true, "sftp": true, "tel": true}

func isASCIILetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

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
