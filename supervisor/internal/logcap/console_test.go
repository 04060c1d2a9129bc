package logcap

import (
	"bytes"
	"strings"
	"testing"
)

// TestPrefixed_LongLinesAreBounded: lines go out whole behind their
// prefix, and a program that never writes a newline cannot make the
// daemon hold more than maxPartial of it.
func TestPrefixed_LongLinesAreBounded(t *testing.T) {
	var out bytes.Buffer
	p := &Prefixed{Console: NewConsole(&out), Prefix: func() string { return "web| " }}
	p.Write([]byte("one\ntw"))
	p.Write([]byte("o\n"))
	if out.String() != "web| one\nweb| two\n" {
		t.Errorf("lines: %q", out.String())
	}
	out.Reset()
	chunk := []byte(strings.Repeat("x", 16<<10))
	for range 20 { // 320 KiB, no newline
		p.Write(chunk)
		if len(p.partial) >= maxPartial {
			t.Fatalf("%d bytes held for a line's end", len(p.partial))
		}
	}
	p.Flush()
	if got := strings.Count(out.String(), "x"); got != 20*len(chunk) {
		t.Errorf("%d of %d bytes passed on", got, 20*len(chunk))
	}
}
