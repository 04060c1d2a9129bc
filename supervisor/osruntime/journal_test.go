package osruntime

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ctlsup/ctlsup/supervisor"
	"github.com/ctlsup/ctlsup/supervisor/internal/proc"
)

// What one daemon records, the next reads back: spawned, started,
// stopping, gone, and the operator's stops; a journal of another boot is
// ignored, and a line cut short (a full disk) is skipped.
func TestStateFile_SuccessorReadsTheJournal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	f, old, _, _ := openStateFile(path, "boot-1", quietLogger())
	if len(old) != 0 {
		t.Fatalf("a new journal describes nothing: %v", old)
	}
	beat := &supervisor.ProcessSpec{Group: "cts", Name: "beat", StopSignal: syscall.SIGINT, StopWait: 30 * time.Second, StopAsGroup: true}
	web := &supervisor.ProcessSpec{Group: "web", Name: "web", StopSignal: syscall.SIGTERM, StopWait: time.Second}
	gone := &supervisor.ProcessSpec{Group: "x", Name: "x"}
	b := f.newID()
	f.spawning(b, beat, "fp-beat", []uint64{11, 12}, 0, "")
	f.started(b, 100, 5000, time.UnixMilli(1234))
	w := f.newID()
	f.spawning(w, web, "fp-web", []uint64{21, 0}, 0, "")
	f.stopping(w, true, time.UnixMilli(5500))
	f.ended(w, "web", supervisor.ExitStatus{Code: -1, Signaled: true, Signal: syscall.SIGTERM, Text: "terminated by SIGTERM"}, time.UnixMilli(6000))
	x := f.newID()
	f.spawning(x, gone, "", nil, 0, "")
	f.started(x, 300, 1, time.Now())
	f.gone(x)
	f.hold("cts:worker", &supervisor.Down{State: supervisor.Exited, Started: time.UnixMilli(4000), At: time.UnixMilli(5000), ExitStatus: 3}, "")
	f.hold("web:other", &supervisor.Down{State: supervisor.Stopped, At: time.Now()}, "")
	f.hold("web:other", nil, "")
	f.close()

	// An older ctlsupd's hold says nothing of how; a line cut short by a
	// full disk is skipped.
	fh, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	fh.WriteString(`{"held":"old:image"}` + "\n" + `{"id":99,"name":"cut`)
	fh.Close()

	_, got, held, exits := openStateFile(path, "boot-1", quietLogger())
	if len(got) != 2 {
		t.Fatalf("want the beat and web, got %+v", got)
	}
	for _, e := range got {
		switch e.Name {
		case "cts:beat":
			if e.Pid != 100 || e.StartTime != 5000 || e.SpawnedAt != 1234 || e.StopSignal != int(syscall.SIGINT) ||
				e.StopWaitMs != 30000 || !e.StopAsGroup || e.Fingerprint != "fp-beat" || len(e.Pipes) != 2 || e.Stopping || e.Ended {
				t.Errorf("beat: %+v", e)
			}
		case "web":
			if e.Pid != 0 || !e.Stopping || !e.Shutdown || !e.Ended || e.Pipes[0] != 21 {
				t.Errorf("web (spawned, pid not recorded, stopping by the daemon's shutdown, reaped): %+v", e)
			}
		default:
			t.Errorf("unexpected entry %+v", e)
		}
	}
	if d, ok := held["old:image"]; !ok || d.Down != (supervisor.Down{}) {
		t.Errorf("an older ctlsupd's hold: %v", held)
	}
	if d, ok := held["cts:worker"]; !ok || d.State != supervisor.Exited || !d.At.Equal(time.UnixMilli(5000)) || !d.Started.Equal(time.UnixMilli(4000)) || d.ExitStatus != 3 || len(held) != 2 {
		t.Errorf("what is down for good, and how: %v", held)
	}

	// web's exit is pending: nothing recorded what followed it.
	want := pendingExit{Name: "web", Fingerprint: "fp-web", Status: supervisor.ExitStatus{Code: -1, Signaled: true, Signal: syscall.SIGTERM, Text: "terminated by SIGTERM"},
		At: time.UnixMilli(6000), Stopping: true, Shutdown: true}
	if x, ok := exits[w]; !ok || x != want || len(exits) != 1 {
		t.Errorf("pending exits: %+v, want web's %+v", exits, want)
	}

	// Reading it compacted it: the same again, in fewer lines.
	b2, _ := os.ReadFile(path)
	if n := strings.Count(string(b2), "\n"); n != 6 {
		t.Errorf("compacted journal: boot + 2 entries + 2 holds + 1 exit = 6 lines, got %d:\n%s", n, b2)
	}
	if _, again, held, exits := openStateFile(path, "boot-1", quietLogger()); len(again) != 2 || held["cts:worker"].ExitStatus != 3 || exits[w] != want {
		t.Errorf("after compaction: %+v %v %v", again, held, exits)
	}
	if _, other, held, _ := openStateFile(path, "boot-2", quietLogger()); len(other) != 0 || len(held) != 0 {
		t.Errorf("a journal of another boot must be ignored: %+v %v", other, held)
	}
}

