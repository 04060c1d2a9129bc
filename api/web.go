package api

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ctlsup/ctlsup/api/xmlrpc"
	"github.com/ctlsup/ctlsup/supervisor"
)

// The web page: supervisord's status page (start, stop, restart, clear,
// tail, restart and stop all) on the same listeners and auth as XML-RPC,
// with the state kept live by server-sent events and the tail following.
// An HTML file, its script and its style, served from the binary. The
// script and style are files of their own so that the page as served
// holds no state words but its processes' ("running" in a script made
// `check_http -s running` pass with nothing running), and so that the
// page needs no inline code.
//
//go:embed web/index.html web/page.js web/page.css
var webFiles embed.FS

// csrfToken guards the page's actions: a POST must carry it in a header,
// which a page of another site can neither read nor set (so no Origin
// check, which a reverse proxy rewriting Host would break). One per daemon process, so a
// page stays usable across a reload.
var csrfToken = func() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}()

// serveWeb serves GET / (the page), GET /ui/page.js and /ui/page.css (its
// script and style), GET /ui/state (server-sent events) and POST
// /ui/action.
func (s *Server) serveWeb(w http.ResponseWriter, r *http.Request) {
	switch {
	case (r.URL.Path == "/" || r.URL.Path == "/index.html") && r.Method == http.MethodGet:
		// /index.html is supervisord's address of the page, which
		// bookmarks and proxies keep. Its ?action= links (GETs that
		// restart or stop) are refused, loudly, so that a script using
		// them fails: the page's actions are POSTs with its token,
		// which another site cannot forge.
		if r.URL.Query().Has("action") {
			http.Error(w, "ctlsupd does not act on ?action= links: any web page a browser opens can forge them. "+
				"Use supervisorctl or ctlsup, the XML-RPC interface, or the buttons of this page.", http.StatusForbidden)
			return
		}
		page, _ := webFiles.ReadFile("web/index.html")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Security-Policy", "default-src 'self'")
		w.Header().Set("X-Frame-Options", "DENY")
		text := strings.Replace(string(page), "{{CSRF}}", csrfToken, 1)
		w.Write([]byte(strings.Replace(text, "{{GROUPS}}", renderGroups(s.uiSnapshot()), 1)))
	case (r.URL.Path == "/ui/page.js" || r.URL.Path == "/ui/page.css") && r.Method == http.MethodGet:
		body, _ := webFiles.ReadFile("web/" + strings.TrimPrefix(r.URL.Path, "/ui/"))
		ctype := "text/css; charset=utf-8"
		if strings.HasSuffix(r.URL.Path, ".js") {
			ctype = "text/javascript; charset=utf-8"
		}
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Cache-Control", "no-cache") // checked again: an upgrade brings its own
		w.Write(body)
	case r.URL.Path == "/ui/state" && r.Method == http.MethodGet:
		s.serveState(w, r)
	case r.URL.Path == "/ui/action" && r.Method == http.MethodPost:
		s.serveAction(w, r)
	default:
		notFound(w)
	}
}

