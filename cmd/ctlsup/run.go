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
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ctlsup/ctlsup/procfile"
	"github.com/ctlsup/ctlsup/supervisor"
	"github.com/ctlsup/ctlsup/supervisor/osruntime"
)

// procfileOptions are the flags run and export share.
type procfileOptions struct {
	procfile, formation string
	envFiles            []string
	// port is -p; 0 takes PORT from the env files, else from the
	// environment, else 5000, as foreman does.
	port int
}

func (o *procfileOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&o.procfile, "f", "Procfile", "the `Procfile`")
	fs.Func("e", "environment `files`, comma-separated or repeated, later ones winning (default .env beside the Procfile, if present)", func(v string) error {
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				o.envFiles = append(o.envFiles, f)
			}
		}
		return nil
	})
	fs.StringVar(&o.formation, "m", "", "`formation`, such as web=2,worker=4 or all=1")
	fs.IntVar(&o.port, "p", 0, "base `port`: PORT is base + 100 per process type + index (default: PORT from the env files or the environment, else 5000)")
}

// local is one process of the Procfile's single local instance.
type local struct {
	name, command string
	typ           string // its process type
	port          int
	// ps is foreman's name for it, web.1: its PS variable.
	ps string
}

// procfileRun is what a Procfile, its env files and a formation give.
type procfileRun struct {
	procs []local
	vars  []procfile.Var // in order: a later one wins
	dir   string         // the Procfile's directory, where its processes run
}

// load reads the Procfile, the env files and the formation into processes
// named as numprocs names them (web, or web_00, web_01, ...). types, if
// any, are the only process types to run, as `foreman start web` runs
// web alone.
func (o *procfileOptions) load(types []string, getenv func(string) string) (*procfileRun, error) {
	f, err := os.Open(o.procfile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	entries, err := procfile.Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.procfile, err)
	}
	dir, err := filepath.Abs(filepath.Dir(o.procfile))
	if err != nil {
		return nil, err
	}
	form, err := procfile.ParseFormation(o.formation)
	if err != nil {
		return nil, err
	}
	if unknown := form.Unknown(entries); len(unknown) > 0 {
		return nil, fmt.Errorf("formation names %s, which %s does not define", strings.Join(unknown, ", "), o.procfile)
	}
	if len(types) > 0 {
		for _, t := range types {
			if !slices.ContainsFunc(entries, func(e procfile.Entry) bool { return e.Name == t }) {
				return nil, fmt.Errorf("%s defines no process type %q", o.procfile, t)
			}
		}
		form = form.Only(types)
	}
	run := &procfileRun{dir: dir}
	files, explicit := o.envFiles, len(o.envFiles) > 0
	if !explicit {
		files = []string{filepath.Join(filepath.Dir(o.procfile), ".env")}
	}
	for _, name := range files {
		ef, err := os.Open(name)
		if err != nil {
			if explicit {
				return nil, err
			}
			continue
		}
		vars, err := procfile.ParseEnv(ef)
		ef.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		run.vars = append(run.vars, vars...)
	}
	base, err := o.basePort(run.vars, getenv)
	if err != nil {
		return nil, err
	}
	for i, e := range entries {
		n := form.Count(e.Name)
		for k := range n {
			name := e.Name
			if n > 1 {
				name = fmt.Sprintf("%s_%02d", e.Name, k)
			}
			run.procs = append(run.procs, local{name: name, command: e.Command, typ: e.Name, port: procfile.Port(base, i, k), ps: e.Name + "." + strconv.Itoa(k+1)})
		}
	}
	if len(run.procs) == 0 {
		return nil, errors.New("the formation runs no process")
	}
	return run, nil
}

// basePort is foreman's: -p, else PORT of the env files, else of the
// environment, else 5000.
func (o *procfileOptions) basePort(vars []procfile.Var, getenv func(string) string) (int, error) {
	if o.port != 0 {
		return o.port, nil
	}
	from, text := "the environment", getenv("PORT")
	for _, v := range vars {
		if v.Key == "PORT" {
			from, text = "the env file", v.Value
		}
	}
	if text == "" {
		return 5000, nil
	}
	port, err := strconv.Atoi(text)
	if err != nil || port < 1 || port > 65535 {
		return 0, fmt.Errorf("PORT=%q from %s is not a port (give one with -p)", text, from)
	}
	return port, nil
}

// env is a process's environment: the env files', then its own PORT and
// PS, which win.
func (r *procfileRun) env(p local) map[string]string {
	env := map[string]string{}
	for _, v := range r.vars {
		env[v.Key] = v.Value
	}
	env["PORT"] = strconv.Itoa(p.port)
	env["PS"] = p.ps
	return env
}

var colors = []string{"36", "33", "32", "35", "34", "31", "96", "93", "92", "95"}

