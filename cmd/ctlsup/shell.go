package main

import (
	"bufio"
	"fmt"
	"os"
	"os/signal"
	"strings"

	"golang.org/x/sys/unix"
)

// shell is the interactive mode: status first, then one command a line
// until quit, exit or end of input. It exits 0 whatever the commands did,
// as supervisorctl's does: a script piping commands in checks output.
func (m *Main) shell() int {
	sc := m.interact()
	prompt := m.prompt
	if prompt == "" {
		prompt = "supervisor"
	}
	m.quit = false
	m.onecmd("status")
	m.exit = 0
	for !m.quit {
		fmt.Fprint(m.Stdout, prompt+"> ")
		if !sc.Scan() {
			m.out("")
			return 0
		}
		m.onecmd(sc.Text())
	}
	return 0
}

// interact makes the session ask the operator, as supervisorctl's does
// in its shell or under -i: whether to go on with shutdown and reload (the
// answer is the next line), and for a username and password after a 401.
// It returns the reader of the lines that follow.
func (m *Main) interact() *bufio.Scanner {
	sc := bufio.NewScanner(m.Stdin)
	// Input that ends at a question fails the command, as Python's
	// input() raising EOFError fails supervisorctl's.
	ended := func() bool {
		m.out("error: <class 'EOFError'>, EOF when reading a line")
		m.exit = exitGeneric
		return false
	}
	m.confirm = func(question string) bool {
		fmt.Fprint(m.Stdout, question)
		if !sc.Scan() {
			return ended()
		}
		return strings.HasPrefix(strings.ToLower(sc.Text()), "y")
	}
	m.askCredentials = func() bool {
		fmt.Fprint(m.Stdout, "Username:")
		if !sc.Scan() {
			return ended()
		}
		user := sc.Text()
		fmt.Fprint(m.Stdout, "Password:")
		restore := m.noEcho()
		ok := sc.Scan()
		restore()
		if !ok {
			return ended()
		}
		m.out("")
		m.Username, m.Password = user, sc.Text()
		m.client.Username, m.client.Password = m.Username, m.Password
		return true
	}
	return sc
}

// noEcho turns the terminal's echo off while a password is typed, if
// stdin is a terminal; it returns what turns it back on.
func (m *Main) noEcho() (restore func()) {
	f, ok := m.Stdin.(*os.File)
	if !ok {
		return func() {}
	}
	fd := int(f.Fd())
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return func() {}
	}
	quiet := *t
	quiet.Lflag &^= unix.ECHO
	unix.IoctlSetTermios(fd, unix.TCSETS, &quiet)
	// Ctrl-C at the prompt gives the terminal its echo back before the
	// shell ends, as supervisorctl's (an empty line, exit 0).
	interrupted := make(chan os.Signal, 1)
	signal.Notify(interrupted, os.Interrupt)
	done := make(chan struct{})
	go func() {
		select {
		case <-interrupted:
			unix.IoctlSetTermios(fd, unix.TCSETS, t)
			m.out("")
			os.Exit(0)
		case <-done:
		}
	}()
	return func() {
		signal.Stop(interrupted)
		close(done)
		unix.IoctlSetTermios(fd, unix.TCSETS, t)
	}
}
