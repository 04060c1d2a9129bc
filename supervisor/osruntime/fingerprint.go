package osruntime

import (
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/ctlsup/ctlsup/supervisor"
)

// fingerprint identifies what a spec runs, so a successor adopting a
// process can tell whether its configuration changed meanwhile. Settings
// at their zero value are left out: a newer daemon that knows more
// settings computes the same fingerprint for the same configuration, and
// an upgrade does not restart everything.
//
// The sum is over the spec as JSON with its zero values dropped and its
// keys sorted, exactly as earlier daemons computed it through a JSON round
// trip (fingerprintJSON): a daemon upgraded across this change must find
// the same sums, or it would restart every program it adopts. Written
// straight from the struct, the text costs one buffer instead of the
// round trip's few hundred allocations per program.
func fingerprint(spec *supervisor.ProcessSpec) string {
	spec = withoutUnused(spec)
	b, err := appendCanonical(make([]byte, 0, 512), reflect.ValueOf(spec).Elem())
	if err != nil {
		return fingerprintJSON(spec)
	}
	return sumOf(b)
}

// withoutUnused is spec less what runs nothing: a discarded stream's
// rotation settings (which daemons before 2026-12 did not keep).
func withoutUnused(spec *supervisor.ProcessSpec) *supervisor.ProcessSpec {
	discarded := func(l supervisor.LogSpec) bool { return l.Path == "" && (l.MaxBytes != 0 || l.Backups != 0) }
	if !discarded(spec.Stdout) && !discarded(spec.Stderr) {
		return spec
	}
	s := *spec
	for _, l := range []*supervisor.LogSpec{&s.Stdout, &s.Stderr} {
		if discarded(*l) {
			l.MaxBytes, l.Backups = 0, 0
		}
	}
	return &s
}

// sameConfig reports whether a fingerprint a previous daemon recorded is
// spec's. Daemons before 2026-12 gave an event listener's processes
// priority -1 where no priority was set (now 999, as supervisord's; the
// pool keeps -1), so such a listener's recorded sum is also accepted with
// that priority: an upgrade changes nothing it runs. Listeners always
// read stdin; a program that does and whose priority went from -1 to 999
// while no daemon ran is taken for unchanged, which a priority is to a
// running process.
func sameConfig(recorded string, spec *supervisor.ProcessSpec) bool {
	if recorded == fingerprint(spec) {
		return true
	}
	if spec.Priority != 999 || !spec.Stdin {
		return false
	}
	old := *spec
	old.Priority = -1
	return recorded == fingerprint(&old)
}

func sumOf(canonical []byte) string {
	sum := sha256.Sum256(canonical)
	return hex.EncodeToString(sum[:8])
}

// fingerprintJSON is the round trip the sum is defined by: marshal,
// decode into maps, drop zero values, marshal again (maps marshal with
// sorted keys). It is kept for values appendCanonical does not know.
func fingerprintJSON(spec *supervisor.ProcessSpec) string {
	b, _ := json.Marshal(withoutUnused(spec))
	var v any
	json.Unmarshal(b, &v)
	b, _ = json.Marshal(dropZero(v))
	return sumOf(b)
}

// dropZero removes zero values (false, 0, "", null, empty objects and
// arrays) from decoded JSON, recursively; array elements stay.
func dropZero(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			e = dropZero(e)
			if isZero(e) {
				delete(x, k)
			} else {
				x[k] = e
			}
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = dropZero(e)
		}
		return x
	}
	return v
}

func isZero(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case bool:
		return !x
	case float64:
		return x == 0
	case string:
		return x == ""
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}

var errNotCanonical = errors.New("no canonical form")

// appendCanonical appends the spec v as the round trip prints it: the
// object itself stays, as "{}" if every member is zero. A kind it does
// not know, a type with its own JSON or text form, or map keys the round
// trip would merge, give errNotCanonical.
func appendCanonical(b []byte, v reflect.Value) ([]byte, error) {
	return appendValue(b, v, false)
}

// appendValue appends v. With drop, a zero value appends nothing (an
// object's field); without, it appends what the round trip keeps for it
// (an array's element).
func appendValue(b []byte, v reflect.Value, drop bool) ([]byte, error) {
	if marshalsItself(v.Type()) {
		return b, errNotCanonical
	}
	switch v.Kind() {
	case reflect.Bool:
		if !v.Bool() {
			if drop {
				return b, nil
			}
			return append(b, "false"...), nil
		}
		return append(b, "true"...), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return appendNumber(b, float64(v.Int()), drop), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return appendNumber(b, float64(v.Uint()), drop), nil
	case reflect.String:
		s := v.String()
		if s == "" && drop {
			return b, nil
		}
		return appendString(b, s), nil
	case reflect.Pointer:
		if v.IsNil() {
			if drop {
				return b, nil
			}
			return append(b, "null"...), nil
		}
		return appendValue(b, v.Elem(), drop)
	case reflect.Slice:
		if v.IsNil() && !drop {
			return append(b, "null"...), nil
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return b, errNotCanonical // []byte marshals as base64
		}
		fallthrough
	case reflect.Array:
		if v.Len() == 0 {
			if drop {
				return b, nil
			}
			return append(b, "[]"...), nil
		}
		b = append(b, '[')
		for i := range v.Len() {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendValue(b, v.Index(i), false); err != nil {
				return b, err
			}
		}
		return append(b, ']'), nil
	case reflect.Map:
		return appendMap(b, v, drop)
	case reflect.Struct:
		return appendStruct(b, v, drop)
	}
	return b, errNotCanonical
}

