package main

import (
	"context"
	"os"
	"syscall"

	"github.com/ctlsup/ctlsup/supervisor"
)

// handledSignals are the signals the daemon acts on.
var handledSignals = []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR2,
	syscall.SIGUSR1, syscall.SIGQUIT}

// How serve ended.
type ending int

const (
	endShutdown ending = iota // stop every program and exit
	endRestart                // stop every program, read the configuration, start again
	endDetach                 // exit, leaving every program for the next ctlsupd
)

// serve handles signals and API requests until a shutdown (TERM/INT, the
// shutdown call, or ctx ending), a restart (the restart call) or a detach
// (QUIT) is asked for; it reports which. HUP is reread + update (not
// supervisord's restart-everything); USR2 reopens every log; USR1 (and
// ctlsup.upgrade) executes the binary on disk in place.
func (m *Main) serve(ctx context.Context) ending {
	// A reload runs beside this loop, so TERM is never kept waiting by
	// the stops of an update; HUPs that come meanwhile make one more.
	var reloading chan struct{}
	again := false
	reload := func() {
		reloading = make(chan struct{})
		go func(done chan struct{}, sup *supervisor.Supervisor) {
			defer close(done)
			m.reload(ctx, sup)
		}(reloading, m.Supervisor)
	}
	// A restart asked for before this engine started was served by it.
	for drained := false; !drained; {
		select {
		case r := <-m.requests:
			if r == requestShutdown {
				return endShutdown
			}
		default:
			drained = true
		}
	}
	for {
		var reloaded <-chan struct{}
		if reloading != nil {
			reloaded = reloading
		}
		select {
		case <-reloaded:
			reloading = nil
			if again {
				again = false
				reload()
			}
		case <-ctx.Done():
			return endShutdown
		case r := <-m.requests:
			switch r {
			case requestRestart:
				return endRestart
			case requestUpgrade:
				m.upgrade()
				continue
			}
			return endShutdown
		case sig := <-m.Signals:
			switch sig {
			case syscall.SIGTERM, syscall.SIGINT:
				// supervisord's words, which log watchers know.
				if sig == syscall.SIGINT {
					m.Logger.Warn("received SIGINT indicating exit request")
				} else {
					m.Logger.Warn("received SIGTERM indicating exit request")
				}
				return endShutdown
			case syscall.SIGQUIT:
				m.Logger.Info("received SIGQUIT: detaching")
				return endDetach
			case syscall.SIGUSR1:
				m.Logger.Info("received SIGUSR1: upgrading in place")
				// The check runs a program for up to 30 s: beside this
				// loop, so TERM is not kept waiting.
				go func() {
					if err := m.checkUpgrade(); err != nil {
						m.Logger.Error("upgrade refused", "err", err)
						return
					}
					m.ask(requestUpgrade)
				}()
			case syscall.SIGHUP:
				m.Logger.Info("received SIGHUP: reread and update")
				if reloading != nil {
					again = true
				} else {
					reload()
				}
			case syscall.SIGUSR2:
				m.Logger.Info("received SIGUSR2 indicating log reopen request")
				m.Supervisor.ReopenLogs()
				if m.logFile != nil {
					m.logFile.Reopen()
				}
			}
		}
	}
}