// doRun runs a Procfile in the foreground on the engine: group "local",
// output prefixed with the process name, Ctrl-C stops everything. When a
// process exits, the others are stopped and ctlsup exits with its code, as
// foreman does, unless --keep-going. Process types named after the
// options are the only ones run.
func doRun(m *Main, arg string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	var o procfileOptions
	o.register(fs)
	keepGoing := fs.Bool("keep-going", false, "keep the others running when a process exits")
	stamps := fs.Bool("timestamps", false, "prefix every line with the time")
	types, err := parseInterspersed(fs, m.words(arg))
	if err != nil {
		m.exit = exitInvalidArgs
		return nil
	}
	run, err := o.load(types, m.Getenv)
	if err != nil {
		fmt.Fprintln(m.Stderr, "ctlsup run:", err)
		m.exit = exitGeneric
		return nil
	}
	group := supervisor.GroupSpec{Name: "local", Priority: 999}
	width := len("ctlsup")
	for _, p := range run.procs {
		width = max(width, len(p.name))
	}
	color := map[string]string{}
	for i, p := range run.procs {
		color[p.name] = colors[i%len(colors)]
		// One simple command is exec'd by its shell; a shell that stays
		// keeps the command as its child: the stop signal then goes to
		// the whole group, as foreman's and honcho's.
		argv, grouped := procfile.Shell(p.command)
		group.Processes = append(group.Processes, supervisor.ProcessSpec{
			Name: p.name, Group: "local", Program: p.name, Instance: "local",
			Argv: argv, Directory: run.dir, Umask: -1, Environment: run.env(p),
			Priority: 999, AutoStart: true, AutoRestart: supervisor.RestartNever, ExitCodes: []int{0},
			StopSignal: syscall.SIGTERM, StopWait: 5 * time.Second, StopAsGroup: grouped, KillAsGroup: true,
			// One pipe for both, as foreman gives: a traceback stays
			// after the lines printed before it.
			RedirectStderr:  true,
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
	// Closing the terminal (HUP) stops everything as Ctrl-C does; so does
	// a reader of the output that goes away (ctlsup run | head), whose
	// SIGPIPE would otherwise end ctlsup alone and orphan the processes.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE) // EPIPE instead
	out := &consoleOut{w: m.Stdout, broken: cancel}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	rt := osruntime.New(state, logger)
	rt.Console = out
	rt.ConsolePrefix = func(spec *supervisor.ProcessSpec, _ bool) string { return prefix(spec.Name) }
	sup := supervisor.New(rt, []supervisor.GroupSpec{group})
	sup.Logger = logger
	if err := sup.Open(ctx); err != nil {
		return err
	}
	say := func(format string, args ...any) {
		fmt.Fprintf(out, "%s%s\n", prefix("ctlsup"), fmt.Sprintf(format, args...))
	}
	reported := map[string]bool{}
	code := m.supervise(ctx, sup, *keepGoing, say, reported)
	say("stopping all processes")
	sup.Close(context.Background())
	// How each process still running ended, as foreman tells.
	for _, p := range sup.Processes() {
		if !reported[p.Name] && !p.Start.IsZero() {
			say("%s stopped: %s", p.Name, exitText(p))
		}
	}
	if out.isBroken() {
		code = exitBrokenPipe
	}
	m.exit = code
	return nil
}

// exitBrokenPipe is how ctlsup run ends when its output's reader went
// away: a shell's code for a death by SIGPIPE, which it reports as
// before, now that the processes are stopped first.
const exitBrokenPipe = 128 + int(syscall.SIGPIPE)

// consoleOut is ctlsup run's standard output: a write that finds the
// reader gone (EPIPE) calls broken once, and later writes are dropped.
type consoleOut struct {
	w      io.Writer
	broken func()
	mu     sync.Mutex
	gone   bool
}

func (c *consoleOut) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone {
		return len(b), nil
	}
	n, err := c.w.Write(b)
	if errors.Is(err, syscall.EPIPE) {
		c.gone = true
		c.broken()
		return len(b), nil
	}
	return n, err
}

func (c *consoleOut) isBroken() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gone
}

// supervise says when each process starts and ends, noting those it
// told of in reported, and waits for Ctrl-C, or for a process to end; it
// returns the exit status ctlsup run should end with.
func (m *Main) supervise(ctx context.Context, sup *supervisor.Supervisor, keepGoing bool, say func(string, ...any), reported map[string]bool) int {
	started := map[string]int{}
	// With keepGoing, the exit is the first failure's code, however many
	// exits later the last process ends, or an interrupt comes.
	firstFailure := 0
	for {
		changed := sup.Changed()
		running, failed := 0, -1
		for _, p := range sup.Processes() {
			if p.Pid != 0 && started[p.Name] != p.Pid {
				started[p.Name] = p.Pid
				say("%s started with pid %d", p.Name, p.Pid)
			}
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
			return firstFailure
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
