package supervisor_test

import (
	"maps"
	"os/exec"
	"strings"
	"testing"
)

// forbidden lists, per package, imports that would break the layering of
// STYLE.md §4.2, and why. A prefix matches the package and everything below.
var forbidden = map[string]map[string]string{
	"supervisor": {
		"github.com/ctlsup/ctlsup/supervisor/config":    "the engine knows nothing of files",
		"github.com/ctlsup/ctlsup/procfile":             "the engine knows nothing of files",
		"github.com/ctlsup/ctlsup/api":                  "the engine imports no transport",
		"github.com/ctlsup/ctlsup/cmd":                  "nothing imports cmd",
		"net/http":                                      "the engine imports no transport",
		"github.com/BurntSushi/toml":                    "the engine never sees TOML",
		"github.com/prometheus":                         "metrics read snapshots from outside",
		"github.com/coreos/go-systemd":                  "systemd is wired in cmd/ctlsupd",
		"github.com/ctlsup/ctlsup/supervisor/internal":  "the engine knows no OS: supervisor/osruntime is its runtime",
		"github.com/ctlsup/ctlsup/supervisor/osruntime": "the runtime is wired in cmd/",
	},
	"supervisor/osruntime": {
		"github.com/ctlsup/ctlsup/supervisor/config": "the runtime runs specs, never reads files",
		"github.com/ctlsup/ctlsup/api":               "the runtime imports no transport",
	},
	"supervisor/config": {
		"github.com/ctlsup/ctlsup/supervisor/internal":  "loading never touches a running process",
		"github.com/ctlsup/ctlsup/api":                  "config is not a transport",
		"os/exec":                                       "loading never runs anything",
		"github.com/ctlsup/ctlsup/supervisor/osruntime": "loading never touches a running process",
	},
	"supervisor/internal/proc": {
		"github.com/ctlsup/ctlsup/supervisor/config": "proc is a leaf the engine calls",
	},
	"supervisor/internal/logcap": {
		"github.com/ctlsup/ctlsup/supervisor/config": "logcap is a leaf the engine calls",
	},
	"procfile": {
		"github.com/ctlsup/ctlsup/": "procfile is a stdlib-only leaf",
	},
	"api/xmlrpc": {
		"github.com/ctlsup/ctlsup/": "the codec is a stdlib-only leaf",
	},
	"api/client": {
		"github.com/ctlsup/ctlsup/supervisor": "the client speaks only the protocol",
	},
	// The coordination services' clients are heavy: only ctlsup-lease,
	// started for a [cluster], links them.
	"cmd/ctlsupd": merge(heavyClients, map[string]string{
		"github.com/prometheus/":     "the metrics are written by hand: the client and protobuf were a sixth of ctlsupd's binary",
		"google.golang.org/protobuf": "the metrics are written by hand: the client and protobuf were a sixth of ctlsupd's binary",
	}),
	"supervisor/cluster": heavyClients,
}

func merge(a, b map[string]string) map[string]string {
	m := maps.Clone(a)
	maps.Copy(m, b)
	return m
}

var heavyClients = map[string]string{
	"go.etcd.io/":            "etcd's client belongs in ctlsup-lease",
	"google.golang.org/grpc": "etcd's client belongs in ctlsup-lease",
	"github.com/redis/":      "the Redis client belongs in ctlsup-lease",
	"github.com/jackc/":      "the PostgreSQL client belongs in ctlsup-lease",
	"github.com/ctlsup/ctlsup/supervisor/cluster/backends": "the backends belong in ctlsup-lease",
}

// internalPrefix holds packages that only the engine may import.
const internalPrefix = "github.com/ctlsup/ctlsup/supervisor/internal"

// testSupport starts the servers and reference programs tests need; it is
// not internal, as cmd/'s tests use it too.
const testSupport = "github.com/ctlsup/ctlsup/supervisor/testhelper"

func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}|{{join .Imports \" \"}}|{{join .Deps \" \"}}", "github.com/ctlsup/ctlsup/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const module = "github.com/ctlsup/ctlsup/"
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.SplitN(line, "|", 3)
		pkg, imports, deps := fields[0], strings.Fields(fields[1]), strings.Fields(fields[2])
		rel := strings.TrimPrefix(pkg, module)
		rules := forbidden[rel]
		if rules != nil {
			seen++
		}
		// Rules about the module's own packages concern direct imports (the
		// engine's types bring its internals along); rules about outside
		// packages hold for everything linked in.
		for bad, why := range rules {
			list := deps
			if strings.HasPrefix(bad, module) {
				list = imports
			}
			for _, dep := range list {
				if dep == bad || strings.HasPrefix(dep, strings.TrimSuffix(bad, "/")+"/") {
					t.Errorf("%s imports %s: %s", rel, dep, why)
				}
			}
		}
		for _, dep := range imports {
			if strings.HasPrefix(dep, internalPrefix) && !strings.HasPrefix(pkg, module+"supervisor") {
				t.Errorf("%s imports %s: only the engine uses its internals", rel, dep)
			}
			if dep == testSupport {
				t.Errorf("%s imports %s: it is for tests only", rel, dep)
			}
		}
	}
	if seen < 4 {
		t.Errorf("only %d packages with rules found: is the module path right?", seen)
	}
}
