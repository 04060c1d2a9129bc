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
	m.Signals = sigs
	if err := m.Run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "ctlsupd:", err)
		os.Exit(1)
	}
}
