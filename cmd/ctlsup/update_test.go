package main

import (
	"fmt"
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

// TestUpdate_UnknownUserFailsReread: a program whose user this host does
// not have fails reread and update (CANT_REREAD, exit 1, with file and
// line), as under supervisord and as --check says; nothing of the change
// is applied.
func TestUpdate_UnknownUserFailsReread(t *testing.T) {
	const web = "[instance.cts]\n[program.web]\ncommand = \"/bin/sleep 1001\"\ninstances = [\"cts\"]\nstartsecs = 0\n"
	dir, url := appDaemon(t, web)
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(ctl(t, url, "status", "cts:web"), "RUNNING") {
		if time.Now().After(deadline) {
			t.Fatalf("cts:web never ran: %s", ctl(t, url, "status"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	os.WriteFile(filepath.Join(dir, "conf.d", "bad.toml"), []byte("[program.bad]\ncommand = \"/bin/sleep 1002\"\nuser = \"no-such-user-ctlsup\"\n"), 0o644)
	for _, cmd := range []string{"reread", "update"} {
		out, code := ctlCode(t, url, cmd)
		if code != 1 || !strings.Contains(out, "CANT_REREAD") || !strings.Contains(out, "bad.toml:3") || !strings.Contains(out, "no-such-user-ctlsup") {
			t.Errorf("%s: exit %d\n%q", cmd, code, out)
		}
	}
	if out := ctl(t, url, "status", "bad"); !strings.Contains(out, "no such process") {
		t.Errorf("the refused program was added: %s", out)
	}
}

// TestUpdate_SaysStoppedForAReplacedPool: a listener pool whose events
// change is replaced whole, its listeners stopped; `update` says so, as
// supervisorctl's does.
func TestUpdate_SaysStoppedForAReplacedPool(t *testing.T) {
	const pool = "[eventlistener.pool]\ncommand = \"/bin/sh -c 'echo READY; exec sleep 1003'\"\nstartsecs = 0\nevents = [%q]\n"
	dir, url := appDaemon(t, fmt.Sprintf(pool, "PROCESS_STATE"))
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(ctl(t, url, "status", "pool"), "RUNNING") {
		if time.Now().After(deadline) {
			t.Fatalf("the pool never ran: %s", ctl(t, url, "status"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	before := strings.TrimSpace(ctl(t, url, "pid", "pool"))
	os.WriteFile(filepath.Join(dir, "conf.d", "app.toml"), []byte(fmt.Sprintf(pool, "TICK_60")), 0o644)
	if out := ctl(t, url, "reread"); out != "pool: changed\n" {
		t.Fatalf("reread: %q", out)
	}
	if out := ctl(t, url, "update"); out != "pool: stopped\npool: updated process group\n" {
		t.Errorf("update: %q", out)
	}
	if after := strings.TrimSpace(ctl(t, url, "pid", "pool")); after == before {
		t.Errorf("the pool's listener was not replaced: pid %s", after)
	}
}
