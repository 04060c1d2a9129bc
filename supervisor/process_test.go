package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// mustOpen starts a supervisor over rt with one group per spec.
func mustOpen(t *testing.T, rt Runtime, specs ...*ProcessSpec) *Supervisor {
	t.Helper()
	var groups []GroupSpec
	for _, s := range specs {
		groups = append(groups, GroupSpec{Name: s.Group, Priority: s.Priority, Processes: []ProcessSpec{*s}})
	}
	s := New(rt, groups)
	s.Logger = quietLogger()
	if err := s.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func named(name string, mod func(*ProcessSpec)) *ProcessSpec {
	s := testSpec()
	s.Name, s.Group = name, name
	if mod != nil {
		mod(s)
	}
	return s
}

func TestSupervisor_StartWaitsForStartSecs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFakeRuntime()
		s := mustOpen(t, rt, named("web", func(s *ProcessSpec) { s.AutoStart = false; s.StartSecs = 3 * time.Second }))
		defer s.Close(context.Background())
		t0 := time.Now()
		if err := s.startOne(context.Background(), "web", WaitForDone); err != nil {
			t.Fatal(err)
		}
		if got := time.Since(t0); got != 3*time.Second {
			t.Errorf("start returned after %s, want startsecs 3s", got)
		}
		info, _ := s.Process("web")
		if info.State != Running || info.Pid == 0 {
			t.Errorf("state %s pid %d", info.State, info.Pid)
		}
		if err := s.startOne(context.Background(), "web", WaitForDone); !errors.Is(err, ErrAlreadyStarted) {
			t.Errorf("second start: %v, want already started", err)
		}
		if err := s.startOne(context.Background(), "nosuch", WaitForDone); !errors.Is(err, ErrBadName) {
			t.Errorf("unknown name: %v", err)
		}
	})
}

func TestSupervisor_SpawnErrorThenFatal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFakeRuntime()
		rt.set("bad", fakeBehavior{exitAfter: 100 * time.Millisecond, exitCode: 1})
		s := mustOpen(t, rt, named("bad", func(s *ProcessSpec) { s.AutoStart = false }))
		defer s.Close(context.Background())
		err := s.startOne(context.Background(), "bad", WaitForDone)
		if !errors.Is(err, ErrSpawn) {
			t.Fatalf("start: %v, want spawn error", err)
		}
		waitState(t, s, "bad", Fatal)
		info, _ := s.Process("bad")
		var at []time.Duration
		t0 := (<-rt.spawns).at
		for len(rt.spawns) > 0 {
			at = append(at, (<-rt.spawns).at.Sub(t0))
		}
		if got := fmt.Sprint(at); got != "[1.1s 3.2s 6.3s]" {
			t.Errorf("retries at %s, want back-off 1s, 2s, 3s after each 0.1s run", got)
		}
		if info.SpawnErr != tooQuicklyText {
			t.Errorf("description %q", info.SpawnErr)
		}
	})
}

// waitState waits, in virtual time, until the process reaches state.
func waitState(t *testing.T, s *Supervisor, name string, st State) {
	t.Helper()
	p, err := s.lookup("wait", name)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	if err := p.waitUntil(ctx, func(i *ProcessInfo) (bool, error) { return i.State == st, nil }); err != nil {
		t.Fatalf("%s never reached %s: %v (state %s)", name, st, err, p.info.Load().State)
	}
}

// TestSupervisor_StopWaitsPerProcess: processes of one priority stop in
// parallel, each SIGKILLed after its own stopwaitsecs; a sibling that exits
// early never cuts another's wait short.
func TestSupervisor_StopWaitsPerProcess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFakeRuntime()
		rt.set("slow", fakeBehavior{ignoreTerm: true})
		rt.set("slower", fakeBehavior{ignoreTerm: true})
		s := mustOpen(t, rt,
			named("quick", func(s *ProcessSpec) { s.StartSecs = 0 }),
			named("slow", func(s *ProcessSpec) { s.StartSecs = 0; s.StopWait = 2 * time.Second }),
			named("slower", func(s *ProcessSpec) { s.StartSecs = 0; s.StopWait = 5 * time.Second }))
		defer s.Close(context.Background())
		kids := map[string]*fakeChild{}
		for range 3 {
			c := <-rt.spawns
			kids[c.name] = c
		}
		t0 := time.Now()
		stopped := map[string]time.Duration{}
		for _, name := range []string{"quick", "slow", "slower"} {
			go func() {
				s.stopOne(context.Background(), name, WaitForDone)
			}()
		}
		for _, name := range []string{"quick", "slow", "slower"} {
			waitState(t, s, name, Stopped)
			stopped[name] = time.Since(t0)
		}
		if stopped["quick"] != 0 || stopped["slow"] != 2*time.Second || stopped["slower"] != 5*time.Second {
			t.Errorf("stopped at %v, want quick 0s, slow 2s, slower 5s", stopped)
		}
		if got := fmt.Sprint(kids["slower"].signals); got != "[terminated killed]" {
			t.Errorf("slower got %s", got)
		}
	})
}

