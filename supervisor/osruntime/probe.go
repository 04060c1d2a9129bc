package osruntime

import (
	"context"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/ctlsup/ctlsup/supervisor"
	"github.com/ctlsup/ctlsup/supervisor/internal/proc"
)

// probe polls a spawn's readiness rule (a TCP connect, an HTTP GET that
// answers 2xx, a command that exits 0) until it succeeds or the process
// ends, and reports READY once. Polls start every 100 ms and slow to one
// a second; each attempt has two seconds.
func (r *Runtime) probe(c *osChild, spec *supervisor.ProcessSpec) {
	client := &http.Client{Timeout: 2 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	delay := 100 * time.Millisecond
	for {
		select {
		case <-c.p.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, time.Second)
		if r.probeOnce(client, spec) {
			c.note(supervisor.Note{Ready: true})
			return
		}
	}
}

func (r *Runtime) probeOnce(client *http.Client, spec *supervisor.ProcessSpec) bool {
	rd := spec.Ready
	switch rd.Kind {
	case supervisor.ReadyTCP:
		conn, err := net.DialTimeout("tcp", rd.Target, 2*time.Second)
		if err != nil {
			return false
		}
		conn.Close()
		return true
	case supervisor.ReadyHTTP:
		resp, err := client.Get(rd.Target)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode >= 200 && resp.StatusCode < 300
	case supervisor.ReadyExec:
		// As the program runs: its user, directory and environment.
		var cred *proc.Credential
		if spec.User != "" {
			var err error
			if cred, err = proc.LookupUser(spec.User); err != nil {
				return false
			}
		}
		env := r.childEnv(spec, cred)
		pathVar := os.Getenv("PATH")
		for _, kv := range env {
			if v, ok := strings.CutPrefix(kv, "PATH="); ok {
				pathVar = v
			}
		}
		path, err := proc.LookPath(rd.Argv[0], pathVar, spec.Directory)
		if err != nil {
			return false
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, st, err := r.run(ctx, proc.Attr{Path: path, Argv: rd.Argv, Env: env, Dir: spec.Directory, Cred: cred, Umask: -1})
		return err == nil && !st.Signaled && st.Code == 0
	}
	return false
}
