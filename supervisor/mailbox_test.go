package supervisor

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// TestProcess_IdleActorsHoldNoGoroutine: once fifty processes run and
// nothing happens, no actor holds a goroutine; each still answers, and a
// child's exit still wakes its actor.
func TestProcess_IdleActorsHoldNoGoroutine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFakeRuntime()
		var specs []*ProcessSpec
		for i := range 50 {
			specs = append(specs, named(fmt.Sprintf("p%02d", i), func(s *ProcessSpec) { s.StartSecs = time.Second }))
		}
		s := mustOpen(t, rt, specs...)
		defer s.Close(context.Background())
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if n := actorGoroutines(); n != 0 {
			t.Fatalf("%d actors hold a goroutine while idle", n)
		}
		for _, p := range s.Processes() {
			if p.State != Running {
				t.Fatalf("%s is %s", p.FullName(), p.State)
			}
		}
		if err := s.Ping(context.Background()); err != nil {
			t.Fatal(err)
		}
		first := <-rt.spawns
		first.exit(ExitStatus{Code: 1, Text: "exit status 1"})
		synctest.Wait()
		info, _ := s.Process(first.name)
		if info.Pid == first.pid || info.Restarts != 1 {
			t.Errorf("after its exit: pid %d (was %d), %d restarts", info.Pid, first.pid, info.Restarts)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if n := actorGoroutines(); n != 0 {
			t.Errorf("%d actors hold a goroutine after a restart", n)
		}
	})
}

// actorGoroutines counts the goroutines running an actor's turn.
func actorGoroutines() int {
	buf := make([]byte, 1<<20)
	return strings.Count(string(buf[:runtime.Stack(buf, true)]), "(*process).turn(")
}

// TestProcess_NotesMergeWhileOneWaits: however many notes a child sends
// while its actor is busy, one wake-up waits, and it keeps the READY.
func TestProcess_NotesMergeWhileOneWaits(t *testing.T) {
	p := newProcess(testSpec(), newFakeRuntime(), quietLogger(), fakeOutput{})
	p.box.turning = true // as if a turn were under way: nothing drains
	p.postNote(Note{Ready: true}, 1)
	for i := range 10000 {
		p.postNote(Note{Status: fmt.Sprint("step ", i)}, 1)
	}
	if n := len(p.box.wakes); n != 1 {
		t.Fatalf("%d wake-ups wait, want 1", n)
	}
	if n := p.box.note; !n.Ready || n.Status != "step 9999" {
		t.Errorf("merged note %+v, want READY and the last status", n)
	}
}

// TestExit_EitherOrder: a child's exit status reaches the engine once,
// whether the exit or OnExit comes first.
func TestExit_EitherOrder(t *testing.T) {
	var early Exit
	early.Exited(ExitStatus{Code: 3})
	early.Exited(ExitStatus{Code: 4})
	var got []int
	early.OnExit(func(st ExitStatus) { got = append(got, st.Code) })

	var late Exit
	late.OnExit(func(st ExitStatus) { got = append(got, st.Code) })
	late.Exited(ExitStatus{Code: 5})
	late.Exited(ExitStatus{Code: 6})
	if fmt.Sprint(got) != "[3 5]" {
		t.Errorf("statuses delivered %v, want [3 5]", got)
	}
}

// TestNotes_BeforeOnNote: notes sent before the engine listens are merged
// and handed over when it does.
func TestNotes_BeforeOnNote(t *testing.T) {
	var x Notes
	x.Note(Note{Ready: true})
	x.Note(Note{Status: "warming"})
	var got []Note
	x.OnNote(func(n Note) { got = append(got, n) })
	x.Note(Note{Status: "serving"})
	if fmt.Sprint(got) != "[{true warming} {false serving}]" {
		t.Errorf("notes %v", got)
	}
}