// TestSupervisor_StopWaitsForADeadProcesssExit: a process that died on
// its stop signal, but whose exit has not been collected by stopwaitsecs
// (thousands stopping at once), gets no SIGKILL: the stop waits on for the
// exit, which ends it.
func TestSupervisor_StopWaitsForADeadProcesssExit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFakeRuntime()
		rt.set("web", fakeBehavior{ignoreTerm: true})
		s := mustOpen(t, rt, named("web", func(s *ProcessSpec) { s.StartSecs = 0; s.StopWait = 2 * time.Second }))
		defer s.Close(context.Background())
		c := <-rt.spawns
		waitState(t, s, "web", Running)
		go s.stopOne(context.Background(), "web", WaitForDone)
		synctest.Wait()
		c.dead.Store(true) // died of the SIGTERM; the exit is late
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if got := s.byName["web"].info.Load().State; got != Stopping {
			t.Errorf("state %s before the exit, want STOPPING", got)
		}
		c.exit(ExitStatus{Code: -1, Signaled: true, Text: "terminated by SIGTERM"})
		waitState(t, s, "web", Stopped)
		if got := fmt.Sprint(c.signalled()); got != "[terminated]" {
			t.Errorf("signals %s, want SIGTERM only", got)
		}
	})
}

// TestSupervisor_PriorityOrder: as supervisord, starts and stops are
// issued in ascending priority, all at once, and WaitForDone waits for all
// of them at the end: priority orders, it does not wait.
func TestSupervisor_PriorityOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFakeRuntime()
		s := mustOpen(t, rt,
			named("c", func(s *ProcessSpec) { s.Priority = 300; s.AutoStart = false }),
			named("a", func(s *ProcessSpec) { s.Priority = 100; s.AutoStart = false }),
			named("b1", func(s *ProcessSpec) { s.Priority = 200; s.AutoStart = false }),
			named("b2", func(s *ProcessSpec) { s.Priority = 200; s.AutoStart = false }))
		defer s.Close(context.Background())
		t0 := time.Now()
		res, err := s.startAll(context.Background(), WaitForDone)
		if err != nil {
			t.Fatal(err)
		}
		var order []string
		for _, r := range res {
			order = append(order, r.Name)
			if r.Err != nil {
				t.Errorf("%s: %v", r.Name, r.Err)
			}
		}
		if got := fmt.Sprint(order); got != "[a b1 b2 c]" {
			t.Errorf("results %s", got)
		}
		spawnAt := map[string]time.Duration{}
		var spawnOrder []string
		for range 4 {
			c := <-rt.spawns
			spawnAt[c.name] = c.at.Sub(t0)
			spawnOrder = append(spawnOrder, c.name)
		}
		// Levels in order; processes of one level start together, in
		// no order among them.
		if got := fmt.Sprint(spawnOrder); got != "[a b1 b2 c]" && got != "[a b2 b1 c]" {
			t.Errorf("spawn order %s", got)
		}
		if spawnAt["a"] != 0 || spawnAt["b1"] != 0 || spawnAt["b2"] != 0 || spawnAt["c"] != 0 {
			t.Errorf("spawned at %v, want every start issued at once", spawnAt)
		}
		if took := time.Since(t0); took != time.Second {
			t.Errorf("start all took %s, want one startsecs", took)
		}
		res, _ = s.stopAll(context.Background(), WaitForDone)
		order = order[:0]
		for _, r := range res {
			order = append(order, r.Name)
		}
		if got := fmt.Sprint(order); got != "[a b1 b2 c]" {
			t.Errorf("stop order %s", got)
		}
		if res, _ := s.stopAll(context.Background(), WaitForDone); len(res) != 0 {
			t.Errorf("stopping stopped processes did something: %v", res)
		}
	})
}

// TestSupervisor_CrashLoopBackoff: a process that keeps exiting after
// RUNNING restarts at once, then with growing delays shown as BACKOFF.
func TestSupervisor_CrashLoopBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFakeRuntime()
		rt.set("crashy", fakeBehavior{exitAfter: 2 * time.Second, exitCode: 3})
		s := mustOpen(t, rt, named("crashy", func(s *ProcessSpec) { s.RestartMaxDelay = 60 * time.Second }))
		var at []time.Duration
		t0 := time.Now()
		for range 5 {
			at = append(at, (<-rt.spawns).at.Sub(t0))
		}
		synctest.Wait()
		info, _ := s.Process("crashy")
		s.Close(context.Background())
		if got := fmt.Sprint(at); got != "[0s 2s 5s 9s 15s]" {
			t.Errorf("spawns at %s, want restarts after 0s, 1s, 2s, 4s of back-off", got)
		}
		if info.Restarts != 4 || info.ExitStatus != 0 {
			t.Errorf("restarts %d exitstatus %d", info.Restarts, info.ExitStatus)
		}
	})
}

