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
// changes, so a burst of spawns costs one write. Each entry is encoded once,
// when its child starts: a write only joins them (encoding 5000 entries
// again for every write took a quarter of the daemon's CPU while 5000
// programs started).
type stateFile struct {
	path    string
	log     *slog.Logger
	mu      sync.Mutex
	entries map[int][]byte // pid → its stateEntry in JSON
	dirty   chan struct{}
	stop    chan struct{}
	stopped chan struct{}
}

func openStateFile(path string, log *slog.Logger) *stateFile {
	return &stateFile{path: path, log: log, entries: map[int][]byte{},
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
	b, _ := json.Marshal(stateEntry{Name: spec.FullName(), Pid: pid, StartTime: st.StartTime,
		StopSignal: int(spec.StopSignal), StopWaitMs: spec.StopWait.Milliseconds(),
		StopAsGroup: spec.StopAsGroup, KillAsGroup: spec.KillAsGroup})
	f.mu.Lock()
	f.entries[pid] = b
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
	size := 2
	for _, e := range f.entries {
		size += len(e) + 1
	}
	b := make([]byte, 0, size)
	b = append(b, '[')
	for _, e := range f.entries {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, e...)
	}
	b = append(b, ']')
	f.mu.Unlock()
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
