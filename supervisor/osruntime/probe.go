package osruntime

import (
	"context"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/ctlsup/ctlsup/supervisor"
	"github.com/ctlsup/ctlsup/supervisor/internal/proc"
)

// probe polls a spawn's readiness rule (a TCP connect, an HTTP GET that
// answers 2xx, a command that exits 0) until it succeeds or the process
// ends, and reports READY once. Polls start every 100 ms and slow to one
// a second; each attempt has two seconds.
func (r *Runtime) probe(c *osChild, rd supervisor.Readiness) {
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
		if r.probeOnce(client, rd) {
			c.note(supervisor.Note{Ready: true})
			return
		}
	}
}

func (r *Runtime) probeOnce(client *http.Client, rd supervisor.Readiness) bool {
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
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		path, err := proc.LookPath(rd.Argv[0], os.Getenv("PATH"), "")
		if err != nil {
			return false
		}
		_, st, err := r.Run(ctx, append([]string{path}, rd.Argv[1:]...))
		return err == nil && !st.Signaled && st.Code == 0
	}
	return false
}
