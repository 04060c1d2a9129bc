package xmlrpc

import (
	"encoding/base64"
	"encoding/xml"
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
	d     *xml.Decoder
	depth int
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// next returns the next start or end element, skipping whitespace, comments
// and processing instructions; other text is an error unless keepText.
func (d *decoder) next() (xml.Token, error) {
	for {
		tok, err := d.d.Token()
		if err != nil {
			if err == io.EOF {
				return nil, malformed("unexpected end of input")
			}
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		switch t := tok.(type) {
		case xml.StartElement, xml.EndElement:
			return t, nil
		case xml.CharData:
			if strings.TrimSpace(string(t)) != "" {
				return nil, malformed("unexpected text %q", string(t))
			}
		}
	}
}

func (d *decoder) expectStart(name string) error {
	tok, err := d.next()
	if err != nil {
		return err
	}
	if s, ok := tok.(xml.StartElement); !ok || s.Name.Local != name {
		return malformed("expected <%s>", name)
	}
	return nil
}

func (d *decoder) expectEnd(name string) error {
	tok, err := d.next()
	if err != nil {
		return err
	}
	if e, ok := tok.(xml.EndElement); !ok || e.Name.Local != name {
		return malformed("expected </%s>", name)
	}
	return nil
}

// text reads character data up to the end of element name.
func (d *decoder) text(name string) (string, error) {
	var b strings.Builder
	for {
		tok, err := d.d.Token()
		if err != nil {
			return "", fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			b.Write(t)
		case xml.EndElement:
			if t.Name.Local != name {
				return "", malformed("expected </%s>", name)
			}
			return b.String(), nil
		case xml.StartElement:
			return "", malformed("unexpected <%s> in <%s>", t.Name.Local, name)
		}
	}
}

func newDecoder(r io.Reader) *decoder {
	d := xml.NewDecoder(r)
	d.CharsetReader = func(charset string, input io.Reader) (io.Reader, error) {
		if strings.EqualFold(charset, "utf-8") || strings.EqualFold(charset, "us-ascii") {
			return input, nil
		}
		return nil, fmt.Errorf("unsupported charset %q", charset)
	}
	return &decoder{d: d}
}

// DecodeCall decodes a methodCall. A missing <params> means no parameters.
func DecodeCall(r io.Reader) (*Call, error) {
	d := newDecoder(r)
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
	if s, ok := tok.(xml.StartElement); ok && s.Name.Local == "params" {
		if c.Params, err = d.params(); err != nil {
			return nil, err
		}
		tok, err = d.next()
		if err != nil {
			return nil, err
		}
	}
	if e, ok := tok.(xml.EndElement); !ok || e.Name.Local != "methodCall" {
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
		if e, ok := tok.(xml.EndElement); ok && e.Name.Local == "params" {
			return params, nil
		}
		if s, ok := tok.(xml.StartElement); !ok || s.Name.Local != "param" {
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
	d := newDecoder(r)
	if err := d.expectStart("methodResponse"); err != nil {
		return nil, err
	}
	tok, err := d.next()
	if err != nil {
		return nil, err
	}
	s, ok := tok.(xml.StartElement)
	if !ok {
		return nil, malformed("empty methodResponse")
	}
	switch s.Name.Local {
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
	return nil, malformed("unexpected <%s>", s.Name.Local)
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
	var text strings.Builder
	for {
		tok, err := d.d.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			text.Write(t)
		case xml.EndElement:
			if t.Name.Local != "value" {
				return nil, malformed("expected </value>")
			}
			return text.String(), nil // a bare value is a string
		case xml.StartElement:
			v, err := d.typed(t.Name.Local)
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
			if e, ok := tok.(xml.EndElement); ok && e.Name.Local == "data" {
				return arr, d.expectEnd("array")
			}
			if s, ok := tok.(xml.StartElement); !ok || s.Name.Local != "value" {
				return nil, malformed("expected <value> in <array>")
			}
			v, err := d.value()
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
	case "struct":
		st := Struct{}
		for {
			tok, err := d.next()
			if err != nil {
				return nil, err
			}
			if e, ok := tok.(xml.EndElement); ok && e.Name.Local == "struct" {
				return st, nil
			}
			if s, ok := tok.(xml.StartElement); !ok || s.Name.Local != "member" {
				return nil, malformed("expected <member> in <struct>")
			}
			if err := d.expectStart("name"); err != nil {
				return nil, err
			}
			name, err := d.text("name")
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