// TestStateFile_ExitPendingUntilDecided: a reaped exit stays pending,
// beyond its entry's end, until the engine says it decided it, or records
// a hold or the program's next spawn; a release (a start) decides none.
func TestStateFile_ExitPendingUntilDecided(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	f, _, _, _ := openStateFile(path, "b", quietLogger())
	spawn := func(name string) uint64 {
		id := f.newID()
		f.spawning(id, &supervisor.ProcessSpec{Group: name, Name: name}, "", nil, 0, "")
		f.started(id, 100+int(id), 1, time.UnixMilli(1000))
		return id
	}
	ids := map[string]uint64{}
	f.hold("released", &supervisor.Down{}, "") // an operator's stop, released as it starts again
	for _, name := range []string{"decided", "held", "respawned", "released", "pending"} {
		id := spawn(name)
		f.ended(id, name, supervisor.ExitStatus{Code: 3, Text: "exit status 3"}, time.UnixMilli(2000))
		f.gone(id)
		ids[name] = id
	}
	f.decided(ids["decided"])
	f.hold("held", &supervisor.Down{State: supervisor.Exited, ExitStatus: 3}, "")
	spawn("respawned")
	f.hold("released", nil, "")
	f.close()
	_, _, _, exits := openStateFile(path, "b", quietLogger())
	want := pendingExit{Name: "pending", Status: supervisor.ExitStatus{Code: 3, Text: "exit status 3"}, Pid: 105,
		Started: time.UnixMilli(1000), At: time.UnixMilli(2000)}
	if len(exits) != 2 || exits[ids["pending"]] != want || exits[ids["released"]].Name != "released" {
		t.Errorf("pending exits %+v, want released's and pending's %+v", exits, want)
	}
}

// TestStateFile_ClosedWritesNothing: a record that comes after the
// runtime closed (a leftover's stop outliving it, into a reload) is not
// written: it would replace the next runtime's journal with this one's.
func TestStateFile_ClosedWritesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	f, _, _, _ := openStateFile(path, "b", quietLogger())
	id := f.newID()
	f.spawning(id, &supervisor.ProcessSpec{Group: "g", Name: "n"}, "", nil, 0, "")
	f.close()
	os.WriteFile(path, []byte("the next runtime's\n"), 0o600)
	f.gone(id)
	if b, _ := os.ReadFile(path); string(b) != "the next runtime's\n" {
		t.Errorf("a closed journal wrote %q", b)
	}
}

// TestStateFile_EntryOwnsItsPipes: an entry lives as long as its process;
// the inodes a spawn passes sit beside the spawn's write ends (Runtime.Start
// slices logcap.Pipes.Inodes), which an aliasing entry kept alive too.
func TestStateFile_EntryOwnsItsPipes(t *testing.T) {
	f, _, _, _ := openStateFile(filepath.Join(t.TempDir(), "state.json"), "b", quietLogger())
	defer f.close()
	inodes := [2]uint64{11, 12}
	id := f.newID()
	f.spawning(id, &supervisor.ProcessSpec{Group: "g", Name: "n"}, "", inodes[:], 0, "")
	inodes[0] = 99
	if got := f.entries[id].Pipes; len(got) != 2 || got[0] != 11 || &got[0] == &inodes[0] {
		t.Errorf("the entry's pipes %v share the caller's array", got)
	}
}

// The journal stays bounded: it is compacted as it grows.
func TestStateFile_Compacts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	f, _, _, _ := openStateFile(path, "b", quietLogger())
	spec := &supervisor.ProcessSpec{Group: "g", Name: "n"}
	for i := range 5000 {
		id := f.newID()
		f.spawning(id, spec, "", nil, 0, "")
		f.started(id, 1000+i, 1, time.Now())
		f.gone(id)
	}
	f.close()
	b, _ := os.ReadFile(path)
	if n := strings.Count(string(b), "\n"); n > 2*256+10 {
		t.Errorf("journal of 5000 finished spawns has %d lines", n)
	}
}

// Without a boot id (/proc/sys/kernel/random/boot_id unreadable), a
// journal cannot be told from an earlier boot's: nothing in it is taken.
func TestStateFile_NoBootIDTrustsNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	f, _, _, _ := openStateFile(path, "", quietLogger())
	id := f.newID()
	f.spawning(id, &supervisor.ProcessSpec{Group: "cts", Name: "beat"}, "fp", nil, 0, "")
	f.started(id, 4242, 77, time.Now())
	f.close()
	if _, got, _, _ := openStateFile(path, "", quietLogger()); len(got) != 0 {
		t.Fatalf("entries taken from a journal of an unknown boot: %+v", got)
	}
}

