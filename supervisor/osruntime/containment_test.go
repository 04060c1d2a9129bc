package osruntime

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ctlsup/ctlsup/supervisor"
	"github.com/ctlsup/ctlsup/supervisor/internal/cgroup"
	"github.com/ctlsup/ctlsup/supervisor/testhelper"
)

// requireCgroups skips where the daemon cannot create cgroups (printing
// why), unless CTLSUP_REQUIRE_CGROUPS=1 says this machine can: CI's does.
func requireCgroups(t *testing.T, h *osHarness) {
	t.Helper()
	if c := h.rt.Containment(); c.Mode != ModeCgroup {
		if os.Getenv("CTLSUP_REQUIRE_CGROUPS") == "1" {
			t.Fatalf("cgroups required (CTLSUP_REQUIRE_CGROUPS=1) but not usable: %s", c.Reason)
		}
		t.Skipf("cgroups not usable here: %s", c.Reason)
	}
}

// pidsAfter reads the pids a helper printed as "WORD PID" lines.
func pidsAfter(log string, words ...string) []int {
	var pids []int
	for line := range strings.SplitSeq(log, "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			for _, w := range words {
				if f[0] == w {
					n, _ := strconv.Atoi(f[1])
					pids = append(pids, n)
				}
			}
		}
	}
	return pids
}

