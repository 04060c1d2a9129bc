package xmlrpc

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// token is one piece of a document: a start or end tag, or text.
type token struct {
	kind tokenKind
	name string // tags
	text []byte // text, valid until the next token
}

type tokenKind uint8

const (
	startTag tokenKind = iota
	endTag
	textData
)

// tokenSource yields tokens; io.EOF ends the document.
type tokenSource interface {
	token() (token, error)
}

// errUnusual: the lexer met XML it leaves to encoding/xml.
var errUnusual = errors.New("XML outside the lexer's subset")

// lexer reads the XML that XML-RPC peers write: an optional
// <?xml version='1.0'?> declaration, tags without attributes, and text with
// the predefined and numeric character references. Anything else (comments,
// CDATA, attributes, namespaces, DOCTYPE, carriage returns, characters XML
// forbids) is errUnusual, and the caller decodes the document again with
// encoding/xml, which then gives the answer or the error. It is several
// times faster than encoding/xml, which matters for 1000-process answers.
type lexer struct {
	in      []byte
	pos     int
	closing string // the end tag of a self-closing tag, due next
	buf     []byte // unescaped text
}

func (l *lexer) token() (token, error) {
	if l.closing != "" {
		name := l.closing
		l.closing = ""
		return token{kind: endTag, name: name}, nil
	}
	for {
		if l.pos >= len(l.in) {
			return token{}, io.EOF
		}
		if l.in[l.pos] != '<' {
			end := bytes.IndexByte(l.in[l.pos:], '<')
			if end < 0 {
				end = len(l.in) - l.pos
			}
			raw := l.in[l.pos : l.pos+end]
			l.pos += end
			text, err := l.unescape(raw)
			return token{kind: textData, text: text}, err
		}
		rest := l.in[l.pos+1:]
		switch {
		case len(rest) == 0:
			return token{}, errUnusual
		case rest[0] == '/':
			close := bytes.IndexByte(rest, '>')
			if close < 0 {
				return token{}, errUnusual
			}
			name, ok := tagName(trimSpaceRight(rest[1:close]))
			if !ok {
				return token{}, errUnusual
			}
			l.pos += 1 + close + 1
			return token{kind: endTag, name: name}, nil
		case rest[0] == '?':
			// Only the declaration Python and supervisord write.
			close := bytes.Index(rest[1:], []byte("?>"))
			if l.pos != 0 || close < 0 || !isDeclaration(rest[1:1+close]) {
				return token{}, errUnusual
			}
			l.pos += 1 + 1 + close + 2
		case rest[0] == '!':
			return token{}, errUnusual
		default:
			close := bytes.IndexByte(rest, '>')
			if close < 0 {
				return token{}, errUnusual
			}
			inner := rest[:close]
			selfClosing := len(inner) > 0 && inner[len(inner)-1] == '/'
			if selfClosing {
				inner = inner[:len(inner)-1]
			}
			name, ok := tagName(trimSpaceRight(inner))
			if !ok {
				return token{}, errUnusual // attributes, or an unusual name
			}
			l.pos += 1 + close + 1
			if selfClosing {
				l.closing = name
			}
			return token{kind: startTag, name: name}, nil
		}
	}
}

func trimSpaceRight(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\n') {
		b = b[:len(b)-1]
	}
	return b
}

func isDeclaration(b []byte) bool {
	s := strings.TrimSpace(strings.TrimPrefix(string(b), "xml"))
	return strings.HasPrefix(string(b), "xml ") && (s == "version='1.0'" || s == `version="1.0"`)
}