func TestSupervisor_ApplyKeepsUntouched(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFakeRuntime()
		keep := named("keep", func(s *ProcessSpec) { s.StartSecs = 0 })
		change := named("change", func(s *ProcessSpec) { s.StartSecs = 0 })
		gone := named("gone", func(s *ProcessSpec) { s.StartSecs = 0 })
		stopped := named("stopped", func(s *ProcessSpec) { s.StartSecs = 0 })
		s := mustOpen(t, rt, keep, change, gone, stopped)
		defer s.Close(context.Background())
		for range 4 {
			<-rt.spawns
		}
		if err := s.stopOne(context.Background(), "stopped", WaitForDone); err != nil {
			t.Fatal(err)
		}
		before, _ := s.Process("keep")
		changed := *change
		changed.Argv = []string{"/bin/false"}
		added := named("added", func(s *ProcessSpec) { s.StartSecs = 0 })
		newGroups := []GroupSpec{
			{Name: "keep", Processes: []ProcessSpec{*keep}},
			{Name: "change", Processes: []ProcessSpec{changed}},
			{Name: "stopped", Processes: []ProcessSpec{*stopped}},
			{Name: "added", Processes: []ProcessSpec{*added}},
		}
		d, err := s.Apply(context.Background(), newGroups)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(d); got != "{[added] [change] [gone]}" {
			t.Errorf("diff %s", got)
		}
		after, _ := s.Process("keep")
		if after.Pid != before.Pid || after.State != Running {
			t.Errorf("untouched process restarted: pid %d -> %d", before.Pid, after.Pid)
		}
		if _, err := s.Process("gone"); !errors.Is(err, ErrBadName) {
			t.Errorf("removed process still there: %v", err)
		}
		if info, _ := s.Process("stopped"); info.State != Stopped {
			t.Errorf("operator's stop lost: %s", info.State)
		}
		if info, _ := s.Process("change"); info.State != Running || info.Spec.Argv[0] != "/bin/false" {
			t.Errorf("changed process: %s %v", info.State, info.Spec.Argv)
		}
		if info, _ := s.Process("added"); info.State != Running {
			t.Errorf("added process: %s", info.State)
		}
	})
}

// TestSupervisor_GroupPriorityOrders: a group's own priority orders its
// processes before their own priority, as supervisord orders
// (group priority, process priority): signal all, clear all and startup.
func TestSupervisor_GroupPriorityOrders(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFakeRuntime()
		proc := func(group, name string, prio int) ProcessSpec {
			s := testSpec()
			s.Group, s.Name, s.Priority, s.StartSecs = group, name, prio, 0
			return *s
		}
		s := New(rt, []GroupSpec{
			{Name: "late", Priority: 999, Processes: []ProcessSpec{proc("late", "web", 10)}},
			{Name: "early", Priority: 5, Processes: []ProcessSpec{proc("early", "beat", 900), proc("early", "worker", 800)}},
		})
		s.Logger = quietLogger()
		if err := s.Open(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer s.Close(context.Background())
		var spawned []string
		for range 3 {
			spawned = append(spawned, (<-rt.spawns).name)
		}
		if got := fmt.Sprint(spawned); got != "[early:worker early:beat late:web]" {
			t.Errorf("startup order %s, want by group priority first", got)
		}
		synctest.Wait()
		res, _ := s.signalAll(context.Background(), syscall.SIGHUP)
		var order []string
		for _, r := range res {
			order = append(order, r.Group+":"+r.Name)
		}
		if got := fmt.Sprint(order); got != "[early:worker early:beat late:web]" {
			t.Errorf("signal all order %s", got)
		}
		order = order[:0]
		for _, p := range s.ByPriority() {
			order = append(order, p.FullName())
		}
		if got := fmt.Sprint(order); got != "[early:worker early:beat late:web]" {
			t.Errorf("ByPriority %s", got)
		}
	})
}

