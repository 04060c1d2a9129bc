package api

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/ctlsup/ctlsup/api/xmlrpc"
	"github.com/ctlsup/ctlsup/supervisor"
	"github.com/ctlsup/ctlsup/supervisor/signame"
)

const (
	apiVersion   = "3.0"
	maxBodyBytes = 1 << 20
	// maxBodyDrain is how much of a refused body is read and dropped so
	// that its client gets the answer.
	maxBodyDrain = 64 << 20
)

// Server is supervisord's control interface over a Supervisor.
type Server struct {
	Supervisor     *supervisor.Supervisor
	Version        string // getSupervisorVersion
	Identification string // getIdentification; "supervisor" by default
	MainLog        string // the daemon's log file for readLog, "" if none
	// Username and Password, when set, require HTTP basic auth on every
	// request. Password may be "{SHA}" + hex sha1, as supervisord accepts.
	Username, Password string
	// Shutdown and Restart are called after the shutdown or restart call
	// has been answered.
	Shutdown, Restart func()
	// Upgrade, if set, serves ctlsup.upgrade: it checks that the daemon's
	// binary on disk can take over (an error is the caller's answer) and
	// returns what to run once the call has been answered.
	Upgrade func() (func(), error)
	Logger  *slog.Logger

	table        map[string]method
	stopping     atomic.Bool
	maxMulticall int // maxMulticallAnswer; tests lower it
}

// NewServer returns a server for sup.
func NewServer(sup *supervisor.Supervisor) *Server {
	s := &Server{Supervisor: sup, Identification: "supervisor", Logger: slog.Default(),
		Shutdown: func() {}, Restart: func() {}, maxMulticall: maxMulticallAnswer}
	s.table = s.methods()
	return s
}

type afterKey struct{}

// ServeHTTP serves /RPC2, /logtail/, /mainlogtail and the web page (/ and
// /ui/).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="default"`)
		w.Header().Set("Connection", "close")
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	switch {
	case strings.HasPrefix(r.URL.Path, "/RPC2"):
		s.serveRPC(w, r)
	case strings.HasPrefix(r.URL.Path, "/logtail/"), r.URL.Path == "/mainlogtail":
		s.serveTail(w, r)
	case r.URL.Path == "/", r.URL.Path == "/index.html", strings.HasPrefix(r.URL.Path, "/ui/"):
		s.serveWeb(w, r)
	case r.URL.Path == "/tail.html":
		s.serveOldTail(w, r)
	default:
		notFound(w)
	}
}

// Credentials are what a listener requires: HTTP basic auth with this
// username and password, or nothing when Username is "". Password may be
// "{SHA}" + hex sha1, as supervisord accepts.
type Credentials struct{ Username, Password string }

type credentialsKey struct{}

// WithCredentials makes ctx's requests require creds instead of the
// Server's own: each listener has its own, as supervisord's unix and inet
// servers do.
func WithCredentials(ctx context.Context, creds Credentials) context.Context {
	return context.WithValue(ctx, credentialsKey{}, creds)
}

type streamingKey struct{}

// WithStreaming makes a request of ctx's that streams without end (a
// followed log, the web page's state) call streaming once it has begun:
// it is no answer to wait for, as an upgrade waits for answers.
func WithStreaming(ctx context.Context, streaming func()) context.Context {
	return context.WithValue(ctx, streamingKey{}, streaming)
}

func streamingStarted(ctx context.Context) {
	if f, ok := ctx.Value(streamingKey{}).(func()); ok {
		f()
	}
}

// basicAuth reads basic credentials as supervisord does, which takes any
// blanks between the scheme and the token (RFC 7235 allows them), and a
// little more leniently: a token without its '=' padding too, which Go's
// Request.BasicAuth refuses and supervisord answers with 400.
func basicAuth(r *http.Request) (user, pass string, ok bool) {
	scheme, token, found := strings.Cut(r.Header.Get("Authorization"), " ")
	if !found || !strings.EqualFold(scheme, "Basic") {
		return "", "", false
	}
	b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(strings.TrimSpace(token), "="))
	if err != nil {
		return "", "", false
	}
	return strings.Cut(string(b), ":")
}

