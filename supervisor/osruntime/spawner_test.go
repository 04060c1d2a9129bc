package osruntime

import (
	"context"
	"os"
	"testing"

	"github.com/ctlsup/ctlsup/internal/testhelper"
	"github.com/ctlsup/ctlsup/supervisor"
	"github.com/ctlsup/ctlsup/supervisor/internal/proc"
)

// TestSpawner_ForksProgramsInProcessGroupMode: without cgroups the
// spawner forks the program, which is still the daemon's child; stopping
// it leaves the helper alone.
func TestSpawner_ForksProgramsInProcessGroupMode(t *testing.T) {
	t.Setenv("CTLSUP_CGROUPS", "off")
	spec := helperSpec(t.TempDir(), "plain", testhelper.Argv("sleep"), nil)
	h := openOS(t, spec)
	if h.rt.spawner == nil || h.rt.spawner.Pid() == 0 {
		t.Fatal("no spawner runs")
	}
	helper := h.rt.spawner.Pid()
	info := h.wait("plain", inState(supervisor.Running))
	if h.rt.spawner.Forks() == 0 {
		t.Error("the spawner forked nothing")
	}
	st, err := proc.ReadStat(info.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if st.Ppid != os.Getpid() {
		t.Errorf("child's parent is %d, want the daemon (%d), not the helper (%d)", st.Ppid, os.Getpid(), helper)
	}
	if err := supervisor.Err(h.s.Stop(context.Background(), supervisor.Process("plain"), supervisor.WaitForDone)); err != nil {
		t.Fatal(err)
	}
	if !alive(helper) {
		t.Error("stopping the program killed the helper")
	}
}

// TestSpawner_CgroupChildrenForkedByTheDaemon: a child bound for a cgroup
// is cloned into it by the daemon (the helper cannot), and starts there.
func TestSpawner_CgroupChildrenForkedByTheDaemon(t *testing.T) {
	spec := helperSpec(t.TempDir(), "contained", testhelper.Argv("sleep"), nil)
	h := openOS(t, spec)
	requireCgroups(t, h)
	info := h.wait("contained", inState(supervisor.Running))
	if n := h.rt.spawner.Forks(); n != 0 {
		t.Errorf("the spawner forked %d children bound for cgroups", n)
	}
	u := h.s.Usage()["contained"]
	if u.Cgroup == "" {
		t.Errorf("usage %+v: no cgroup", u)
	}
	if l, ok := h.rt.cgroups.Open(u.Cgroup); !ok || !l.Contains(info.Pid) {
		t.Errorf("pid %d is not in its cgroup %s", info.Pid, u.Cgroup)
	}
}