// TestSupervisor_DependsOn: a program starts only once what it depends on
// is RUNNING (starting it if needed), whatever the priorities; stop all
// stops it before its dependency.
func TestSupervisor_DependsOn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFakeRuntime()
		s := mustOpen(t, rt,
			named("celery", func(s *ProcessSpec) { s.Priority = 900; s.DependsOn = []string{"redis"}; s.StartSecs = 0 }),
			named("redis", func(s *ProcessSpec) { s.Priority = 1; s.StartSecs = 2 * time.Second }))
		defer s.Close(context.Background())
		t0 := time.Now()
		first, second := <-rt.spawns, <-rt.spawns
		if first.name != "redis" || second.name != "celery" || second.at.Sub(t0) != 2*time.Second {
			t.Errorf("spawned %s at %s then %s at %s: want celery once redis is RUNNING (2s)",
				first.name, first.at.Sub(t0), second.name, second.at.Sub(t0))
		}
		synctest.Wait()
		// redis comes first by priority; it stops only once celery has.
		rt.set("celery", fakeBehavior{ignoreTerm: true})
		t2 := time.Now()
		go s.stopAll(context.Background(), WaitForDone)
		synctest.Wait()
		if info, _ := s.Process("redis"); info.State != Running {
			t.Errorf("redis is %s while celery still stops", info.State)
		}
		time.Sleep(11 * time.Second) // celery's stopwaitsecs, then SIGKILL
		synctest.Wait()
		if info, _ := s.Process("redis"); info.State != Stopped || info.Stop.Sub(t2) < 10*time.Second {
			t.Errorf("redis %s at %s, want stopped after celery", info.State, info.Stop.Sub(t2))
		}
		rt.set("celery", fakeBehavior{})
		// Started alone, it starts its dependency and waits for it.
		t1 := time.Now()
		if err := s.startOne(context.Background(), "celery", WaitForDone); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(t1); took != 2*time.Second {
			t.Errorf("start celery took %s, want redis's startsecs", took)
		}
		if info, _ := s.Process("redis"); info.State != Running {
			t.Errorf("redis %s", info.State)
		}
	})
}

// TestSupervisor_DependencyFailure: a dependency that gives up makes the
// dependent's start fail instead of waiting forever.
func TestSupervisor_DependencyFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFakeRuntime()
		rt.set("redis", fakeBehavior{exitAfter: 10 * time.Millisecond, exitCode: 1})
		s := mustOpen(t, rt,
			named("celery", func(s *ProcessSpec) { s.AutoStart = false; s.DependsOn = []string{"redis"} }),
			named("redis", func(s *ProcessSpec) { s.AutoStart = false; s.StartRetries = 0 }))
		defer s.Close(context.Background())
		err := s.startOne(context.Background(), "celery", WaitForDone)
		info, _ := s.Process("celery")
		if err == nil || info.State != Fatal || !strings.Contains(info.SpawnErr, "dependency redis is FATAL") {
			t.Errorf("start: %v; celery %s %q", err, info.State, info.SpawnErr)
		}
	})
}

// TestSupervisor_StartBeforeStop: a restart starts the replacement first;
// a replacement that fails leaves the old process running, and one that
// gets ready stops the old one only then.
func TestSupervisor_StartBeforeStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFakeRuntime()
		s := mustOpen(t, rt, named("web", func(s *ProcessSpec) {
			s.StartSecs, s.StartRetries, s.StartBeforeStop = time.Second, 0, true
		}))
		defer s.Close(context.Background())
		old := <-rt.spawns
		time.Sleep(1500 * time.Millisecond) // RUNNING
		synctest.Wait()
		rt.set("web", fakeBehavior{exitAfter: 100 * time.Millisecond, exitCode: 1})
		if err := s.restartOne(context.Background(), "web", WaitForDone); err == nil {
			t.Fatal("a replacement that exits at once was accepted")
		}
		<-rt.spawns // the failed replacement
		if info, _ := s.Process("web"); info.State != Running || info.Pid != old.pid || len(old.signalled()) != 0 {
			t.Fatalf("after a failed replacement: %s pid %d (old %d), old signalled %v", info.State, info.Pid, old.pid, old.signalled())
		}
		rt.set("web", fakeBehavior{})
		done := make(chan error, 1)
		go func() { done <- s.restartOne(context.Background(), "web", WaitForDone) }()
		next := <-rt.spawns
		time.Sleep(999 * time.Millisecond)
		synctest.Wait()
		if len(old.signalled()) != 0 {
			t.Errorf("old signalled %v before its replacement was ready", old.signalled())
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if info, _ := s.Process("web"); info.State != Running || info.Pid != next.pid || len(old.signalled()) != 1 {
			t.Errorf("after the restart: %s pid %d (want %d), old signalled %v", info.State, info.Pid, next.pid, old.signalled())
		}
	})
}

// closingRuntime is a fakeRuntime that notes, when the engine says it is
// closing, what its child had been sent until then.
type closingRuntime struct {
	*fakeRuntime
	child      *fakeChild
	closings   int
	sentBefore []syscall.Signal
}

func (r *closingRuntime) Closing() {
	r.closings++
	r.sentBefore = r.child.signalled()
}

