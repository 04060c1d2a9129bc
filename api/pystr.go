package api

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ctlsup/ctlsup/api/xmlrpc"
)

// pyStr is a decoded XML-RPC value as Python's str() prints what
// supervisord's parser made of it, for faults that name the value they
// refuse ("INCORRECT_PARAMETERS: {'a': 1}").
func pyStr(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []byte:
		return string(v) // supervisord decodes base64 as UTF-8 text
	case time.Time:
		return v.Format("2006-01-02 15:04:05")
	}
	return pyRepr(v)
}

// pyRepr is Python's repr() of a decoded value, as str() shows the
// members of a list or a struct.
func pyRepr(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case string:
		return xmlrpc.PyQuote(v)
	case []byte:
		return xmlrpc.PyQuote(strings.ToValidUTF8(string(v), string(utf8.RuneError)))
	case bool:
		if v {
			return "True"
		}
		return "False"
	case int:
		return strconv.Itoa(v)
	case float64:
		return pyFloat(v)
	case time.Time:
		// Python drops a zero second from a datetime's repr.
		if v.Second() == 0 {
			return fmt.Sprintf("datetime.datetime(%d, %d, %d, %d, %d)", v.Year(), v.Month(), v.Day(), v.Hour(), v.Minute())
		}
		return fmt.Sprintf("datetime.datetime(%d, %d, %d, %d, %d, %d)", v.Year(), v.Month(), v.Day(), v.Hour(), v.Minute(), v.Second())
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = pyRepr(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case xmlrpc.Struct:
		parts := make([]string, len(v))
		for i, m := range v {
			parts[i] = xmlrpc.PyQuote(m.Name) + ": " + pyRepr(m.Value)
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return "?"
}
