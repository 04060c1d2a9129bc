package api

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/ctlsup/ctlsup/api/xmlrpc"
	"github.com/ctlsup/ctlsup/supervisor"
)

// TestShellJoin: the command getAllConfigInfo reports splits back into the
// same argv, by sh and by Python's shlex as supervisord's tools split it.
func TestShellJoin(t *testing.T) {
	argv := []string{"/bin/sh", "-c", "echo 'it''s' \"$HOME\" && exit 3", "", "plain-arg_1.0", "a b"}
	line := shellJoin(argv)
	got, err := exec.Command("/bin/sh", "-c", `eval "set -- $1"; for a in "$@"; do printf '[%s]\n' "$a"; done`, "sh", line).Output()
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for _, a := range argv {
		want.WriteString("[" + a + "]\n")
	}
	if string(got) != want.String() {
		t.Errorf("%s\nsplits into\n%s\nwant\n%s", line, got, want.String())
	}
	if py, err := exec.LookPath("python3"); err == nil {
		args := append([]string{"-c", "import shlex,sys; print(shlex.split(sys.argv[1]) == sys.argv[2:])", line}, argv...)
		got, err := exec.Command(py, args...).Output()
		if err != nil || strings.TrimSpace(string(got)) != "True" {
			t.Errorf("shlex splits %s otherwise: %s %v", line, got, err)
		}
	}
}

// TestConfigInfo_WhatTheProgramSays: getAllConfigInfo reports a program's
// capture and event settings, its one rotation for a stderr sent to
// stdout's log (supervisord shows its stderr settings, used or not), and
// serverurl as supervisord does for a program without that option.
func TestConfigInfo_WhatTheProgramSays(t *testing.T) {
	spec := supervisor.ProcessSpec{Name: "web", Group: "web", Program: "web", Argv: []string{"/bin/sleep", "1"},
		RedirectStderr: true, StdoutEvents: true, StdoutCaptureMaxBytes: 1 << 20,
		Stdout: supervisor.LogSpec{Path: "/var/log/web.log", MaxBytes: 20 << 20, Backups: 5}}
	s := supervisor.New(nil, []supervisor.GroupSpec{{Name: "web", Priority: 999, Processes: []supervisor.ProcessSpec{spec}}})
	info := configInfo(s)[0].(xmlrpc.Struct)
	for key, want := range map[string]any{
		"stdout_capture_maxbytes": 1 << 20,
		"stdout_events_enabled":   true,
		"stderr_logfile_maxbytes": 20 << 20,
		"stderr_logfile_backups":  5,
		"serverurl":               "none",
	} {
		if got, _ := info.Get(key); got != want {
			t.Errorf("%s = %v, want %v", key, got, want)
		}
	}
}

// TestConfigInfo_UIDIsANumber: uid is the user's number, as supervisord
// gives it, or "none" for a program run as the daemon's user.
func TestConfigInfo_UIDIsANumber(t *testing.T) {
	var specs []supervisor.ProcessSpec
	for _, u := range []string{"root", "0", ""} {
		specs = append(specs, supervisor.ProcessSpec{Name: "p" + u, Group: "g", Program: "p", Argv: []string{"/bin/true"}, User: u})
	}
	s := supervisor.New(nil, []supervisor.GroupSpec{{Name: "g", Processes: specs}})
	got := map[string]any{}
	for _, v := range configInfo(s) {
		name, _ := v.(xmlrpc.Struct).Get("name")
		got[name.(string)], _ = v.(xmlrpc.Struct).Get("uid")
	}
	if got["proot"] != 0 || got["p0"] != 0 || got["p"] != "none" {
		t.Errorf("uids %v, want root and 0 as 0, none for no user", got)
	}
}
