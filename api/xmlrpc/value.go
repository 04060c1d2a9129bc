// Package xmlrpc encodes and decodes XML-RPC as Python's xmlrpc.client does,
// byte for byte, which is what supervisorctl and supervisord speak.
package xmlrpc

import (
	"fmt"
)

// Values are Go values of these types:
//
//	int, int64      <int>
//	bool            <boolean>
//	string          <string>
//	float64         <double>
//	time.Time       <dateTime.iso8601>
//	[]byte          <base64>
//	[]any           <array>
//	Struct          <struct>, members in order
//	nil             <nil/>
//
// Decoding yields int for <int>, <i4> and <i8>, string for a bare <value>.

// Struct is an XML-RPC struct whose members keep their order, as Python's
// dicts do on the wire.
type Struct []Member

// Member is one struct member.
type Member struct {
	Name  string
	Value any
}

// Get returns the value of the member called name.
func (s Struct) Get(name string) (any, bool) {
	for _, m := range s {
		if m.Name == name {
			return m.Value, true
		}
	}
	return nil, false
}

// Fault is an XML-RPC fault.
type Fault struct {
	Code   int
	String string
}

func (f *Fault) Error() string { return fmt.Sprintf("<Fault %d: %q>", f.Code, f.String) }

// Call is a decoded methodCall.
type Call struct {
	Method string
	Params []any
}

const isoFormat = "20060102T15:04:05"
