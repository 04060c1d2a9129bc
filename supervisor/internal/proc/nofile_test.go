package proc

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// childNofileProbe, set in a re-executed test binary, makes it print what
// childNofileLocked learnt and exit.
const childNofileProbe = "CTLSUP_TEST_CHILD_NOFILE"

// TestChildNofile_LearntWhereGoRaisedIt: a process started with a soft
// descriptor limit below its hard one has it raised by Go; the limit its
// children get is still the one it started with, and so is what the
// daemon tells the spawner.
func TestChildNofile_LearntWhereGoRaisedIt(t *testing.T) {
	if os.Getenv(childNofileProbe) != "" {
		if err := Acquire(nil); err != nil {
			os.Exit(2)
		}
		reaper.mu.Lock()
		n := childNofileLocked()
		reaper.mu.Unlock()
		os.Stdout.WriteString(strconv.FormatUint(n, 10) + "\n")
		os.Exit(0)
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Max < 600 {
		t.Fatalf("hard descriptor limit %d: too low to start a child below it", lim.Max)
	}
	// The child starts with 500 (Setrlimit also stops Go from giving the
	// child its own original limit instead), and raises it itself.
	low := lim
	low.Cur = 500
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildNofile_LearntWhereGoRaisedIt$")
	cmd.Env = append(os.Environ(), childNofileProbe+"=1")
	out, err := cmd.Output()
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	if err != nil {
		t.Fatalf("probe: %v %s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "500" {
		t.Errorf("learnt %q, want the limit the process started with, 500", got)
	}
}
