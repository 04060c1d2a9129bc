package supervisor

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// The file joins entries encoded one by one: it must stay one JSON array
// that recovery reads back, whatever was added and removed.
func TestStateFile_WritesWhatRecoveryReads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	f := openStateFile(path, slog.New(slog.DiscardHandler))
	read := func() []stateEntry {
		t.Helper()
		f.write()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var got []stateEntry
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("state file is not a JSON array: %v\n%s", err, b)
		}
		return got
	}
	if got := read(); len(got) != 0 {
		t.Fatalf("empty state: %v", got)
	}
	self, parent := os.Getpid(), os.Getppid()
	f.add(&ProcessSpec{Group: "cts", Name: "beat", StopSignal: syscall.SIGINT, StopWait: 30 * time.Second, StopAsGroup: true}, self)
	f.add(&ProcessSpec{Group: "web", Name: "web", StopSignal: syscall.SIGTERM, StopWait: time.Second}, parent)
	got := read()
	if len(got) != 2 {
		t.Fatalf("two entries, got %v", got)
	}
	for _, e := range got {
		switch e.Pid {
		case self:
			if e.Name != "cts:beat" || e.StopSignal != int(syscall.SIGINT) || e.StopWaitMs != 30000 || !e.StopAsGroup || e.StartTime == 0 {
				t.Errorf("entry for the beat: %+v", e)
			}
		case parent:
			if e.Name != "web" || e.StopWaitMs != 1000 || e.StopAsGroup {
				t.Errorf("entry for web: %+v", e)
			}
		default:
			t.Errorf("unexpected entry %+v", e)
		}
	}
	f.remove(self)
	if got := read(); len(got) != 1 || got[0].Pid != parent {
		t.Fatalf("after remove: %v", got)
	}
}
