// Package ini reads supervisord's INI configuration as supervisord 4.2.5
// does and converts it to ctlsup TOML, listing what it cannot carry over.
package ini

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Section is one [name] of an INI file.
type Section struct {
	Name string
	File string
	Line int
	Keys []Key
}

// Key is one option, its value with continuation lines joined by "\n".
type Key struct {
	Name  string // lower case, as supervisord's parser folds it
	Value string
	Line  int
	File  string // where it was set, if not in its section's file (see Merge)
}

// In is the file that set k, a key of s.
func (k *Key) In(s *Section) string {
	if k.File != "" {
		return k.File
	}
	return s.File
}

// fileOf is the file that set key at line (a section merged from several
// files has keys from each).
func (s *Section) fileOf(key string, line int) string {
	for i := range s.Keys {
		if k := &s.Keys[i]; k.Name == key && k.Line == line {
			return k.In(s)
		}
	}
	return s.File
}

// set gives key a value, replacing an earlier one, as supervisord's
// parser (strict = False) does: the last value wins, in the first place.
func (s *Section) set(k Key) *Key {
	for i := range s.Keys {
		if s.Keys[i].Name == k.Name {
			s.Keys[i] = k
			return &s.Keys[i]
		}
	}
	s.Keys = append(s.Keys, k)
	return &s.Keys[len(s.Keys)-1]
}

// Merge folds sections of one name into the first of them, in order, as
// supervisord's parser reads every file into one: a section given twice
// (in one file or in two) is one, whose later keys win.
func Merge(sections []Section) []Section {
	var out []Section
	at := map[string]int{}
	for _, sec := range sections {
		i, ok := at[sec.Name]
		if !ok {
			at[sec.Name] = len(out)
			out = append(out, sec)
			continue
		}
		for _, k := range sec.Keys {
			if k.File == "" && sec.File != out[i].File {
				k.File = sec.File
				// supervisord expands %(here)s as it reads each file: a
				// value's is the directory of the file that set it.
				k.Value = strings.ReplaceAll(k.Value, "%(here)s", filepath.Dir(sec.File))
			}
			out[i].set(k)
		}
	}
	return out
}

// Get returns the value of key and whether it is set.
func (s *Section) Get(key string) (Key, bool) {
	for _, k := range s.Keys {
		if k.Name == key {
			return k, true
		}
	}
	return Key{}, false
}

// ParseFile reads an INI file the way Python's RawConfigParser does with
// supervisord's settings: "=" or ":" delimiters, ";" and "#" comments
// (inline ones after whitespace), indented continuation lines.
func ParseFile(path string) ([]Section, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var sections []Section
	var cur *Section
	var last *Key
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		raw := sc.Text()
		trimmed := strings.TrimSpace(raw)
		if trimmed == "" || trimmed[0] == ';' || trimmed[0] == '#' {
			if trimmed == "" {
				last = nil
			}
			continue
		}
		if (raw[0] == ' ' || raw[0] == '\t') && last != nil {
			last.Value += "\n" + stripComment(trimmed)
			continue
		}
		if trimmed[0] == '[' {
			end := strings.IndexByte(trimmed, ']')
			if end < 0 {
				return nil, fmt.Errorf("%s:%d: section header %q has no ]", path, n, trimmed)
			}
			sections = append(sections, Section{Name: strings.TrimSpace(trimmed[1:end]), File: path, Line: n})
			cur, last = &sections[len(sections)-1], nil
			continue
		}
		if cur == nil {
			return nil, fmt.Errorf("%s:%d: %q comes before any [section]", path, n, trimmed)
		}
		i := strings.IndexAny(trimmed, "=:")
		if i <= 0 {
			return nil, fmt.Errorf("%s:%d: %q is not \"key = value\"", path, n, trimmed)
		}
		last = cur.set(Key{Name: strings.ToLower(strings.TrimSpace(trimmed[:i])),
			Value: stripComment(strings.TrimSpace(trimmed[i+1:])), Line: n})
	}
	return sections, sc.Err()
}

// stripComment removes a ";" or "#" comment that follows whitespace.
func stripComment(v string) string {
	for i := 1; i < len(v); i++ {
		if (v[i] == ';' || v[i] == '#') && (v[i-1] == ' ' || v[i-1] == '\t') {
			return strings.TrimSpace(v[:i])
		}
	}
	return v
}
