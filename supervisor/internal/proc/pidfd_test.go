package proc

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestKernelAtLeast(t *testing.T) {
	for release, want := range map[string]bool{
		"6.15.0": true, "6.18.44-fc-v769": true, "7.0.1": true, "6.1.0-28-amd64": false,
		"6.14.11": false, "5.19.0": false, "junk": false, "": false,
	} {
		if got := kernelAtLeast(release, 6, 15); got != want {
			t.Errorf("kernelAtLeast(%q, 6, 15) = %v, want %v", release, got, want)
		}
	}
}

// TestPidfdNamesAnother: a pidfd on one live process names another pid,
// not its own; once its process is reaped, it names nothing the kernel
// can tell, so it is not taken for another's.
func TestPidfdNamesAnother(t *testing.T) {
	if _, _, ok := pidfdProcess(pidfdOn(t, os.Getpid())); !ok {
		t.Skipf("PIDFD_GET_INFO needs Linux 6.13; this kernel cannot say which process a pidfd names")
	}
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f := pidfdOn(t, cmd.Process.Pid)
	if PidfdNamesAnother(f, cmd.Process.Pid) {
		t.Errorf("a pidfd on %d is said to name another process", cmd.Process.Pid)
	}
	if !PidfdNamesAnother(f, os.Getpid()) {
		t.Errorf("a pidfd on %d is not told apart from pid %d", cmd.Process.Pid, os.Getpid())
	}
	cmd.Process.Kill()
	cmd.Wait()
	if PidfdNamesAnother(f, os.Getpid()) {
		t.Errorf("a pidfd on a reaped process is said to name a live other")
	}
}

func pidfdOn(t *testing.T, pid int) *os.File {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "pidfd")
	t.Cleanup(func() { f.Close() })
	return f
}

// TestKeptPidfdLeader: a pidfd kept since a spawn names its leader while
// it runs (pid and start time), and says it ended once it exits, whether
// or not its parent has reaped it yet.
func TestKeptPidfdLeader(t *testing.T) {
	if _, _, ok := pidfdProcess(pidfdOn(t, os.Getpid())); !ok {
		t.Skipf("PIDFD_GET_INFO needs Linux 6.13; this kernel cannot say which process a pidfd names")
	}
	cmd := exec.Command("sh", "-c", "read line")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	fd := int(pidfdOn(t, pid).Fd())
	id, ended, known := KeptPidfdLeader(fd)
	st, err := ReadStat(pid)
	if err != nil {
		t.Fatal(err)
	}
	if !known || ended || id != (Identity{Pid: pid, StartTime: st.StartTime}) {
		t.Errorf("running: %+v ended %v known %v, want pid %d start %d", id, ended, known, pid, st.StartTime)
	}
	stdin.Close() // sh exits; nobody reaps it yet
	for st.State != 'Z' {
		time.Sleep(5 * time.Millisecond)
		if st, err = ReadStat(pid); err != nil {
			t.Fatal(err)
		}
	}
	if _, ended, known := KeptPidfdLeader(fd); !ended || !known {
		t.Errorf("a zombie: ended %v known %v, want ended", ended, known)
	}
	cmd.Wait()
	if _, ended, known := KeptPidfdLeader(fd); !ended || !known {
		t.Errorf("reaped: ended %v known %v, want ended", ended, known)
	}
}
