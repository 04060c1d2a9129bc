package supervisor

import "testing"

// TestEventData: output that is not UTF-8 reaches listeners as
// supervisord sends it (Python's repr of the bytes, checked against
// python3 for these inputs); UTF-8 goes as it is.
func TestEventData(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"café ☃\n", "café ☃\n"},
		{"", ""},
		{"bad \xff\xfe bytes\n", `Undecodable: b'bad \xff\xfe bytes\n'`},
		{"it's \xe9", `Undecodable: b"it's \xe9"`},
		{"it's \"\xe9\"", `Undecodable: b'it\'s "\xe9"'`},
		{"\\ \t\r\x00\x7f\x80 ~", `Undecodable: b'\\ \t\r\x00\x7f\x80 ~'`},
		{"\xc3", `Undecodable: b'\xc3'`},
	} {
		if got := eventData([]byte(tc.in)); got != tc.want {
			t.Errorf("%q: got %s, want %s", tc.in, got, tc.want)
		}
	}
}
