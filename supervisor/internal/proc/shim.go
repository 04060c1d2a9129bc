package proc

import (
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
)

// inChild is what a child does between its fork and its exec that Go's
// fork cannot: set its umask (process-wide in the daemon, so it cannot be
// set around a fork without racing its other files), and set LISTEN_PID to
// its own pid (known only after the fork), which gunicorn and uWSGI require
// before they take the sockets in LISTEN_FDS.
//
// The daemon's own raw fork (sharedfork.go) does both in the child. Go's
// fork and the helper's run the shim instead: the daemon's binary again,
// which does them and execs the program. That costs the child a Go
// runtime's start, about 6 ms of CPU, before the program's exec.
type inChild struct {
	umask     int // -1: the daemon's
	listenPID bool
}

func (x inChild) none() bool { return x.umask < 0 && !x.listenPID }

// viaShim is the path and argv that run the program through the shim
// where x asks for anything.
func (x inChild) viaShim(path string, argv []string) (string, []string) {
	if x.none() {
		return path, argv
	}
	shimmed.Add(1)
	mask, listen := "-", "-"
	if x.umask >= 0 {
		mask = strconv.FormatInt(int64(x.umask), 8)
	}
	if x.listenPID {
		listen = "listen"
	}
	// The running image, not the path it came from: after a package
	// upgrade that path names another binary.
	return "/proc/self/exe", append([]string{shimArg0, mask, listen, path}, argv...)
}

// shimmed counts the children started through the shim.
var shimmed atomic.Int64

// goForkExec is Go's fork, through the shim where the child needs it.
func goForkExec(path string, argv []string, attr *syscall.ProcAttr, x inChild) (int, error) {
	path, argv = x.viaShim(path, argv)
	return syscall.ForkExec(path, argv, attr)
}

// shimArg0 marks a re-execution of the daemon's own binary as the shim.
// Arguments: shimArg0, the umask in octal or "-", "listen" or "-", the
// program's path, its argv.
const shimArg0 = "ctlsup-exec-shim"

// The shim runs before main in any binary that links this package (ctlsupd,
// ctlsup run, test binaries), so every spawner can use it.
func init() {
	if len(os.Args) < 5 || os.Args[0] != shimArg0 {
		return
	}
	if os.Args[1] != "-" {
		mask, err := strconv.ParseUint(os.Args[1], 8, 32)
		if err != nil {
			fmt.Fprintf(os.Stderr, "ctlsup: bad umask %q\n", os.Args[1])
			os.Exit(127)
		}
		syscall.Umask(int(mask))
	}
	env := os.Environ()
	if os.Args[2] == "listen" {
		env = append(env, "LISTEN_PID="+strconv.Itoa(os.Getpid()))
	}
	err := syscall.Exec(os.Args[3], os.Args[4:], env)
	fmt.Fprintf(os.Stderr, "couldn't exec %s: %v\n", os.Args[3], err)
	os.Exit(127)
}
