package ini

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
)

var refRE = regexp.MustCompile(`^%\(([A-Za-z0-9_]+)\)([-#0 +]*[0-9]*(?:\.[0-9]+)?)([sdirf])`)

// expand resolves supervisord's %(name)s expansions into a ctlsup value:
// ENV_X becomes ${X} (ctlsupd reads its own environment at load, as
// supervisord did) unless vars has ENV_X, a variable of the configuration's
// own environment= lines, whose converted value (ctlsup syntax already)
// goes in as it is; other names their value; %% is %, and $ is escaped
// from ctlsup's ${} expansion.
func expand(s string, vars map[string]string) (string, error) {
	return expandWith(s, vars, nil)
}

// ExpandNow resolves a value as supervisord does when it reads it, for
// what is used at once rather than written for ctlsupd (a client's
// serverurl, an include's files): %(here)s is here, %(ENV_X)s the
// environment's X now, and $ is itself.
func ExpandNow(s, here string) (string, error) {
	return expandWith(s, map[string]string{"here": here}, os.LookupEnv)
}

// poolProcessNum is the process_num of a section that is many processes
// in ctlsup too (an event listener pool): it becomes ${process_num}.
const poolProcessNum = "\x00${process_num}"

// expandWith is expand, with ENV_X resolved at once from env when env is
// not nil.
func expandWith(s string, vars map[string]string, env func(string) (string, bool)) (string, error) {
	// What a value becomes: escaped from ctlsup's ${} unless resolved now.
	literal := func(v string) string {
		if env != nil {
			return v
		}
		return strings.ReplaceAll(v, "$", "$$")
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '$':
			b.WriteString(literal("$"))
		case strings.HasPrefix(s[i:], "%%"):
			b.WriteByte('%')
			i++
		case s[i] == '%':
			m := refRE.FindStringSubmatch(s[i:])
			if m == nil {
				return "", fmt.Errorf("bad %% expansion in %q", s)
			}
			name, flags, verb := m[1], m[2], m[3]
			v, ok := vars[name]
			if envName, isEnv := strings.CutPrefix(name, "ENV_"); isEnv {
				if ok && env == nil {
					b.WriteString(v)
					i += len(m[0]) - 1
					continue
				}
				if env == nil {
					b.WriteString("${" + envName + "}")
					i += len(m[0]) - 1
					continue
				}
				if v, ok = env(envName); !ok {
					return "", fmt.Errorf("%%(%s)s: %s is not set", name, envName)
				}
			}
			switch {
			case ok && v == poolProcessNum:
				if flags != "" {
					return "", fmt.Errorf("%%(%s)%s%s in a pool of event listeners: ctlsup's ${process_num} (0, 1, ...) has no width or padding; write the values by hand", name, flags, verb)
				}
				b.WriteString("${process_num}")
			case !ok:
				return "", fmt.Errorf("%%(%s) cannot be expanded", name)
			case verb == "d" || verb == "i":
				n, err := strconv.Atoi(v)
				if err != nil {
					return "", fmt.Errorf("%%(%s)%s%s: %q is not a number", name, flags, verb, v)
				}
				b.WriteString(literal(fmt.Sprintf("%"+flags+"d", n)))
			default:
				b.WriteString(literal(fmt.Sprintf("%"+flags+"s", v)))
			}
			i += len(m[0]) - 1
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), nil
}

// TOMLString quotes s as a TOML basic string (Go's strconv.Quote writes
// \x and \a escapes, which TOML has not).
func TOMLString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// TOMLKey writes a key bare when it can be.
func TOMLKey(k string) string {
	for _, c := range k {
		if !(c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return TOMLString(k)
		}
	}
	return k
}

// parseEnvironment reads supervisord's environment=KEY="val",KEY2=val2.
func parseEnvironment(s string) ([][2]string, error) {
	var out [][2]string
	i := 0
	for i < len(s) {
		for i < len(s) && (s[i] == ',' || s[i] == ' ' || s[i] == '\n' || s[i] == '\t') {
			i++
		}
		if i >= len(s) {
			break
		}
		eq := strings.IndexByte(s[i:], '=')
		if eq < 0 {
			return nil, fmt.Errorf("environment: %q is not KEY=value", s[i:])
		}
		key := strings.TrimSpace(s[i : i+eq])
		i += eq + 1
		var val strings.Builder
		for i < len(s) && s[i] != ',' {
			if q := s[i]; q == '"' || q == '\'' {
				end := strings.IndexByte(s[i+1:], q)
				if end < 0 {
					return nil, fmt.Errorf("environment: unterminated quote after %s=", key)
				}
				val.WriteString(s[i+1 : i+1+end])
				i += end + 2
				continue
			}
			val.WriteByte(s[i])
			i++
		}
		out = append(out, [2]string{key, strings.TrimSpace(val.String())})
	}
	return out, nil
}
