package xmlrpc

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReplaySupervisord replays exchanges recorded from supervisord 4.2.5
// (cmd/ctlsup: go test -run RecordSupervisordGoldens -update): each request
// and each response decodes and encodes back to the same bytes.
func TestReplaySupervisord(t *testing.T) {
	files, _ := filepath.Glob("testdata/supervisord/*.xml")
	if len(files) < 20 {
		t.Fatalf("only %d recorded files", len(files))
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var again []byte
		if strings.HasSuffix(f, ".request.xml") {
			c, err := DecodeCall(bytes.NewReader(raw))
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if again, err = EncodeCall(c.Method, c.Params...); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
		} else {
			v, err := DecodeResponse(bytes.NewReader(raw))
			var fault *Fault
			switch {
			case errors.As(err, &fault):
				again = EncodeFault(fault)
			case err != nil:
				t.Fatalf("%s: %v", f, err)
			default:
				if again, err = EncodeResponse(v); err != nil {
					t.Fatalf("%s: %v", f, err)
				}
			}
		}
		if !bytes.Equal(again, raw) {
			t.Errorf("%s: re-encoded bytes differ\n got %q\nwant %q", filepath.Base(f), again, raw)
		}
	}
}