// appendNumber prints f as encoding/json prints a float64: the round trip
// decodes every number as one. Integers below 1e21 print without an
// exponent.
func appendNumber(b []byte, f float64, drop bool) []byte {
	if f == 0 && drop {
		return b
	}
	if f >= 1e21 || f <= -1e21 {
		return strconv.AppendFloat(b, f, 'e', -1, 64) // never an integer field's
	}
	return strconv.AppendFloat(b, f, 'f', -1, 64)
}

// appendMembers appends an object of n members, each a key and its
// value, leaving out those whose value is zero; with drop and no member
// left, it appends nothing at all.
func appendMembers(b []byte, drop bool, n int, member func(i int) (string, reflect.Value)) ([]byte, error) {
	mark := len(b)
	b = append(b, '{')
	wrote := false
	for i := range n {
		key, v := member(i)
		var added bool
		var err error
		if b, added, err = appendMember(b, !wrote, key, v); err != nil {
			return b, err
		}
		wrote = wrote || added
	}
	if !wrote && drop {
		return b[:mark], nil
	}
	return append(b, '}'), nil
}

// appendMember appends "key":value, or nothing if the value is zero.
func appendMember(b []byte, first bool, key string, v reflect.Value) ([]byte, bool, error) {
	mark := len(b)
	if !first {
		b = append(b, ',')
	}
	b = appendString(b, key)
	b = append(b, ':')
	body := len(b)
	b, err := appendValue(b, v, true)
	if err != nil || len(b) == body {
		return b[:mark], false, err
	}
	return b, true, nil
}

func appendStruct(b []byte, v reflect.Value, drop bool) ([]byte, error) {
	fields, err := sortedFields(v.Type())
	if err != nil {
		return b, err
	}
	return appendMembers(b, drop, len(fields), func(i int) (string, reflect.Value) {
		return fields[i].name, v.Field(fields[i].index)
	})
}

func appendMap(b []byte, v reflect.Value, drop bool) ([]byte, error) {
	if v.Type().Key().Kind() != reflect.String {
		return b, errNotCanonical
	}
	if v.Len() == 0 {
		if drop {
			return b, nil
		}
		if v.IsNil() {
			return append(b, "null"...), nil
		}
		return append(b, "{}"...), nil
	}
	type member struct {
		key string // as decoded: invalid UTF-8 replaced
		val reflect.Value
	}
	members := make([]member, 0, v.Len())
	for it := v.MapRange(); it.Next(); {
		members = append(members, member{validUTF8(it.Key().String()), it.Value()})
	}
	slices.SortFunc(members, func(x, y member) int { return strings.Compare(x.key, y.key) })
	for i := 1; i < len(members); i++ {
		if members[i].key == members[i-1].key {
			return b, errNotCanonical // decoding would keep only one of them
		}
	}
	return appendMembers(b, drop, len(members), func(i int) (string, reflect.Value) {
		return members[i].key, members[i].val
	})
}

var (
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
	ownForm       sync.Map // reflect.Type → bool
)

// marshalsItself reports whether encoding/json would print t through its
// own MarshalJSON or MarshalText, which appendValue cannot follow.
func marshalsItself(t reflect.Type) bool {
	if own, ok := ownForm.Load(t); ok {
		return own.(bool)
	}
	p := reflect.PointerTo(t)
	own := t.Implements(jsonMarshaler) || p.Implements(jsonMarshaler) || t.Implements(textMarshaler) || p.Implements(textMarshaler)
	ownForm.Store(t, own)
	return own
}

type canonicalField struct {
	name  string
	index int
}

var fieldsByType sync.Map // reflect.Type → []canonicalField

// sortedFields lists what encoding/json marshals of a struct, by name:
// the decoded object's keys, which the second marshal sorts.
func sortedFields(t reflect.Type) ([]canonicalField, error) {
	if f, ok := fieldsByType.Load(t); ok {
		return f.([]canonicalField), nil
	}
	var fields []canonicalField
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous || f.Tag.Get("json") != "" {
			return nil, errNotCanonical // embedding and tags rename or flatten
		}
		if f.IsExported() {
			fields = append(fields, canonicalField{f.Name, i})
		}
	}
	slices.SortFunc(fields, func(x, y canonicalField) int { return strings.Compare(x.name, y.name) })
	fieldsByType.Store(t, fields)
	return fields, nil
}

// validUTF8 replaces each byte of s that is not UTF-8 with U+FFFD, as
// encoding/json does when it marshals s.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	out := make([]byte, 0, len(s)+8)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			out = utf8.AppendRune(out, utf8.RuneError)
		} else {
			out = append(out, s[i:i+n]...)
		}
		i += n
	}
	return string(out)
}

const hexDigits = "0123456789abcdef"

// appendString quotes s as encoding/json's Marshal quotes the string the
// round trip decoded: HTML characters, U+2028 and U+2029 escaped, invalid
// UTF-8 already replaced by U+FFFD (which is then printed as it is).
func appendString(b []byte, s string) []byte {
	s = validUTF8(s)
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r == '\b':
			b = append(b, '\\', 'b')
		case r == '\f':
			b = append(b, '\\', 'f')
		case r == '\n':
			b = append(b, '\\', 'n')
		case r == '\r':
			b = append(b, '\\', 'r')
		case r == '\t':
			b = append(b, '\\', 't')
		case r < 0x20 || r == '<' || r == '>' || r == '&':
			b = append(b, '\\', 'u', '0', '0', hexDigits[r>>4], hexDigits[r&0xF])
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return append(b, '"')
}
