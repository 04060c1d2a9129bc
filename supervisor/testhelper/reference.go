package testhelper

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// RequireReference returns the path of a program of Debian's supervisor
// package (supervisord, supervisorctl) or of a file it ships. Where the
// package is missing the test is skipped with a message that names it, so
// `go test ./...` passes on a machine with only Go; with
// CTLSUP_REQUIRE_SUPERVISORD=1 (set by .ci/run, which installs the
// package) a missing reference fails instead.
func RequireReference(t testing.TB, name string) string {
	t.Helper()
	return require(t, name, "the compatibility suite compares ctlsup with Debian's supervisor 4.2.5 (apt-get install supervisor; .ci/run installs it)")
}

// RequirePackage is RequireReference for the real servers some tests run
// (gunicorn, redis-server, celery): skipped with the package named where
// it is missing, failed instead under CTLSUP_REQUIRE_SUPERVISORD=1.
func RequirePackage(t testing.TB, name, pkg string) string {
	t.Helper()
	return require(t, name, "this test runs the real program (apt-get install "+pkg+"; .ci/run installs it)")
}

func require(t testing.TB, name, why string) string {
	t.Helper()
	path := name
	var err error
	if name[0] == '/' {
		_, err = os.Stat(name)
	} else {
		path, err = exec.LookPath(name)
	}
	if err == nil {
		return path
	}
	msg := fmt.Sprintf("%s is missing: %s", name, why)
	if os.Getenv("CTLSUP_REQUIRE_SUPERVISORD") == "1" {
		t.Fatal(msg)
	}
	fmt.Fprintln(os.Stderr, "SKIP: "+msg)
	t.Skip(msg)
	return ""
}
