package api

import (
	"context"
	"net"
	"sync"
)

// session is what one client connection did. supervisorctl's update runs
// reloadConfig, then stopProcessGroup, removeProcessGroup and
// addProcessGroup for every changed group, all on one connection. Within
// such a session a changed group is updated in place: only its changed
// processes stop and start again, the rest keep running with their PIDs.
type session struct {
	mu      sync.Mutex
	changed map[string]bool // changed groups reported by this connection's reloadConfig
	removed map[string]bool // changed groups "removed" and awaiting their add
}

type sessionKey struct{}

// ConnContext gives each connection its session; set it as the
// http.Server's ConnContext.
func ConnContext(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, sessionKey{}, &session{})
}

func sessionOf(ctx context.Context) *session {
	s, _ := ctx.Value(sessionKey{}).(*session)
	return s
}

func (s *session) reread(changed []string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.changed, s.removed = map[string]bool{}, map[string]bool{}
	for _, g := range changed {
		s.changed[g] = true
	}
}

// isChanged reports whether this connection's reread found group changed.
func (s *session) isChanged(group string) bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed[group]
}

func (s *session) markRemoved(group string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removed[group] = true
}

// takeRemoved reports, once, whether a changed group was removed in this
// session and now awaits its add.
func (s *session) takeRemoved(group string) bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.removed[group] {
		return false
	}
	delete(s.removed, group)
	delete(s.changed, group)
	return true
}
