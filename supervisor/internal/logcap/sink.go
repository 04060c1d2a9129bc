// Package logcap pumps a child's output pipes into rotated log files. Log
// trouble never blocks the child: bytes that cannot be written are dropped
// and counted.
package logcap

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"gopkg.in/natefinch/lumberjack.v2"
)

// Sink is one rotated log file. It decides rotation itself, to the byte, and
// leaves naming, opening and pruning of backups to lumberjack.
type Sink struct {
	Path     string
	MaxBytes int64 // rotate when the file would grow past this; 0 never
	Backups  int   // rotated files kept; 0 truncates instead

	Log *slog.Logger

	mu        sync.Mutex
	lj        *lumberjack.Logger
	size      int64 // current file size; -1 until known
	closed    bool
	lastWarn  time.Time
	lastRot   time.Time
	opened    os.FileInfo // the file being written, to notice it was deleted or replaced
	lastCheck time.Time
	written   atomic.Int64
	dropped   atomic.Int64
	rotations atomic.Int64
}

// NewSink returns a sink for path. Nothing is opened until the first write.
func NewSink(path string, maxBytes int64, backups int, log *slog.Logger) *Sink {
	return &Sink{
		Path: path, MaxBytes: maxBytes, Backups: backups, Log: log, size: -1,
		lj: &lumberjack.Logger{
			Filename:   path,
			MaxSize:    1 << 30, // megabytes: lumberjack never rotates on its own
			MaxBackups: max(backups, 1),
		},
	}
}

// Write appends p, rotating exactly at MaxBytes. It never returns an error:
// what cannot be written is counted as dropped.
func (s *Sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return len(p), nil
	}
	if len(p) == 0 {
		// Create the file now, as supervisord does at spawn.
		if s.size < 0 {
			s.statLocked()
		}
		if _, err := s.lj.Write(nil); err != nil {
			s.failLocked(0, err)
		}
		return 0, nil
	}
	s.checkDeletedLocked()
	rest := p
	for len(rest) > 0 {
		if s.size < 0 {
			s.statLocked()
		}
		chunk := rest
		if s.MaxBytes > 0 {
			room := s.MaxBytes - max(s.size, 0)
			if room <= 0 {
				s.rotateLocked()
				room = s.MaxBytes
			}
			if int64(len(chunk)) > room {
				chunk = chunk[:room]
			}
		}
		n, err := s.lj.Write(chunk)
		s.written.Add(int64(n))
		if s.size >= 0 {
			s.size += int64(n)
		}
		if err != nil {
			s.failLocked(int64(len(rest)-n), err)
			s.size = -1
			break
		}
		rest = rest[len(chunk):]
	}
	return len(p), nil
}

// checkDeletedLocked reopens the log, at most once a second, when its path
// no longer names the file being written (deleted, or moved aside without
// SIGUSR2): writing into an unlinked file would lose everything.
func (s *Sink) checkDeletedLocked() {
	if s.opened == nil || time.Since(s.lastCheck) < time.Second {
		return
	}
	s.lastCheck = time.Now()
	if st, err := os.Stat(s.Path); err != nil || !os.SameFile(st, s.opened) {
		s.lj.Close()
		s.size, s.opened = -1, nil
	}
}

func (s *Sink) statLocked() {
	defer func() {
		s.opened, _ = os.Stat(s.Path)
		s.lastCheck = time.Now()
	}()
	st, err := os.Stat(s.Path)
	if errors.Is(err, os.ErrNotExist) {
		// Create the file with the usual log mode: lumberjack would make it
		// 0600, and keeps the mode of an existing file across rotations.
		os.MkdirAll(filepath.Dir(s.Path), 0o755)
		if f, cerr := os.OpenFile(s.Path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); cerr == nil {
			f.Close()
		}
		s.size = 0
		return
	}
	if err == nil {
		s.size = st.Size()
	}
}

func (s *Sink) rotateLocked() {
	var err error
	if s.Backups == 0 {
		s.lj.Close()
		err = os.Truncate(s.Path, 0)
	} else {
		// lumberjack names backups to the millisecond; two rotations in one
		// millisecond would overwrite a backup.
		if wait := time.Millisecond - time.Since(s.lastRot); wait > 0 {
			time.Sleep(wait)
		}
		err = s.lj.Rotate()
		s.lastRot = time.Now()
	}
	if err != nil {
		s.warnLocked("cannot rotate log", err)
	}
	s.rotations.Add(1)
	s.size = -1
}

func (s *Sink) failLocked(lost int64, err error) {
	s.dropped.Add(lost)
	s.lj.Close() // reopen on the next write: the disk may have come back
	s.warnLocked("cannot write log; dropping output", err)
}

// warnLocked logs a problem at most once a minute per sink.
func (s *Sink) warnLocked(msg string, err error) {
	if now := time.Now(); now.Sub(s.lastWarn) >= time.Minute {
		s.lastWarn = now
		if s.Log != nil {
			s.Log.Warn(msg, "path", s.Path, "err", err, "dropped_bytes", s.dropped.Load())
		}
	}
}

// Reopen closes the file; the next write opens the path again, so a file
// renamed by logrotate is left alone and a new one is created.
func (s *Sink) Reopen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.size = -1
	return s.lj.Close()
}

// Clear empties the file; writing goes on at its start.
func (s *Sink) Clear() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lj.Close()
	s.size = -1
	err := os.Truncate(s.Path, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// Close closes the file for good; later writes are discarded.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return s.lj.Close()
}

// Written, Dropped and Rotations are the sink's counters.
func (s *Sink) Written() int64   { return s.written.Load() }
func (s *Sink) Dropped() int64   { return s.dropped.Load() }
func (s *Sink) Rotations() int64 { return s.rotations.Load() }
