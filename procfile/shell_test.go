package procfile

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

func TestSimple(t *testing.T) {
	for cmd, want := range map[string]bool{
		"gunicorn -b 0.0.0.0:$PORT app:app":            true,
		"  celery -A proj worker -l info  ":            true,
		`python manage.py runserver "0.0.0.0:${PORT}"`: true,
		`gunicorn "app:create_app()"`:                  true,
		`echo 'a;b|c' "d&e" f\;g`:                      true,
		"bin/web --port=$PORT # the web server":        true,
		"celery worker; echo done":                     false,
		"celery worker & celery beat":                  false,
		"cat log | grep x":                             false,
		"web > out.log":                                false,
		"(cd app && ./run)":                            false,
		"{ ./run; }":                                   false,
		"./run $(cat args)":                            false,
		"./run `cat args`":                             false,
		`./run "$(cat args)"`:                          true, // quoted: no subshell of its own
		"FOO=1 ./run":                                  false,
		"cd app":                                       false,
		"while :; do date; done":                       false,
		"if true":                                      false,
		"exec ./run":                                   false, // Shell keeps it as it is
		"./run 'unterminated":                          false,
		"./run \\\n --more":                            false,
		"":                                             false,
		"./run\nsecond line":                           false,
		`$SERVER --port 80`:                            false,
		"trap 'echo bye' TERM":                         false,
		`python -c "import sys; sys.exit(0)"`:          true,
		`sh -c 'while :; do sleep 1; done'`:            true,
		"node server.js --title=\"a (b)\"":             true,
	} {
		if got := Simple(cmd); got != want {
			t.Errorf("Simple(%q) = %v, want %v", cmd, got, want)
		}
	}
}

// TestShell_RunsTheCommandItself: a simple command is the process itself
// (its pid the shell's), a compound one keeps its shell, and one that
// execs already is left as it is; each prints what it did before.
func TestShell_RunsTheCommandItself(t *testing.T) {
	for _, tc := range []struct {
		command string
		grouped bool
		out     string
	}{
		{`echo "a;b" 'c'`, false, "a;b c"},
		{"exec echo x", false, "x"},
		{"echo one; echo two", true, "one\ntwo"},
	} {
		argv, grouped := Shell(tc.command)
		if grouped != tc.grouped {
			t.Errorf("%q: grouped %v", tc.command, grouped)
		}
		out, err := exec.Command(argv[0], argv[1:]...).Output()
		if err != nil || strings.TrimSpace(string(out)) != tc.out {
			t.Errorf("%q as %q: %q, %v", tc.command, argv, out, err)
		}
	}
	// The command's parent is the shell's: no shell stays between them.
	argv, _ := Shell(`sh -c 'echo $PPID'`)
	out, err := exec.Command(argv[0], argv[1:]...).Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got != strconv.Itoa(os.Getpid()) {
		t.Fatalf("the command's parent is %s, not this test (%d)", got, os.Getpid())
	}
}
