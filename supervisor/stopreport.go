package supervisor

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Reports of stops, in supervisord's words, which log watchers and
// operators reading the log during a long celery drain look for: "waiting
// for NAME to stop" as a stop begins (logMilestone) and then every
// stopReportEvery while the process is STOPPING; and while the daemon
// shuts down, in its first second and then every dieReportEvery, "waiting
// for A, B to die" naming what is not stopped yet, and nothing else, as
// supervisord reports a shutdown. Names are full names
// (group:name), as the daemon's other lines write them.
const (
	stopReportEvery = 2 * time.Second
	dieReportEvery  = 3 * time.Second
	// reportPoll spaces the scans: a burst of changes (a start of 10,000
	// programs makes 20,000) is one scan.
	reportPoll = 500 * time.Millisecond
)

// reportStops runs from Open until Close has stopped everything
// (s.closed). It scans only after a change, and on a timer only while
// some process is stopping.
func (s *Supervisor) reportStops() {
	reported := map[string]time.Time{} // stopping processes: when last reported (or first seen)
	var lastDie time.Time
	for {
		changed := s.changes.wait()
		stopping, unstopped := s.stopScan()
		shuttingDown := s.shuttingDown()
		now := time.Now()
		still := make(map[string]bool, len(stopping))
		for _, name := range stopping {
			still[name] = true
			if at, ok := reported[name]; !ok {
				reported[name] = now // its stop's start was logged
			} else if now.Sub(at) >= stopReportEvery && !shuttingDown {
				s.mu.RLock()
				p := s.byName[name]
				s.mu.RUnlock()
				if p != nil { // with its logger: an instance's is said apart
					p.logger().Info(fmt.Sprintf("waiting for %s to stop", name))
				}
				reported[name] = now
			}
		}
		for name := range reported {
			if !still[name] {
				delete(reported, name)
			}
		}
		if shuttingDown && len(unstopped) > 0 && now.Sub(lastDie) >= dieReportEvery {
			s.Logger.Info(fmt.Sprintf("waiting for %s to die", strings.Join(unstopped, ", ")))
			lastDie = now
		}
		if len(stopping) == 0 && (!shuttingDown || len(unstopped) == 0) {
			select {
			case <-changed:
			case <-s.closed:
				return
			}
		}
		select {
		case <-time.After(reportPoll):
		case <-s.closed:
			return
		}
	}
}

// stopScan names the processes that are stopping and, while the daemon
// shuts down, those not stopped yet, sorted. It reads the snapshots
// without copying or sorting the whole list.
func (s *Supervisor) stopScan() (stopping, unstopped []string) {
	closing := s.shuttingDown()
	s.mu.RLock()
	for name, p := range s.byName {
		st := p.info.Load().State
		if st == Stopping {
			stopping = append(stopping, name)
		}
		if closing && !st.IsStopped() {
			unstopped = append(unstopped, name)
		}
	}
	s.mu.RUnlock()
	slices.Sort(stopping)
	slices.Sort(unstopped)
	return stopping, unstopped
}

// shuttingDown reports whether Close is stopping everything (a detach for
// an upgrade closes nothing).
func (s *Supervisor) shuttingDown() bool {
	select {
	case <-s.quit:
		return true
	default:
		return false
	}
}
