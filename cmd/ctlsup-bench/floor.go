package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// restarterArg0 marks a re-execution of the bench as the floor restarter.
const restarterArg0 = "ctlsup-bench-restarter"

// runRestarter is the least a supervisor can do: n sleeps, each exit
// collected by a blocking wait4 and replaced by a fork+exec at once. Its
// restart latency, measured as ctlsupd's is, is what the machine allows.
func runRestarter(n int) {
	spawn := func() {
		if _, err := syscall.ForkExec("/bin/sleep", []string{"sleep", "100000"}, &syscall.ProcAttr{
			Sys: &syscall.SysProcAttr{Setpgid: true}}); err != nil {
			fmt.Fprintln(os.Stderr, "restarter:", err)
			os.Exit(1)
		}
	}
	for range n {
		spawn()
	}
	for {
		var ws syscall.WaitStatus
		if _, err := syscall.Wait4(-1, &ws, 0, nil); err != nil {
			os.Exit(0)
		}
		spawn()
	}
}

// restartFloor measures the floor restarter with n sleeps as restartAtScale
// measures the daemons, and returns p50 and max in milliseconds.
func restartFloor(w *execWatch, n, kills int, gap time.Duration) (p50, worst float64) {
	self, err := os.Executable()
	if err != nil {
		return none, none
	}
	cmd := exec.Command(self)
	cmd.Args = []string{restarterArg0, strconv.Itoa(n)}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "restarter:", err)
		return none, none
	}
	defer func() {
		// Stopped first, so it replaces none of the sleeps killed next.
		syscall.Kill(cmd.Process.Pid, syscall.SIGSTOP)
		for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid)); err != nil || stoppedState(st) {
				break
			}
		}
		for pid := range childPids(cmd.Process.Pid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		cmd.Process.Kill()
		cmd.Wait()
	}()
	for deadline := time.Now().Add(time.Minute); len(childPids(cmd.Process.Pid)) < n && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)
	lat := killLatencies(&daemon{cmd: cmd}, w, kills, gap)
	if len(lat) == 0 {
		return none, none
	}
	return lat[len(lat)/2], lat[len(lat)-1]
}

// stoppedState reports whether /proc/PID/stat says the process is stopped.
func stoppedState(stat []byte) bool {
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'T'
}
