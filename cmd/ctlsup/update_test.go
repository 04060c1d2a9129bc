package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestUpdate_SaysStoppedOnlyWhenSomethingStopped: a group that only gains
// a process stops none of those it keeps, and `update` does not say it
// stopped; one that loses a process stops that one, and says so.
func TestUpdate_SaysStoppedOnlyWhenSomethingStopped(t *testing.T) {
	const web = "[instance.cts]\n[program.web]\ncommand = \"/bin/sleep 1001\"\ninstances = [\"cts\"]\nstartsecs = 0\n"
	const worker = "[program.worker]\ncommand = \"/bin/sleep 1002\"\ninstances = [\"cts\"]\nstartsecs = 0\n"
	dir, url := appDaemon(t, web)
	pid := func() string { return strings.TrimSpace(ctl(t, url, "pid", "cts:web")) }
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(ctl(t, url, "status", "cts:web"), "RUNNING") {
		if time.Now().After(deadline) {
			t.Fatalf("cts:web never ran: %s", ctl(t, url, "status"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	before := pid()
	conf := filepath.Join(dir, "conf.d", "app.toml")
	steps := []struct{ text, update string }{
		{web + worker, "cts: updated process group\n"},
		{web, "cts: stopped\ncts: updated process group\n"},
	}
	for _, s := range steps {
		os.WriteFile(conf, []byte(s.text), 0o644)
		if out := ctl(t, url, "reread"); out != "cts: changed\n" {
			t.Fatalf("reread: %q", out)
		}
		if out := ctl(t, url, "update"); out != s.update {
			t.Errorf("update: %q, want %q", out, s.update)
		}
		if after := pid(); after != before {
			t.Errorf("update restarted the unchanged cts:web: %s -> %s", before, after)
		}
	}
}
