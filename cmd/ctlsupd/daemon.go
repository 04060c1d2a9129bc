package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ctlsup/ctlsup/api"
	"github.com/ctlsup/ctlsup/supervisor"
	"github.com/ctlsup/ctlsup/supervisor/cluster"
	"github.com/ctlsup/ctlsup/supervisor/config"
	"github.com/ctlsup/ctlsup/supervisor/osruntime"
)

// Main is the daemon. Tests set its fields and call Run in-process.
type Main struct {
	ConfigPath string
	CheckOnly  bool // validate the configuration and exit

	Stdout, Stderr io.Writer
	// Signals delivers TERM/INT (shut down), HUP (reread + update) and USR2
	// (reopen logs). main wires it to os/signal; tests send on it.
	Signals <-chan os.Signal
	// SignalSink is the channel main gave os/signal (Signals' other end),
	// for an upgrade that failed to give the signals back to; nil in tests
	// that send on Signals themselves.
	SignalSink chan<- os.Signal
	// Started, if set, is called once every autostart process was issued.
	Started func(*Main)

	Config     *config.Config
	Supervisor *supervisor.Supervisor
	Logger     *slog.Logger

	// MetricsAddr is where /metrics is served, once Run has started.
	MetricsAddr string

	logFile  osruntime.LogFile
	lock     *os.File
	control  *control
	requests chan request // shutdown, restart and upgrade asked for over the API
	// fdReserve lets the control and metrics listeners accept when the
	// daemon is out of descriptors.
	fdReserve *fdReserve
	// fullWarned is when connsFull last warned (unix nanoseconds).
	fullWarned atomic.Int64

	// inherited are the descriptors a previous image passed across an
	// upgrade, until taken; listeners are the open ones by the same names
	// (control, tcp, metrics), for the next upgrade.
	inherited  map[string]inheritedFD
	listeners  map[string]net.Listener
	listenAddr map[string]string // what each listener serves, for an upgrade
	runtime    atomic.Value      // *osruntime.Runtime of the current engine

	engine        atomic.Pointer[supervisor.Supervisor] // the current engine, for goroutines
	swapped       atomic.Pointer[chan struct{}]         // closed when a reload replaces the engine
	metricsServer *http.Server
	pingHook      func(context.Context) error // tests wedge the engine with it

	reloadMu sync.Mutex
	reloadOK bool
	reloadAt time.Time

	leases *cluster.Manager // nil without [cluster]
}

type request int

const (
	requestShutdown request = iota
	requestRestart
	requestUpgrade // checked already
)

// ask queues a request for the serve loop; one already queued of the same
// kind is enough, so a caller never blocks.
func (m *Main) ask(r request) {
	select {
	case m.requests <- r:
	default:
	}
}

// NewMain returns a daemon with the default configuration path.
func NewMain() *Main {
	return &Main{ConfigPath: config.DefaultPath, Stdout: os.Stdout, Stderr: os.Stderr}
}

