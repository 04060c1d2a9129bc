// Package procfile reads Procfiles, .env files and formations as foreman
// and honcho do. It is a leaf: standard library only.
package procfile

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// Entry is one process type of a Procfile.
type Entry struct {
	Name    string // [A-Za-z0-9_-]+
	Command string // run with /bin/sh -c, as foreman runs it
	Line    int
}

// Error is a parse error with its line.
type Error struct {
	Line int
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

var entryRE = regexp.MustCompile(`^([A-Za-z0-9_-]+):\s*(.*)$`)

// Parse reads "name: command" lines; # comments and blank lines are
// skipped. A malformed line, an empty command or a repeated name is an error.
func Parse(r io.Reader) ([]Entry, error) {
	var entries []Entry
	seen := map[string]int{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := entryRE.FindStringSubmatch(line)
		if m == nil {
			return nil, &Error{n, fmt.Sprintf("%q is not \"name: command\" (names use letters, digits, _ and -)", line)}
		}
		if strings.TrimSpace(m[2]) == "" {
			return nil, &Error{n, fmt.Sprintf("%s has no command", m[1])}
		}
		if prev, ok := seen[m[1]]; ok {
			return nil, &Error{n, fmt.Sprintf("%s is defined again (first on line %d)", m[1], prev)}
		}
		seen[m[1]] = n
		entries = append(entries, Entry{Name: m[1], Command: strings.TrimSpace(m[2]), Line: n})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return entries, nil
}

// Var is one .env assignment.
type Var struct {
	Key, Value string
}

var keyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*$`)

// ParseEnv reads KEY=VALUE lines with an optional "export" prefix and #
// comment lines. Values are literal: surrounding single or double quotes
// are removed, and in double quotes \n, \" and \\ are unescaped; nothing is
// interpolated. A # comment may follow a quoted value, as the shell
// allows; after an unquoted one it is part of the value, as foreman
// keeps it.
func ParseEnv(r io.Reader) ([]Var, error) {
	var vars []Var
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "export"); ok && rest != "" && (rest[0] == ' ' || rest[0] == '\t') {
			line = strings.TrimSpace(rest)
		}
		key, value, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		if !ok || !keyRE.MatchString(key) {
			return nil, &Error{n, fmt.Sprintf("%q is not KEY=VALUE", line)}
		}
		value, err := envValue(strings.TrimSpace(value))
		if err != nil {
			return nil, &Error{n, fmt.Sprintf("%s: %v", key, err)}
		}
		vars = append(vars, Var{key, value})
	}
	return vars, sc.Err()
}

// envValue is a value as written after its '=': quoted, the text between
// the quotes, where only blanks or a # comment may follow the closing one.
func envValue(v string) (string, error) {
	if v == "" || v[0] != '\'' && v[0] != '"' {
		return v, nil
	}
	q := v[0]
	end := -1
	for i := 1; i < len(v); i++ {
		if q == '"' && v[i] == '\\' {
			i++ // an escaped character: \" does not close
			continue
		}
		if v[i] == q {
			end = i
			break
		}
	}
	if end < 0 {
		return "", fmt.Errorf("the %c quote is not closed", q)
	}
	if rest := strings.TrimSpace(v[end+1:]); rest != "" && !strings.HasPrefix(rest, "#") {
		return "", fmt.Errorf("%q follows the closing quote", rest)
	}
	inner := v[1:end]
	if q == '"' {
		inner = strings.NewReplacer(`\n`, "\n", `\"`, `"`, `\\`, `\`).Replace(inner)
	}
	return inner, nil
}

// Formation is how many processes of each type run: "web=2,worker=4",
// with "all=N" for the types not named. Without it, one of each.
type Formation struct {
	counts map[string]int
	all    int
}

// ParseFormation reads "web=2,worker=4" or "all=1"; "" is one of each.
func ParseFormation(s string) (Formation, error) {
	f := Formation{counts: map[string]int{}, all: 1}
	if strings.TrimSpace(s) == "" {
		return f, nil
	}
	named, allGiven := false, false
	for _, part := range strings.Split(s, ",") {
		name, num, ok := strings.Cut(strings.TrimSpace(part), "=")
		name = strings.TrimSpace(name)
		n, err := strconv.Atoi(strings.TrimSpace(num))
		if !ok || err != nil || n < 0 || !entryRE.MatchString(name+":x") {
			return f, fmt.Errorf("formation %q: %q is not NAME=COUNT", s, part)
		}
		if name == "all" {
			f.all, allGiven = n, true
		} else {
			f.counts[name], named = n, true
		}
	}
	if named && !allGiven {
		f.all = 0 // naming types runs only those, as foreman does
	}
	return f, nil
}

// Count is how many processes of type name run.
func (f Formation) Count(name string) int {
	if n, ok := f.counts[name]; ok {
		return n
	}
	return f.all
}

// Unknown returns the types the formation names that are not in entries.
func (f Formation) Unknown(entries []Entry) []string {
	var out []string
	for name := range f.counts {
		found := false
		for _, e := range entries {
			found = found || e.Name == name
		}
		if !found {
			out = append(out, name)
		}
	}
	return out
}

// Port is foreman's PORT for process index i (from 0) of the type at
// position typeIndex in the Procfile: base + 100 per type + i.
func Port(base, typeIndex, i int) int { return base + 100*typeIndex + i }

// Only narrows f to the named types, as `foreman start web` runs web
// alone: each runs as many as f gives it by name, else as many as all=,
// else one; the others run none.
func (f Formation) Only(names []string) Formation {
	g := Formation{counts: map[string]int{}}
	for _, name := range names {
		n, ok := f.counts[name]
		if !ok {
			n = max(f.all, 1)
		}
		g.counts[name] = n
	}
	return g
}
