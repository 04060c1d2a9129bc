package ini

import (
	"path/filepath"
	"strings"
)

// uwsgiStopNote is convert's note on a uWSGI program stopped with TERM.
const uwsgiStopNote = `uWSGI 2.0 reloads on SIGTERM instead of stopping: a stop waits stopwaitsecs, then kills it. ` +
	`Give it --die-on-term (or --hook-master-start "unix_signal:15 gracefully_kill_them_all" for a graceful stop), ` +
	`or stopsignal = "QUIT" (its workers die at once); unless its ini file says so already`

// uwsgiReloadsOnStop reports whether command runs uWSGI with TERM as its
// stop signal (supervisord's default) and nothing on its command line
// that makes TERM stop it. Options in an ini file uWSGI reads are out of
// sight: the note says so.
func uwsgiReloadsOnStop(command string, s *Section) bool {
	words := strings.Fields(command)
	if len(words) == 0 || filepath.Base(strings.Trim(words[0], `"'`)) != "uwsgi" {
		return false
	}
	if k, ok := s.Get("stopsignal"); ok {
		if sig := strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(k.Value)), "SIG"); sig != "TERM" && sig != "15" {
			return false
		}
	}
	return !strings.Contains(command, "die-on-term") && !strings.Contains(command, "gracefully_kill_them_all")
}
