package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"github.com/ctlsup/ctlsup/api/client"
	"github.com/ctlsup/ctlsup/api/xmlrpc"
	"github.com/ctlsup/ctlsup/supervisor/config"
)

// LSB exit statuses, as supervisorctl 4.2.5 uses them.
const (
	exitGeneric       = 1
	exitInvalidArgs   = 2
	exitUnimplemented = 3
	exitNotRunning3   = 3 // status: a listed process is not running
	exitPrivileges    = 4 // also status: unknown name or server unreachable
	exitNotInstalled  = 5
	exitNotRunning    = 7
)

// Main is the client. Tests set its fields and call Run.
type Main struct {
	Stdout, Stderr io.Writer
	Stdin          io.Reader
	Getenv         func(string) string

	ConfigPath string
	ServerURL  string
	// Peers are more servers, from more -s options or [cluster] peers:
	// status shows them all in one table.
	Peers    []string
	Username string
	Password string

	client *client.Client
	exit   int
	// prompt is the shell's, supervisorctl's unless a supervisord INI
	// file's [supervisorctl] prompt says otherwise.
	prompt string
	// quit: quit, exit or EOF ended the session.
	quit bool
	// interactive is -i: a command given on the command line asks, as
	// the shell does (see interact).
	interactive bool
	// askCredentials, in the shell or under -i, asks for a username and
	// password after a 401; false at the end of input.
	askCredentials func() bool
	// localArgs are a local command's words (run, export, convert,
	// check) as the command line gave them, not joined and split again
	// as supervisorctl's commands are: paths and formations may hold
	// blanks. nil in the shell.
	localArgs []string
	// defaultPaths replaces searchPaths' list (tests).
	defaultPaths []string
	// confirm asks the operator a yes/no question; nil (a command given
	// on the command line, without -i) is yes.
	confirm func(question string) bool
}

// confirmed asks, in the shell or under -i, whether to go on.
func (m *Main) confirmed(question string) bool { return m.confirm == nil || m.confirm(question) }

// NewMain returns a client writing to the process's stdout and stderr.
func NewMain() *Main {
	return &Main{Stdout: os.Stdout, Stderr: os.Stderr, Stdin: os.Stdin, Getenv: os.Getenv}
}

// Run parses global options and runs one command (argv words joined and
// split again, as supervisorctl does) or, with none, the interactive shell.
// It returns the exit status.
func (m *Main) Run(args []string) int {
	action, help, err := m.parseOptions(args)
	if err != nil {
		return m.errorAndHelp(err.Error())
	}
	if help {
		fmt.Fprint(m.Stdout, usage)
		return 0
	}
	if len(action) > 0 && (action[0] == "check" || action[0] == "run" || action[0] == "export" || action[0] == "convert") {
		m.localArgs = append([]string{}, action[1:]...)
		m.onecmd(strings.Join(action, " "))
		return m.exit
	}
	if m.ConfigPath != "" {
		if _, err := os.Stat(m.ConfigPath); err != nil {
			return m.errorAndHelp("could not find config file " + m.ConfigPath)
		}
	}
	if err := m.resolveServer(); err != nil && !errors.As(err, new(client.SchemeError)) {
		// (An unknown scheme is reported at the first call, as
		// supervisorctl reports it: help and exit work without one.)
		return m.errorAndHelp(err.Error())
	}
	if len(action) == 0 {
		return m.shell()
	}
	if m.interactive {
		m.interact()
	}
	m.onecmd(strings.Join(action, " "))
	return m.exit
}

// words are a local command's arguments: as given on the command line,
// else arg split at blanks.
func (m *Main) words(arg string) []string {
	if m.localArgs != nil {
		return m.localArgs
	}
	return strings.Fields(arg)
}

// resolveServer finds the server and its credentials as supervisorctl
// does: the file is -c's, else the first of searchPaths (ctlsupd's
// default, then supervisorctl's); its URL serves unless -s or
// CTLSUP_SERVER gives one, and its credentials (and prompt) unless -u
// and -p do. CTLSUP_SERVER without -c reads no file. A -c file that
// cannot be read is an error; a file found by looking that cannot, when
// the URL is given, is passed over.
func (m *Main) resolveServer() error {
	fromEnv := m.ServerURL == "" && m.Getenv("CTLSUP_SERVER") != ""
	if m.ServerURL == "" {
		m.ServerURL = m.Getenv("CTLSUP_SERVER")
	}
	given := m.ServerURL != ""
	path := m.ConfigPath
	if path == "" && !fromEnv {
		for _, p := range m.searchPaths() {
			if st, err := os.Stat(p); err == nil && !st.IsDir() {
				path = p
				break
			}
		}
	}
	if path != "" {
		srv, err := config.LocateServer(path)
		if err != nil && (m.ConfigPath != "" || !given) {
			return err
		}
		if err == nil {
			if srv.Warning != nil {
				fmt.Fprintf(m.Stderr, "Warning: %v\n", srv.Warning)
			}
			if !given {
				m.ServerURL = srv.URL
				m.Peers = append(m.Peers, srv.Peers...)
			}
			// Each from the file unless given, as supervisorctl takes them.
			if m.Username == "" {
				m.Username = srv.Username
			}
			if m.Password == "" {
				m.Password = srv.Password
			}
			if srv.Prompt != "" {
				m.prompt = srv.Prompt
			}
		}
	}
	if m.ServerURL == "" {
		m.ServerURL = "unix:///run/ctlsup/ctlsup.sock"
	}
	c, err := client.New(m.ServerURL, m.Username, m.Password)
	m.client = c
	return err
}

func (m *Main) out(s string) { fmt.Fprintln(m.Stdout, s) }