// TestSupervisor_TellsTheRuntimeItIsClosingBeforeTheStops: a runtime that
// wants to know (ClosingRuntime) is told once, before any process is stopped, so
// that their exits can skip what only the runtime's own totals would keep.
func TestSupervisor_TellsTheRuntimeItIsClosingBeforeTheStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := &closingRuntime{fakeRuntime: newFakeRuntime()}
		s := mustOpen(t, rt, named("web", nil))
		rt.child = <-rt.spawns
		if err := s.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if rt.closings != 1 || len(rt.sentBefore) != 0 || len(rt.child.signalled()) == 0 {
			t.Fatalf("told %d times; the child had been sent %v then, and %v in all", rt.closings, rt.sentBefore, rt.child.signalled())
		}
	})
}

// TestSupervisor_ConcurrentRestarts: a waited start that another request
// stops and starts again within supervisord's 50 ms look answers
// "started", as two `supervisorctl restart` of a program that ends at once
// both do against supervisord; a stop that takes longer (a graceful
// server), or a stop alone, makes it abnormal termination.
func TestSupervisor_ConcurrentRestarts(t *testing.T) {
	for _, tc := range []struct {
		name       string
		slowStop   bool
		startAgain bool
		want       error
	}{
		{"restarted at once", false, true, nil},
		{"restarted after a slow stop", true, true, ErrAbnormalTermination},
		{"stopped only", false, false, ErrAbnormalTermination},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rt := newFakeRuntime()
				rt.set("web", fakeBehavior{ignoreTerm: tc.slowStop})
				s := mustOpen(t, rt, named("web", func(s *ProcessSpec) {
					s.AutoStart, s.StartSecs, s.StopWait = false, time.Second, 200*time.Millisecond
				}))
				defer s.Close(context.Background())
				first := make(chan error, 1)
				go func() { first <- s.startOne(context.Background(), "web", WaitForDone) }()
				synctest.Wait()
				if err := s.stopOne(context.Background(), "web", WaitForDone); err != nil {
					t.Fatal(err)
				}
				if tc.startAgain {
					if err := s.startOne(context.Background(), "web", WaitForDone); err != nil {
						t.Fatalf("the second restart's start: %v", err)
					}
				}
				if err := <-first; !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
					t.Errorf("the first start: %v, want %v", err, tc.want)
				}
			})
		})
	}
}

// TestSupervisor_DiffInPriorityOrder: reloadConfig lists groups as
// supervisord's does, by group priority, then by name: the order
// supervisorctl's update applies them in. It listed them by name only.
func TestSupervisor_DiffInPriorityOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idle := func(name string, prio int) *ProcessSpec {
			return named(name, func(s *ProcessSpec) { s.AutoStart, s.Priority = false, prio })
		}
		s := mustOpen(t, newFakeRuntime(), idle("solo", 999), idle("x", 5), idle("b", 900), idle("a", 900), idle("gone2", 7), idle("gone1", 999))
		defer s.Close(context.Background())
		group := func(p *ProcessSpec) GroupSpec {
			return GroupSpec{Name: p.Group, Priority: p.Priority, Processes: []ProcessSpec{*p}}
		}
		changed := func(p *ProcessSpec) *ProcessSpec { c := *p; c.Argv = []string{"/bin/false"}; return &c }
		d := s.Diff([]GroupSpec{
			group(changed(idle("solo", 999))), group(idle("new2", 999)), group(changed(idle("b", 900))),
			group(changed(idle("a", 900))), group(changed(idle("x", 5))), group(idle("new1", 1)),
		})
		if got := fmt.Sprint(d); got != "{[new1 new2] [x a b solo] [gone2 gone1]}" {
			t.Errorf("diff %s, want added, changed and removed by priority, then by name", got)
		}
	})
}

// TestSupervisor_RemovedProgramForgetsItsStop: an operator's stop of a
// program ends when an update removes the program, and every stop ends
// when the engine closes: a program that comes back, or the next start,
// follows autostart, as under supervisord.
func TestSupervisor_RemovedProgramForgetsItsStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFakeRuntime()
		web := named("web", func(s *ProcessSpec) { s.StartSecs = 0 })
		worker := named("worker", func(s *ProcessSpec) { s.StartSecs = 0 })
		s := mustOpen(t, rt, web, worker)
		<-rt.spawns
		<-rt.spawns
		for _, name := range []string{"web", "worker"} {
			if err := s.stopOne(context.Background(), name, WaitForDone); err != nil {
				t.Fatal(err)
			}
		}
		if !rt.isHeld("web") || !rt.isHeld("worker") {
			t.Fatalf("operators' stops not recorded: %v", rt.held)
		}
		if _, err := s.Apply(context.Background(), []GroupSpec{{Name: "worker", Processes: []ProcessSpec{*worker}}}); err != nil {
			t.Fatal(err)
		}
		if rt.isHeld("web") || !rt.isHeld("worker") {
			t.Errorf("after web's removal: held %v, want worker's stop only", rt.held)
		}
		s.Close(context.Background())
		if rt.isHeld("worker") {
			t.Errorf("after the engine closed: held %v, want none", rt.held)
		}
	})
}

