package ini

import (
	"path/filepath"
	"strings"
)

// RunsCeleryBeat reports whether command runs celery's beat scheduler:
// `celery ... beat`, a worker with its beat embedded (-B, --beat), or the
// older `celerybeat` and `manage.py celery beat`. Exactly one may run per
// application: a second sends every periodic task twice.
func RunsCeleryBeat(command string) bool {
	celery := false
	for _, w := range strings.Fields(command) {
		w = strings.Trim(w, `"'`)
		switch base := filepath.Base(w); {
		case base == "celerybeat":
			return true
		case base == "celery":
			celery = true
		case celery && (w == "beat" || w == "-B" || w == "--beat"):
			return true
		}
	}
	return false
}
