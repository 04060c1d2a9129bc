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
		"gunicorn -b 0.0.0.0:$PORT app:app":               true,
		"  celery -A proj worker -l info  ":               true,
		`python manage.py runserver "0.0.0.0:${PORT}"`:    true,
		"bundle exec puma -p ${PORT:-3000}":               true,
		"celery worker --concurrency=${CONC:-2} -n r3@%h": true,
		`gunicorn "app:create_app()"`:                     true,
		`/bin/echo 'a;b|c' "d&e" f\;g`:                    true,
		"bin/web --port=$PORT # the web server":           true,
		"bin/web # don't quote this":                      true,
		"web > out.log":                                   true,
		"./run 2>&1":                                      true,
		"NODE_ENV=production node server.js":              true,
		`FOO="a b" BAR=$PORT ./run`:                       true,
		"exec ./run":                                      true,
		"FOO=1 exec ./run":                                true,
		`./run "$(cat args)"`:                             true, // quoted: no subshell of its own
		`python -c "import sys; sys.exit(0)"`:             true,
		`sh -c 'while :; do sleep 1; done'`:               true,
		"node server.js --title=\"a (b)\"":                true,
		"celery worker; echo done":                        false,
		"celery worker & celery beat":                     false,
		"./run &":                                         false,
		"cat log | grep x":                                false,
		"(cd app && ./run)":                               false,
		"{ ./run; }":                                      false,
		"./run $(cat args)":                               false,
		"./run `cat args`":                                false,
		"./run ${X:-`date`}":                              false,
		"./run ${X":                                       false,
		"FOO=1":                                           false,
		"cd app":                                          false,
		"echo hi":                                         false, // dash's echo is not /bin/echo
		"while :; do date; done":                          false,
		"if true":                                         false,
		"./run 'unterminated":                             false,
		"./run \\\n --more":                               false,
		"":                                                false,
		"# only a comment":                                false,
		"./run\nsecond line":                              false,
		`$SERVER --port 80`:                               false,
		`"./my server" --port 80`:                         false,
		"trap 'echo bye' TERM":                            false,
	} {
		if _, got := simple(cmd); got != want {
			t.Errorf("simple(%q) = %v, want %v", cmd, got, want)
		}
	}
}

// TestShell_RunsTheCommandItself: a simple command is the process itself
// (exec put before its command word), a compound one keeps its shell, and
// one that execs already is left as it is; each does what it did before.
func TestShell_RunsTheCommandItself(t *testing.T) {
	for _, tc := range []struct {
		command, arg string
		grouped      bool
		out          string
	}{
		{`/bin/echo "a;b" 'c'`, `exec /bin/echo "a;b" 'c'`, false, "a;b c"},
		{`FOO="a b" sh -c 'echo $FOO'`, `FOO="a b" exec sh -c 'echo $FOO'`, false, "a b"},
		{"exec /bin/echo x", "exec /bin/echo x", false, "x"},
		{"/bin/echo ${NOSUCH:-dflt} 2>&1", "exec /bin/echo ${NOSUCH:-dflt} 2>&1", false, "dflt"},
		{"echo one; echo two", "echo one; echo two", true, "one\ntwo"},
	} {
		argv, grouped := Shell(tc.command)
		if grouped != tc.grouped || argv[2] != tc.arg {
			t.Errorf("%q: %q, grouped %v", tc.command, argv, grouped)
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
