package osruntime

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCommand_WhatItLeavesEndsWithIt: an on_exit command's child that
// left its process group (setsid) is killed when the command exits: its
// cgroup holds it.
func TestCommand_WhatItLeavesEndsWithIt(t *testing.T) {
	h := openOS(t)
	requireCgroups(t, h)
	pidFile := filepath.Join(t.TempDir(), "pid")
	t.Cleanup(func() { killPidIn(pidFile) })
	cmd := fmt.Sprintf("setsid sleep 1000 & echo $! > %s; exit 0", pidFile)
	if _, st, err := h.rt.RunCommand(context.Background(), cmd, nil); err != nil || st.Code != 0 {
		t.Fatalf("status %+v, err %v", st, err)
	}
	pid := pidIn(t, pidFile)
	eventually(t, "the setsid'd child to be killed", func() bool { return !alive(pid) })
}

// TestCommand_StoppedWhenTheDaemonCloses: a command still running when
// the daemon closes is stopped, and the close waits for it.
func TestCommand_StoppedWhenTheDaemonCloses(t *testing.T) {
	h := openOS(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	t.Cleanup(func() { killPidIn(pidFile) })
	done := make(chan error, 1)
	go func() {
		_, _, err := h.rt.RunCommand(context.Background(), fmt.Sprintf("sleep 1000 & echo $! > %s; wait", pidFile), nil)
		done <- err
	}()
	eventually(t, "the command's sleep", func() bool {
		b, _ := os.ReadFile(pidFile)
		return strings.HasSuffix(string(b), "\n")
	})
	pid := pidIn(t, pidFile)
	h.s.Close(context.Background())
	if alive(pid) {
		t.Errorf("the command's sleep %d outlived the daemon's close", pid)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Error("a command stopped by the close reported success")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the command did not return")
	}
	if _, _, err := h.rt.RunCommand(context.Background(), "true", nil); err != errClosing {
		t.Errorf("a command after the close: %v, want %v", err, errClosing)
	}
}

// TestCommand_LeaderOutsideItsCgroupIsStopped: a command whose shell
// moved itself out of its cgroup (as su's pam_systemd does) is still
// killed when its time is up, and the close does not wait for it forever.
func TestCommand_LeaderOutsideItsCgroupIsStopped(t *testing.T) {
	h := openOS(t)
	requireCgroups(t, h)
	pidFile := filepath.Join(t.TempDir(), "pid")
	t.Cleanup(func() { killPidIn(pidFile) })
	procs := filepath.Join(cgroup2Root(t), "cgroup.procs")
	cmd := fmt.Sprintf("echo $$ > %s && echo $$ > %s && exec sleep 1000", procs, pidFile)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, _, err := h.rt.RunCommand(ctx, cmd, nil)
		done <- err
	}()
	select {
	case err := <-done:
		if err != context.DeadlineExceeded {
			t.Errorf("err %v, want its time up", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the command outside its cgroup was not stopped")
	}
	if pid := pidIn(t, pidFile); alive(pid) {
		t.Errorf("its sleep %d still runs", pid)
	}
}

// cgroup2Root is where the cgroup v2 hierarchy is mounted.
func cgroup2Root(t *testing.T) string {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	for line := range strings.SplitSeq(string(b), "\n") {
		_, after, ok := strings.Cut(line, " - ")
		f := strings.Fields(line)
		if ok && strings.HasPrefix(after, "cgroup2 ") && len(f) > 4 {
			return f[4]
		}
	}
	t.Fatal("no cgroup2 mount")
	return ""
}

func pidIn(t *testing.T, path string) int {
	t.Helper()
	b, _ := os.ReadFile(path)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("no pid in %s: %q", path, b)
	}
	return pid
}

// killPidIn kills a sleep the test started, should it have survived.
func killPidIn(path string) {
	b, _ := os.ReadFile(path)
	if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
		if cmd, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); strings.HasPrefix(string(cmd), "sleep\x001000") {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
