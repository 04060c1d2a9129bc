package config

import (
	"strings"
	"testing"
	"unsafe"

	"github.com/ctlsup/ctlsup/supervisor"
)

// TestDetachStrings: after a load, no string of the configuration points
// into the text it was parsed from, and equal strings share one copy.
func TestDetachStrings(t *testing.T) {
	text := strings.Repeat("x", 64) + "/srv/app web /usr/bin/gunicorn KEY value listener"
	sub := func(s string) string {
		i := strings.Index(text, s)
		return text[i : i+len(s)]
	}
	inText := func(s string) bool {
		if s == "" {
			return false
		}
		p, start := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(unsafe.StringData(text)))
		return p >= start && p < start+uintptr(len(text))
	}
	cfg := &Config{Daemon: Daemon{LogDir: sub("/srv/app")}, Groups: []supervisor.GroupSpec{{
		Name: sub("web"),
		Processes: []supervisor.ProcessSpec{
			{Name: sub("web"), Argv: []string{sub("/usr/bin/gunicorn")}, Directory: sub("/srv/app"),
				Environment: map[string]string{sub("KEY"): sub("value")}, DependsOn: []string{sub("listener")}},
			{Name: "web2", Directory: strings.Clone("/srv/app")},
		},
		Listener: &supervisor.ListenerSpec{},
	}}}
	detachStrings(cfg)
	p := cfg.Groups[0].Processes
	for _, s := range []string{cfg.Daemon.LogDir, cfg.Groups[0].Name, p[0].Name, p[0].Argv[0], p[0].Directory, p[0].DependsOn[0], p[1].Directory} {
		if inText(s) {
			t.Errorf("%q still points into the parsed text", s)
		}
	}
	for k, v := range p[0].Environment {
		if inText(k) || inText(v) || k != "KEY" || v != "value" {
			t.Errorf("environment %q=%q: changed, or still in the parsed text", k, v)
		}
	}
	if p[0].Argv[0] != "/usr/bin/gunicorn" || p[0].DependsOn[0] != "listener" {
		t.Errorf("values changed: %q %q", p[0].Argv, p[0].DependsOn)
	}
	if unsafe.StringData(p[0].Directory) != unsafe.StringData(p[1].Directory) || unsafe.StringData(p[0].Directory) != unsafe.StringData(cfg.Daemon.LogDir) {
		t.Error("equal strings are not shared")
	}
}
