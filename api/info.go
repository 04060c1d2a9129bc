package api

import (
	"encoding/json"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ctlsup/ctlsup/api/xmlrpc"
	"github.com/ctlsup/ctlsup/supervisor"
)

func unix(t time.Time) int {
	if t.IsZero() {
		return 0
	}
	return int(t.Unix())
}

// processInfo is supervisord's 14-member struct, in its member order.
func processInfo(p *supervisor.ProcessInfo, now time.Time) xmlrpc.Struct {
	stdout, stderr := p.Spec.Stdout.Path, p.Spec.Stderr.Path
	return xmlrpc.Struct{
		{Name: "name", Value: p.Name},
		{Name: "group", Value: p.Group},
		{Name: "start", Value: unix(p.Start)},
		{Name: "stop", Value: unix(p.Stop)},
		{Name: "now", Value: int(now.Unix())},
		{Name: "state", Value: int(p.State)},
		{Name: "statename", Value: p.State.String()},
		{Name: "spawnerr", Value: p.SpawnErr},
		{Name: "exitstatus", Value: p.ExitStatus},
		{Name: "logfile", Value: stdout},
		{Name: "stdout_logfile", Value: stdout},
		{Name: "stderr_logfile", Value: stderr},
		{Name: "pid", Value: p.Pid},
		{Name: "description", Value: Description(p, now)},
	}
}

// statusTable is ctlsup.getAllProcessStatus's answer. At 10,000 processes
// getAllProcessInfo is 11 MB of XML, whose decoding alone takes a client
// longer than `status` should; this is 0.6 MB of JSON.
func statusTable(procs []*supervisor.ProcessInfo, now time.Time) string {
	rows := make([][4]string, len(procs))
	for i, p := range procs {
		rows[i] = [4]string{p.Group, p.Name, p.State.String(), Description(p, now)}
	}
	b, _ := json.Marshal(rows)
	return string(b)
}

// results turns group results into supervisord's result structs.
func results(rs []supervisor.Result) []any {
	out := make([]any, 0, len(rs))
	for _, r := range rs {
		code, desc := faultSuccess, "OK"
		if r.Err != nil {
			name := r.Name
			if r.Group != r.Name {
				name = r.Group + ":" + r.Name
			}
			f := toFault(r.Err, name)
			code, desc = f.Code, f.String
		}
		out = append(out, xmlrpc.Struct{{Name: "name", Value: r.Name}, {Name: "group", Value: r.Group},
			{Name: "status", Value: code}, {Name: "description", Value: desc}})
	}
	return out
}

// numericUID is a user's uid, as supervisord's getAllConfigInfo gives it
// (a number, or the name as given if this host does not know it).
func numericUID(name string) any {
	if n, err := strconv.Atoi(name); err == nil {
		return n
	}
	if u, err := user.Lookup(name); err == nil {
		if n, err := strconv.Atoi(u.Uid); err == nil {
			return n
		}
	}
	return name
}

func noneIfEmpty(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// configInfo lists the pending configuration as supervisord's
// getAllConfigInfo does, sorted by process name.
func configInfo(s *supervisor.Supervisor) []any {
	var out []xmlrpc.Struct
	uids := map[string]any{}
	for _, g := range s.Pending() {
		inuse := s.Active(g.Name)
		for _, p := range g.Processes {
			uid := any("none")
			if p.User != "" {
				if uids[p.User] == nil {
					uids[p.User] = numericUID(p.User)
				}
				uid = uids[p.User]
			}
			// A program has one rotation for both its logs: stderr sent to
			// stdout's log still shows it, where supervisord shows its own
			// stderr settings, used or not.
			stderr := p.Stderr
			if p.RedirectStderr {
				stderr.MaxBytes, stderr.Backups = p.Stdout.MaxBytes, p.Stdout.Backups
			}
			out = append(out, xmlrpc.Struct{
				{Name: "autostart", Value: p.AutoStart},
				{Name: "directory", Value: noneIfEmpty(p.Directory)},
				{Name: "uid", Value: uid},
				{Name: "command", Value: shellJoin(p.Argv)},
				{Name: "exitcodes", Value: intsToAny(p.ExitCodes)},
				{Name: "group", Value: g.Name},
				{Name: "group_prio", Value: g.Priority},
				{Name: "inuse", Value: inuse},
				{Name: "killasgroup", Value: p.KillAsGroup},
				{Name: "name", Value: p.Name},
				{Name: "process_prio", Value: p.Priority},
				{Name: "redirect_stderr", Value: p.RedirectStderr},
				{Name: "startretries", Value: p.StartRetries},
				{Name: "startsecs", Value: int(p.StartSecs / time.Second)},
				{Name: "stdout_capture_maxbytes", Value: int(p.StdoutCaptureMaxBytes)},
				{Name: "stdout_events_enabled", Value: p.StdoutEvents},
				{Name: "stdout_logfile", Value: noneIfEmpty(p.Stdout.Path)},
				{Name: "stdout_logfile_backups", Value: p.Stdout.Backups},
				{Name: "stdout_logfile_maxbytes", Value: int(p.Stdout.MaxBytes)},
				{Name: "stdout_syslog", Value: false},
				{Name: "stopsignal", Value: int(p.StopSignal)},
				{Name: "stopwaitsecs", Value: int(p.StopWait / time.Second)},
				{Name: "stderr_capture_maxbytes", Value: int(p.StderrCaptureMaxBytes)},
				{Name: "stderr_events_enabled", Value: p.StderrEvents},
				{Name: "stderr_logfile", Value: noneIfEmpty(p.Stderr.Path)},
				{Name: "stderr_logfile_backups", Value: stderr.Backups},
				{Name: "stderr_logfile_maxbytes", Value: int(stderr.MaxBytes)},
				{Name: "stderr_syslog", Value: false},
				// A program's own serverurl option, which ctlsup has not.
				{Name: "serverurl", Value: "none"},
			})
		}
	}
	slices.SortStableFunc(out, func(a, b xmlrpc.Struct) int {
		an, _ := a.Get("name")
		bn, _ := b.Get("name")
		return strings.Compare(an.(string), bn.(string))
	})
	res := make([]any, len(out))
	for i, s := range out {
		res[i] = s
	}
	return res
}

func intsToAny(ns []int) []any {
	out := make([]any, len(ns))
	for i, n := range ns {
		out[i] = n
	}
	return out
}

// shellJoin renders argv as a command line a POSIX shell (and Python's
// shlex, which supervisord uses) splits back into the same words: words
// with anything but letters, digits and @%+=:,./_- are single-quoted.
func shellJoin(argv []string) string {
	words := make([]string, len(argv))
	for i, w := range argv {
		words[i] = shellQuote(w)
	}
	return strings.Join(words, " ")
}

func shellQuote(w string) string {
	if w == "" {
		return "''"
	}
	for _, c := range w {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("@%+=:,./_-", c)) {
			return "'" + strings.ReplaceAll(w, "'", `'"'"'`) + "'"
		}
	}
	return w
}
