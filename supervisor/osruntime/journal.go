package osruntime

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/ctlsup/ctlsup/supervisor"
	"golang.org/x/sys/unix"
)

// The state journal, state_dir/state.json, is how a daemon's successor
// learns what it left running. It is a file of JSON lines, appended with
// one write(2) per change, synchronously: a change is in the page cache,
// and so survives the daemon's death, before the step it records happens.
//
//   - a spawn record, before the fork: name, the pipes' inodes, stop
//     settings and its cgroup; a crash right after the fork still finds
//     the child by the pipe it holds (its stdout or stderr), or in its
//     cgroup
//   - a started record after the fork: pid and start time
//   - a stopping record when a stop begins (marked when it is the
//     daemon's own, its stop or reload)
//   - an ended (exited) record once the leader has been reaped, with its
//     exit status, written before the engine hears of the exit; the exit
//     is pending until the engine has decided what follows (a decided
//     record, or the hold or spawn that decision wrote), and a successor
//     decides a pending exit as the engine would have: a daemon killed
//     between an exit and its decision must not run a one-shot job twice
//   - a gone record once the leader has ended and no process of its
//     cgroup (or process group) remains
//   - held records for programs down for good: stopped by an operator
//     (once the stop has ended), or exited as their autorestart says
//
// The first line names the boot, and the last spawn id given (ids name
// cgroups, and never repeat within a boot): a journal from another boot
// describes no live process and is ignored. The file is rewritten (compacted) when it
// has grown to twice what it describes.

// journalRecord is one line of the journal; which fields are set says what
// it records.
type journalRecord struct {
	Boot string `json:"boot,omitempty"`

	ID          uint64   `json:"id,omitempty"`
	Name        string   `json:"name,omitempty"`
	Pipes       []uint64 `json:"pipes,omitempty"` // stdout, then stderr inode (0: none)
	Fingerprint string   `json:"fp,omitempty"`
	Cgroup      string   `json:"cgroup,omitempty"` // the spawn's cgroup directory
	Stdin       uint64   `json:"stdin,omitempty"`  // its stdin pipe's inode, when it has one
	Priority    int      `json:"prio,omitempty"`
	StopSignal  int      `json:"sig,omitempty"`
	StopWaitMs  int64    `json:"wait_ms,omitempty"`
	StopAsGroup bool     `json:"stop_group,omitempty"`
	KillAsGroup bool     `json:"kill_group,omitempty"`
	// Stopping, Ended and Gone are records of their own; beside the two
	// above they share a word. Shutdown: the stop is the daemon's own.
	Stopping bool `json:"stopping,omitempty"`
	Shutdown bool `json:"shutdown,omitempty"`
	Ended    bool `json:"ended,omitempty"`
	Gone     bool `json:"gone,omitempty"`

	Pid       int    `json:"pid,omitempty"`
	StartTime uint64 `json:"start,omitempty"`   // /proc/PID/stat starttime
	SpawnedAt int64  `json:"at,omitempty"`      // unix milliseconds
	StopAt    int64  `json:"stop_at,omitempty"` // unix milliseconds: when a stop began

	// A held, release or exited record; nil in a live entry, which keeps
	// an entry (one per process) in the 176-byte size class.
	*JournalOutcome
}

// JournalOutcome records what became of a program: down for good, an
// operator's stop or its exit (Held, with how and when); started again
// (Release); or its process exited, with what is not yet decided
// (Exited, with the exit). Exported for encoding/json, which fills an
// embedded pointer only to an exported type.
type JournalOutcome struct {
	Held    string `json:"held,omitempty"`
	HeldFP  string `json:"held_fp,omitempty"`  // the fingerprint of the configuration held
	State   string `json:"state,omitempty"`    // STOPPED or EXITED; none in an older ctlsupd's journal
	Start   int64  `json:"start_at,omitempty"` // unix milliseconds: its last start
	At      int64  `json:"down_at,omitempty"`  // unix milliseconds: when it ended
	Exit    int    `json:"exit,omitempty"`     // its last exit code
	Release string `json:"release,omitempty"`

	// An exited record: the spawn's leader was reaped, how, and what the
	// entry knew of it. Beside an id and "ended" only, so that an older
	// ctlsupd reads it as the ended record it knows.
	Exited      string `json:"exited,omitempty"` // the process's name
	Signaled    bool   `json:"signaled,omitempty"`
	Signal      int    `json:"signal,omitempty"` // which, when signaled
	Text        string `json:"text,omitempty"`   // "exit status 3"
	OOM         bool   `json:"oom,omitempty"`
	ExitPid     int    `json:"exit_pid,omitempty"`
	ExitFP      string `json:"exit_fp,omitempty"`
	WasStopping bool   `json:"exit_stopping,omitempty"`
	WasShutdown bool   `json:"exit_shutdown,omitempty"`
	Decided     bool   `json:"decided,omitempty"` // the engine decided the exit of the id's spawn
	Settled     string `json:"settled,omitempty"` // the engine decided every exit of the process named
}

