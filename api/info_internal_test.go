package api

import (
	"os/exec"
	"strings"
	"testing"
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
