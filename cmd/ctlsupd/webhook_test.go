package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// TestWebhook_PostsStateChanges: [webhook] POSTs each state change as
// JSON, the payload's fields included.
func TestWebhook_PostsStateChanges(t *testing.T) {
	var mu sync.Mutex
	var got []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		json.Unmarshal(b, &m)
		mu.Lock()
		got = append(got, m)
		mu.Unlock()
	}))
	defer srv.Close()
	path := testConfig(t, map[string]string{"app.toml": `
[program.once]
command = "/bin/sh -c 'exit 3'"
startsecs = 0
autorestart = false
`})
	b, _ := os.ReadFile(path)
	os.WriteFile(path, append(b, []byte(fmt.Sprintf("[webhook]\nurl = %q\n", srv.URL))...), 0o644)
	d, log := startDaemon(t, path)
	waitUntil(t, "the EXITED event", log, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range got {
			if m["event"] == "PROCESS_STATE_EXITED" {
				return true
			}
		}
		return false
	})
	mu.Lock()
	var names []string
	for _, m := range got {
		names = append(names, fmt.Sprint(m["event"]))
		if m["event"] == "PROCESS_STATE_EXITED" && (m["processname"] != "once" || m["expected"] != "0" || m["from_state"] != "RUNNING") {
			t.Errorf("EXITED body: %v", m)
		}
	}
	mu.Unlock()
	if strings.Join(names, " ") != "PROCESS_STATE_STARTING PROCESS_STATE_RUNNING PROCESS_STATE_EXITED" {
		t.Errorf("events %v", names)
	}
	d.Process.Signal(syscall.SIGTERM)
	d.Wait()
}
