package api_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ctlsup/ctlsup/api"
	"github.com/ctlsup/ctlsup/api/client"
	"github.com/ctlsup/ctlsup/api/xmlrpc"
	"github.com/ctlsup/ctlsup/supervisor"
	"github.com/ctlsup/ctlsup/supervisor/osruntime"
)

// TestServer_HostileNames: names that look like paths, globs, nothing, 10 KB
// or control characters are BAD_NAME for every method taking a name, and
// nothing outside the configured logs is read.
func TestServer_HostileNames(t *testing.T) {
	h := newHarness(t, nil)
	names := []string{"../../etc/passwd", "/etc/passwd", "*", "", strings.Repeat("a", 10<<10),
		"\x01\x02\x1b[31m", "grp:../../etc/passwd", "solo/../../etc", "solo\x00"}
	methods := [][]any{
		{"supervisor.getProcessInfo"}, {"supervisor.startProcess"}, {"supervisor.stopProcess"},
		{"supervisor.readProcessStdoutLog", 0, 100}, {"supervisor.readProcessStderrLog", 0, 100},
		{"supervisor.tailProcessStdoutLog", 0, 100}, {"supervisor.clearProcessLogs"},
		{"supervisor.signalProcess", "HUP"}, {"supervisor.removeProcessGroup"}, {"supervisor.addProcessGroup"},
	}
	for _, name := range names {
		for _, m := range methods {
			params := append([]any{name}, m[1:]...)
			v, err := h.client.Call(m[0].(string), params...)
			if strings.ContainsAny(name, "\x00\x01\x02\x1b") {
				// XML 1.0 cannot carry these, not even as character
				// references: the request is malformed, as supervisord
				// also answers.
				var pe *client.ProtocolError
				if !errors.As(err, &pe) || pe.Status != "400 Bad Request" {
					t.Errorf("%s(%.40q): %v %v, want 400", m[0], name, v, err)
				}
				continue
			}
			if f := faultOf(err); f == nil || f.Code != 10 {
				t.Errorf("%s(%.40q): %v %v, want BAD_NAME", m[0], name, v, err)
			}
		}
		if _, err := h.client.Call("supervisor.getState"); err != nil {
			t.Fatalf("the server stopped answering: %v", err)
		}
		if resp := post(t, h.sock, "/logtail/"+url.PathEscape(name), "", nil); resp.StatusCode != 404 && resp.StatusCode != 400 {
			t.Errorf("/logtail/%.40q: %d", name, resp.StatusCode)
		}
	}
}

// FuzzServeHTTP throws arbitrary requests at the handler: it answers, it
// never panics, and the status is one supervisord could give.
func FuzzServeHTTP(f *testing.F) {
	call, _ := xmlrpc.EncodeCall("supervisor.getProcessInfo", "web")
	f.Add("POST", "/RPC2", call)
	f.Add("GET", "/logtail/web/stderr", []byte{})
	f.Add("POST", "/RPC2", []byte("<methodCall><methodName>system.multicall</methodName><params><param><value><array><data></data></array></value></param></params></methodCall>"))
	f.Add("PUT", "/mainlogtail", []byte("\xff\xfe"))
	// The log methods get a non-empty log, and sizes that once made the
	// daemon allocate what the client asked for.
	for _, c := range [][]any{
		{"supervisor.tailProcessStdoutLog", "web", 0, 1 << 40},
		{"supervisor.readProcessStdoutLog", "web", 0, 0},
		{"supervisor.readProcessStdoutLog", "web", -(1 << 40), 0},
		{"supervisor.readProcessStdoutLog", "web", 1 << 40, 1 << 40},
	} {
		b, _ := xmlrpc.EncodeCall(c[0].(string), c[1:]...)
		f.Add("POST", "/RPC2", b)
	}
	dir := f.TempDir()
	os.WriteFile(filepath.Join(dir, "web.log"), bytes.Repeat([]byte("a log line\n"), 1000), 0o644)
	spec := supervisor.ProcessSpec{Name: "web", Group: "web", Argv: []string{"/bin/true"}, Umask: -1,
		Stdout: supervisor.LogSpec{Path: filepath.Join(dir, "web.log")}}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	sup := supervisor.New(osruntime.New(filepath.Join(dir, "state"), logger),
		[]supervisor.GroupSpec{{Name: "web", Processes: []supervisor.ProcessSpec{spec}}})
	sup.Logger = logger
	if err := sup.Open(context.Background()); err != nil {
		f.Fatal(err)
	}
	defer sup.Close(context.Background())
	srv := api.NewServer(sup)
	f.Fuzz(func(t *testing.T, method, path string, body []byte) {
		if strings.HasPrefix(path, "/logtail") || path == "/mainlogtail" || strings.HasPrefix(strings.TrimLeft(path, "/"), "ui/state") {
			return // streams never end; covered by TestServer_LogtailStreams and the browser test
		}
		req, err := http.NewRequest(method, "http://localhost/"+strings.TrimPrefix(path, "/"), bytes.NewReader(body))
		if err != nil {
			return
		}
		// A stream that an odd spelling of its path still reaches ends
		// with the request.
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		req = req.WithContext(ctx)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		switch rec.Code {
		case 200, 400, 403, 404, 405, 413: // 403: the page's actions without their CSRF token
		default:
			t.Fatalf("%s %s: status %d", method, path, rec.Code)
		}
	})
}

