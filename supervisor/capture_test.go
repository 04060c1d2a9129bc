package supervisor

import (
	"strings"
	"testing"
)

// TestCapture_BoundAsSupervisords: a PROCESS_COMMUNICATION block over
// stdout_capture_maxbytes is bounded as supervisord bounds it (each write
// that would pass the bound drops as many bytes from the front as it
// brings), and a token split across writes is still found.
func TestCapture_BoundAsSupervisords(t *testing.T) {
	spec := &ProcessSpec{Name: "talker", Group: "talker"}
	for _, tc := range []struct {
		name   string
		writes []string
		want   string
	}{
		{"one write under the bound", []string{captureBegin + "hello" + captureEnd}, "hello"},
		{"one write over the bound is kept whole", []string{captureBegin + "0123456789abcdefghijklmnopqrstuvwxyz" + captureEnd},
			"0123456789abcdefghijklmnopqrstuvwxyz"},
		// Writes no longer than the end token wait, joined, as in
		// supervisord's dispatcher: these three reach the bound as one.
		{"short writes are joined first", []string{captureBegin + "aaaaaaaaaa", "bbbbbbbbbb", "cccccccccc" + captureEnd},
			"aaaaaaaaaabbbbbbbbbbcccccccccc"},
		{"writes past the bound keep the last ones", []string{captureBegin + strings.Repeat("a", 30), strings.Repeat("b", 30),
			strings.Repeat("c", 30) + captureEnd}, strings.Repeat("c", 30)},
		{"writes within the bound are joined", []string{captureBegin + "aaaaa", "bbbbb", "ccccc" + captureEnd}, "aaaaabbbbbccccc"},
		{"a token split across writes", []string{captureBegin + "0123<!--XSUPER", "VISOR:END-->"}, "0123"},
		{"a token's start that is not one", []string{captureBegin + "01<!--X", "Y" + captureEnd}, "01<!--XY"},
	} {
		s := New(nil, nil)
		var got []string
		s.Subscribe([]string{"PROCESS_COMMUNICATION"}, func(e Event) { got = append(got, e.Payload) })
		tap := s.streamEvents(spec, func() int { return 7 }, "stdout", false, 16)
		for _, w := range tc.writes {
			tap([]byte(w))
		}
		want := "processname:talker groupname:talker pid:7\n" + tc.want
		if len(got) != 1 || got[0] != want {
			t.Errorf("%s: events %q, want one %q", tc.name, got, want)
		}
	}
	if n := tokenStartAtEnd([]byte("abc<!--XSUPERVISOR:END--"), captureEnd); n != len(captureEnd)-1 {
		t.Errorf("tokenStartAtEnd: %d, want %d", n, len(captureEnd)-1)
	}
	if n := tokenStartAtEnd([]byte(strings.Repeat("x", 40)), captureEnd); n != 0 {
		t.Errorf("tokenStartAtEnd of no token: %d", n)
	}
}
