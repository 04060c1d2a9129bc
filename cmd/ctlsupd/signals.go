package main

import (
	"context"
	"os"
	"syscall"
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
	for {
		select {
		case <-ctx.Done():
			return endShutdown
		case r := <-m.requests:
			switch r {
			case requestRestart:
				return endRestart
			case requestUpgrade:
				m.upgrade(true)
				continue
			}
			return endShutdown
		case sig := <-m.Signals:
			switch sig {
			case syscall.SIGTERM, syscall.SIGINT:
				m.Logger.Info("received signal", "signal", sig)
				return endShutdown
			case syscall.SIGQUIT:
				m.Logger.Info("received SIGQUIT: detaching")
				return endDetach
			case syscall.SIGUSR1:
				m.Logger.Info("received SIGUSR1: upgrading in place")
				m.upgrade(false)
			case syscall.SIGHUP:
				m.Logger.Info("received SIGHUP: reread and update")
				m.reload(ctx)
			case syscall.SIGUSR2:
				m.Logger.Info("received SIGUSR2: reopening logs")
				m.Supervisor.ReopenLogs()
				if m.logFile != nil {
					m.logFile.Close()
				}
			}
		}
	}
}