// authorized checks basic auth in constant time.
func (s *Server) authorized(r *http.Request) bool {
	want := Credentials{s.Username, s.Password}
	if c, ok := r.Context().Value(credentialsKey{}).(Credentials); ok {
		want = c
	}
	return want.allow(r)
}

func (want Credentials) allow(r *http.Request) bool {
	if want.Username == "" {
		return true
	}
	user, pass, ok := basicAuth(r)
	if !ok {
		return false
	}
	wantPass := want.Password
	if rest, isSHA := strings.CutPrefix(wantPass, "{SHA}"); isSHA {
		sum := sha1.Sum([]byte(pass))
		pass, wantPass = hex.EncodeToString(sum[:]), strings.ToLower(rest)
	}
	userOK := subtle.ConstantTimeCompare([]byte(user), []byte(want.Username))
	passOK := subtle.ConstantTimeCompare([]byte(pass), []byte(wantPass))
	return userOK&passOK == 1
}

func (s *Server) serveRPC(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "Bad Request", http.StatusBadRequest)
		return
	}
	if r.ContentLength > maxBodyBytes && strings.Contains(strings.ToLower(r.Header.Get("Expect")), "100-continue") {
		// The client waits to be told to send the body: refuse it unsent.
		http.Error(w, "Request Entity Too Large", http.StatusRequestEntityTooLarge)
		return
	}
	body := http.MaxBytesReader(w, r.Body, maxBodyBytes)
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(body); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			// Read what the client is still sending (up to a bound, within
			// ReadTimeout) before answering: a client that writes its
			// whole body first, as Python's does, otherwise fails with a
			// broken pipe instead of reading the 413.
			io.CopyN(io.Discard, r.Body, maxBodyDrain)
			http.Error(w, "Request Entity Too Large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "Bad Request", http.StatusBadRequest)
		return
	}
	call, err := xmlrpc.DecodeCall(&buf)
	if err != nil {
		http.Error(w, "Bad Request", http.StatusBadRequest)
		return
	}
	var afterFn func()
	ctx := context.WithValue(r.Context(), afterKey{}, &afterFn)
	ctx = withReadBudget(ctx)
	v, f := s.dispatch(ctx, call.Method, call.Params)
	var out []byte
	if f == nil {
		out, err = xmlrpc.EncodeResponse(v)
		if err != nil {
			f = fault(faultFailed, err.Error())
		}
	}
	if f != nil {
		out = xmlrpc.EncodeFault(f)
	}
	// Content-Length as supervisord sends it: a client can read a long
	// answer into one buffer of the right size.
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.Write(out)
	if afterFn != nil {
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		go afterFn()
	}
}

// dispatch runs one call and returns its value or its fault.
func (s *Server) dispatch(ctx context.Context, name string, params []any) (any, *xmlrpc.Fault) {
	m, ok := s.table[name]
	if !ok {
		return nil, fault(faultUnknownMethod, "")
	}
	if !m.arityOK(len(params)) {
		return nil, fault(faultIncorrectParameters, "")
	}
	if s.stopping.Load() && strings.HasPrefix(name, "supervisor.") {
		return nil, fault(faultShutdownState, "")
	}
	v, err := m.fn(ctx, args{p: params})
	if err != nil {
		return nil, toFault(err, "")
	}
	return v, nil
}

// maxMulticallAnswer bounds what one multicall answers: a request of a
// megabyte holds 8000 calls of getAllProcessInfo, 11 MB each with 10,000
// programs, and the daemon must neither build nor compute that. Each
// answer is encoded as it comes and counted; once the count reaches the
// bound, the calls left are not run and answer FAILED. A call that runs
// is answered whatever its size (what it did is not reported as failed),
// so the answer passes the bound by one call's at most.
const maxMulticallAnswer = 32 << 20

