package api

import (
	"errors"
	"io/fs"
	"net/http"
	"os"
	"strings"
	"time"
)

// tailPoll is how often a streaming tail looks for new output, as
// supervisord does.
const tailPoll = 100 * time.Millisecond

// serveTail streams a log as supervisord's /logtail/NAME[/stdout|/stderr]
// and /mainlogtail do: the last 1024 bytes, then every append, until the
// client goes away.
func (s *Server) serveTail(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "Bad Request", http.StatusBadRequest)
		return
	}
	path, waitForIt := s.MainLog, false
	if rest, ok := strings.CutPrefix(r.URL.Path, "/logtail/"); ok {
		name, channel := rest, "stdout"
		if i := strings.LastIndex(rest, "/"); i >= 0 {
			name, channel = rest[:i], rest[i+1:]
		}
		p, err := s.Supervisor.Process(name)
		if err != nil || (channel != "stdout" && channel != "stderr") {
			notFound(w)
			return
		}
		log := p.Spec.Stdout
		if channel == "stderr" {
			log = p.Spec.Stderr
		}
		path, waitForIt = log.Path, hasLog(p, log)
	}
	f, err := openLog(path)
	switch {
	case path == "":
		notFound(w)
		return
	case err == nil:
	case waitForIt && errors.Is(err, fs.ErrNotExist):
		f = nil // made by the process's first output: followed from then
	default:
		notFound(w)
		return
	}
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	var offset int64
	if f != nil {
		st, err := f.Stat()
		if err != nil {
			http.Error(w, "Internal Server Error", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Last-Modified", st.ModTime().UTC().Format(http.TimeFormat))
		offset = max(st.Size()-1024, 0)
	}
	w.Header().Set("Content-Type", "text/plain;charset=utf-8")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	if flusher != nil {
		flusher.Flush() // the headers, before any output: the log may not exist yet
	}
	streamingStarted(r.Context())
	ticker := time.NewTicker(tailPoll)
	defer ticker.Stop()
	buf := make([]byte, 64<<10)
	for {
		if f == nil {
			if f, _ = openLog(path); f != nil {
				offset = 0
			}
		}
		if f != nil {
			if !sendNew(w, path, &f, &offset, buf) {
				return
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
		select {
		case <-r.Context().Done():
			return
		case <-ticker.C:
		}
	}
}

// sendNew sends what was appended to the log at path since *offset, from
// *f, switching to a new file at path once *f was rotated away; false
// when the client is gone.
func sendNew(w http.ResponseWriter, path string, f **os.File, offset *int64, buf []byte) bool {
	st, err := (*f).Stat()
	if cur, cerr := os.Stat(path); cerr == nil && err == nil && !os.SameFile(st, cur) {
		// Rotated or recreated: the open file is the rotated one (a
		// rename keeps it whole), so what was written to it since the
		// last read goes out first; then the new file, from its start.
		// Nothing written across a rotation is lost.
		if !copyFrom(w, *f, offset, buf) {
			return false
		}
		if nf, oerr := openLog(path); oerr == nil {
			(*f).Close()
			*f, st, *offset = nf, cur, 0
		}
	}
	if err == nil && st.Size() < *offset {
		w.Write([]byte("==> File truncated <==\n"))
		*offset = 0
	}
	return copyFrom(w, *f, offset, buf)
}

// copyFrom sends what f holds past *offset; false when the client is gone.
func copyFrom(w http.ResponseWriter, f *os.File, offset *int64, buf []byte) bool {
	for {
		n, _ := f.ReadAt(buf, *offset)
		if n == 0 {
			return true
		}
		if _, err := w.Write(buf[:n]); err != nil {
			return false
		}
		*offset += int64(n)
	}
}