// A journal that cannot be rewritten (a full disk has room for a line but
// not for a copy; here the copy's name is taken) is appended to: a spawn
// recorded then is still found by a successor, which would otherwise
// start a second copy of it.
func TestStateFile_AppendsWhenItCannotCompact(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	f, _, _, _ := openStateFile(path, "b", quietLogger())
	os.MkdirAll(filepath.Join(path+".tmp", "in the way"), 0o755)
	spec := &supervisor.ProcessSpec{Group: "g", Name: "n"}
	for i := range 600 { // past the size that asks for a rewrite
		id := f.newID()
		f.spawning(id, spec, "", nil, 0, "")
		f.started(id, 1000+i, 1, time.Now())
		f.gone(id)
	}
	live := &supervisor.ProcessSpec{Group: "cts", Name: "beat"}
	id := f.newID()
	f.spawning(id, live, "fp", nil, 0, "")
	f.started(id, 4242, 77, time.Now())
	f.close()
	_, got, _, _ := openStateFile(path, "b", quietLogger())
	if len(got) != 1 || got[0].Name != "cts:beat" || got[0].Pid != 4242 {
		t.Fatalf("a successor finds %+v, want the beat's spawn", got)
	}
}

// TestFingerprint_NewSettingsKeepIt: a setting a newer daemon knows, left
// at its zero value, does not change a spec's fingerprint (an upgrade
// would otherwise restart every adopted program); a set one does.
func TestFingerprint_NewSettingsKeepIt(t *testing.T) {
	spec := testSpec()
	before := fingerprint(spec)
	plain := *spec
	plain.Sockets, plain.DependsOn = nil, []string{}
	if fingerprint(&plain) != before {
		t.Error("an empty list changed the fingerprint")
	}
	changed := *spec
	changed.Ready = supervisor.Readiness{Kind: supervisor.ReadyNotify}
	if fingerprint(&changed) == before {
		t.Error("a readiness rule did not change the fingerprint")
	}
}

// TestRuntime_StopsOfGoneProgramsAreForgotten: a daemon that finds an
// operator's stop of a program its configuration no longer has forgets
// it, so that the program, should it come back, follows autostart; the
// stops of programs it still has are kept.
func TestRuntime_StopsOfGoneProgramsAreForgotten(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	f, _, _, _ := openStateFile(path, proc.BootID(), quietLogger())
	f.hold("kept", &supervisor.Down{}, "")
	f.hold("gone", &supervisor.Down{}, "")
	f.close()

	r := New(dir, quietLogger())
	if err := r.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	kept := &supervisor.ProcessSpec{Group: "kept", Name: "kept"}
	if a := r.Adopt(kept, nil); !a.Stopped {
		t.Errorf("kept: %+v, want its stop", a)
	}
	r.EndAdoption()
	r.Close()
	if _, _, held, _ := openStateFile(path, proc.BootID(), quietLogger()); len(held) != 1 || held["kept"].Down != (supervisor.Down{}) {
		t.Errorf("operators' stops after the adoption: %v, want kept's only", held)
	}
}

