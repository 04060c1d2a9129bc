package xmlrpc

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// ErrMalformed wraps every decoding error: the input is not XML-RPC.
var ErrMalformed = errors.New("malformed XML-RPC")

type decoder struct {
	src   tokenSource
	depth int
	names map[string]string // member names, each allocated once
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// decode runs fn over the lexer and, when that fails, over encoding/xml,
// whose answer and errors are the reference.
func decode[T any](r io.Reader, fn func(*decoder) (T, error)) (T, error) {
	in, err := readAll(r)
	if err != nil {
		var zero T
		return zero, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if v, err := fn(&decoder{src: &lexer{in: in}}); err == nil {
		return v, nil
	} else if fault := (*Fault)(nil); errors.As(err, &fault) {
		return v, err
	}
	return fn(&decoder{src: newXMLSource(bytes.NewReader(in))})
}

// readAll takes a buffer's bytes as they are.
func readAll(r io.Reader) ([]byte, error) {
	if b, ok := r.(*bytes.Buffer); ok {
		return b.Bytes(), nil
	}
	return io.ReadAll(r)
}

// raw returns the next token, text included.
func (d *decoder) raw() (token, error) {
	t, err := d.src.token()
	if err != nil {
		if err == io.EOF {
			return t, malformed("unexpected end of input")
		}
		if errors.Is(err, ErrMalformed) {
			return t, err
		}
		return t, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return t, nil
}

// next returns the next tag, skipping whitespace; other text is an error.
func (d *decoder) next() (token, error) {
	for {
		t, err := d.raw()
		if err != nil || t.kind != textData {
			return t, err
		}
		if len(bytes.TrimSpace(t.text)) != 0 {
			return t, malformed("unexpected text %q", t.text)
		}
	}
}

func (d *decoder) expectStart(name string) error {
	t, err := d.next()
	if err != nil {
		return err
	}
	if t.kind != startTag || t.name != name {
		return malformed("expected <%s>", name)
	}
	return nil
}

func (d *decoder) expectEnd(name string) error {
	t, err := d.next()
	if err != nil {
		return err
	}
	if t.kind != endTag || t.name != name {
		return malformed("expected </%s>", name)
	}
	return nil
}

// memberName reads a struct member's name: the same few names recur in
// every struct of a list, so each is allocated once.
func (d *decoder) memberName() (string, error) {
	t, err := d.raw()
	if err != nil {
		return "", err
	}
	switch t.kind {
	case endTag:
		if t.name != "name" {
			return "", malformed("expected </name>")
		}
		return "", nil
	case startTag:
		return "", malformed("unexpected <%s> in <name>", t.name)
	}
	name, known := d.names[string(t.text)]
	if !known {
		name = string(t.text)
	}
	rest, err := d.text("name") // more pieces of text, from encoding/xml
	if err != nil || rest != "" {
		return name + rest, err
	}
	if !known {
		if d.names == nil {
			d.names = map[string]string{}
		}
		d.names[name] = name
	}
	return name, nil
}

// text reads character data up to the end of element name.
func (d *decoder) text(name string) (string, error) {
	var s string
	var b []byte // only when the text comes in several pieces
	for n := 0; ; n++ {
		t, err := d.raw()
		if err != nil {
			return "", err
		}
		switch t.kind {
		case textData:
			if n == 0 {
				s = string(t.text)
			} else {
				if b == nil {
					b = []byte(s)
				}
				b = append(b, t.text...)
			}
		case endTag:
			if t.name != name {
				return "", malformed("expected </%s>", name)
			}
			if b != nil {
				return string(b), nil
			}
			return s, nil
		default:
			return "", malformed("unexpected <%s> in <%s>", t.name, name)
		}
	}
}

// DecodeCall decodes a methodCall. A missing <params> means no parameters.
func DecodeCall(r io.Reader) (*Call, error) {
	return decode(r, (*decoder).call)
}

func (d *decoder) call() (*Call, error) {
	if err := d.expectStart("methodCall"); err != nil {
		return nil, err
	}
	if err := d.expectStart("methodName"); err != nil {
		return nil, err
	}
	name, err := d.text("methodName")
	if err != nil {
		return nil, err
	}
	c := &Call{Method: strings.TrimSpace(name), Params: []any{}}
	tok, err := d.next()
	if err != nil {
		return nil, err
	}
	if tok.kind == startTag && tok.name == "params" {
		if c.Params, err = d.params(); err != nil {
			return nil, err
		}
		tok, err = d.next()
		if err != nil {
			return nil, err
		}
	}
	if tok.kind != endTag || tok.name != "methodCall" {
		return nil, malformed("expected </methodCall>")
	}
	return c, nil
}

// params reads <param> elements up to </params>.
func (d *decoder) params() ([]any, error) {
	params := []any{}
	for {
		tok, err := d.next()
		if err != nil {
			return nil, err
		}
		if tok.kind == endTag && tok.name == "params" {
			return params, nil
		}
		if tok.kind != startTag || tok.name != "param" {
			return nil, malformed("expected <param>")
		}
		if err := d.expectStart("value"); err != nil {
			return nil, err
		}
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		params = append(params, v)
		if err := d.expectEnd("param"); err != nil {
			return nil, err
		}
	}
}

// DecodeResponse decodes a methodResponse: its value, or a *Fault error.
func DecodeResponse(r io.Reader) (any, error) {
	return decode(r, (*decoder).response)
}

func (d *decoder) response() (any, error) {
	if err := d.expectStart("methodResponse"); err != nil {
		return nil, err
	}
	tok, err := d.next()
	if err != nil {
		return nil, err
	}
	if tok.kind != startTag {
		return nil, malformed("empty methodResponse")
	}
	switch tok.name {
	case "params":
		params, err := d.params()
		if err != nil {
			return nil, err
		}
		if len(params) != 1 {
			return nil, malformed("%d values in a response", len(params))
		}
		return params[0], d.expectEnd("methodResponse")
	case "fault":
		if err := d.expectStart("value"); err != nil {
			return nil, err
		}
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		st, _ := v.(Struct)
		code, ok1 := must[int](st, "faultCode")
		msg, ok2 := must[string](st, "faultString")
		if !ok1 || !ok2 {
			return nil, malformed("fault without faultCode and faultString")
		}
		if err := d.expectEnd("fault"); err != nil {
			return nil, err
		}
		return nil, &Fault{Code: code, String: msg}
	}
	return nil, malformed("unexpected <%s>", tok.name)
}

func must[T any](s Struct, name string) (T, bool) {
	v, _ := s.Get(name)
	t, ok := v.(T)
	return t, ok
}

// value reads a value after its <value> start, through </value>.
func (d *decoder) value() (any, error) {
	d.depth++
	defer func() { d.depth-- }()
	if d.depth > maxDepth {
		return nil, malformed("values nested deeper than %d", maxDepth)
	}
	var text []byte
	for {
		t, err := d.raw()
		if err != nil {
			return nil, err
		}
		switch t.kind {
		case textData:
			text = append(text, t.text...)
		case endTag:
			if t.name != "value" {
				return nil, malformed("expected </value>")
			}
			return string(text), nil // a bare value is a string
		case startTag:
			v, err := d.typed(t.name)
			if err != nil {
				return nil, err
			}
			return v, d.expectEnd("value")
		}
	}
}

func (d *decoder) typed(kind string) (any, error) {
	switch kind {
	case "array":
		if err := d.expectStart("data"); err != nil {
			return nil, err
		}
		arr := []any{}
		for {
			tok, err := d.next()
			if err != nil {
				return nil, err
			}
			if tok.kind == endTag && tok.name == "data" {
				return arr, d.expectEnd("array")
			}
			if tok.kind != startTag || tok.name != "value" {
				return nil, malformed("expected <value> in <array>")
			}
			v, err := d.value()
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
	case "struct":
		st := make(Struct, 0, 16) // process info has 14 members
		for {
			tok, err := d.next()
			if err != nil {
				return nil, err
			}
			if tok.kind == endTag && tok.name == "struct" {
				return st, nil
			}
			if tok.kind != startTag || tok.name != "member" {
				return nil, malformed("expected <member> in <struct>")
			}
			if err := d.expectStart("name"); err != nil {
				return nil, err
			}
			name, err := d.memberName()
			if err != nil {
				return nil, err
			}
			if err := d.expectStart("value"); err != nil {
				return nil, err
			}
			v, err := d.value()
			if err != nil {
				return nil, err
			}
			st = append(st, Member{name, v})
			if err := d.expectEnd("member"); err != nil {
				return nil, err
			}
		}
	case "nil":
		_, err := d.text("nil")
		return nil, err
	}
	s, err := d.text(kind)
	if err != nil {
		return nil, err
	}
	switch kind {
	case "string":
		return s, nil
	case "int", "i4", "i8":
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return nil, malformed("bad <%s> %q", kind, s)
		}
		return n, nil
	case "boolean":
		switch strings.TrimSpace(s) {
		case "1":
			return true, nil
		case "0":
			return false, nil
		}
		return nil, malformed("bad <boolean> %q", s)
	case "double":
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return nil, malformed("bad <double> %q", s)
		}
		return f, nil
	case "dateTime.iso8601":
		t, err := time.Parse(isoFormat, strings.TrimSpace(s))
		if err != nil {
			return nil, malformed("bad <dateTime.iso8601> %q", s)
		}
		return t, nil
	case "base64":
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
		if err != nil {
			return nil, malformed("bad <base64>")
		}
		return b, nil
	}
	return nil, malformed("unknown type <%s>", kind)
}
