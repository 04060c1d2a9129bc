package osruntime

import (
	"log/slog"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/ctlsup/ctlsup/supervisor"
	"github.com/ctlsup/ctlsup/supervisor/testhelper"
)

func TestMain(m *testing.M) {
	testhelper.Run()
	// Helpers built with -race would sleep a second at exit by default.
	os.Setenv("GORACE", "atexit_sleep_ms=0")
	os.Exit(m.Run())
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// testSpec is a process spec with supervisord's defaults.
func testSpec() *supervisor.ProcessSpec {
	return &supervisor.ProcessSpec{
		Name: "p", Group: "p", Argv: []string{"/bin/true"}, AutoStart: true, AutoRestart: supervisor.RestartUnexpected,
		ExitCodes: []int{0}, StartSecs: time.Second, StartRetries: 3, StopSignal: syscall.SIGTERM,
		StopWait: 10 * time.Second, KillAsGroup: true, RestartMaxDelay: 60 * time.Second,
	}
}