// TestCgroup_EscapersAreKilledAtStop: a process that left the process
// group with setsid, and a daemon that double-forked out of it, are
// stopped with their program: its cgroup holds them.
func TestCgroup_EscapersAreKilledAtStop(t *testing.T) {
	spec := helperSpec(t.TempDir(), "escapes", testhelper.Argv("escape"), func(s *supervisor.ProcessSpec) {
		s.StopWait = 300 * time.Millisecond
	})
	h := openOS(t, spec)
	requireCgroups(t, h)
	h.wait("escapes", inState(supervisor.Running))
	var kids []int
	eventually(t, "the escaper and the daemon", func() bool {
		kids = pidsAfter(readFile(spec.Stdout.Path), "escaper", "daemon")
		return len(kids) == 2
	})
	// The daemonizer's intermediate process may still be exiting.
	var u supervisor.Usage
	eventually(t, "its cgroup with 3 tasks", func() bool {
		u = h.s.Usage()["escapes"]
		return u.Cgroup != "" && u.Tasks == 3
	})
	if err := supervisor.Err(h.s.Stop(context.Background(), supervisor.Process("escapes"), supervisor.WaitForDone)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the escapers to be killed", func() bool { return !alive(kids[0]) && !alive(kids[1]) })
	eventually(t, "the spawn's cgroup to be removed", func() bool {
		_, err := os.Stat(u.Cgroup)
		return os.IsNotExist(err)
	})
}

// TestContainment_FallbackSaysSo: without cgroups (CTLSUP_CGROUPS=off
// here), process groups contain programs, and the log says which mode
// runs and why.
func TestContainment_FallbackSaysSo(t *testing.T) {
	t.Setenv("CTLSUP_CGROUPS", "off")
	spec := helperSpec(t.TempDir(), "plain", testhelper.Argv("sleep"), nil)
	h := openOS(t, spec)
	if c := h.rt.Containment(); c.Mode != ModeProcessGroup || !strings.Contains(c.Reason, "CTLSUP_CGROUPS=off") {
		t.Errorf("containment %+v", c)
	}
	if !strings.Contains(h.log.String(), "containment: process groups") {
		t.Errorf("the log does not say which containment runs:\n%s", h.log)
	}
	h.wait("plain", inState(supervisor.Running))
	if u := h.s.Usage()["plain"]; u.Cgroup != "" || u.Tasks != 1 {
		t.Errorf("usage %+v: want no cgroup, 1 task", u)
	}
}

// TestUsage_CPUNeverGoesDownAcrossWorkerRecycling: a pool master that runs
// workers one after another (gunicorn's max_requests, celery's
// max_tasks_per_child) has a CPU counter that only rises, in both modes.
func TestUsage_CPUNeverGoesDownAcrossWorkerRecycling(t *testing.T) {
	for _, mode := range []string{ModeCgroup, ModeProcessGroup} {
		t.Run(mode, func(t *testing.T) {
			if mode == ModeProcessGroup {
				t.Setenv("CTLSUP_CGROUPS", "off")
			}
			spec := helperSpec(t.TempDir(), "pool", testhelper.Argv("recycle", "5"), nil)
			h := openOS(t, spec)
			if mode == ModeCgroup {
				requireCgroups(t, h)
			}
			h.wait("pool", inState(supervisor.Running))
			last := 0.0
			deadline := time.Now().Add(20 * time.Second)
			for !strings.Contains(readFile(spec.Stdout.Path), "recycled 4") {
				cpu := h.s.Usage()["pool"].CPUSeconds
				if cpu < last {
					t.Fatalf("the CPU counter went down: %.3f after %.3f", cpu, last)
				}
				last = cpu
				if time.Now().After(deadline) {
					t.Fatal("the workers did not finish")
				}
				time.Sleep(20 * time.Millisecond)
			}
			// Five workers of 0.2 s each, all gone now.
			if cpu := h.s.Usage()["pool"].CPUSeconds; cpu < 0.8 {
				t.Errorf("CPU %.3f s after five workers of 0.2 s: the exited workers' time is lost", cpu)
			}
			// Across a restart too: the counter covers every spawn.
			before := h.s.Usage()["pool"].CPUSeconds
			if err := supervisor.Err(h.s.Restart(context.Background(), supervisor.Process("pool"), supervisor.WaitForDone)); err != nil {
				t.Fatal(err)
			}
			if after := h.s.Usage()["pool"].CPUSeconds; after < before {
				t.Errorf("CPU went from %.3f to %.3f across a restart", before, after)
			}
		})
	}
}

// TestLimits_MemoryMaxKillsAndRestarts: a program growing past memory_max
// is OOM-killed by the kernel, its exit says why, the kill is counted, and
// its restart policy brings it back.
func TestLimits_MemoryMaxKillsAndRestarts(t *testing.T) {
	spec := helperSpec(t.TempDir(), "hog", testhelper.Argv("hold-memory", "8", "grow"), func(s *supervisor.ProcessSpec) {
		s.Limits.MemoryMax = 64 << 20
		s.AutoRestart = supervisor.RestartAlways
	})
	h := openOS(t, spec)
	requireCgroups(t, h)
	if !h.rt.cgroups.Has("memory") {
		t.Skipf("the memory controller is not available in ctlsupd's cgroup v2 hierarchy (%s offers %v)",
			h.rt.cgroups.Base, h.rt.cgroups.Controllers)
	}
	eventually(t, "an OOM kill counted", func() bool { return h.s.Usage()["hog"].OOMKills > 0 })
	eventually(t, "the kill logged with its reason", func() bool {
		return strings.Contains(h.log.String(), "out of memory: memory_max reached")
	})
	h.wait("hog", func(i *supervisor.ProcessInfo) bool { return i.Restarts > 0 })
}

// TestLimits_OOMScoreAdj: oom_score_adj is the child's from its start.
func TestLimits_OOMScoreAdj(t *testing.T) {
	adj := 500
	spec := helperSpec(t.TempDir(), "victim", testhelper.Argv("sleep"), func(s *supervisor.ProcessSpec) {
		s.Limits.OOMScoreAdj = &adj
	})
	h := openOS(t, spec)
	info := h.wait("victim", inState(supervisor.Running))
	if got := strings.TrimSpace(readFile("/proc/" + strconv.Itoa(info.Pid) + "/oom_score_adj")); got != "500" {
		t.Errorf("oom_score_adj %q, want 500", got)
	}
}

// TestLimits_MemoryRestart: memmon's gentler form restarts, with the stop
// signal, a program whose resident memory stays above memory_restart.
func TestLimits_MemoryRestart(t *testing.T) {
	spec := helperSpec(t.TempDir(), "leaky", testhelper.Argv("hold-memory", "48"), func(s *supervisor.ProcessSpec) {
		s.Limits.MemoryRestart = 16 << 20
	})
	h := openOSWith(t, func(s *supervisor.Supervisor) { s.MemoryCheck = 50 * time.Millisecond }, spec)
	first := h.wait("leaky", inState(supervisor.Running)).Pid
	h.wait("leaky", func(i *supervisor.ProcessInfo) bool { return i.State == supervisor.Running && i.Pid != first })
	if !strings.Contains(h.log.String(), "memory_restart: leaky uses") {
		t.Errorf("the restart was not logged:\n%s", h.log)
	}
}

// TestLimits_MemoryRestartAddedByAnUpdate: the watcher reads every spec
// again only when the registry changes; a memory_restart an update
// brings is watched from then on.
func TestLimits_MemoryRestartAddedByAnUpdate(t *testing.T) {
	spec := helperSpec(t.TempDir(), "leaky", testhelper.Argv("hold-memory", "48"), nil)
	h := openOSWith(t, func(s *supervisor.Supervisor) { s.MemoryCheck = 50 * time.Millisecond }, spec)
	h.wait("leaky", inState(supervisor.Running))
	time.Sleep(200 * time.Millisecond) // the watcher has seen a registry without memory_restart
	changed := *spec
	changed.Limits.MemoryRestart = 16 << 20
	h.s.Loader = func() ([]supervisor.GroupSpec, error) {
		return []supervisor.GroupSpec{{Name: spec.Group, Processes: []supervisor.ProcessSpec{changed}}}, nil
	}
	if _, err := h.s.Update(context.Background()); err != nil {
		t.Fatal(err)
	}
	first := h.wait("leaky", func(i *supervisor.ProcessInfo) bool {
		return i.State == supervisor.Running && i.Spec.Limits.MemoryRestart != 0
	}).Pid
	h.wait("leaky", func(i *supervisor.ProcessInfo) bool { return i.State == supervisor.Running && i.Pid != first })
	if !strings.Contains(h.log.String(), "memory_restart: leaky uses") {
		t.Errorf("the restart was not logged:\n%s", h.log)
	}
}

// TestLimits_RefusedLimitsAreReported: a limit whose controller ctlsupd's
// cgroup lacks is named in the log; the program still runs.
func TestLimits_RefusedLimitsAreReported(t *testing.T) {
	spec := helperSpec(t.TempDir(), "capped", testhelper.Argv("sleep"), func(s *supervisor.ProcessSpec) {
		s.Limits.PidsMax = 10
	})
	h := openOS(t, spec)
	requireCgroups(t, h)
	h.wait("capped", inState(supervisor.Running))
	u := h.s.Usage()["capped"]
	if h.rt.cgroups.Has("pids") {
		if got := strings.TrimSpace(readFile(filepath.Join(u.Cgroup, "pids.max"))); got != "10" {
			t.Errorf("pids.max %q", got)
		}
		return
	}
	if !strings.Contains(h.log.String(), "pids.max not applied: the pids controller is not available") {
		t.Errorf("the refused limit is not logged:\n%s", h.log)
	}
}

// TestAccounts_EndReadsTheLeafUntilClosing: a spawn that ends adds its
// cgroup's CPU time and OOM kills to its program's totals; once the engine
// is closing, its exit reads no CPU time and adds the most a reading saw,
// but still counts the OOM kills.
func TestAccounts_EndReadsTheLeafUntilClosing(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "web@1")
	files := map[string]string{"cgroup.procs": "", "cpu.stat": "usage_usec 5000000\nuser_usec 4000000\n",
		"memory.events": "low 0\nhigh 0\nmax 3\noom 2\noom_kill 2\n"}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	leaf, ok := (&cgroup.Manager{Base: base, Controllers: []string{"memory"}}).Open(dir)
	if !ok {
		t.Fatal("the leaf does not open")
	}
	var a accounts
	for _, tc := range []struct {
		closing bool
		cpu     float64
		oom     int64
	}{{false, 5, 2}, {true, 5 + 1, 4}} {
		if tc.closing {
			a.closing.Store(true)
		}
		sp := a.begin("web", leaf)
		sp.cpuSeen = 1
		a.end("web", sp)
		if acc := a.get("web"); acc.cpuDone != tc.cpu || acc.oomDone != tc.oom {
			t.Errorf("closing %v: the totals are %v s and %d OOM kills, want %v s and %d", tc.closing, acc.cpuDone, acc.oomDone, tc.cpu, tc.oom)
		}
	}
}

// TestUsage_ReportedCPUNeverGoesDown: a spawn that ends while a reading is
// under way can leave its program's total below what that reading
// reported; the next reading reports no less.
func TestUsage_ReportedCPUNeverGoesDown(t *testing.T) {
	r := &Runtime{}
	sp := r.acct.begin("web", nil)
	sp.cpuSeen = 3
	if got := r.Usage()["web"].CPUSeconds; got != 3 {
		t.Fatalf("the first reading reports %v s, want 3", got)
	}
	// The spawn ends having been seen at 2 s only: a reading that saw it
	// at 3 s wrote back after the end settled it.
	sp.cpuSeen = 2
	r.acct.end("web", sp)
	if got := r.Usage()["web"].CPUSeconds; got != 3 {
		t.Fatalf("after the spawn ended, a reading reports %v s, want 3", got)
	}
}