func (s *Server) multicall(ctx context.Context, a args) (any, error) {
	a.count(1, 1)
	calls, ok := a.p[0].([]any)
	if a.err != nil || !ok {
		return nil, fault(faultIncorrectParameters, "")
	}
	out := make([]any, 0, len(calls))
	size := 0
	for _, c := range calls {
		st, _ := c.(xmlrpc.Struct)
		name, named := st.Get("methodName")
		params, _ := st.Get("params")
		var v any
		var f *xmlrpc.Fault
		// A name that is there but empty is an unknown method, as in
		// supervisord; only a missing (or unusable) one is "No methodName".
		switch n, isString := name.(string); {
		case !named || !isString:
			f = fault(faultIncorrectParameters, "No methodName")
		case n == "system.multicall":
			f = fault(faultIncorrectParameters, "Recursive system.multicall forbidden")
		case size >= s.maxMulticall:
			f = fault(faultFailed, fmt.Sprintf("not run: the multicall's answer reached %d MiB", s.maxMulticall>>20))
		default:
			p, _ := params.([]any)
			v, f = s.dispatch(ctx, n, p)
		}
		var enc xmlrpc.Raw
		if f == nil {
			var err error
			if enc, err = xmlrpc.EncodeValue(v); err != nil {
				f = fault(faultFailed, err.Error())
			}
		}
		if f != nil {
			enc, _ = xmlrpc.EncodeValue(xmlrpc.Struct{{Name: "faultCode", Value: f.Code}, {Name: "faultString", Value: f.String}})
		}
		size += len(enc)
		out = append(out, enc)
	}
	return out, nil
}

// single runs a start or stop on a namespec: one process answers true or a
// fault; "group:*" and "all" answer their result array.
func (s *Server) single(ctx context.Context, a args, op targetOp) (any, error) {
	a.count(1, 2)
	name, w := a.str(0), a.wait(1)
	if a.err != nil {
		return nil, a.err
	}
	t := ParseNamespec(name)
	rs, err := op(ctx, t, w)
	if err != nil {
		return nil, toFault(err, name)
	}
	if t.Name == "" {
		return results(rs), nil
	}
	if rs[0].Err != nil {
		return nil, toFault(rs[0].Err, name)
	}
	return true, nil
}

// targetOp is an engine operation on a target: Start, Stop.
type targetOp func(context.Context, supervisor.Target, supervisor.Wait) ([]supervisor.Result, error)

func (s *Server) group(ctx context.Context, a args, op targetOp) (any, error) {
	a.count(1, 2)
	name, w := a.str(0), a.wait(1)
	if a.err != nil {
		return nil, a.err
	}
	rs, err := op(ctx, supervisor.Group(name), w)
	if err != nil {
		return nil, toFault(err, name)
	}
	return results(rs), nil
}

func (s *Server) all(ctx context.Context, a args, op targetOp) (any, error) {
	a.count(0, 1)
	w := a.wait(0)
	if a.err != nil {
		return nil, a.err
	}
	rs, err := op(ctx, supervisor.All(), w)
	if err != nil {
		return nil, toFault(err, "")
	}
	return results(rs), nil
}

// parseSignal reads parameter i as a signal; -1 for an unknown signal.
func (s *Server) parseSignal(a *args, i int) int {
	var str string
	switch v := a.p[min(i, len(a.p)-1)].(type) {
	case string:
		str = v
	case int:
		str = itoa(v)
	default:
		a.err = fault(faultIncorrectParameters, "")
		return 0
	}
	sig, ok := signame.Parse(str)
	if !ok {
		return -1
	}
	return int(sig)
}