// serveOldTail answers supervisord's /tail.html?processname=NAME[&limit=N]
// as its tail page does: the last N bytes (at least 1024) of the
// process's stdout log, with a link that reloads it, and one to the live
// tail. Always 200, with the message in the page, as supervisord's.
func (s *Server) serveOldTail(w http.ResponseWriter, r *http.Request) {
	// HEAD too, as supervisord answers it (checks that only look for a 200).
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "Bad Request", http.StatusBadRequest)
		return
	}
	q := r.URL.Query()
	name := q.Get("processname")
	limit := 1024
	if n, err := strconv.Atoi(q.Get("limit")); err == nil && n > limit {
		limit = n
	}
	tail := "No process name found"
	if name != "" {
		p, err := s.Supervisor.Process(name)
		switch {
		case err != nil:
			f := toFault(err, name)
			tail = fmt.Sprintf("ERROR: unexpected rpc fault [%d] %s", f.Code, f.String)
		default:
			text, err := readLog(withReadBudget(r.Context()), p.Spec.Stdout.Path, -limit, 0, hasLog(p, p.Spec.Stdout))
			var f *xmlrpc.Fault
			switch {
			case errors.As(err, &f) && f.Code == faultNoFile:
				tail = "No file for " + name
			case err != nil:
				tail = "ERROR: " + err.Error()
			default:
				tail = text
			}
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'")
	esc := html.EscapeString
	fmt.Fprintf(w, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Supervisor tail of process %s</title></head><body>\n", esc(name))
	if name != "" {
		// Relative links, as the page's own: they work behind a proxy
		// that serves the daemon under a path of its own.
		fmt.Fprintf(w, "<p><a href=\"tail.html?processname=%s&amp;limit=%d\">Refresh</a> <a href=\"logtail/%s\">Follow</a> <a href=\"./\">Status</a></p>\n",
			esc(url.QueryEscape(name)), limit, esc(url.PathEscape(name)))
	}
	fmt.Fprintf(w, "<pre>%s</pre>\n</body></html>\n", esc(tail))
}

// uiProcess is one row of the page.
type uiProcess struct {
	Group       string `json:"group"`
	Name        string `json:"name"`
	Spec        string `json:"spec"`
	State       string `json:"state"`
	Description string `json:"description"`
	Pid         int    `json:"pid"`
	Waiting     bool   `json:"waiting,omitempty"`
	Backoff     bool   `json:"backoff,omitempty"` // a back-off delay runs (crash loop or failed start)
	// What the page counts on from between pushes, in seconds: a running
	// process's uptime, or the time left of a crash loop's delay, whose
	// text before ", restarting in" is SpawnErr.
	Up       *int64 `json:"up,omitempty"`
	Left     *int64 `json:"left,omitempty"`
	SpawnErr string `json:"spawnerr,omitempty"`
}

func (s *Server) uiSnapshot() []uiProcess {
	now := time.Now()
	var out []uiProcess
	for _, p := range s.Supervisor.Processes() {
		u := uiProcess{Group: p.Group, Name: p.Name, Spec: p.FullName(), State: p.State.String(),
			Description: Description(p, now), Pid: p.Pid, Waiting: p.Waiting, Backoff: p.BackoffDelay > 0}
		if p.State == supervisor.Running {
			up := int64(max(uptime(p, now), 0) / time.Second)
			u.Up = &up
		} else if left, ok := retryLeft(p, now); ok {
			secs := int64(left / time.Second)
			u.Left, u.SpawnErr = &secs, p.SpawnErr
		}
		out = append(out, u)
	}
	return out
}

// serveState streams the processes as server-sent events: the state now,
// then again after each change (at most every 200 ms), and a comment
// every 25 s so proxies keep the stream open.
func (s *Server) serveState(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	// The page runs longer than ReadTimeout and its writes pause: lift
	// the server's deadlines for this stream.
	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Time{})
	keepAlive := time.NewTicker(25 * time.Second)
	defer keepAlive.Stop()
	streaming := true
	for {
		changed := s.Supervisor.Changed()
		b, _ := json.Marshal(s.uiSnapshot())
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return
		}
		flusher.Flush()
		if streaming {
			streamingStarted(r.Context()) // the page reconnects after an upgrade
			streaming = false
		}
	wait:
		select {
		case <-r.Context().Done():
			return
		case <-s.Supervisor.Done():
			return // a reload replaced the engine: the page reconnects to the new one
		case <-keepAlive.C:
			if _, err := w.Write([]byte(": keep-alive\n\n")); err != nil {
				return
			}
			flusher.Flush()
			goto wait
		case <-changed:
		}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(200 * time.Millisecond): // a burst of changes is one update
		}
	}
}

// serveAction runs one of the page's actions through the engine, as the
// XML-RPC methods do, and answers JSON {ok, message}.
func (s *Server) serveAction(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-CSRF-Token") != csrfToken {
		http.Error(w, "Forbidden: missing or wrong X-CSRF-Token (reload the page)", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	var req struct{ Action, Name string }
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, "Bad Request", http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 60*time.Second)
	defer cancel()
	sup := s.Supervisor
	var err error
	msg := req.Name + ": " + req.Action + " done"
	switch req.Action {
	case "start":
		err = supervisor.Err(sup.Start(ctx, supervisor.Process(req.Name), supervisor.WaitForDone))
	case "stop":
		err = supervisor.Err(sup.Stop(ctx, supervisor.Process(req.Name), supervisor.WaitForDone))
	case "restart":
		err = supervisor.Err(sup.Restart(ctx, supervisor.Process(req.Name), supervisor.WaitForDone))
	case "clear":
		err = sup.ClearLogs(req.Name)
	case "startall":
		_, err = sup.Start(ctx, supervisor.All(), supervisor.NoWait)
		msg = "all started"
	case "stopall":
		_, err = sup.Stop(ctx, supervisor.All(), supervisor.WaitForDone)
		msg = "all stopped"
	case "restartall":
		_, err = sup.Restart(ctx, supervisor.All(), supervisor.NoWait)
		msg = "all restarted"
	default:
		err = errors.New("unknown action")
	}
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		f := toFault(err, req.Name)
		json.NewEncoder(w).Encode(map[string]any{"ok": false, "message": f.String})
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"ok": true, "message": msg})
}
