package xmlrpc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func golden(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEncode_MatchesPython compares our bytes with Python's xmlrpc.client.
func TestEncode_MatchesPython(t *testing.T) {
	info := Struct{{"name", "web"}, {"group", "web"}, {"start", 1764041720}, {"stop", 0}, {"now", 1764041780},
		{"state", 20}, {"statename", "RUNNING"}, {"spawnerr", ""}, {"exitstatus", 0},
		{"logfile", "/var/log/web.log"}, {"stdout_logfile", "/var/log/web.log"}, {"stderr_logfile", ""},
		{"pid", 4242}, {"description", "pid 4242, uptime 0:01:00"}}
	types := []any{true, 1.5, "a<b&c>", bytes.Repeat([]byte("\x00\x01binary"), 10), []any{1, "two"},
		Struct{{"k", nil}}, time.Date(2026, 11, 25, 3, 35, 20, 0, time.UTC)}
	for name, got := range map[string]func() ([]byte, error){
		"response_string.xml": func() ([]byte, error) { return EncodeResponse("3.0") },
		"response_bool.xml":   func() ([]byte, error) { return EncodeResponse(true) },
		"response_info.xml":   func() ([]byte, error) { return EncodeResponse([]any{info}) },
		"response_fault.xml":  func() ([]byte, error) { return EncodeFault(&Fault{10, "BAD_NAME: nosuch"}), nil },
		"call_start.xml":      func() ([]byte, error) { return EncodeCall("supervisor.startProcess", "manual") },
		"call_tail.xml":       func() ([]byte, error) { return EncodeCall("supervisor.readProcessStdoutLog", "web", -1600, 0) },
		"call_noparams.xml":   func() ([]byte, error) { return EncodeCall("supervisor.getAllProcessInfo") },
		"call_types.xml":      func() ([]byte, error) { return EncodeCall("system.multicall", types...) },
	} {
		b, err := got()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if want := golden(t, name); !bytes.Equal(b, want) {
			t.Errorf("%s differs from Python's:\n got %q\nwant %q", name, b, want)
		}
	}
}

// TestDecode_Python decodes what Python sends and round-trips it.
func TestDecode_Python(t *testing.T) {
	c, err := DecodeCall(bytes.NewReader(golden(t, "call_types.xml")))
	if err != nil {
		t.Fatal(err)
	}
	want := []any{true, 1.5, "a<b&c>", bytes.Repeat([]byte("\x00\x01binary"), 10), []any{1, "two"},
		Struct{{"k", nil}}, time.Date(2026, 11, 25, 3, 35, 20, 0, time.UTC)}
	if c.Method != "system.multicall" || !reflect.DeepEqual(c.Params, want) {
		t.Errorf("got %s %#v", c.Method, c.Params)
	}
	c, err = DecodeCall(bytes.NewReader(golden(t, "call_tail.xml")))
	if err != nil || !reflect.DeepEqual(c.Params, []any{"web", -1600, 0}) {
		t.Errorf("tail call: %#v %v", c, err)
	}
	v, err := DecodeResponse(bytes.NewReader(golden(t, "response_info.xml")))
	if err != nil {
		t.Fatal(err)
	}
	if st := v.([]any)[0].(Struct); st[12].Name != "pid" || st[12].Value != 4242 {
		t.Errorf("info %#v", st)
	}
	_, err = DecodeResponse(bytes.NewReader(golden(t, "response_fault.xml")))
	var f *Fault
	if !errors.As(err, &f) || f.Code != 10 || f.String != "BAD_NAME: nosuch" {
		t.Errorf("fault %v", err)
	}
}

func TestDecode_Forms(t *testing.T) {
	for in, want := range map[string][]any{
		"<methodCall><methodName>m</methodName></methodCall>":                                                                                                           {},
		"<methodCall><methodName>m</methodName><params><param><value>bare</value></param></params></methodCall>":                                                        {"bare"},
		"<methodCall><methodName>m</methodName><params><param><value><i4>7</i4></value></param></params></methodCall>":                                                  {7},
		"<methodCall><methodName>m</methodName><params><param><value> <boolean>0</boolean> </value></param></params></methodCall>":                                      {false},
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?><methodCall><methodName>m</methodName><params><param><value><string></string></value></param></params></methodCall>": {""},
	} {
		c, err := DecodeCall(strings.NewReader(in))
		if err != nil || !reflect.DeepEqual(c.Params, want) {
			t.Errorf("%s: %#v %v", in, c, err)
		}
	}
}

// TestDecode_DeclaredEncodingIsIgnored: a body is read as UTF-8 whatever
// encoding it declares, as supervisord reads it: PHP's encoder declares
// iso-8859-1 for plain ASCII, and a byte that is not UTF-8 is refused
// even under a declaration that would allow it.
func TestDecode_DeclaredEncodingIsIgnored(t *testing.T) {
	call := "<methodCall><methodName>supervisor.getProcessInfo</methodName><params><param><value><string>%s</string></value></param></params></methodCall>"
	for _, enc := range []string{"iso-8859-1", "ISO-8859-1", "windows-1252", "utf-16", "koi8-r"} {
		in := `<?xml version="1.0" encoding="` + enc + `"?>` + "\n" + fmt.Sprintf(call, "t\u00e9")
		c, err := DecodeCall(strings.NewReader(in))
		if err != nil || !reflect.DeepEqual(c.Params, []any{"t\u00e9"}) {
			t.Errorf("declared %s: %#v %v", enc, c, err)
		}
	}
	latin1 := `<?xml version="1.0" encoding="iso-8859-1"?>` + fmt.Sprintf(call, "t\xe9")
	if _, err := DecodeCall(strings.NewReader(latin1)); !errors.Is(err, ErrMalformed) {
		t.Errorf("a latin-1 byte: err %v, want ErrMalformed", err)
	}
}

func TestDecode_Malformed(t *testing.T) {
	deep := "<methodCall><methodName>m</methodName><params><param>" + strings.Repeat("<value><array><data>", 200) +
		strings.Repeat("</data></array></value>", 200) + "</param></params></methodCall>"
	for _, in := range []string{
		"", "not xml", "<methodCall>", "<methodCall><methodName>m</methodName><params><param><value><int>x</int></value></param></params></methodCall>",
		"<methodCall><methodName>m</methodName><params><param><value><boolean>2</boolean></value></param></params></methodCall>",
		"<methodCall><methodName>m</methodName><params><param><value><bogus>1</bogus></value></param></params></methodCall>",
		"<methodCall><methodName>m\xff</methodName></methodCall>", deep,
	} {
		if _, err := DecodeCall(strings.NewReader(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%.60q: err %v, want ErrMalformed", in, err)
		}
	}
}

func FuzzDecodeCall(f *testing.F) {
	for _, name := range []string{"call_start.xml", "call_tail.xml", "call_noparams.xml", "call_types.xml"} {
		b, _ := os.ReadFile("testdata/" + name)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeCall(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error outside ErrMalformed: %v", err)
			}
			return
		}
		// Whatever decodes must encode and decode to the same thing.
		b, err := EncodeCall(c.Method, c.Params...)
		if err != nil {
			return
		}
		c2, err := DecodeCall(bytes.NewReader(b))
		if err != nil || c2.Method != strings.TrimSpace(c.Method) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

func FuzzDecodeResponse(f *testing.F) {
	for _, name := range []string{"response_string.xml", "response_bool.xml", "response_info.xml", "response_fault.xml"} {
		b, _ := os.ReadFile("testdata/" + name)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := DecodeResponse(bytes.NewReader(data))
		var fault *Fault
		if err != nil && !errors.Is(err, ErrMalformed) && !errors.As(err, &fault) {
			t.Fatalf("unexpected error type: %v", err)
		}
	})
}
