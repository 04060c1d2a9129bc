package osruntime

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ctlsup/ctlsup/internal/testhelper"
	"github.com/ctlsup/ctlsup/supervisor"
	"github.com/ctlsup/ctlsup/supervisor/internal/proc"
)

// cgroupOf is the cgroup v2 path /proc/PID/cgroup names.
func cgroupOf(t *testing.T, pid int) string {
	t.Helper()
	for line := range strings.SplitSeq(readFile("/proc/"+strconv.Itoa(pid)+"/cgroup"), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return p
		}
	}
	t.Fatalf("pid %d: no cgroup v2 line", pid)
	return ""
}

// TestSpawner_ChildInItsCgroup: a child the spawner forks is the daemon's
// own, starts in its program's cgroup (the helper moves there to fork it),
// and the helper is back in the daemon's cgroup afterwards, so a program's
// cgroup never holds or kills it.
func TestSpawner_ChildInItsCgroup(t *testing.T) {
	spec := helperSpec(t.TempDir(), "contained", testhelper.Argv("sleep"), func(s *supervisor.ProcessSpec) { s.AutoStart = false })
	h := openOS(t, spec)
	requireCgroups(t, h)
	if h.rt.spawner == nil || h.rt.spawner.Pid() == 0 {
		t.Fatal("no spawner runs")
	}
	h.rt.spawnerFrom = 0 // every child through the spawner
	helper := h.rt.spawner.Pid()
	home := cgroupOf(t, helper)
	if err := h.s.StartProcess(context.Background(), "contained", supervisor.WaitForDone); err != nil {
		t.Fatal(err)
	}
	info := h.wait("contained", inState(supervisor.Running))
	st, err := proc.ReadStat(info.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if st.Ppid != os.Getpid() {
		t.Errorf("child's parent is %d, want the daemon (%d), not the helper (%d)", st.Ppid, os.Getpid(), helper)
	}
	u := h.s.Usage()["contained"]
	if got := cgroupOf(t, info.Pid); u.Cgroup == "" || !strings.HasSuffix(u.Cgroup, got) {
		t.Errorf("child in cgroup %s, want its own (%s)", got, u.Cgroup)
	}
	if got := cgroupOf(t, helper); got != home || filepath.Base(got) == filepath.Base(u.Cgroup) {
		t.Errorf("helper in %s after the spawn, want %s", got, home)
	}
	if err := h.s.StopProcess(context.Background(), "contained", supervisor.WaitForDone); err != nil {
		t.Fatal(err)
	}
	if !alive(helper) {
		t.Error("stopping the program killed the helper")
	}
}
