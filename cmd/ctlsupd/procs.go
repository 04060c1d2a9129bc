package main

import (
	"os"
	"runtime"
)

// ctlsupd's work is waiting: on children, pipes and requests. Logs are
// copied inside splice(2), and a thread in a system call needs no P. With
// a second P, every wake-up also wakes a second thread to look for work
// that is not there: on two CPUs one P cut the daemon's CPU per MiB logged
// by a quarter and the start of 1000 programs by a third. A GOMAXPROCS in
// the environment still decides.
func limitProcs() int {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	return runtime.GOMAXPROCS(0)
}