// TestSupervisor_ShutdownStopsAGroupTogether: the daemon's shutdown stops
// group priority after group priority, and a group's processes together
// whatever their own priorities, as supervisord's stop_all does; it waited
// for each program priority, so a group of three slow stops took three
// times as long.
func TestSupervisor_ShutdownStopsAGroupTogether(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFakeRuntime()
		slow := func(name string, prio int) ProcessSpec {
			rt.set("app:"+name, fakeBehavior{ignoreTerm: true})
			s := named(name, func(s *ProcessSpec) { s.StartSecs, s.StopWait, s.Priority = 0, 2*time.Second, prio })
			s.Group = "app"
			return *s
		}
		other := named("other", func(s *ProcessSpec) { s.StartSecs, s.StopWait = 0, 2*time.Second })
		rt.set("other", fakeBehavior{ignoreTerm: true})
		s := New(rt, []GroupSpec{
			{Name: "app", Priority: 100, Processes: []ProcessSpec{slow("web", 100), slow("worker", 200), slow("beat", 300)}},
			{Name: "other", Priority: 50, Processes: []ProcessSpec{*other}},
		})
		s.Logger = quietLogger()
		if err := s.Open(context.Background()); err != nil {
			t.Fatal(err)
		}
		kids := map[string]*fakeChild{}
		for range 4 {
			c := <-rt.spawns
			kids[c.name] = c
		}
		t0 := time.Now()
		s.Close(context.Background())
		rt.mu.Lock()
		defer rt.mu.Unlock()
		for _, name := range []string{"app:web", "app:worker", "app:beat"} {
			if at := kids[name].firstAt.Sub(t0); at != 0 {
				t.Errorf("%s signalled at +%v, want with its group, at once", name, at)
			}
		}
		if at := kids["other"].firstAt.Sub(t0); at != 2*time.Second {
			t.Errorf("other (group priority 50) signalled at +%v, want after app's 2 s", at)
		}
		if took := time.Since(t0); took != 4*time.Second {
			t.Errorf("shutdown took %v, want 4s", took)
		}
	})
}

// TestSupervisor_HoldIsRecordedOnceTheStopEnds: an operator's stop is
// recorded for a successor once the process has stopped, not as the stop
// begins (a daemon killed meanwhile leaves a stop whose intent it cannot
// know); a second stop while the first runs, refused, does not cancel it;
// and an exit for good is recorded as a stop is.
func TestSupervisor_HoldIsRecordedOnceTheStopEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFakeRuntime()
		rt.set("slow", fakeBehavior{ignoreTerm: true})
		rt.set("once", fakeBehavior{exitAfter: time.Second})
		slow := named("slow", func(s *ProcessSpec) { s.StartSecs = 0; s.StopWait = 5 * time.Second })
		once := named("once", func(s *ProcessSpec) { s.StartSecs = 0; s.AutoRestart = RestartNever })
		s := mustOpen(t, rt, slow, once)
		<-rt.spawns
		<-rt.spawns
		waitState(t, s, "slow", Running)
		if err := s.stopOne(context.Background(), "slow", NoWait); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if rt.isHeld("slow") {
			t.Fatal("the stop was recorded as it began")
		}
		if err := s.stopOne(context.Background(), "slow", NoWait); err == nil {
			t.Fatal("a second stop while stopping was not refused")
		}
		waitState(t, s, "slow", Stopped)
		if !rt.isHeld("slow") {
			t.Errorf("the operator's stop, refused a second time, was not recorded once it ended")
		}
		waitState(t, s, "once", Exited)
		if !rt.isHeld("once") {
			t.Errorf("a one-shot that exited for good was not recorded")
		}
		s.Close(context.Background())
	})
}