// tagName accepts plain ASCII names, returning the common ones without
// allocating.
func tagName(b []byte) (string, bool) {
	if len(b) == 0 || !isNameStart(b[0]) {
		return "", false
	}
	for _, c := range b[1:] {
		if !isNameStart(c) && !('0' <= c && c <= '9') && c != '-' && c != '.' {
			return "", false
		}
	}
	switch string(b) {
	case "value":
		return "value", true
	case "member":
		return "member", true
	case "name":
		return "name", true
	case "string":
		return "string", true
	case "int":
		return "int", true
	case "struct":
		return "struct", true
	case "boolean":
		return "boolean", true
	case "array":
		return "array", true
	case "data":
		return "data", true
	case "param":
		return "param", true
	case "params":
		return "params", true
	}
	return string(b), true
}

func isNameStart(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_'
}

// unescape returns text with its references replaced. Text that XML would
// refuse, or that encoding/xml would rewrite (carriage returns), is
// errUnusual.
func (l *lexer) unescape(raw []byte) ([]byte, error) {
	if !validChars(raw) {
		return nil, errUnusual
	}
	amp := bytes.IndexByte(raw, '&')
	if amp < 0 {
		return raw, nil
	}
	l.buf = append(l.buf[:0], raw[:amp]...)
	for rest := raw[amp:]; len(rest) > 0; {
		if rest[0] != '&' {
			i := bytes.IndexByte(rest, '&')
			if i < 0 {
				i = len(rest)
			}
			l.buf = append(l.buf, rest[:i]...)
			rest = rest[i:]
			continue
		}
		semi := bytes.IndexByte(rest, ';')
		if semi < 0 {
			return nil, errUnusual
		}
		r, ok := reference(string(rest[1:semi]))
		if !ok {
			return nil, errUnusual
		}
		l.buf = utf8.AppendRune(l.buf, r)
		rest = rest[semi+1:]
	}
	return l.buf, nil
}

// validChars checks the rest of a text for control characters and for
// UTF-8 that is invalid or outside XML's characters.
func validChars(b []byte) bool {
	for len(b) > 0 {
		if b[0] < 0x80 {
			if b[0] < 0x20 && b[0] != '\t' && b[0] != '\n' {
				return false
			}
			b = b[1:]
			continue
		}
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size == 1 || !xmlChar(r) {
			return false
		}
		b = b[size:]
	}
	return true
}

func reference(name string) (rune, bool) {
	switch name {
	case "lt":
		return '<', true
	case "gt":
		return '>', true
	case "amp":
		return '&', true
	case "quot":
		return '"', true
	case "apos":
		return '\'', true
	}
	var n uint64
	var err error
	switch {
	case strings.HasPrefix(name, "#x"):
		n, err = strconv.ParseUint(name[2:], 16, 32)
	case strings.HasPrefix(name, "#"):
		n, err = strconv.ParseUint(name[1:], 10, 32)
	default:
		return 0, false
	}
	// A reference to a carriage return survives in encoding/xml; the
	// lexer leaves that rarity to it.
	if err != nil || n == '\r' || !xmlChar(rune(n)) {
		return 0, false
	}
	return rune(n), true
}

// xmlChar is XML 1.0's Char production.
func xmlChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D || r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

// xmlSource yields encoding/xml's tokens, for documents outside the lexer's
// subset.
type xmlSource struct{ d *xml.Decoder }

func newXMLSource(r io.Reader) *xmlSource {
	d := xml.NewDecoder(r)
	// A body is UTF-8 whatever its declaration says, as supervisord reads
	// it (it decodes the bytes as UTF-8 before parsing): PHP's encoder
	// declares iso-8859-1 for ASCII, and invalid UTF-8 is still refused.
	d.CharsetReader = func(_ string, input io.Reader) (io.Reader, error) { return input, nil }
	return &xmlSource{d}
}

func (s *xmlSource) token() (token, error) {
	for {
		tok, err := s.d.Token()
		if err != nil {
			return token{}, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return token{kind: startTag, name: t.Name.Local}, nil
		case xml.EndElement:
			return token{kind: endTag, name: t.Name.Local}, nil
		case xml.CharData:
			return token{kind: textData, text: t}, nil
		}
	}
}
