package xmlrpc

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// PyQuote quotes a string as Python's repr does, which supervisord's and
// supervisorctl's messages show: in single quotes unless it holds one
// and no double quote, with backslash, tab, newline and carriage return
// escaped, and any other character that is not printable as \xNN, \uNNNN
// or \UNNNNNNNN. Printable is Go's Unicode tables' word: a few thousand
// code points unassigned in Python 3.11's older tables, which it escapes,
// are printed here.
func PyQuote(s string) string {
	q := '\''
	if strings.ContainsRune(s, '\'') && !strings.ContainsRune(s, '"') {
		q = '"'
	}
	var b strings.Builder
	b.WriteRune(q)
	for _, r := range s {
		switch {
		case r == q || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == utf8.RuneError || unicode.IsPrint(r):
			b.WriteRune(r)
		case r < 0x100:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r < 0x10000:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
	}
	b.WriteRune(q)
	return b.String()
}
