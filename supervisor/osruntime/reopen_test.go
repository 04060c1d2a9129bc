package osruntime

import (
	"os"
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ctlsup/ctlsup/supervisor/testhelper"
)

// A pipe an adopted process writes into that cannot be opened for want
// of a descriptor is not lost (which restarted the program, at a limit
// where its new pipes could not be made either): it is read later.
func TestReopenPipe_NoDescriptorIsNotLost(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := exec.Command("/bin/sleep", "30")
	cmd.Stdout = w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	var st unix.Stat_t
	if err := unix.Fstat(int(r.Fd()), &st); err != nil {
		t.Fatal(err)
	}

	_, release := testhelper.ExhaustDescriptors(t, 16)
	if _, ok, writing, noRoom := reopenPipe(cmd.Process.Pid, 1, st.Ino); ok || !writing || !noRoom {
		t.Fatalf("out of descriptors: ok %v writing %v noRoom %v, want a pipe still written into, for later", ok, writing, noRoom)
	}
	release()
	fd, ok, _, noRoom := reopenPipe(cmd.Process.Pid, 1, st.Ino)
	if !ok || noRoom {
		t.Fatalf("with descriptors back: ok %v noRoom %v", ok, noRoom)
	}
	unix.Close(fd)
}
