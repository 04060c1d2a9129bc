package proc

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestReadStat_OddCommandName: a command name with spaces and
// parentheses, as anyone can name a binary, does not shift the fields.
func TestReadStat_OddCommandName(t *testing.T) {
	sleep, err := os.ReadFile("/bin/sleep")
	if err != nil {
		t.Fatal(err)
	}
	odd := filepath.Join(t.TempDir(), ") (x y) 1 2")
	if err := os.WriteFile(odd, sleep, 0o755); err != nil {
		t.Fatal(err)
	}
	pid, err := syscall.ForkExec(odd, []string{odd, "30"}, &syscall.ProcAttr{Sys: &syscall.SysProcAttr{Setpgid: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		syscall.Kill(pid, syscall.SIGKILL)
		var ws syscall.WaitStatus
		syscall.Wait4(pid, &ws, 0, nil)
	}()
	var st Stat
	for range 500 { // until the exec has renamed it
		if st, err = ReadStat(pid); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm"); string(b) == ") (x y) 1 2\n" {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if st, err = ReadStat(pid); err != nil {
		t.Fatal(err)
	}
	if st.Ppid != os.Getpid() || st.Pgrp != pid || st.StartTime == 0 || (st.State != 'S' && st.State != 'R') {
		t.Errorf("stat of %d: %+v, want ppid %d, pgrp %d", pid, st, os.Getpid(), pid)
	}
}

// ReadSmall allocates only the path's NUL-terminated copy while
// descriptors are to be had (the spares cost nothing then): a metrics
// scrape reads a few files for every program.
func TestReadSmall_AllocatesOnlyThePath(t *testing.T) {
	var buf [1024]byte
	if n := testing.AllocsPerRun(100, func() { ReadSmall("/proc/self/stat", buf[:]) }); n > 1 {
		t.Errorf("ReadSmall allocates %v times, want 1", n)
	}
}