// TestRuntime_LiveEntryOutranksAnEndedOne: of two entries of one process
// (a replacement started before its predecessor stopped, which ended
// first), the one whose process was never reaped is adopted, whatever the
// order of their spawns; the other's leftovers are stopped.
func TestRuntime_LiveEntryOutranksAnEndedOne(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	live := exec.Command("/bin/sleep", "1000")
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	defer live.Process.Kill()
	st, err := proc.ReadStat(live.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	f, _, _, _ := openStateFile(path, proc.BootID(), quietLogger())
	spec := &supervisor.ProcessSpec{Group: "web", Name: "web"}
	old := f.newID()
	f.spawning(old, spec, "", nil, 0, "")
	f.started(old, live.Process.Pid, st.StartTime, time.Now())
	replacement := f.newID()
	f.spawning(replacement, spec, "", nil, 0, "")
	f.started(replacement, 1<<22-1, 1, time.Now())
	f.ended(replacement, "web", supervisor.ExitStatus{Text: "exit status 0"}, time.Now())
	f.close()

	r := New(dir, quietLogger())
	if err := r.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if e := r.survivors["web"]; e == nil || e.ID != old {
		t.Errorf("survivor %+v, want the live entry %d", e, old)
	}
}

// TestRuntime_CloseFinishesLeftoverStops: a previous daemon's process
// that no program adopts is stopped with its own stopwaitsecs; one that
// ignores its stop signal must not outlive this daemon's shutdown, which
// waits for that stop, as it waits for its own programs'.
func TestRuntime_CloseFinishesLeftoverStops(t *testing.T) {
	dir := t.TempDir()
	left := exec.Command("/bin/sh", "-c", "trap '' TERM; exec sleep 1000")
	left.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := left.Start(); err != nil {
		t.Fatal(err)
	}
	defer left.Process.Kill()
	st, err := proc.ReadStat(left.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	id := proc.Identity{Pid: left.Process.Pid, StartTime: st.StartTime}
	f, _, _, _ := openStateFile(filepath.Join(dir, "state.json"), proc.BootID(), quietLogger())
	spawn := f.newID()
	f.spawning(spawn, &supervisor.ProcessSpec{Group: "gone", Name: "gone", StopSignal: syscall.SIGTERM, StopWait: time.Second}, "", nil, 0, "")
	f.started(spawn, id.Pid, id.StartTime, time.Now())
	f.close()

	r := New(dir, quietLogger())
	if err := r.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.EndAdoption() // nothing adopts it: its stop begins
	r.Close()
	if !id.Gone() {
		t.Fatal("a leftover that ignores its stop signal outlived the daemon's shutdown")
	}
}

// TestRuntime_ReplacementCutShortLeavesThePredecessor: a daemon killed
// while a replacement (start_before_stop) was getting ready leaves two
// live processes of one program; the predecessor, which served, is
// adopted and the replacement stopped, unless the predecessor's stop had
// begun (the replacement was ready) or the predecessor is dead.
func TestRuntime_ReplacementCutShortLeavesThePredecessor(t *testing.T) {
	for _, tc := range []struct {
		name           string
		stopping, dead bool
		want           int // 0: the predecessor survives, 1: the replacement
	}{
		{"serving", false, false, 0},
		{"stopping", true, false, 1},
		{"dead", false, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			f, _, _, _ := openStateFile(filepath.Join(dir, "state.json"), proc.BootID(), quietLogger())
			spec := &supervisor.ProcessSpec{Group: "web", Name: "web", StopSignal: syscall.SIGTERM, StopWait: time.Second}
			var ids []uint64
			var ended []chan struct{}
			for i := range 2 {
				c := exec.Command("/bin/sleep", "1000")
				c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
				if err := c.Start(); err != nil {
					t.Fatal(err)
				}
				defer c.Process.Kill()
				done := make(chan struct{})
				go func() { c.Wait(); close(done) }()
				st, err := proc.ReadStat(c.Process.Pid)
				if err != nil {
					t.Fatal(err)
				}
				id := f.newID()
				f.spawning(id, spec, "", nil, 0, "")
				f.started(id, c.Process.Pid, st.StartTime, time.Now())
				ids, ended = append(ids, id), append(ended, done)
				if i == 0 && tc.dead {
					c.Process.Kill() // crashed, unseen by the daemon
					<-done
				}
			}
			if tc.stopping {
				f.stopping(ids[0], false, time.Now())
			}
			f.close()

			r := New(dir, quietLogger())
			if err := r.Open(context.Background()); err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if e := r.survivors["web"]; e == nil || e.ID != ids[tc.want] {
				t.Errorf("survivor %+v, want entry %d", e, ids[tc.want])
			}
			select {
			case <-ended[1-tc.want]:
			case <-time.After(10 * time.Second):
				t.Errorf("the other process was not stopped")
			}
			select {
			case <-ended[tc.want]:
				t.Errorf("the survivor was stopped")
			default:
			}
		})
	}
}

// TestStateFile_SettleByName: a retry abandoned (stopped in BACKOFF,
// FATAL without an exit, removed) settles every pending exit of its
// program, and writes nothing when there is none.
func TestStateFile_SettleByName(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	f, _, _, _ := openStateFile(path, "b", quietLogger())
	for _, name := range []string{"web", "worker"} {
		id := f.newID()
		f.spawning(id, &supervisor.ProcessSpec{Group: name, Name: name}, "", nil, 0, "")
		f.ended(id, name, supervisor.ExitStatus{Code: 1, Text: "exit status 1"}, time.Now())
		f.gone(id)
	}
	f.settle("web")
	before, _ := os.ReadFile(path)
	f.settle("web") // nothing pending: nothing written
	f.close()
	if after, _ := os.ReadFile(path); len(after) != len(before) {
		t.Errorf("a settle with nothing pending wrote %q", after[len(before):])
	}
	_, _, _, exits := openStateFile(path, "b", quietLogger())
	if len(exits) != 1 {
		t.Fatalf("pending exits %+v, want worker's only", exits)
	}
	for _, x := range exits {
		if x.Name != "worker" {
			t.Errorf("pending exit of %s, want worker's", x.Name)
		}
	}
}
