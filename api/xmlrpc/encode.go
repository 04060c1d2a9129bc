package xmlrpc

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

const header = "<?xml version='1.0'?>\n"

// maxArrayEstimate bounds what growForArray reserves.
const maxArrayEstimate = 32 << 20

// growForArray reserves room for the rest of a top-level array of
// structs (getAllProcessInfo's, getAllConfigInfo's) from the size of its
// first, so that 10,000 process infos (13 MB of XML) are written into one
// buffer instead of one that doubles its way there, leaving three times
// that as garbage; an array of encoded values (a multicall's answers)
// gets room for exactly what they are. Other arrays grow as they go.
func growForArray(b *bytes.Buffer, first int, x []any) {
	if len(x) < 16 {
		return
	}
	if _, ok := x[0].(Raw); ok {
		// Encoded already (a multicall's answers): their sizes are known.
		rest := 0
		for _, e := range x[1:] {
			r, ok := e.(Raw)
			if !ok {
				return
			}
			rest += len(r)
		}
		b.Grow(rest + len("</data></array></value>\n"))
		return
	}
	for _, e := range x {
		if _, ok := e.(Struct); !ok {
			return
		}
	}
	if rest := first * (len(x) - 1) * 9 / 8; rest <= maxArrayEstimate {
		b.Grow(rest)
	}
}

// Raw is a value already encoded (by EncodeValue), written as it is.
type Raw []byte

// EncodeValue encodes one value, as it appears in a response.
func EncodeValue(v any) (Raw, error) {
	var b bytes.Buffer
	if err := encodeValue(&b, v, 0); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// EncodeResponse encodes a methodResponse holding one value.
func EncodeResponse(v any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(header + "<methodResponse>\n<params>\n<param>\n")
	if err := encodeValue(&b, v, 0); err != nil {
		return nil, err
	}
	b.WriteString("</param>\n</params>\n</methodResponse>\n")
	return b.Bytes(), nil
}

// EncodeFault encodes a methodResponse holding a fault.
func EncodeFault(f *Fault) []byte {
	var b bytes.Buffer
	b.WriteString(header + "<methodResponse>\n<fault>\n")
	encodeValue(&b, Struct{{"faultCode", f.Code}, {"faultString", f.String}}, 0)
	b.WriteString("</fault>\n</methodResponse>\n")
	return b.Bytes()
}

// EncodeCall encodes a methodCall.
func EncodeCall(method string, params ...any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(header + "<methodCall>\n<methodName>" + escape(method) + "</methodName>\n<params>\n")
	for _, p := range params {
		b.WriteString("<param>\n")
		if err := encodeValue(&b, p, 0); err != nil {
			return nil, err
		}
		b.WriteString("</param>\n")
	}
	b.WriteString("</params>\n</methodCall>\n")
	return b.Bytes(), nil
}

// escape is Python's xml escape for text: &, < and >; quotes stay.
func escape(s string) string {
	if !strings.ContainsAny(s, "&<>") {
		return s
	}
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// writeEscaped writes s escaped as escape does, without allocating when
// nothing needs escaping.
func writeEscaped(b *bytes.Buffer, s string) {
	if !strings.ContainsAny(s, "&<>") {
		b.WriteString(s)
		return
	}
	b.WriteString(escape(s))
}

const maxDepth = 100

func encodeValue(b *bytes.Buffer, v any, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("xmlrpc: value nested deeper than %d", maxDepth)
	}
	switch x := v.(type) {
	case nil:
		b.WriteString("<value><nil/></value>") // Python writes no newline here
	case Raw:
		b.Write(x)
	case bool:
		if x {
			b.WriteString("<value><boolean>1</boolean></value>\n")
		} else {
			b.WriteString("<value><boolean>0</boolean></value>\n")
		}
	case int:
		b.WriteString("<value><int>")
		b.Write(strconv.AppendInt(b.AvailableBuffer(), int64(x), 10))
		b.WriteString("</int></value>\n")
	case int64:
		b.WriteString("<value><int>")
		b.Write(strconv.AppendInt(b.AvailableBuffer(), x, 10))
		b.WriteString("</int></value>\n")
	case float64:
		b.WriteString("<value><double>" + pyRepr(x) + "</double></value>\n")
	case string:
		b.WriteString("<value><string>")
		writeEscaped(b, x)
		b.WriteString("</string></value>\n")
	case time.Time:
		b.WriteString("<value><dateTime.iso8601>" + x.Format(isoFormat) + "</dateTime.iso8601></value>\n")
	case []byte:
		b.WriteString("<value><base64>\n" + pyBase64(x) + "</base64></value>\n")
	case []any:
		b.WriteString("<value><array><data>\n")
		for i, e := range x {
			start := b.Len()
			if err := encodeValue(b, e, depth+1); err != nil {
				return err
			}
			if i == 0 && depth == 0 {
				growForArray(b, b.Len()-start, x)
			}
		}
		b.WriteString("</data></array></value>\n")
	case []string:
		b.WriteString("<value><array><data>\n")
		for _, e := range x {
			encodeValue(b, e, depth+1)
		}
		b.WriteString("</data></array></value>\n")
	case Struct:
		b.WriteString("<value><struct>\n")
		for _, m := range x {
			b.WriteString("<member>\n<name>")
			writeEscaped(b, m.Name)
			b.WriteString("</name>\n")
			if err := encodeValue(b, m.Value, depth+1); err != nil {
				return err
			}
			b.WriteString("</member>\n")
		}
		b.WriteString("</struct></value>\n")
	default:
		return fmt.Errorf("xmlrpc: cannot encode %T", v)
	}
	return nil
}

// pyRepr formats a float as Python's repr does.
func pyRepr(f float64) string {
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eEnN") {
		s += ".0"
	}
	return s
}

// pyBase64 is Python's base64.encodebytes: lines of 76 characters, each
// ending in a newline.
func pyBase64(p []byte) string {
	enc := base64.StdEncoding.EncodeToString(p)
	var b strings.Builder
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\n")
		enc = enc[76:]
	}
	if enc != "" {
		b.WriteString(enc + "\n")
	}
	return b.String()
}
