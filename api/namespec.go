package api

import (
	"strings"

	"github.com/ctlsup/ctlsup/supervisor"
)

// ParseNamespec reads a supervisorctl namespec: "all", "group:*" or
// "group:" for a whole group, otherwise one process ("name" or
// "group:name").
func ParseNamespec(spec string) supervisor.Target {
	if spec == "all" {
		return supervisor.All()
	}
	if g, rest, ok := strings.Cut(spec, ":"); ok && (rest == "*" || rest == "") {
		return supervisor.Group(g)
	}
	return supervisor.Process(spec)
}
