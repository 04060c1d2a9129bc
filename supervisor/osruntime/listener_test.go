package osruntime

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ctlsup/ctlsup/supervisor"
	"github.com/ctlsup/ctlsup/supervisor/testhelper"
)

// poolGroup is a pool of one listener helper in MODE, recording what it
// gets into dir/events, subscribed to events.
func poolGroup(dir, mode string, buffer int, events ...string) supervisor.GroupSpec {
	spec := helperSpec(dir, "pool", testhelper.Argv("listener", filepath.Join(dir, "events"), mode), func(s *supervisor.ProcessSpec) {
		s.Stdin, s.AutoRestart = true, supervisor.RestartAlways
	})
	return supervisor.GroupSpec{Name: "pool", Priority: -1, Processes: []supervisor.ProcessSpec{*spec},
		Listener: &supervisor.ListenerSpec{Events: events, BufferSize: buffer}}
}

// openGroups opens a supervisor of groups over a runtime in dir.
func openGroups(t *testing.T, dir string, groups ...supervisor.GroupSpec) (*supervisor.Supervisor, *testhelper.SyncBuffer) {
	t.Helper()
	log := &testhelper.SyncBuffer{}
	logger := slog.New(slog.NewTextHandler(log, nil))
	s := supervisor.New(New(filepath.Join(dir, "state"), logger), groups)
	s.Logger = logger
	if err := s.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s, log
}

// openPool runs one event listener pool of a listener helper in MODE.
func openPool(t *testing.T, mode string, buffer int) (*supervisor.Supervisor, string, *testhelper.SyncBuffer) {
	t.Helper()
	dir := t.TempDir()
	s, log := openGroups(t, dir, poolGroup(dir, mode, buffer, "REMOTE_COMMUNICATION"))
	return s, filepath.Join(dir, "events"), log
}

// TestListener_FailIsRequeued: an event the listener answers FAIL comes
// back to it, the same event (same serial), before the next one.
func TestListener_FailIsRequeued(t *testing.T) {
	s, record, _ := openPool(t, "fail-first", 10)
	s.EmitRemote("one", "first")
	s.EmitRemote("two", "second")
	eventually(t, "both events", func() bool { return strings.Count(readFile(record), "\n") >= 3 })
	lines := strings.Split(strings.TrimSpace(readFile(record)), "\n")
	if !strings.HasPrefix(lines[0], "0 REMOTE_COMMUNICATION type:one first") || !strings.HasPrefix(lines[1], "0 REMOTE_COMMUNICATION type:one first") ||
		!strings.HasPrefix(lines[2], "1 REMOTE_COMMUNICATION type:two second") {
		t.Errorf("events received:\n%s", readFile(record))
	}
}

// TestListener_DeathMidEventIsRequeued: a listener that dies while busy
// gives its event back; the restarted one gets it.
func TestListener_DeathMidEventIsRequeued(t *testing.T) {
	s, record, _ := openPool(t, "die-first", 10)
	time.Sleep(100 * time.Millisecond)
	s.EmitRemote("one", "first")
	eventually(t, "the event again, after the restart", func() bool { return strings.Count(readFile(record), "type:one") >= 2 })
	lines := strings.Split(strings.TrimSpace(readFile(record)), "\n")
	if pid := func(l string) string { return l[strings.LastIndex(l, "pid:"):] }; pid(lines[0]) == pid(lines[1]) {
		t.Errorf("the same process got it twice:\n%s", readFile(record))
	}
}

// TestListener_FullBufferDropsTheOldest: with no listener ready, a full
// buffer drops its oldest event and says so.
func TestListener_FullBufferDropsTheOldest(t *testing.T) {
	s, _, log := openPool(t, "never-ready", 2)
	for _, typ := range []string{"a", "b", "c"} {
		s.EmitRemote(typ, "x")
	}
	eventually(t, "the overflow logged", func() bool {
		return strings.Contains(log.String(), "pool pool event buffer overflowed, discarding event 0")
	})
}

