package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ctlsup/ctlsup/procfile"
	"github.com/ctlsup/ctlsup/supervisor"
	"github.com/ctlsup/ctlsup/supervisor/osruntime"
)

// procfileOptions are the flags run and export share.
type procfileOptions struct {
	procfile, envFile, formation string
	port                         int
}

func (o *procfileOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&o.procfile, "f", "Procfile", "the `Procfile`")
	fs.StringVar(&o.envFile, "e", "", "environment `file` (default .env beside the Procfile, if present)")
	fs.StringVar(&o.formation, "m", "", "`formation`, such as web=2,worker=4 or all=1")
	fs.IntVar(&o.port, "p", 5000, "base `port`: PORT is base + 100 per process type + index")
}

// local is one process of the Procfile's single local instance.
type local struct {
	name, command string
	port          int
}

// load reads the Procfile, the .env file and the formation into processes
// named as numprocs names them (web, or web_00, web_01, ...).
func (o *procfileOptions) load() ([]local, []procfile.Var, error) {
	f, err := os.Open(o.procfile)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	entries, err := procfile.Parse(f)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", o.procfile, err)
	}
	form, err := procfile.ParseFormation(o.formation)
	if err != nil {
		return nil, nil, err
	}
	if unknown := form.Unknown(entries); len(unknown) > 0 {
		return nil, nil, fmt.Errorf("formation names %s, which %s does not define", strings.Join(unknown, ", "), o.procfile)
	}
	envFile, explicit := o.envFile, o.envFile != ""
	if !explicit {
		envFile = filepath.Join(filepath.Dir(o.procfile), ".env")
	}
	var vars []procfile.Var
	if ef, err := os.Open(envFile); err == nil {
		vars, err = procfile.ParseEnv(ef)
		ef.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", envFile, err)
		}
	} else if explicit {
		return nil, nil, err
	}
	var procs []local
	for i, e := range entries {
		n := form.Count(e.Name)
		for k := range n {
			name := e.Name
			if n > 1 {
				name = fmt.Sprintf("%s_%02d", e.Name, k)
			}
			procs = append(procs, local{name: name, command: e.Command, port: procfile.Port(o.port, i, k)})
		}
	}
	if len(procs) == 0 {
		return nil, nil, errors.New("the formation runs no process")
	}
	return procs, vars, nil
}

var colors = []string{"36", "33", "32", "35", "34", "31", "96", "93", "92", "95"}

// doRun runs a Procfile in the foreground on the engine: group "local",
// output prefixed with the process name, Ctrl-C stops everything. When a
// process exits, the others are stopped and ctlsup exits with its code, as
// foreman does, unless --keep-going.
func doRun(m *Main, arg string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	var o procfileOptions
	o.register(fs)
	keepGoing := fs.Bool("keep-going", false, "keep the others running when a process exits")
	stamps := fs.Bool("timestamps", false, "prefix every line with the time")
	if err := fs.Parse(strings.Fields(arg)); err != nil {
		m.exit = exitInvalidArgs
		return nil
	}
	procs, vars, err := o.load()
	if err != nil {
		fmt.Fprintln(m.Stderr, "ctlsup run:", err)
		m.exit = exitGeneric
		return nil
	}
	group := supervisor.GroupSpec{Name: "local", Priority: 999}
	width := 0
	for _, p := range procs {
		width = max(width, len(p.name))
	}
	color := map[string]string{}
	for i, p := range procs {
		env := map[string]string{"PORT": strconv.Itoa(p.port)}
		for _, v := range vars {
			env[v.Key] = v.Value
		}
		color[p.name] = colors[i%len(colors)]
		group.Processes = append(group.Processes, supervisor.ProcessSpec{
			Name: p.name, Group: "local", Program: p.name, Instance: "local",
			Argv: []string{"/bin/sh", "-c", p.command}, Umask: -1, Environment: env,
			Priority: 999, AutoStart: true, AutoRestart: supervisor.RestartNever, ExitCodes: []int{0},
			StopSignal: syscall.SIGTERM, StopWait: 5 * time.Second, KillAsGroup: true,
			RestartMaxDelay: time.Minute, // output goes to the console, not to log files
		})
	}
	tty := isTerminal(m.Stdout)
	prefix := func(name string) string {
		s := fmt.Sprintf("%-*s | ", width, name)
		if *stamps {
			s = time.Now().Format("15:04:05 ") + s
		}
		if tty {
			s = "\x1b[" + color[name] + "m" + s + "\x1b[0m"
		}
		return s
	}
	state, err := os.MkdirTemp("", "ctlsup-run-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(state)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	rt := osruntime.New(state, logger)
	rt.Console = m.Stdout
	rt.ConsolePrefix = func(spec *supervisor.ProcessSpec, _ bool) string { return prefix(spec.Name) }
	sup := supervisor.New(rt, []supervisor.GroupSpec{group})
	sup.Logger = logger
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := sup.Open(ctx); err != nil {
		return err
	}
	say := func(format string, args ...any) {
		fmt.Fprintf(m.Stdout, "%s%s\n", prefix("ctlsup"), fmt.Sprintf(format, args...))
	}
	for _, p := range sup.Processes() {
		say("%s started with pid %d", p.Name, p.Pid)
	}
	code := m.supervise(ctx, sup, *keepGoing, say)
	say("stopping all processes")
	sup.Close(context.Background())
	m.exit = code
	return nil
}

// supervise waits for Ctrl-C, or for a process to end; it returns the exit
// status ctlsup run should end with.
func (m *Main) supervise(ctx context.Context, sup *supervisor.Supervisor, keepGoing bool, say func(string, ...any)) int {
	reported := map[string]bool{}
	// With keepGoing, the exit is the first failure's code, however many
	// exits later the last process ends.
	firstFailure := 0
	for {
		changed := sup.Changed()
		running, failed := 0, -1
		for _, p := range sup.Processes() {
			if !p.State.IsStopped() {
				running++
				continue
			}
			if reported[p.Name] {
				continue
			}
			reported[p.Name] = true
			code := p.ExitStatus
			if code < 0 || p.State == supervisor.Fatal {
				code = 1
			}
			say("%s exited: %s", p.Name, exitText(p))
			if failed < 0 {
				failed = code
			}
			if firstFailure == 0 {
				firstFailure = code
			}
		}
		if failed >= 0 && !keepGoing {
			return failed
		}
		if running == 0 {
			return firstFailure
		}
		select {
		case <-ctx.Done():
			return 0
		case <-changed:
		}
	}
}

func exitText(p *supervisor.ProcessInfo) string {
	if p.State == supervisor.Fatal {
		return p.SpawnErr
	}
	if p.ExitStatus < 0 {
		return "killed by a signal"
	}
	return "exit status " + strconv.Itoa(p.ExitStatus)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