// outBlock writes many lines at once: one write for a 10,000-line table.
func (m *Main) outBlock(s string) { io.WriteString(m.Stdout, s) }

type command struct {
	run  func(m *Main, arg string) error
	help func(m *Main)
}

// onecmd runs one command line. An error a command does not handle ends
// it the way supervisorctl's catch-all does: one line, exit status 1.
func (m *Main) onecmd(line string) {
	name, arg, line := parseline(line)
	if line == "" {
		return
	}
	if name == "EOF" || name == "quit" || name == "exit" {
		m.out("") // as supervisorctl's do_EOF, which quit and exit are
		m.quit = true
		return
	}
	c, ok := commands[name]
	if !ok {
		m.out("*** Unknown syntax: " + line)
		m.exit = exitGeneric
		return
	}
	err := c.run(m, arg)
	if errors.Is(err, client.ErrUnauthorized) && m.askCredentials != nil {
		// The shell asks, and runs the command again, as supervisorctl's.
		m.out("Server requires authentication")
		if m.askCredentials() {
			m.onecmd(line)
		}
		return // (input ended at the question: said, and failed)
	}
	if err != nil {
		m.catchAll(err)
	}
}

// parseline splits a command line as Python's cmd module does: "?" is
// help, the command is the leading letters, digits and underscores, and
// the argument the rest, trimmed (so a tab separates them too).
func parseline(line string) (name, arg, full string) {
	line = strings.TrimSpace(line)
	if rest, ok := strings.CutPrefix(line, "?"); ok {
		line = "help " + rest
	}
	i := strings.IndexFunc(line, func(r rune) bool {
		return !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	})
	if i < 0 {
		i = len(line)
	}
	return line[:i], strings.TrimSpace(line[i:]), line
}

// catchAll prints an unexpected error as supervisorctl does, without the
// Python file and line it appends.
func (m *Main) catchAll(err error) {
	var f *xmlrpc.Fault
	var pe *client.ProtocolError
	switch {
	case errors.As(err, &f):
		m.out(fmt.Sprintf("error: <class 'xmlrpc.client.Fault'>, <Fault %d: %s>", f.Code, xmlrpc.PyQuote(f.String)))
	case errors.Is(err, syscall.ENOENT):
		m.out("error: <class 'FileNotFoundError'>, [Errno 2] No such file or directory")
	case errors.Is(err, syscall.ECONNREFUSED):
		m.out("error: <class 'ConnectionRefusedError'>, [Errno 111] Connection refused")
	case errors.As(err, new(client.SchemeError)):
		m.out(fmt.Sprintf("error: <class 'ValueError'>, Unknown protocol for serverurl %s", m.ServerURL))
	case errors.Is(err, client.ErrUnauthorized):
		m.out("Server requires authentication")
		m.out("error: <class 'xmlrpc.client.ProtocolError'>, <ProtocolError for 127.0.0.1/RPC2: 401 Unauthorized>")
	case errors.As(err, &pe):
		m.out(fmt.Sprintf("error: <class 'xmlrpc.client.ProtocolError'>, %s", pe))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		// The connection closed with no answer (the daemon upgrading in
		// place or restarting, say): what was asked may have been done.
		m.out("error: <class 'http.client.RemoteDisconnected'>, Remote end closed connection without response")
	default:
		m.out("error: " + err.Error())
	}
	m.exit = exitGeneric
}

// call invokes a method on the server.
func (m *Main) call(method string, params ...any) (any, error) {
	return m.client.Call(method, params...)
}

// upcheck is supervisorctl's check that a supervisor answers with API 3.0.
func (m *Main) upcheck() (bool, error) {
	v, err := m.call("supervisor.getVersion")
	var f *xmlrpc.Fault
	switch {
	case errors.As(err, &f):
		if f.Code == 1 {
			m.out("Sorry, supervisord responded but did not recognize the supervisor namespace commands " +
				"that supervisorctl uses to control it.  Please check that the [rpcinterface:supervisor] " +
				"section is enabled in the configuration file (see sample.conf).")
			m.exit = exitUnimplemented
			return false, nil
		}
		m.exit = exitGeneric
		return false, err
	case errors.Is(err, syscall.ECONNREFUSED):
		m.out(m.ServerURL + " refused connection")
		m.exit = exitPrivileges
		return false, nil
	case errors.Is(err, syscall.ENOENT):
		m.out(m.ServerURL + " no such file")
		m.exit = exitNotRunning
		return false, nil
	case err != nil:
		return false, err
	}
	if v != "3.0" {
		m.out(fmt.Sprintf("Sorry, this version of supervisorctl expects to talk to a server with API version 3.0, but the remote version is %v.", v))
		m.exit = exitNotInstalled
		return false, nil
	}
	return true, nil
}

// faultCode returns the code of a fault error, or 0.
func faultCode(err error) int {
	var f *xmlrpc.Fault
	if errors.As(err, &f) {
		return f.Code
	}
	return 0
}

// splitNamespec is supervisorctl's split_namespec: "g:*" and "g:" name no
// process (process ""), "name" is its own group.
func splitNamespec(spec string) (group, process string, hasProcess bool) {
	if g, p, ok := strings.Cut(spec, ":"); ok {
		if p == "" || p == "*" {
			return g, "", false
		}
		return g, p, true
	}
	return spec, spec, true
}

// makeNamespec is supervisorctl's make_namespec; a missing process prints as
// "None", as Python does.
func makeNamespec(group, process string, hasProcess bool) string {
	if !hasProcess {
		process = "None"
	}
	if group == process {
		return process
	}
	return group + ":" + process
}
