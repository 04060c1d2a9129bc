// Command ctlsupd is the ctlsup daemon: it keeps the programs of its
// configuration running.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	limitProcs()
	limitHeapGrowth()
	m := NewMain()
	if err := m.ParseFlags(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "ctlsupd:", err)
		os.Exit(2)
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, handledSignals...)
	// A write to a closed stdout or stderr (programs logging to
	// /dev/stdout, the daemon's own log) must fail with EPIPE, not kill the
	// daemon, as Go does to a program that leaves SIGPIPE alone. Caught,
	// not ignored: children get the default back at their exec.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	m.Signals, m.SignalSink = sigs, sigs
	if err := m.Run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "ctlsupd:", err)
		os.Exit(1)
	}
}