// pendingExit is an exit the engine had not yet decided (restart, hold,
// back-off): the leader's status, and its entry's name, configuration,
// pid, start and stop under way.
type pendingExit struct {
	Name, Fingerprint  string
	Status             supervisor.ExitStatus
	Pid                int
	Started, At        time.Time
	Stopping, Shutdown bool
}

func (h *JournalOutcome) pendingExit() pendingExit {
	x := pendingExit{Name: h.Exited, Fingerprint: h.ExitFP, Pid: h.ExitPid, Stopping: h.WasStopping, Shutdown: h.WasShutdown,
		Status: supervisor.ExitStatus{Code: h.Exit, Signaled: h.Signaled, Signal: syscall.Signal(h.Signal), Text: h.Text, OOMKilled: h.OOM}}
	if h.Start != 0 {
		x.Started = time.UnixMilli(h.Start)
	}
	if h.At != 0 {
		x.At = time.UnixMilli(h.At)
	}
	return x
}

func exitedRecord(id uint64, x pendingExit) journalRecord {
	o := &JournalOutcome{Exited: x.Name, ExitFP: x.Fingerprint, ExitPid: x.Pid, WasStopping: x.Stopping, WasShutdown: x.Shutdown,
		Exit: x.Status.Code, Signaled: x.Status.Signaled, Signal: int(x.Status.Signal), Text: x.Status.Text, OOM: x.Status.OOMKilled}
	if !x.Started.IsZero() {
		o.Start = x.Started.UnixMilli()
	}
	if !x.At.IsZero() {
		o.At = x.At.UnixMilli()
	}
	return journalRecord{ID: id, Ended: true, JournalOutcome: o}
}

// hold is a program kept down (an operator's stop, or an exit for good),
// and the fingerprint of the configuration it was kept down with: a
// configuration changed while no daemon ran lifts an exit's hold, as
// reread and update on SIGHUP start a changed program again; an
// operator's stop holds, as SIGHUP keeps it.
type hold struct {
	supervisor.Down
	fp string // "" in an older ctlsupd's journal
}

// hold is what a held record says.
func (h *JournalOutcome) hold() hold {
	d := supervisor.Down{State: supervisor.Stopped, ExitStatus: h.Exit}
	if h.State == supervisor.Exited.String() {
		d.State = supervisor.Exited
	}
	if h.Start != 0 {
		d.Started = time.UnixMilli(h.Start)
	}
	if h.At != 0 {
		d.At = time.UnixMilli(h.At)
	}
	return hold{Down: d, fp: h.HeldFP}
}

func heldRecord(name string, d hold) journalRecord {
	h := &JournalOutcome{Held: name, HeldFP: d.fp, State: d.State.String(), Exit: d.ExitStatus}
	if !d.Started.IsZero() {
		h.Start = d.Started.UnixMilli()
	}
	if !d.At.IsZero() {
		h.At = d.At.UnixMilli()
	}
	return journalRecord{JournalOutcome: h}
}

// journalEntry is one spawned process as the journal describes it.
type journalEntry struct {
	journalRecord
}

type stateFile struct {
	path string
	boot string
	log  *slog.Logger

	mu       sync.Mutex
	f        *os.File
	nextID   uint64
	entries  map[uint64]*journalEntry
	held     map[string]hold
	exits    map[uint64]pendingExit // by spawn id
	lines    int
	lastWarn time.Time
	// size is the file's; up to reservedTo, its blocks are allocated.
	size, reservedTo int64
	// compactFailed: the last rewrite failed then; the next waits a
	// second, appending meanwhile.
	compactFailed time.Time
	// thisBoot: the file at path is this boot's journal (read so, or
	// rewritten by this daemon): records may be appended to it.
	thisBoot bool
	// gap: a record could not be written; the file lacks it until it is
	// rewritten whole (tried at gapTried).
	gap       bool
	gapTried  time.Time
	suspended bool // a successor takes over: write nothing
	// closed: the runtime closed; a record that comes later (a leftover's
	// stop outliving it) is not written: rewriting the file would replace
	// the next runtime's journal with this one's.
	closed bool
}