// TestSupervisor_ExitIsDecidedAfterWhatFollows: the engine tells the
// child its exit is decided once what follows it is recorded (the hold of
// a one-shot job, the restart's spawn), so a daemon killed in between
// leaves the exit to its successor; an exit whose retry is still to come
// (BACKOFF) stays pending, until the retry spawns, or is abandoned (a
// stop, FATAL), which the runtime is told.
func TestSupervisor_ExitIsDecidedAfterWhatFollows(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFakeRuntime()
		rt.set("once", fakeBehavior{exitAfter: time.Second, exitCode: 0})
		rt.set("again", fakeBehavior{exitAfter: time.Second, exitCode: 1})
		rt.set("early", fakeBehavior{exitAfter: 100 * time.Millisecond, exitCode: 1})
		rt.set("loop", fakeBehavior{exitAfter: 100 * time.Millisecond, exitCode: 1})
		once := named("once", func(s *ProcessSpec) { s.StartSecs = 0; s.AutoRestart = RestartNever })
		again := named("again", func(s *ProcessSpec) { s.StartSecs = 0; s.AutoRestart = RestartAlways })
		early := named("early", func(s *ProcessSpec) { s.StartSecs = time.Second; s.StartRetries = 1 })
		loop := named("loop", func(s *ProcessSpec) { s.StartSecs = time.Second; s.StartRetries = 100 })
		s := mustOpen(t, rt, once, again, early, loop)
		waitState(t, s, "once", Exited)
		waitState(t, s, "early", Fatal)
		waitState(t, s, "loop", Backoff)
		if err := s.stopOne(context.Background(), "loop", WaitForDone); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		got := map[string][]string{}
		for _, r := range rt.recorded() {
			what, name, _ := strings.Cut(r, " ")
			got[name] = append(got[name], what)
		}
		// early's failed starts are decided only as it goes FATAL: until
		// then a retry is to come, which a successor makes too.
		want := map[string][]string{
			"once":  {"spawn", "hold", "decided"},
			"again": {"spawn", "spawn", "decided"},
			"early": {"spawn", "spawn", "settled", "decided"},
			// Stopped in BACKOFF: the retry is abandoned, its exit settled
			// once the stop's hold is recorded.
			"loop": {"spawn", "spawn", "hold", "settled"},
		}
		for name, w := range want {
			if !slices.Equal(got[name], w) {
				t.Errorf("%s: recorded %v, want %v", name, got[name], w)
			}
		}
		s.Close(context.Background())
	})
}

// TestSupervisor_RemovingAGroupEndsItsStop: supervisorctl update stops a
// group, then removes it: the stop's hold goes with the group, so that
// the program, added back (after a restart of the daemon too), starts as
// autostart says instead of staying STOPPED.
func TestSupervisor_RemovingAGroupEndsItsStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFakeRuntime()
		web := named("web", func(s *ProcessSpec) { s.StartSecs = 0 })
		s := mustOpen(t, rt, web)
		<-rt.spawns
		if err := s.stopOne(context.Background(), "web", WaitForDone); err != nil {
			t.Fatal(err)
		}
		if !rt.isHeld("web") {
			t.Fatal("the operator's stop was not recorded")
		}
		if err := s.RemoveGroup(context.Background(), "web"); err != nil {
			t.Fatal(err)
		}
		if rt.isHeld("web") {
			t.Error("the removed group's stop is still recorded")
		}
		s.Close(context.Background())
	})
}

// TestClusterWait_OneLine: a coordination service's error that spans
// lines is shown on one, as every status description is.
func TestClusterWait_OneLine(t *testing.T) {
	got := clusterWait("", "failed to connect to `user=ctlsup database=postgres`:\n\t127.0.0.1:15432 (127.0.0.1): dial error")
	if strings.ContainsAny(got, "\n\t") || !strings.HasSuffix(got, "`user=ctlsup database=postgres`: 127.0.0.1:15432 (127.0.0.1): dial error") {
		t.Errorf("description %q", got)
	}
}

// TestSupervisor_CloseReleasesHoldsFirst: a stop of the daemon (or a
// reload) ends what operators stopped before it stops anything, so that
// a daemon killed in the middle of it leaves its successor a fresh start,
// as the completed stop would have.
func TestSupervisor_CloseReleasesHoldsFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFakeRuntime()
		rt.set("slow", fakeBehavior{ignoreTerm: true})
		slow := named("slow", func(s *ProcessSpec) { s.StartSecs = 0; s.StopWait = 5 * time.Second })
		web := named("web", func(s *ProcessSpec) { s.StartSecs = 0 })
		s := mustOpen(t, rt, slow, web)
		<-rt.spawns
		<-rt.spawns
		if err := s.stopOne(context.Background(), "web", WaitForDone); err != nil {
			t.Fatal(err)
		}
		if !rt.isHeld("web") {
			t.Fatal("the operator's stop was not recorded")
		}
		go s.Close(context.Background())
		time.Sleep(time.Second)
		synctest.Wait()
		s.mu.RLock()
		st := s.byName["slow"].info.Load().State
		s.mu.RUnlock()
		if st != Stopping {
			t.Fatalf("slow is %v a second into the shutdown, want STOPPING", st)
		}
		if rt.isHeld("web") {
			t.Error("the shutdown has not released the operator's stop while it stops the rest")
		}
		<-s.closed
	})
}