// TestListener_ProtocolBreachSaysUnknown: a listener that answers with no
// RESULT line is logged as supervisord logs it, the bad line and then its
// UNKNOWN state (log watchers look for the latter), and gets no more
// events.
func TestListener_ProtocolBreachSaysUnknown(t *testing.T) {
	s, record, log := openPool(t, "garbage-first", 10)
	s.EmitRemote("one", "first")
	eventually(t, "the breach logged", func() bool {
		return strings.Contains(log.String(), "pool: has entered the UNKNOWN state and will no longer receive events, "+
			"this usually indicates the process violated the eventlistener protocol")
	})
	if !strings.Contains(log.String(), `pool: bad result line: 'HELLO GARBAGE'`) {
		t.Errorf("the bad line is not logged:\n%s", log)
	}
	s.EmitRemote("two", "second")
	time.Sleep(300 * time.Millisecond)
	if n := strings.Count(readFile(record), "\n"); n != 1 {
		t.Errorf("a listener in UNKNOWN got %d events:\n%s", n, readFile(record))
	}
}

// TestListener_GetsTheShutdownsEvents: a daemon that stops gives its
// listeners, which stop last, the time to take the events of the
// programs' stops before it stops them: a slow listener gets every
// program's STOPPED.
func TestListener_GetsTheShutdownsEvents(t *testing.T) {
	dir := t.TempDir()
	record := filepath.Join(dir, "events")
	groups := []supervisor.GroupSpec{poolGroup(dir, "slow", 10, "PROCESS_STATE_STOPPED")}
	for i := range 5 {
		groups = append(groups, sleeperGroup(dir, fmt.Sprintf("p%d", i), 999))
	}
	s, log := openGroups(t, dir, groups...)
	waitAllRunning(t, s)
	time.Sleep(200 * time.Millisecond) // the listener's READY
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(readFile(record), "PROCESS_STATE_STOPPED"); n != 5 {
		t.Errorf("the listener got %d of the 5 programs' STOPPED:\n%s\n%s", n, readFile(record), log)
	}
}

// TestListener_NeverReadyIsNotWaitedFor: listeners that have run for
// readyGrace (3 s) without saying READY will not take the shutdown's
// events: the shutdown does not wait their stopwaitsecs (up to maxDrain)
// for them, and says once for the pool what was left behind.
func TestListener_NeverReadyIsNotWaitedFor(t *testing.T) {
	dir := t.TempDir()
	pool := poolGroup(dir, "never-ready", 10, "PROCESS_STATE_STOPPED")
	pool.Processes[0].StopWait = time.Minute
	second := pool.Processes[0]
	second.Name = "pool_1"
	pool.Processes = append(pool.Processes, second)
	groups := []supervisor.GroupSpec{pool}
	for i := range 3 {
		groups = append(groups, sleeperGroup(dir, fmt.Sprintf("p%d", i), 999))
	}
	s, log := openGroups(t, dir, groups...)
	waitAllRunning(t, s)
	time.Sleep(3500 * time.Millisecond) // past readyGrace, still not READY
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if strings.Count(log.String(), "pool pool: 3 events not handed out before the shutdown: no listener of it is READY") != 1 ||
		strings.Contains(log.String(), "took longer") {
		t.Errorf("the shutdown's log:\n%s", log)
	}
}

// TestListener_SeesGroupsAddedFromItsOwn: at start, a pool sees
// PROCESS_GROUP_ADDED for its own group and those added after it (by
// priority), as supervisord's, which creates each pool as it adds its
// group: not for the groups added before it.
func TestListener_SeesGroupsAddedFromItsOwn(t *testing.T) {
	dir := t.TempDir()
	record := filepath.Join(dir, "events")
	openGroups(t, dir, poolGroup(dir, "ok", 10, "PROCESS_GROUP_ADDED"), sleeperGroup(dir, "early", -5), sleeperGroup(dir, "late", 999))
	eventually(t, "late's group added", func() bool { return strings.Contains(readFile(record), "groupname:late") })
	if got := readFile(record); !strings.Contains(got, "groupname:pool") || strings.Contains(got, "groupname:early") {
		t.Errorf("events, want pool's and late's only:\n%s", got)
	}
}

// sleeperGroup is a group of one helper that sleeps, at priority.
func sleeperGroup(dir, name string, priority int) supervisor.GroupSpec {
	return supervisor.GroupSpec{Name: name, Priority: priority,
		Processes: []supervisor.ProcessSpec{*helperSpec(dir, name, testhelper.Argv("sleep"), nil)}}
}

// waitAllRunning waits until every process of s is RUNNING.
func waitAllRunning(t *testing.T, s *supervisor.Supervisor) {
	t.Helper()
	eventually(t, "all running", func() bool {
		for _, p := range s.ByPriority() {
			if p.State != supervisor.Running {
				return false
			}
		}
		return true
	})
}