// openStateFile reads what a previous daemon of this boot recorded and
// starts a fresh journal holding it. The caller resolves the entries
// (adopts or stops them) and reports each as gone when done with it.
func openStateFile(path, boot string, log *slog.Logger) (*stateFile, []*journalEntry, map[string]hold, map[uint64]pendingExit) {
	f := &stateFile{path: path, boot: boot, log: log, entries: map[uint64]*journalEntry{},
		held: map[string]hold{}, exits: map[uint64]pendingExit{}}
	f.load()
	var old []*journalEntry
	for _, e := range f.entries {
		old = append(old, e)
	}
	held, exits := maps.Clone(f.held), maps.Clone(f.exits)
	f.mu.Lock()
	f.compactLocked()
	f.mu.Unlock()
	return f, old, held, exits
}

func (f *stateFile) load() {
	b, err := os.ReadFile(f.path)
	if err != nil {
		return
	}
	if f.boot == "" {
		// Without this boot's id, a journal of an earlier boot would pass
		// for this one's, and its pids name other processes now.
		f.log.Warn("cannot read this boot's id (/proc/sys/kernel/random/boot_id): ignoring the state file, adopting nothing", "path", f.path)
		return
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	first := true
	for sc.Scan() {
		var r journalRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			continue // a line cut short by a full disk
		}
		if first {
			first = false
			if r.Boot != f.boot {
				if r.Boot != "" || len(b) > 0 {
					f.log.Info("state file is from another boot or an older ctlsupd: ignoring it", "path", f.path)
				}
				return
			}
			f.nextID = r.ID
			f.thisBoot = true
			continue
		}
		f.apply(r)
	}
}

// apply folds one record into the entries.
func (f *stateFile) apply(r journalRecord) {
	f.nextID = max(f.nextID, r.ID)
	// An exit is pending until the engine has decided it: it says so, or
	// records a hold or spawns the program again, which decide it.
	switch {
	case r.JournalOutcome != nil && r.Held != "":
		f.held[r.Held] = r.hold()
		f.settleExitsOf(r.Held)
	case r.JournalOutcome != nil && r.Release != "":
		delete(f.held, r.Release)
	case r.JournalOutcome != nil && r.Settled != "":
		f.settleExitsOf(r.Settled)
	case r.JournalOutcome != nil && r.Exited != "":
		f.exits[r.ID] = r.pendingExit()
		if e := f.entries[r.ID]; e != nil {
			e.Ended = true
		}
	case r.JournalOutcome != nil && r.Decided:
		delete(f.exits, r.ID)
	case r.Name != "":
		f.entries[r.ID] = &journalEntry{r}
		f.settleExitsOf(r.Name)
	case r.Gone:
		delete(f.entries, r.ID)
	case r.Pid != 0:
		if e := f.entries[r.ID]; e != nil {
			e.Pid, e.StartTime, e.SpawnedAt = r.Pid, r.StartTime, r.SpawnedAt
		}
	case r.Stopping:
		if e := f.entries[r.ID]; e != nil {
			if !e.Stopping || r.StopAt == 0 {
				e.StopAt = r.StopAt // the stop's start: a shutdown taking it over goes on with it
			}
			e.Stopping, e.Shutdown = true, r.Shutdown
		}
	case r.Ended:
		if e := f.entries[r.ID]; e != nil {
			e.Ended = true
		}
	}
}

// settleExitsOf forgets the pending exits of the process named.
func (f *stateFile) settleExitsOf(name string) {
	for id, x := range f.exits {
		if x.Name == name {
			delete(f.exits, id)
		}
	}
}

