package proc

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctlsup/ctlsup/supervisor/testhelper"
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
	if st.Ppid != os.Getpid() || st.Pgrp != pid || st.Threads != 1 || st.StartTime == 0 || (st.State != 'S' && st.State != 'R') {
		t.Errorf("stat of %d: %+v, want ppid %d, pgrp %d, 1 thread", pid, st, os.Getpid(), pid)
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

// TestCheck_ZombieLeaderOfLiveThreadsRuns: a process whose main thread
// called pthread_exit shows its leader as a zombie while its other
// threads run. It is alive, its memory is reported, and a stop must
// reach it; once its last thread ends, it is a zombie like any other.
func TestCheck_ZombieLeaderOfLiveThreadsRuns(t *testing.T) {
	cmd := exec.Command(testhelper.LeaderExitsProgram(t))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := false
	defer func() {
		if !waited {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	if line, err := bufio.NewReader(out).ReadString('\n'); line != "thread runs\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	pid := cmd.Process.Pid
	var st Stat
	for range 1000 { // until the main thread has exited
		if st, err = ReadStat(pid); err != nil || st.State == 'Z' {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err != nil || st.State != 'Z' || st.Threads != 2 {
		t.Fatalf("stat of %d: %+v, %v; want a zombie leader of 2 threads", pid, st, err)
	}
	id := Identity{Pid: pid, StartTime: st.StartTime}
	if alive, known := id.Check(); !alive || !known {
		t.Fatalf("Check of a zombie leader whose thread runs: alive %v, known %v", alive, known)
	}
	if id.Gone() {
		t.Fatal("Gone while a thread runs")
	}
	// Its descriptors are found through its live thread.
	if link, err := os.Readlink(FDPath(pid, 1)); err != nil || !strings.HasPrefix(link, "pipe:") {
		t.Errorf("FDPath(%d, 1): %q, %v; want its stdout pipe", pid, link, err)
	}
	// Its memory and CPU are still reported, memory_restart among their users.
	if rss := ResidentBytes([]int{pid}); rss == 0 {
		t.Error("ResidentBytes of a zombie leader of live threads: 0")
	}
	if g := GroupUsage()[pid]; g.Members != 1 || g.RSSBytes == 0 {
		t.Errorf("GroupUsage of its group: %+v, want 1 member with its memory", g)
	}

	if err := signalLeader(id, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Not waited for yet, the ended process is a zombie of one thread.
	var info unix.Siginfo
	if err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil); err != nil {
		t.Fatal(err)
	}
	if st, err := ReadStat(pid); err != nil || st.State != 'Z' || st.Threads != 1 || st.Running() {
		t.Errorf("stat after the end: %+v, %v; want a zombie of 1 thread, not running", st, err)
	}
	if alive, known := id.Check(); alive || !known {
		t.Errorf("Check of the ended process: alive %v, known %v", alive, known)
	}
	waited = true
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "terminated") {
		t.Errorf("exit %v, want terminated by SIGTERM", err)
	}
}
