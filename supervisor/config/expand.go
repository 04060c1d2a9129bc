package config

import (
	"fmt"
	"strings"
)

// expander resolves ${NAME}: built-ins first, then the instance's
// environment, then the daemon's. "$$" is a literal "$".
type expander struct {
	builtins map[string]string
	instance map[string]string
	daemon   func(string) (string, bool)
}

func (e *expander) lookup(name string) (string, bool) {
	if v, ok := e.builtins[name]; ok {
		return v, true
	}
	if v, ok := e.instance[name]; ok {
		return v, true
	}
	return e.daemon(name)
}

func (e *expander) expand(s string) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "$$"):
			b.WriteByte('$')
			i++
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return "", fmt.Errorf("unterminated ${ in %q", s)
			}
			name := s[i+2 : i+end]
			v, ok := e.lookup(name)
			if !ok {
				return "", fmt.Errorf("unknown name ${%s} (built-ins, the instance's environment and the daemon's environment are searched; write $${ for a literal)", name)
			}
			b.WriteString(v)
			i += end
		default:
			b.WriteByte('$')
		}
	}
	return b.String(), nil
}
