package supervisor

import (
	"os"
	"testing"

	"github.com/ctlsup/ctlsup/supervisor/testhelper"
)

func TestMain(m *testing.M) {
	testhelper.Run()
	// Helpers built with -race would sleep a second at exit by default.
	os.Setenv("GORACE", "atexit_sleep_ms=0")
	os.Exit(m.Run())
}