// record applies r and appends it to the journal.
func (f *stateFile) record(r journalRecord) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	f.apply(r)
	if f.suspended {
		return // written whole when resumed
	}
	// Rewritten whole once it has grown, or to put back what a failed
	// write left out; appended to when that fails too (a full disk may
	// have room for a line but not for a copy), so that no record a
	// successor needs is dropped while there is room for it.
	if f.lines > 2*(len(f.entries)+len(f.held)+len(f.exits))+256 && time.Since(f.compactFailed) >= time.Second && f.compactLocked() {
		return
	}
	b, _ := json.Marshal(r)
	f.writeLocked(append(b, '\n'))
}

// newID returns the id of a spawn about to be recorded.
func (f *stateFile) newID() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	return f.nextID
}

// spawning records a spawn about to happen.
func (f *stateFile) spawning(id uint64, spec *supervisor.ProcessSpec, fingerprint string, pipes []uint64, stdin uint64, cgroup string) {
	// A copy: the entry lives as long as the process, and the caller's
	// slice is part of what holds the spawn's write ends (136 bytes a
	// program, kept until its exit).
	pipes = slices.Clone(pipes)
	f.record(journalRecord{ID: id, Name: spec.FullName(), Pipes: pipes, Stdin: stdin, Fingerprint: fingerprint, Cgroup: cgroup,
		Priority: spec.Priority, StopSignal: int(spec.StopSignal), StopWaitMs: spec.StopWait.Milliseconds(),
		StopAsGroup: spec.StopAsGroup, KillAsGroup: spec.KillAsGroup})
}

func (f *stateFile) started(id uint64, pid int, start uint64, at time.Time) {
	f.record(journalRecord{ID: id, Pid: pid, StartTime: start, SpawnedAt: at.UnixMilli()})
}

func (f *stateFile) stopping(id uint64, shutdown bool, at time.Time) {
	f.record(journalRecord{ID: id, Stopping: true, Shutdown: shutdown, StopAt: at.UnixMilli()})
}

// ended records that the spawn's leader has ended and been reaped, and
// its exit, pending until the engine has decided it (see decided). The
// entry stays while members of its cgroup (or process group) live on,
// for a successor to stop them.
func (f *stateFile) ended(id uint64, name string, st supervisor.ExitStatus, at time.Time) {
	x := pendingExit{Name: name, Status: st, At: at}
	f.mu.Lock()
	if e := f.entries[id]; e != nil {
		x.Fingerprint, x.Pid, x.Stopping, x.Shutdown = e.Fingerprint, e.Pid, e.Stopping, e.Shutdown
		if e.SpawnedAt != 0 {
			x.Started = time.UnixMilli(e.SpawnedAt)
		}
	}
	f.mu.Unlock()
	f.record(exitedRecord(id, x))
}

// decided records that the engine has decided what follows the exit of
// spawn id; nothing is written when a hold or a spawn did already.
func (f *stateFile) decided(id uint64) {
	f.mu.Lock()
	_, pending := f.exits[id]
	f.mu.Unlock()
	if pending {
		f.record(journalRecord{ID: id, JournalOutcome: &JournalOutcome{Decided: true}})
	}
}

func (f *stateFile) gone(id uint64) { f.record(journalRecord{ID: id, Gone: true}) }

// settle records that every pending exit of name is decided; nothing is
// written when there is none.
func (f *stateFile) settle(name string) {
	f.mu.Lock()
	pending := false
	for _, x := range f.exits {
		pending = pending || x.Name == name
	}
	f.mu.Unlock()
	if pending {
		f.record(journalRecord{JournalOutcome: &JournalOutcome{Settled: name}})
	}
}

// hold records that name is down for good, stopped by an operator or
// exited as its autorestart says (or, down nil, that it was started
// again), so that a successor does not start it.
func (f *stateFile) hold(name string, down *supervisor.Down, fp string) {
	f.mu.Lock()
	was, already := f.held[name]
	f.mu.Unlock()
	switch {
	case down != nil && (!already || was != hold{*down, fp}):
		f.record(heldRecord(name, hold{*down, fp}))
	case down == nil && already:
		f.record(journalRecord{JournalOutcome: &JournalOutcome{Release: name}})
	}
}

