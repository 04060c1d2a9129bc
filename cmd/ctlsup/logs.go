package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"

	"github.com/ctlsup/ctlsup/api/xmlrpc"
)

func doTail(m *Main, arg string) error {
	if ok, err := m.upcheck(); !ok {
		return err
	}
	args := strings.Fields(arg)
	if len(args) < 1 || len(args) > 3 {
		if len(args) < 1 {
			m.out("Error: too few arguments")
		} else {
			m.out("Error: too many arguments")
		}
		m.exit = exitGeneric
		helpTail(m)
		return nil
	}
	modifier := ""
	if strings.HasPrefix(args[0], "-") {
		modifier, args = args[0], args[1:]
	}
	if len(args) == 0 {
		m.out("Error: tail requires process name")
		m.exit = exitGeneric
		return nil
	}
	name, channel := args[0], "stdout"
	if len(args) > 1 {
		channel = strings.ToLower(args[len(args)-1])
		if channel != "stdout" && channel != "stderr" {
			m.out(fmt.Sprintf("Error: bad channel %s", xmlrpc.PyQuote(channel)))
			m.exit = exitGeneric
			return nil
		}
	}
	n := 1600
	if modifier != "" {
		if modifier == "-f" {
			return m.tailFollow("/logtail/" + name + "/" + channel)
		}
		v, err := strconv.Atoi(modifier[1:])
		if err != nil {
			m.out("Error: bad argument " + modifier)
			m.exit = exitGeneric
			return nil
		}
		n = v
	}
	method := "supervisor.readProcessStdoutLog"
	if channel == "stderr" {
		method = "supervisor.readProcessStderrLog"
	}
	out, err := m.call(method, name, -n, 0)
	if err != nil {
		m.exit = exitGeneric
		switch faultCode(err) {
		case fNoFile:
			m.out(name + ": ERROR (no log file)")
		case fFailed:
			m.out(name + ": ERROR (unknown error reading log)")
		case fBadName:
			m.out(name + ": ERROR (no such process name)")
		default:
			return err
		}
		return nil
	}
	m.out(fmt.Sprint(out))
	return nil
}

func doMaintail(m *Main, arg string) error {
	if ok, err := m.upcheck(); !ok {
		return err
	}
	args := strings.Fields(arg)
	n := 1600
	switch {
	case len(args) > 1:
		m.out("Error: too many arguments")
		m.exit = exitGeneric
		helpMaintail(m)
		return nil
	case len(args) == 1 && args[0] == "-f":
		return m.tailFollow("/mainlogtail")
	case len(args) == 1:
		v, err := strconv.Atoi(strings.TrimPrefix(args[0], "-"))
		if err != nil || !strings.HasPrefix(args[0], "-") {
			m.out("Error: bad argument " + args[0])
			m.exit = exitGeneric
			return nil
		}
		n = v
	}
	out, err := m.call("supervisor.readLog", -n, 0)
	if err != nil {
		m.exit = exitGeneric
		switch faultCode(err) {
		case fNoFile:
			m.out("supervisord: ERROR (no log file)")
		case fFailed:
			m.out("supervisord: ERROR (unknown error reading log)")
		default:
			return err
		}
		return nil
	}
	m.out(fmt.Sprint(out))
	return nil
}

// tailFollow streams a log until Ctrl-C, as supervisorctl's tail -f does.
func (m *Main) tailFollow(path string) error {
	m.out("==> Press Ctrl-C to exit <==")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	resp, err := m.client.Get(ctx, path)
	if err != nil {
		if ctx.Err() != nil {
			m.out("")
			return nil
		}
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(m.Stderr, "%s%s Cannot read, status code %d\n", m.ServerURL, path, resp.StatusCode)
		return nil
	}
	io.Copy(m.Stdout, resp.Body)
	if ctx.Err() != nil {
		m.out("")
	}
	return nil
}

func doClear(m *Main, arg string) error {
	if ok, err := m.upcheck(); !ok {
		return err
	}
	names := strings.Fields(arg)
	if len(names) == 0 {
		m.out("Error: clear requires a process name")
		m.exit = exitGeneric
		helpClear(m)
		return nil
	}
	text := func(r result) string {
		name := makeNamespec(r.group, r.name, r.hasName)
		switch r.code {
		case fBadName:
			return name + ": ERROR (no such process)"
		case fFailed:
			return name + ": ERROR (failed)"
		}
		return name + ": cleared"
	}
	if slices.Contains(names, "all") {
		rs, err := m.call("supervisor.clearAllProcessLogs")
		if err != nil {
			return err
		}
		for _, v := range list(rs) {
			r := fromStruct(v)
			m.out(text(r))
			m.setExitFromFault(r.code, -1)
		}
		return nil
	}
	for _, name := range names {
		group, process, hasProcess := splitNamespec(name)
		_, err := m.call("supervisor.clearProcessLogs", name)
		if code := faultCode(err); code != 0 {
			m.out(text(result{group: group, name: process, hasName: hasProcess, code: code}))
			m.setExitFromFault(code, -1)
			continue
		}
		if err != nil {
			return err
		}
		m.out(makeNamespec(group, process, hasProcess) + ": cleared")
	}
	return nil
}
