package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"

	"github.com/ctlsup/ctlsup/api/client"
	"github.com/ctlsup/ctlsup/api/xmlrpc"
)

// doFg attaches the terminal to a running process, as supervisorctl's fg:
// its stdout and stderr stream to ours, and each line typed goes to its
// stdin, until Ctrl-C, end of input, or the process ends.
func doFg(m *Main, arg string) error {
	if ok, err := m.upcheck(); !ok {
		return err
	}
	names := strings.Fields(arg)
	switch {
	case len(names) == 0:
		m.out("ERROR: no process name supplied")
		m.exit = exitGeneric
		helpFg(m)
		return nil
	case len(names) > 1:
		m.out("ERROR: too many process names supplied")
		m.exit = exitGeneric
		return nil
	}
	name := names[0]
	info, err := m.call("supervisor.getProcessInfo", name)
	var f *xmlrpc.Fault
	switch {
	case errors.As(err, &f) && f.Code == 10: // BAD_NAME
		m.out("ERROR: bad process name supplied")
		m.exit = exitGeneric
		return nil
	case err != nil:
		m.out("ERROR: " + err.Error())
		return nil
	case fstr(info, "statename") != "RUNNING":
		m.out("ERROR: process not running")
		m.exit = exitGeneric
		return nil
	}
	m.out("==> Press Ctrl-C to exit <==")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var wg sync.WaitGroup
	var outMu sync.Mutex
	for _, stream := range []string{"stdout", "stderr"} {
		wg.Go(func() { m.stream(ctx, "/logtail/"+url.PathEscape(name)+"/"+stream, &outMu) })
	}
	defer wg.Wait()
	defer stop()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(m.Stdin)
		for sc.Scan() {
			lines <- sc.Text() + "\n"
		}
		close(lines)
	}()
	for {
		select {
		case <-ctx.Done():
			m.out("Exiting foreground")
			return nil
		case line, ok := <-lines:
			if !ok {
				m.out("Exiting foreground")
				return nil
			}
			if _, err := m.call("supervisor.sendProcessStdin", name, line); err != nil {
				if errors.As(err, &f) && f.Code == 70 { // NOT_RUNNING
					m.out("Process got killed")
				} else {
					m.out("ERROR: " + err.Error())
				}
				m.out("Exiting foreground")
				return nil
			}
			if info, err := m.call("supervisor.getProcessInfo", name); err != nil || fstr(info, "statename") != "RUNNING" {
				m.out("Process got killed")
				m.out("Exiting foreground")
				return nil
			}
		}
	}
}

// stream copies a /logtail stream to stdout until ctx ends.
func (m *Main) stream(ctx context.Context, path string, mu *sync.Mutex) {
	resp, err := m.client.Get(ctx, path)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			mu.Lock()
			m.Stdout.Write(buf[:n])
			mu.Unlock()
		}
		if err != nil {
			if err != io.EOF && ctx.Err() == nil {
				fmt.Fprintln(m.Stderr, "fg:", err)
			}
			return
		}
	}
}

func helpFg(m *Main) {
	m.out("fg <process>\tConnect to a process in foreground mode\n\t\tCtrl-C to exit")
}

// doOpen points the client at another server, then shows its status.
func doOpen(m *Main, arg string) error {
	u := strings.TrimSpace(arg)
	if !strings.HasPrefix(u, "unix://") && !strings.HasPrefix(u, "http://") {
		m.out("ERROR: url must be http:// or unix://")
		m.exit = exitGeneric
		return nil
	}
	c, err := client.New(u, m.Username, m.Password)
	if err != nil {
		m.out("ERROR: " + err.Error())
		m.exit = exitGeneric
		return nil
	}
	m.ServerURL, m.client = u, c
	saved := m.exit
	err = doStatus(m, "")
	m.exit = saved
	return err
}

func helpOpen(m *Main) {
	m.out("open <url>\tConnect to a remote supervisord process.\n\t\t(for UNIX domain socket, use unix:///socket/path)")
}
