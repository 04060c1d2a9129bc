package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
)

// supervisordLog writes the daemon's log in supervisord's format, for the
// scrapers and checks written for supervisord.log (log_format =
// "supervisord"): "2006-01-02 15:04:05,000 INFO spawned: 'web' with pid
// 42", with supervisord's level names and, for the lines it also writes,
// its wording and level. Other lines are the message and then key=value
// pairs. A process is named by its name alone, as supervisord names it,
// so that patterns written for supervisord.log match; a process whose
// name another instance's process has (its logger says its "instance")
// keeps its group:name, as the name alone would not tell them apart.
type supervisordLog struct {
	mu    *sync.Mutex
	w     io.Writer
	level slog.Leveler
	attrs []slog.Attr
}

func newSupervisordLog(w io.Writer, level slog.Leveler) *supervisordLog {
	return &supervisordLog{mu: &sync.Mutex{}, w: w, level: level}
}

func (h *supervisordLog) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.level.Level()
}

func (h *supervisordLog) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr{}, h.attrs...), as...)
	return &c
}

// WithGroup is not used by the daemon; a group's attributes are written
// without its prefix.
func (h *supervisordLog) WithGroup(string) slog.Handler { return h }

func (h *supervisordLog) Handle(_ context.Context, r slog.Record) error {
	attrs := append([]slog.Attr{}, h.attrs...)
	r.Attrs(func(a slog.Attr) bool { attrs = append(attrs, a); return true })
	level := r.Level
	if r.Message == "spawn error" {
		level = slog.LevelInfo // supervisord's spawnerr lines are INFO
	}
	var b strings.Builder
	t := r.Time.Local()
	fmt.Fprintf(&b, "%s,%03d %s ", t.Format("2006-01-02 15:04:05"), t.Nanosecond()/int(time.Millisecond), levelName(level))
	b.WriteString(supervisordText(r.Message, attrs))
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

// levelName is supervisord's name of a level.
func levelName(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "ERRO"
	case l >= slog.LevelWarn:
		return "WARN"
	case l >= slog.LevelInfo:
		return "INFO"
	}
	return "DEBG"
}

// supervisordText is the line's text: supervisord's wording for the
// process lines it writes too, else the message and the attributes.
func supervisordText(msg string, attrs []slog.Attr) string {
	get := func(key string) (string, bool) {
		for _, a := range attrs {
			if a.Key == key {
				return a.Value.String(), true
			}
		}
		return "", false
	}
	full, named := get("process")
	name := full
	if _, instance := get("instance"); !instance {
		name = full[strings.LastIndexByte(full, ':')+1:]
	}
	pid, _ := get("pid")
	status, _ := get("status")
	switch {
	case msg == "reaped orphan":
		return fmt.Sprintf("reaped unknown pid %s (%s)", pid, status)
	case strings.HasPrefix(msg, "ctlsupd started with pid "):
		return msg // as supervisord's "supervisord started with pid N"
	}
	if named {
		switch msg {
		case "spawned":
			return fmt.Sprintf("spawned: '%s' with pid %s", name, pid)
		case "exited", "stopped":
			return fmt.Sprintf("%s: %s (%s)", msg, name, status)
		case "spawn error":
			err, _ := get("err")
			return "spawnerr: " + err
		case "did not stop in time: sending SIGKILL":
			return fmt.Sprintf("killing '%s' (%s) with SIGKILL", name, pid)
		}
		if strings.HasPrefix(msg, "success: ") || strings.HasPrefix(msg, "gave up: ") || strings.HasPrefix(msg, "waiting for ") {
			return strings.Replace(msg, full, name, 1) // written with the full name
		}
	}
	var b strings.Builder
	b.WriteString(msg)
	for _, a := range attrs {
		if a.Value.Kind() == slog.KindGroup {
			continue
		}
		v := a.Value.String()
		if v == "" || strings.ContainsFunc(v, func(r rune) bool { return r <= ' ' || r == '"' || r == '=' || r == 0x7f }) {
			v = strconv.Quote(v) // one line, whatever the value holds
		}
		fmt.Fprintf(&b, " %s=%s", a.Key, v)
	}
	return b.String()
}