// ParseFlags reads the command line. It is separate from Run so tests can
// configure Main directly.
func (m *Main) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("ctlsupd", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.StringVar(&m.ConfigPath, "c", m.ConfigPath, "daemon configuration `file`")
	fs.BoolVar(&m.CheckOnly, "check", false, "validate the configuration, print its processes and exit")
	fs.Usage = func() {
		fmt.Fprintln(m.Stderr, "usage: ctlsupd [-c FILE] [--check]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	// Absolute: an upgrade's check of the new binary runs elsewhere than
	// the directory the daemon was started from.
	if abs, err := filepath.Abs(m.ConfigPath); err == nil {
		m.ConfigPath = abs
	}
	return nil
}

// Run loads the configuration, starts the programs and supervises them until
// ctx ends or a TERM/INT arrives; then it stops everything and returns nil.
func (m *Main) Run(ctx context.Context) error {
	cfg, err := config.Load(m.ConfigPath)
	if err != nil {
		return err
	}
	m.Config = cfg
	if m.CheckOnly {
		return m.printCheck()
	}
	cfg.DropPlaces()
	m.inherited = takeInherited()
	m.listeners, m.listenAddr = map[string]net.Listener{}, map[string]string{}
	if err := m.openLog(); err != nil {
		return err
	}
	// Before any program takes a descriptor.
	m.fdReserve = newFDReserve(controlReserve, m.Logger)
	defer m.closeLog()
	if err := m.lockStateDir(); err != nil {
		return err
	}
	defer m.unlockStateDir()

	if err := m.openCluster(); err != nil {
		return err
	}
	if m.leases != nil {
		// After the engine: its programs stopped (and their leases given
		// up), or left running under their fences.
		defer m.leases.Close()
	}
	m.requests = make(chan request, 3)
	passed := activationListeners(m.Logger)
	if err := m.openControl(passed["control"]); err != nil {
		return err
	}
	defer m.closeControl()
	if err := m.openMetrics(passed["metrics"]); err != nil {
		return err
	}
	defer m.closeMetrics()
	m.closeUnclaimed()
	m.recordReload(true)
	bg, stopBackground := context.WithCancel(ctx)
	defer stopBackground()
	for first := true; ; first = false {
		if err := m.startEngine(ctx); err != nil {
			return err
		}
		if first {
			go m.keepStatus(bg)
			go m.watchdog(bg)
		}
		m.notify("READY=1")
		end := m.serve(ctx)
		if end == endDetach {
			m.Logger.Info("exiting, leaving every program running for the next ctlsupd")
			m.Supervisor.Detach()
			return nil
		}
		restart := end == endRestart
		if restart {
			m.notifyReloading()
			m.Logger.Info("restarting: stopping every program and reading the configuration again")
		} else {
			m.notify("STOPPING=1")
			m.Logger.Info("shutting down")
		}
		drained := make(chan struct{})
		go m.extendStop(drained, m.stopLimit())
		err := m.Supervisor.Close(context.Background())
		close(drained)
		if err != nil || !restart {
			m.Logger.Info("ctlsupd stopped")
			return err
		}
		cfg, err := config.Load(m.ConfigPath)
		m.recordReload(err == nil)
		if err != nil {
			// The old configuration goes on, as supervisord keeps its own.
			m.Logger.Error("configuration not reloaded", "err", err)
			continue
		}
		m.Config.Groups = cfg.Groups
	}
}

// startEngine opens a supervisor over the loaded configuration and serves
// the API over it.
func (m *Main) startEngine(ctx context.Context) error {
	cfg := m.Config
	rt := osruntime.New(cfg.Daemon.StateDir, m.Logger)
	rt.ServerURL = cfg.Daemon.ServerURL()
	// A switch to compare against, and a way out should the spawner
	// misbehave on some kernel: the daemon then forks its children itself.
	rt.DirectFork = os.Getenv("CTLSUPD_DIRECT_FORK") == "1"
	rt.HelperFork = os.Getenv("CTLSUPD_HELPER_FORK") == "1"
	rt.NoHolder = os.Getenv("CTLSUPD_NO_HOLDER") == "1" // for the bench only
	rt.OnBurst = procs.raise
	m.runtime.Store(rt)
	prev := m.Supervisor
	m.Supervisor = supervisor.New(rt, cfg.Groups)
	m.Supervisor.Logger = m.Logger
	if prev != nil {
		m.Supervisor.FirstEventSerial = prev.NextEventSerial() // a reload: serials go on
	}
	m.Supervisor.Loader = m.load
	m.Supervisor.OnShutdown = func() { m.ask(requestShutdown) }
	if m.leases != nil {
		m.Supervisor.Leases = m.leases
	}
	m.engine.Store(m.Supervisor)
	swapped := make(chan struct{})
	if old := m.swapped.Swap(&swapped); old != nil {
		close(*old)
	}
	if h := cfg.Daemon.Webhook; h.URL != "" {
		api.StartWebhook(m.Supervisor, h.URL, h.Events, m.Logger)
	}
	// Served once the engine has its programs, before it starts them: a
	// call that waited in the socket's backlog across an upgrade must find
	// them, and a program that calls supervisorctl as it starts must reach
	// this engine, not the one a reload closed.
	m.Supervisor.OnReady = m.newAPI
	if err := m.Supervisor.Open(ctx); err != nil {
		return err
	}
	m.Logger.Info(fmt.Sprintf("ctlsupd started with pid %d", os.Getpid()), "pid", os.Getpid(), "config", cfg.Daemon.File,
		"groups", len(cfg.Groups), "processes", len(m.Supervisor.Processes()), "socket", cfg.Daemon.Control.Socket)
	if m.Started != nil {
		m.Started(m)
	}
	return nil
}

// load reads the configuration again for reread and update. A user this
// host does not have fails it, as --check and supervisord's reread do:
// the running configuration stays, and the tool that applied the change
// is told (CANT_REREAD), where the program would only have gone FATAL
// after an update that reported success. (At the daemon's start such a
// program goes FATAL instead: refusing to start would take every other
// program's supervision down with it.)
func (m *Main) load() ([]supervisor.GroupSpec, error) {
	cfg, err := config.Load(m.ConfigPath)
	if err != nil {
		return nil, err
	}
	if err := cfg.Check(osruntime.CheckUser); err != nil {
		return nil, err
	}
	return cfg.Groups, nil
}

func (m *Main) printCheck() error {
	if err := m.Config.Check(osruntime.CheckUser); err != nil {
		return err
	}
	m.Config.WriteSummary(m.Stdout)
	for _, w := range m.Config.CheckCommands(osruntime.CheckCommand) {
		fmt.Fprintf(m.Stderr, "warning: %v\n", w)
	}
	return nil
}

// openLog sets up the daemon's own log: stderr, plus the logfile if set.
func (m *Main) openLog() error {
	var w io.Writer = m.Stderr
	if path := m.Config.Daemon.LogFile; path != "" {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		m.logFile = osruntime.OpenLogFile(path, m.Config.Daemon.LogFileMaxBytes, m.Config.Daemon.LogFileBackups)
		w = io.MultiWriter(m.Stderr, m.logFile)
	}
	var level slog.Level
	level.UnmarshalText([]byte(m.Config.Daemon.LogLevel))
	if m.Logger == nil {
		if m.Config.Daemon.LogFormat == "supervisord" {
			m.Logger = slog.New(newSupervisordLog(w, level))
		} else {
			m.Logger = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
		}
	}
	return nil
}

func (m *Main) closeLog() {
	if m.logFile != nil {
		m.logFile.Close()
	}
}

// checkStateDir refuses a state directory another user could have made
// or can write to (one under /tmp made first by someone else, say): its
// journal names processes to stop, its pid file is truncated, its
// sockets are served.
func checkStateDir(dir string) error {
	st, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("state_dir: %w", err)
	}
	sys, _ := st.Sys().(*syscall.Stat_t)
	switch {
	case !st.IsDir():
		return fmt.Errorf("state_dir %s is not a directory (a symbolic link is not followed)", dir)
	case sys != nil && int(sys.Uid) != os.Geteuid():
		return fmt.Errorf("state_dir %s belongs to uid %d, not to ctlsupd's user (uid %d): remove it, or choose another", dir, sys.Uid, os.Geteuid())
	case st.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("state_dir %s is writable by others (mode %04o): chmod go-w it", dir, st.Mode().Perm())
	}
	return nil
}

// lockStateDir makes sure one daemon owns a state directory: a second one
// would stop the first one's programs as leftovers.
func (m *Main) lockStateDir() error {
	dir := m.Config.Daemon.StateDir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cannot create state_dir: %w", err)
	}
	if err := checkStateDir(dir); err != nil {
		return err
	}
	path := filepath.Join(dir, "ctlsupd.pid")
	if in, ok := m.inherited["lock"]; ok {
		delete(m.inherited, "lock")
		m.lock = in.f // held across the upgrade: same pid, same lock
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(path)
		f.Close()
		return fmt.Errorf("another ctlsupd (pid %s) uses state_dir %s", strings.TrimSpace(string(b)), dir)
	}
	f.Truncate(0)
	f.WriteString(strconv.Itoa(os.Getpid()) + "\n")
	m.lock = f
	return nil
}

func (m *Main) unlockStateDir() {
	if m.lock != nil {
		os.Remove(m.lock.Name())
		m.lock.Close()
	}
}

// reload rereads the configuration and applies it; a configuration error
// changes nothing and is logged with its file and line.
func (m *Main) reload(ctx context.Context, sup *supervisor.Supervisor) {
	m.notifyReloading()
	defer m.notify("READY=1")
	d, err := sup.Update(ctx)
	m.recordReload(err == nil)
	if err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			m.Logger.Error("configuration not applied", "err", err)
		} else {
			m.Logger.Error("reload failed", "err", err)
		}
		return
	}
	m.Logger.Info("configuration applied", "added", d.Added, "changed", d.Changed, "removed", d.Removed)
}
