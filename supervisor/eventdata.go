package supervisor

import (
	"strings"
	"unicode/utf8"
)

// eventData is a process's output as an event's payload carries it:
// listeners read payloads as text, so output that is not UTF-8 is sent as
// supervisord sends it, "Undecodable: " and the bytes as Python writes a
// bytes literal (b'\xff\xfe'): ASCII, and what a listener written for
// supervisord already expects.
func eventData(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return "Undecodable: " + pyBytesLiteral(b)
}

// pyBytesLiteral writes b as Python's repr of bytes does: single quotes,
// or double ones when b holds a ' and no ", and \t \n \r \\ \xNN escapes
// for the rest of what is not printable ASCII.
func pyBytesLiteral(b []byte) string {
	quote := byte('\'')
	if strings.IndexByte(string(b), '\'') >= 0 && strings.IndexByte(string(b), '"') < 0 {
		quote = '"'
	}
	const hex = "0123456789abcdef"
	var s strings.Builder
	s.Grow(len(b) + 3)
	s.WriteByte('b')
	s.WriteByte(quote)
	for _, c := range b {
		switch {
		case c == quote || c == '\\':
			s.WriteByte('\\')
			s.WriteByte(c)
		case c == '\t':
			s.WriteString(`\t`)
		case c == '\n':
			s.WriteString(`\n`)
		case c == '\r':
			s.WriteString(`\r`)
		case c < ' ' || c >= 0x7f:
			s.WriteString(`\x`)
			s.WriteByte(hex[c>>4])
			s.WriteByte(hex[c&0xf])
		default:
			s.WriteByte(c)
		}
	}
	s.WriteByte(quote)
	return s.String()
}