// TestSupervisor_ReadyBeforeTheStarts: OnReady comes once the engine
// answers for all its programs and before it starts any, so that the API
// it enables finds them all and a program calling it as it starts reaches
// this engine.
func TestSupervisor_ReadyBeforeTheStarts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFakeRuntime()
		s := New(rt, []GroupSpec{{Name: "web", Processes: []ProcessSpec{*named("web", func(s *ProcessSpec) { s.StartSecs = 0 })}}})
		ready := false
		s.OnReady = func() {
			ready = true
			if _, err := s.Process("web"); err != nil {
				t.Errorf("at OnReady: %v", err)
			}
			if n := len(rt.spawns); n != 0 {
				t.Errorf("at OnReady, %d spawns already", n)
			}
		}
		if err := s.Open(context.Background()); err != nil {
			t.Fatal(err)
		}
		if !ready {
			t.Fatal("OnReady was not called")
		}
		<-rt.spawns
		s.Close(context.Background())
	})
}

// TestSupervisor_ShutdownTakesOverAStopUnderWay: an operator's stop under
// way when the daemon's own shutdown begins becomes the shutdown's, for a
// successor that finds it cut short (which then starts what autostart
// says, as at a fresh start).
func TestSupervisor_ShutdownTakesOverAStopUnderWay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFakeRuntime()
		rt.set("slow", fakeBehavior{ignoreTerm: true})
		s := mustOpen(t, rt, named("slow", func(s *ProcessSpec) { s.StartSecs = 0; s.StopWait = 5 * time.Second }))
		child := <-rt.spawns
		if err := s.stopOne(context.Background(), "slow", NoWait); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if child.shutdownStop.Load() {
			t.Fatal("an operator's stop was recorded as the daemon's")
		}
		go s.Close(context.Background())
		time.Sleep(time.Second)
		synctest.Wait()
		if !child.shutdownStop.Load() {
			t.Error("the shutdown did not take over the stop under way")
		}
		<-s.closed
	})
}

// TestSupervisor_StateEventsNameTheLiveProcess: PROCESS_STATE events name
// the live process, or the one whose exit they report; a stop while no
// process runs (BACKOFF, a crash loop's wait) names none, pid 0, as
// supervisord's: a listener that acts on the pid must not get one the
// kernel may have given to another process since.
func TestSupervisor_StateEventsNameTheLiveProcess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFakeRuntime()
		rt.set("flaky", fakeBehavior{exitAfter: 100 * time.Millisecond, exitCode: 2})
		rt.set("loop", fakeBehavior{exitAfter: 2 * time.Second, exitCode: 2})
		s := mustOpen(t, rt,
			named("flaky", func(s *ProcessSpec) { s.StartSecs = time.Second; s.StartRetries = 5 }),
			named("loop", func(s *ProcessSpec) {
				s.StartSecs, s.AutoRestart, s.RestartMaxDelay = time.Second, RestartAlways, time.Minute
			}),
			named("steady", func(s *ProcessSpec) { s.StartSecs = 0 }))
		defer s.Close(context.Background())
		var mu sync.Mutex
		var got []string
		s.Subscribe([]string{"PROCESS_STATE"}, func(e Event) {
			mu.Lock()
			got = append(got, e.Type+" "+e.Payload)
			mu.Unlock()
		})
		waitState(t, s, "flaky", Backoff)
		waitState(t, s, "steady", Running)
		// loop runs 2 s, past its startsecs, then exits: after the first
		// restart, one after a run that short waits (a crash loop), in
		// STARTING with no process.
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
			if info, _ := s.Process("loop"); info.State == Starting && info.Pid == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("loop never waited to restart")
			}
		}
		steady, _ := s.Process("steady")
		for _, name := range []string{"flaky", "loop", "steady"} {
			if err := s.stopOne(context.Background(), name, WaitForDone); err != nil {
				t.Fatal(err)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		stopped := map[string]string{}
		for _, e := range got {
			if rest, ok := strings.CutPrefix(e, "PROCESS_STATE_STOPPED processname:"); ok {
				name, _, _ := strings.Cut(rest, " ")
				stopped[name] = e
			}
		}
		for name, want := range map[string]string{
			"flaky":  "PROCESS_STATE_STOPPED processname:flaky groupname:flaky from_state:BACKOFF pid:0",
			"loop":   "PROCESS_STATE_STOPPED processname:loop groupname:loop from_state:STARTING pid:0",
			"steady": fmt.Sprintf("PROCESS_STATE_STOPPED processname:steady groupname:steady from_state:STOPPING pid:%d", steady.Pid),
		} {
			if stopped[name] != want {
				t.Errorf("%s: %q, want %q", name, stopped[name], want)
			}
		}
	})
}
