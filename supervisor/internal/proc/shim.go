package proc

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// shimArg0 marks a re-execution of the daemon's own binary whose only job is
// to set the umask and exec the real program: umask is process-wide, so it
// cannot be set in the daemon around a fork without racing its other files.
const shimArg0 = "ctlsup-umask-shim"

// The shim runs before main in any binary that links this package (ctlsupd,
// ctlsup run, test binaries), so every spawner can use it.
func init() {
	if len(os.Args) < 4 || os.Args[0] != shimArg0 {
		return
	}
	mask, err := strconv.ParseUint(os.Args[1], 8, 32)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ctlsup: bad umask %q\n", os.Args[1])
		os.Exit(127)
	}
	syscall.Umask(int(mask))
	err = syscall.Exec(os.Args[2], os.Args[3:], os.Environ())
	fmt.Fprintf(os.Stderr, "couldn't exec %s: %v\n", os.Args[2], err)
	os.Exit(127)
}