// TestServer_LogReadsAreBounded: no size a client names makes the daemon
// allocate it. A tail longer than a request may read answers the end of
// the log with overflow set; a read of more answers a fault; a multicall
// shares one budget.
func TestServer_LogReadsAreBounded(t *testing.T) {
	h := newHarness(t, nil)
	info, _ := h.sup.Process("solo")
	big := bytes.Repeat([]byte("0123456789abcdef"), 9<<20/16) // 9 MiB: over the limit
	if err := os.WriteFile(info.Spec.Stdout.Path, big, 0o644); err != nil {
		t.Fatal(err)
	}
	v, err := h.client.Call("supervisor.tailProcessStdoutLog", "solo", 0, 1<<40)
	if err != nil {
		t.Fatalf("tail of 2^40 bytes: %v", err)
	}
	r := v.([]any)
	if s := r[0].(string); len(s) == 0 || len(s) > 8<<20 || !strings.HasSuffix(string(big), s) || r[2] != true {
		t.Errorf("tail: %d bytes, overflow %v", len(s), r[2])
	}
	if _, err := h.client.Call("supervisor.readProcessStdoutLog", "solo", 0, 0); faultOf(err) == nil || faultOf(err).Code != 30 {
		t.Errorf("reading 9 MiB at once: %v, want FAILED", err)
	}
	calls := []any{}
	for range 4 {
		calls = append(calls, xmlrpc.Struct{{Name: "methodName", Value: "supervisor.readProcessStdoutLog"},
			{Name: "params", Value: []any{"solo", 0, 3 << 20}}})
	}
	v, err = h.client.Call("system.multicall", calls)
	if err != nil {
		t.Fatal(err)
	}
	got := v.([]any)
	ok := 0
	for _, g := range got {
		if _, isFault := g.(xmlrpc.Struct); !isFault {
			ok++
		}
	}
	if ok != 2 {
		t.Errorf("a multicall of four 3 MiB reads: %d answered, want 2 within the 8 MiB budget", ok)
	}
	if _, err := h.client.Call("supervisor.getState"); err != nil {
		t.Fatal(err)
	}
}

// TestServer_ClearLogDoesNotFollowLinks: clearLog on a main log path that
// is a planted symbolic link truncates nothing.
func TestServer_ClearLogDoesNotFollowLinks(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "shadow")
	os.WriteFile(target, []byte("secret\n"), 0o600)
	link := filepath.Join(dir, "ctlsupd.log")
	os.Symlink(target, link)
	h := newHarness(t, func(h *harness) { h.srv.MainLog = link })
	if _, err := h.client.Call("supervisor.clearLog"); err == nil {
		t.Error("clearLog through a link succeeded")
	}
	if b, _ := os.ReadFile(target); string(b) != "secret\n" {
		t.Errorf("the link's target was truncated: %q", b)
	}
}

// TestServer_MulticallAnswerIsBounded: a request of a few thousand calls
// of getAllProcessInfo does not make the daemon compute and build an
// answer of every one: once the answer reaches the bound (lowered to 1
// MiB here, as a megabyte of request cannot reach 32 MiB of answer with
// three programs) the calls left are not run and answer FAILED; the calls
// before answer as they would alone, and a call that ran is never
// reported as failed.
func TestServer_MulticallAnswerIsBounded(t *testing.T) {
	h := newHarness(t, func(h *harness) { h.srv.SetMaxMulticallAnswer(1 << 20) })
	call := func(name string, params ...any) xmlrpc.Struct {
		return xmlrpc.Struct{{Name: "methodName", Value: name}, {Name: "params", Value: params}}
	}
	calls := make([]any, 2000)
	for i := range calls {
		calls[i] = call("supervisor.getAllProcessInfo")
	}
	calls = append(calls, call("supervisor.stopProcess", "solo"))
	v, err := h.client.Call("system.multicall", calls)
	if err != nil {
		t.Fatal(err)
	}
	got := v.([]any)
	if len(got) != len(calls) {
		t.Fatalf("%d answers to %d calls", len(got), len(calls))
	}
	answered := 0
	for i, g := range got {
		switch g := g.(type) {
		case []any:
			if len(g) != 3 || answered != i {
				t.Fatalf("answer %d: %d processes, after %d answered", i, len(g), answered)
			}
			answered++
		case xmlrpc.Struct:
			if code, _ := g.Get("faultCode"); code != 30 {
				t.Fatalf("answer %d: %v, want FAILED", i, g)
			}
		default:
			t.Fatalf("answer %d: %v", i, g)
		}
	}
	one, _ := xmlrpc.EncodeValue(got[0])
	if want := (1<<20)/len(one) + 1; answered != want {
		t.Errorf("%d calls answered, %d bytes each: want %d, until the answer reached 1 MiB", answered, len(one), want)
	}
	if p, _ := h.sup.Process("solo"); p.State != supervisor.Running {
		t.Errorf("the stop past the bound ran: solo is %v", p.State)
	}
}
