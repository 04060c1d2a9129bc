package osruntime

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ctlsup/ctlsup/supervisor"
)

// TestResolve_KeptPidfdNamesAnUnrecordedLeader: a spawn whose pid the
// daemon died before recording is found by the pidfd the holder kept on
// it, not by a search of its pipes, which finds whoever else holds them
// (here an earlier process), and the pid is journaled. Once its leader
// has ended, reaped or not, the spawn is gone: what holds its pipes is
// not adopted in its place.
func TestResolve_KeptPidfdNamesAnUnrecordedLeader(t *testing.T) {
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	w := os.NewFile(uintptr(p[1]), "w")
	defer syscall.Close(p[0])
	start := func() *exec.Cmd {
		cmd := exec.Command("sleep", "60")
		cmd.Stdout = w
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd
	}
	other, leader := start(), start()
	w.Close()
	var st syscall.Stat_t
	syscall.Fstat(p[0], &st)
	pipes := []uint64{st.Ino, 0}
	if pid, _, _ := findByPipes(pipes); pid != other.Process.Pid {
		t.Fatalf("a search of the pipes found %d, not the other process %d: this test could not tell the two apart", pid, other.Process.Pid)
	}

	f, _, _, _ := openStateFile(filepath.Join(t.TempDir(), "state.json"), "boot", quietLogger())
	defer f.close()
	rt := &Runtime{state: f, heldPidfds: map[uint64]int{}}
	spec := &supervisor.ProcessSpec{Group: "web", Name: "web"}
	// One kept pidfd per try, each opened while the leader runs.
	var pidfds []int
	for range 3 {
		pidfd, err := unix.PidfdOpen(leader.Process.Pid, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { syscall.Close(pidfd) })
		pidfds = append(pidfds, pidfd)
	}
	resolveWithPidfd := func() *journalEntry {
		t.Helper()
		id := f.newID()
		f.spawning(id, spec, "", pipes, 0, "")
		rt.heldPidfds[id], pidfds = pidfds[0], pidfds[1:]
		rt.survivors = map[string]*journalEntry{}
		e := *f.entries[id]
		rt.resolve(&e)
		return rt.survivors["web"]
	}

	if e := resolveWithPidfd(); e == nil || e.Pid != leader.Process.Pid {
		t.Errorf("resolved to %+v, want the kept pidfd's process %d", e, leader.Process.Pid)
	} else if j := f.entries[e.ID]; j.Pid != e.Pid || j.StartTime != e.StartTime {
		t.Errorf("journal says pid %d start %d, resolved %d %d: a successor would search again", j.Pid, j.StartTime, e.Pid, e.StartTime)
	}
	leader.Process.Kill()
	for !pidfdSaysEnded(t, leader.Process.Pid) {
	}
	if e := resolveWithPidfd(); e != nil {
		t.Errorf("a spawn whose leader ended (unreaped) resolved to %d", e.Pid)
	}
	leader.Wait()
	if e := resolveWithPidfd(); e != nil {
		t.Errorf("a spawn whose leader was reaped resolved to %d", e.Pid)
	}
}

// pidfdSaysEnded opens a pidfd on pid and polls it once.
func pidfdSaysEnded(t *testing.T, pid int) bool {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	n, _ := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 10)
	return n > 0
}
