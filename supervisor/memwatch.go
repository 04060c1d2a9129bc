package supervisor

import (
	"context"
	"fmt"
	"time"
)

// DefaultMemoryCheck is how often memory_restart is checked, as superlance's
// memmon does on supervisord's TICK_5 events.
const DefaultMemoryCheck = 5 * time.Second

// watchMemory restarts, with its stop signal, a process whose resident
// memory stayed above its memory_restart for two checks in a row: a
// program that must shut down warm, where memory_max would kill it. It
// wakes only while some process has memory_restart.
func (s *Supervisor) watchMemory() {
	over := map[string]int{}
	var gen uint64
	var any, known bool
	for {
		changed := s.changes.wait()
		// Only the registry brings memory_restart: the scan of every
		// process's spec runs again only once it has changed.
		if g := s.registryGen.Load(); !known || g != gen {
			gen, any, known = g, s.anyMemoryRestart(), true
		}
		if !any {
			select {
			case <-changed:
			case <-s.quit:
				return
			}
			// Once a second at most, not once for each of the 20,000
			// changes a start of 10,000 programs makes.
			select {
			case <-time.After(time.Second):
			case <-s.quit:
				return
			}
			continue
		}
		select {
		case <-time.After(s.MemoryCheck):
		case <-s.quit:
			return
		}
		if s.closing.Load() {
			continue // detached (an upgrade under way, which may be undone) or closing
		}
		usage := s.Usage()
		for _, p := range s.Processes() {
			name, limit := p.FullName(), p.Spec.Limits.MemoryRestart
			rss := usage[name].RSSBytes
			if limit <= 0 || p.State != Running || rss <= limit {
				delete(over, name)
				continue
			}
			if over[name]++; over[name] < 2 {
				continue
			}
			delete(over, name)
			s.Logger.Warn(fmt.Sprintf("memory_restart: %s uses %d bytes, above %d: restarting it", name, rss, limit),
				"process", name, "rss_bytes", rss, "memory_restart", limit)
			go s.restartOne(context.Background(), name, NoWait)
		}
	}
}

func (s *Supervisor) anyMemoryRestart() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, p := range s.byName {
		if p.spec.Limits.MemoryRestart > 0 {
			return true
		}
	}
	return false
}
