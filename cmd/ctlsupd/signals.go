package main

import (
	"context"
	"os"
	"syscall"
)

// handledSignals are the signals the daemon acts on.
var handledSignals = []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR2}

// serve handles signals and API requests until a shutdown (TERM/INT, the
// shutdown call, or ctx ending) or a restart (the restart call) is asked for;
// it reports which. HUP is reread + update (not supervisord's
// restart-everything); USR2 reopens every log.
func (m *Main) serve(ctx context.Context) (restart bool) {
	for {
		select {
		case <-ctx.Done():
			return false
		case r := <-m.requests:
			return r == requestRestart
		case sig := <-m.Signals:
			switch sig {
			case syscall.SIGTERM, syscall.SIGINT:
				m.Logger.Info("received signal", "signal", sig)
				return false
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