// compactLocked rewrites the journal as a boot line and one record per
// live entry, then keeps appending to the new file; false if it could
// not (the journal is then as it was).
func (f *stateFile) compactLocked() bool {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// The header carries the last id: spawn ids (which name cgroups too)
	// never repeat within a boot, even once their entries are dropped.
	enc.Encode(journalRecord{Boot: f.boot, ID: f.nextID})
	n := 1
	for _, e := range f.entries {
		enc.Encode(e.journalRecord)
		n++
	}
	for name, d := range f.held {
		enc.Encode(heldRecord(name, d))
		n++
	}
	for id, x := range f.exits {
		enc.Encode(exitedRecord(id, x))
		n++
	}
	// Created exclusively and reopened without following links: a link
	// planted in state_dir is never written through.
	tmp := f.path + ".tmp"
	os.Remove(tmp)
	tf, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	reserved := false
	if err == nil {
		_, err = tf.Write(buf.Bytes())
		reserved = err == nil && reserve(tf, int64(buf.Len()))
		err = errors.Join(err, tf.Close())
	}
	if err == nil {
		err = os.Rename(tmp, f.path)
	}
	if err != nil {
		os.Remove(tmp) // what it holds of a full disk
		f.warnLocked(err)
		f.compactFailed = time.Now()
		return false
	}
	nf, err := os.OpenFile(f.path, os.O_WRONLY|os.O_APPEND|syscall.O_NOFOLLOW, 0)
	if err != nil {
		f.warnLocked(err)
		return false
	}
	if f.f != nil {
		f.f.Close()
	}
	f.f, f.lines, f.gap, f.thisBoot = nf, n, false, true
	f.size, f.reservedTo = int64(buf.Len()), int64(buf.Len())
	if reserved {
		f.reservedTo += journalReserve
	}
	return true
}

// journalReserve is the room kept allocated past the journal's end, so
// that a full disk does not stop the records of the spawns that come
// while it is full (about 2000 of them); it is renewed as it is used.
const journalReserve = 512 << 10

// reserve allocates journalReserve bytes past size without growing the
// file (fallocate's KEEP_SIZE): appends there need no new blocks. A file
// system that cannot (or a disk already full) leaves none.
func reserve(f *os.File, size int64) bool {
	return unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_KEEP_SIZE, size, journalReserve) == nil
}

func (f *stateFile) writeLocked(b []byte) {
	if f.gap && time.Since(f.gapTried) >= time.Second {
		// A record is missing from the file: try to put it back, once
		// a second at most while the disk stays full.
		f.gapTried = time.Now()
		if f.compactLocked() {
			return
		}
	}
	if f.f == nil {
		if !f.thisBoot {
			// Appended to a journal of another boot (a rewrite failed on
			// a disk still full after a reboot), a record would be read
			// under that boot's header, and ignored.
			f.warnLocked(errors.New("the journal is another boot's and cannot be rewritten"))
			f.gap = true
			return
		}
		nf, err := os.OpenFile(f.path, os.O_WRONLY|os.O_APPEND|syscall.O_NOFOLLOW, 0)
		if err != nil {
			f.warnLocked(err)
			f.gap = true
			return
		}
		st, err := nf.Stat()
		if err != nil {
			nf.Close()
			f.warnLocked(err)
			f.gap = true
			return
		}
		// After a newline: a failed write may have left part of a line,
		// which this one must not extend.
		f.f, b = nf, append([]byte{'\n'}, b...)
		f.size, f.reservedTo = st.Size(), st.Size()
	}
	n, err := f.f.Write(b)
	f.size += int64(n)
	if err != nil {
		f.warnLocked(err)
		f.f.Close()
		f.f = nil // reopened, or rewritten whole, at the next change: the disk may have room again
		f.gap = true
		return
	}
	f.lines++
	if f.reservedTo-f.size < journalReserve/2 && reserve(f.f, f.size) {
		f.reservedTo = f.size + journalReserve
	}
}

// warnLocked logs a failing state file at most once a minute: the programs
// go on, but a successor may not find them all.
func (f *stateFile) warnLocked(err error) {
	if now := time.Now(); now.Sub(f.lastWarn) >= time.Minute {
		f.lastWarn = now
		f.log.Error("cannot write state file", "path", f.path, "err", err)
	}
}

// suspend stops (or resumes) writing: a successor reads the journal as it
// is now.
func (f *stateFile) suspend(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	was := f.suspended
	f.suspended = on
	if was && !on && !f.compactLocked() {
		f.gap = true // what happened meanwhile is in no file yet
	}
}

func (f *stateFile) close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	if f.f == nil {
		return nil
	}
	err := f.f.Close()
	f.f = nil
	return err
}
