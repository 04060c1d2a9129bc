package proc

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// shimArg0 marks a re-execution of the daemon's own binary whose only job is
// to do, in the child, what a fork+exec from Go cannot, then exec the real
// program: set the umask (process-wide in the daemon, so it cannot be set
// around a fork without racing its other files), and set LISTEN_PID to the
// child's own pid (known only after the fork), which gunicorn and uWSGI
// require before they take the sockets in LISTEN_FDS.
//
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
