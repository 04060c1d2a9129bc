package config

import (
	"strings"
)

// lineIndex maps TOML key paths to the line that sets them. BurntSushi/toml
// does not export key positions, and every error must name its line.
type lineIndex map[string]int

func pathKey(path []string) string { return strings.Join(path, "\x00") }

// line returns the line of path, or of its nearest enclosing table.
func (ix lineIndex) line(path ...string) int {
	for n := len(path); n > 0; n-- {
		if l, ok := ix[pathKey(path[:n])]; ok {
			return l
		}
	}
	return 0
}

// indexLines scans TOML text for table headers and key assignments. It
// skips multi-line strings; keys inside inline tables map to their table's
// line.
func indexLines(text string) lineIndex {
	ix := lineIndex{}
	var table []string
	inString := ""
	for n, raw := range strings.Split(text, "\n") {
		line := strings.TrimSpace(raw)
		if inString != "" {
			if strings.Count(line, inString)%2 == 1 {
				inString = ""
			}
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		if line[0] == '[' {
			inner := strings.TrimLeft(line, "[")
			if i := strings.Index(inner, "]"); i >= 0 {
				inner = inner[:i]
			}
			if p, ok := splitKey(inner); ok {
				table = p
				if _, seen := ix[pathKey(p)]; !seen {
					ix[pathKey(p)] = n + 1
				}
			}
			continue
		}
		eq := strings.Index(line, "=")
		if eq < 0 {
			continue
		}
		if p, ok := splitKey(line[:eq]); ok {
			full := append(append([]string{}, table...), p...)
			ix[pathKey(full)] = n + 1
		}
		for _, q := range []string{`"""`, `'''`} {
			if strings.Count(line[eq:], q)%2 == 1 {
				inString = q
			}
		}
	}
	return ix
}

// splitKey parses a dotted TOML key: bare, "quoted" or 'literal' parts.
func splitKey(s string) ([]string, bool) {
	var parts []string
	s = strings.TrimSpace(s)
	for s != "" {
		var part string
		switch s[0] {
		case '"', '\'':
			end := strings.IndexByte(s[1:], s[0])
			if end < 0 {
				return nil, false
			}
			part, s = s[1:end+1], s[end+2:]
		default:
			end := strings.IndexAny(s, ". \t")
			if end < 0 {
				end = len(s)
			}
			part, s = s[:end], s[end:]
			for _, c := range part {
				if !(c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
					return nil, false
				}
			}
		}
		parts = append(parts, part)
		s = strings.TrimSpace(s)
		if s == "" {
			break
		}
		if s[0] != '.' {
			return nil, false
		}
		s = strings.TrimSpace(s[1:])
	}
	return parts, len(parts) > 0
}
