package supervisor

import (
	"encoding/json"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/ctlsup/ctlsup/supervisor/internal/proc"
)

// stateEntry records a running child so that a daemon started after this
// one was killed can stop it.
type stateEntry struct {
	Name        string `json:"name"`
	Pid         int    `json:"pid"`
	StartTime   uint64 `json:"start_time"` // /proc/PID/stat starttime
	StopSignal  int    `json:"stop_signal"`
	StopWaitMs  int64  `json:"stop_wait_ms"`
	StopAsGroup bool   `json:"stop_as_group"`
	KillAsGroup bool   `json:"kill_as_group"`
}

// stateFile keeps state.json current. One writer goroutine coalesces
// changes, so a burst of spawns costs one write.
type stateFile struct {
	path    string
	log     *slog.Logger
	mu      sync.Mutex
	entries map[int]stateEntry
	dirty   chan struct{}
	stop    chan struct{}
	stopped chan struct{}
}

func openStateFile(path string, log *slog.Logger) *stateFile {
	return &stateFile{path: path, log: log, entries: map[int]stateEntry{},
		dirty: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{})}
}

// recover stops every still-running process the file lists, in parallel,
// each with its own stop settings, then starts the writer.
func (f *stateFile) recover() {
	b, err := os.ReadFile(f.path)
	if err == nil {
		var old []stateEntry
		if err := json.Unmarshal(b, &old); err != nil {
			f.log.Warn("ignoring unreadable state file", "path", f.path, "err", err)
		}
		var wg sync.WaitGroup
		for _, e := range old {
			if !proc.Alive(e.Pid, e.StartTime) && len(proc.GroupMembers(e.Pid)) == 0 {
				continue
			}
			f.log.Warn("stopping leftover of a previous daemon", "process", e.Name, "pid", e.Pid)
			wg.Go(func() {
				proc.StopLeftover(proc.Leftover{Pid: e.Pid, StartTime: e.StartTime,
					StopSignal: syscall.Signal(e.StopSignal), StopWait: time.Duration(e.StopWaitMs) * time.Millisecond,
					StopAsGroup: e.StopAsGroup, KillAsGroup: e.KillAsGroup})
			})
		}
		wg.Wait()
	}
	f.write()
	go f.writer()
}

func (f *stateFile) add(spec *ProcessSpec, pid int) {
	st, err := proc.ReadStat(pid)
	if err != nil {
		return // already gone
	}
	f.mu.Lock()
	f.entries[pid] = stateEntry{Name: spec.FullName(), Pid: pid, StartTime: st.StartTime,
		StopSignal: int(spec.StopSignal), StopWaitMs: spec.StopWait.Milliseconds(),
		StopAsGroup: spec.StopAsGroup, KillAsGroup: spec.KillAsGroup}
	f.mu.Unlock()
	f.touch()
}

func (f *stateFile) remove(pid int) {
	f.mu.Lock()
	delete(f.entries, pid)
	f.mu.Unlock()
	f.touch()
}

func (f *stateFile) touch() {
	select {
	case f.dirty <- struct{}{}:
	default:
	}
}

func (f *stateFile) writer() {
	defer close(f.stopped)
	for {
		select {
		case <-f.dirty:
			f.write()
		case <-f.stop:
			f.write()
			return
		}
	}
}

// write replaces the file atomically.
func (f *stateFile) write() {
	f.mu.Lock()
	list := make([]stateEntry, 0, len(f.entries))
	for _, e := range f.entries {
		list = append(list, e)
	}
	f.mu.Unlock()
	b, _ := json.Marshal(list)
	tmp := f.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		f.log.Error("cannot write state file", "err", err)
		return
	}
	if err := os.Rename(tmp, f.path); err != nil {
		f.log.Error("cannot write state file", "err", err)
	}
}

func (f *stateFile) close() {
	close(f.stop)
	<-f.stopped
}