func (s *Server) signal(ctx context.Context, a args, wholeGroup bool) (any, error) {
	if !a.count(2, 2) {
		return nil, a.err
	}
	name := a.str(0)
	sig := s.parseSignal(&a, 1)
	if a.err != nil {
		return nil, a.err
	}
	t := ParseNamespec(name)
	switch {
	case wholeGroup:
		t = supervisor.Group(name)
	case t.All:
		// signalProcess has no "all", as supervisord's has none: a
		// group "all" is unknown (signalAllProcesses signals every one).
		return nil, fault(faultBadName, name)
	}
	if t.Name != "" {
		if _, err := s.Supervisor.Process(t.Name); err != nil {
			return nil, toFault(err, name)
		}
		if sig < 0 {
			return nil, badSignal(signalText(a.p[1]))
		}
		if err := supervisor.Err(s.Supervisor.Signal(ctx, t, syscall.Signal(sig))); err != nil {
			return nil, toFault(err, name)
		}
		return true, nil
	}
	if sig < 0 {
		if !s.Supervisor.Active(t.Group) {
			return nil, fault(faultBadName, name)
		}
		var procs []*supervisor.ProcessInfo
		for _, p := range s.Supervisor.ByPriority() {
			if p.Group == t.Group {
				procs = append(procs, p)
			}
		}
		return s.badSignalAll(procs, signalText(a.p[1])), nil
	}
	rs, err := s.Supervisor.Signal(ctx, t, syscall.Signal(sig))
	if err != nil {
		// The name as given ("web:*"), as supervisord's fault has it.
		return nil, toFault(err, name)
	}
	return results(rs), nil
}

// badSignalAll is supervisord's answer to a group signal it cannot parse:
// one BAD_SIGNAL result per signallable process, in the order a valid
// signal's results come (priority).
func (s *Server) badSignalAll(procs []*supervisor.ProcessInfo, sig string) []any {
	var rs []supervisor.Result
	for _, p := range procs {
		if p.State.IsSignallable() {
			rs = append(rs, supervisor.Result{Name: p.Name, Group: p.Group, Err: badSignal(sig)})
		}
	}
	return results(rs)
}

// badSignal names the signal given even when it is empty ("BAD_SIGNAL: "),
// as supervisord's fault does; other faults drop an empty detail.
func badSignal(sig string) *xmlrpc.Fault {
	return &xmlrpc.Fault{Code: faultBadSignal, String: faultNames[faultBadSignal] + ": " + sig}
}

func signalText(v any) string {
	if n, ok := v.(int); ok {
		return itoa(n)
	}
	s, _ := v.(string)
	return s
}

// hasLog reports whether supervisord would have made p's log file by now:
// an AUTO log at its load, a configured one at the first spawn. ctlsupd
// makes a log at the first output, and reads such a log, missing until
// then, as empty. A program whose spawns all failed before there was a
// process (a missing command) has no configured log in supervisord
// either: NO_FILE. (One that failed in the child, at its chdir or setuid,
// has why written into its log, by supervisord's child and by ctlsupd:
// the file is there to read.)
func hasLog(p *supervisor.ProcessInfo, log supervisor.LogSpec) bool {
	return log.Auto() || p.Pid != 0 || !p.Stop.IsZero()
}

func stdoutLog(p *supervisor.ProcessInfo) supervisor.LogSpec { return p.Spec.Stdout }
func stderrLog(p *supervisor.ProcessInfo) supervisor.LogSpec { return p.Spec.Stderr }

func (s *Server) readProcLog(ctx context.Context, a args, stream func(*supervisor.ProcessInfo) supervisor.LogSpec) (any, error) {
	a.count(3, 3)
	name, off, n := a.str(0), a.integer(1), a.integer(2)
	if a.err != nil {
		return nil, a.err
	}
	p, err := s.Supervisor.Process(name)
	if err != nil {
		return nil, toFault(err, name)
	}
	log := stream(p)
	return readLog(ctx, log.Path, off, n, hasLog(p, log))
}

func (s *Server) tailProcLog(ctx context.Context, a args, stream func(*supervisor.ProcessInfo) supervisor.LogSpec) (any, error) {
	a.count(3, 3)
	name, off, n := a.str(0), a.integer(1), a.integer(2)
	if a.err != nil {
		return nil, a.err
	}
	p, err := s.Supervisor.Process(name)
	if err != nil {
		return nil, toFault(err, name)
	}
	log := stream(p)
	return tailLog(ctx, log.Path, off, n, hasLog(p, log)), nil
}

func itoa(n int) string { return strconv.Itoa(n) }

// afterResponse schedules fn to run once the current response was written.
func afterResponse(ctx context.Context, fn func()) {
	if p, ok := ctx.Value(afterKey{}).(*func()); ok {
		*p = fn
	}
}
