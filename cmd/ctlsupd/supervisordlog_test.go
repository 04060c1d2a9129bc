package main

import (
	"bytes"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestSupervisordLog: log_format = "supervisord" writes supervisord.log's
// lines: its time format and level names, its wording for the process
// lines it writes too, key=value pairs after the others. A process is
// named as supervisord names it (web, web_00), one of an instance whose
// name another instance shares by its group too.
func TestSupervisordLog(t *testing.T) {
	var b bytes.Buffer
	log := slog.New(newSupervisordLog(&b, slog.LevelInfo))
	web := log.With("process", "turkey:web", "instance", "turkey")
	web.Info("spawned", "pid", 42)
	web.Info("success: turkey:web entered RUNNING state, process has stayed up for > than 1 seconds (startsecs)", "process", "turkey:web")
	web.Warn("exited", "pid", 42, "status", "exit status 1; not expected")
	web.Warn("stopped", "pid", 43, "status", "terminated by SIGTERM")
	web.Warn("spawn error", "err", "can't find command '/no/such'")
	web.Info("waiting for turkey:web to stop")
	web.Warn("did not stop in time: sending SIGKILL", "pid", 42, "stopwaitsecs", 10)
	shop := log.With("process", "shop:web")
	shop.Info("spawned", "pid", 44)
	shop.Info("success: shop:web entered RUNNING state, process has stayed up for > than 1 seconds (startsecs)")
	shop.Warn("exited", "pid", 44, "status", "exit status 1; not expected")
	shop.Info("gave up: shop:web entered FATAL state, too many start retries too quickly")
	pool := log.With("process", "celery:celery_01")
	pool.Warn("stopped", "pid", 45, "status", "terminated by SIGTERM")
	pool.Warn("did not stop in time: sending SIGKILL", "pid", 45, "stopwaitsecs", 10)
	log.Info("waiting for turkey:web, turkey:beat to die")
	log.Info("reaped orphan", "pid", 4242, "status", "exit status 0")
	log.Info("ctlsupd started with pid 7", "pid", 7, "config", "/etc/ctlsup/ctlsupd.toml")
	log.Info("ctlsupd started", "pid", 7, "config", "/etc/ctlsup/my app.toml")
	log.Error("cannot bind", "err", "address in use")
	log.Warn("odd", "value", "two\nlines")
	log.Debug("not shown")
	want := []string{
		`INFO spawned: 'turkey:web' with pid 42`,
		`INFO success: turkey:web entered RUNNING state, process has stayed up for > than 1 seconds \(startsecs\)`,
		`WARN exited: turkey:web \(exit status 1; not expected\)`,
		`WARN stopped: turkey:web \(terminated by SIGTERM\)`,
		`INFO spawnerr: can't find command '/no/such'`,
		`INFO waiting for turkey:web to stop`,
		`WARN killing 'turkey:web' \(42\) with SIGKILL`,
		`INFO spawned: 'web' with pid 44`,
		`INFO success: web entered RUNNING state, process has stayed up for > than 1 seconds \(startsecs\)`,
		`WARN exited: web \(exit status 1; not expected\)`,
		`INFO gave up: web entered FATAL state, too many start retries too quickly`,
		`WARN stopped: celery_01 \(terminated by SIGTERM\)`,
		`WARN killing 'celery_01' \(45\) with SIGKILL`,
		`INFO waiting for turkey:web, turkey:beat to die`,
		`INFO reaped unknown pid 4242 \(exit status 0\)`,
		`INFO ctlsupd started with pid 7`,
		`INFO ctlsupd started pid=7 config="/etc/ctlsup/my app.toml"`,
		`ERRO cannot bind err="address in use"`,
		`WARN odd value="two\\nlines"`,
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), b.String())
	}
	for i, w := range want {
		if !regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ` + w + `$`).MatchString(lines[i]) {
			t.Errorf("line %d: %q, want %s", i, lines[i], w)
		}
	}
}

// TestSupervisordLog_NamesAsSupervisord: in supervisord's format a process
// of an instance is named alone, as supervisord names a process of a
// [group:x] (which convert makes an instance), unless another instance
// runs a process of the same name.
func TestSupervisordLog_NamesAsSupervisord(t *testing.T) {
	path := testConfig(t, map[string]string{"app.toml": "[instance.turkey]\n[instance.iraq]\n" +
		program("iraq-web", "sleep", `instances = ["iraq"]`) +
		program("beat", "sleep", `instances = ["turkey", "iraq"]`)})
	daemon, _ := os.ReadFile(path)
	os.WriteFile(path, bytes.Replace(daemon, []byte("[control]"), []byte("log_format = \"supervisord\"\n[control]"), 1), 0o644)
	_, log := startDaemon(t, path)
	for _, name := range []string{"iraq-web", "turkey:beat", "iraq:beat"} {
		waitUntil(t, name+"'s spawn", log, func() bool { return strings.Contains(log.String(), "INFO spawned: '"+name+"' with pid ") })
	}
	if strings.Contains(log.String(), "'iraq:iraq-web'") {
		t.Errorf("iraq-web, the only process of its name, is named with its group:\n%s", log)
	}
}
