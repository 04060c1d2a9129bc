package metrics_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ctlsup/ctlsup/api/metrics"
	"github.com/ctlsup/ctlsup/supervisor"
	"github.com/ctlsup/ctlsup/supervisor/osruntime"
)

func spec(dir, group, name string) supervisor.ProcessSpec {
	return supervisor.ProcessSpec{Name: name, Group: group, Program: name, Argv: []string{"/bin/sleep", "1000"},
		Umask: -1, AutoStart: true, AutoRestart: supervisor.RestartUnexpected, ExitCodes: []int{0},
		StartRetries: 3, StopSignal: syscall.SIGTERM, StopWait: time.Second, KillAsGroup: true,
		RestartMaxDelay: time.Minute, Stdout: supervisor.LogSpec{Path: filepath.Join(dir, name+".log")}}
}

func openEngine(t *testing.T, rt supervisor.Runtime, groups []supervisor.GroupSpec) *supervisor.Supervisor {
	t.Helper()
	s := supervisor.New(rt, groups)
	s.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := s.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

func waitFor(t *testing.T, s *supervisor.Supervisor, name string, cond func(*supervisor.ProcessInfo) bool) *supervisor.ProcessInfo {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p, err := s.Process(name)
		if err == nil && cond(p) {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: condition not met", name)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func source(s *supervisor.Supervisor) metrics.Source {
	return metrics.Source{Supervisor: func() *supervisor.Supervisor { return s }, Version: "test",
		LastReload: func() (bool, time.Time) { return true, time.Unix(1764000000, 0) }}
}

// TestCollector_Golden checks the exposition of a fixture, and lints it.
func TestCollector_Golden(t *testing.T) {
	dir := t.TempDir()
	manual := spec(dir, "web", "web")
	manual.AutoStart = false
	s := openEngine(t, osruntime.New(filepath.Join(dir, "state"), nil), []supervisor.GroupSpec{
		{Name: "turkey", Processes: []supervisor.ProcessSpec{spec(dir, "turkey", "gunicorn")}},
		{Name: "web", Processes: []supervisor.ProcessSpec{manual}},
	})
	waitFor(t, s, "turkey:gunicorn", func(p *supervisor.ProcessInfo) bool { return p.State == supervisor.Running })
	c := metrics.NewCollector(source(s))
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
	golden := `
# HELP ctlsup_config_last_reload_successful Whether the last configuration reload succeeded (1) or failed (0).
# TYPE ctlsup_config_last_reload_successful gauge
ctlsup_config_last_reload_successful 1
# HELP ctlsup_process_up 1 when the process is RUNNING.
# TYPE ctlsup_process_up gauge
ctlsup_process_up{group="turkey",name="gunicorn"} 1
ctlsup_process_up{group="web",name="web"} 0
# HELP ctlsup_process_restarts_total Automatic restarts: after the process exited (exit) or failed to start (retry).
# TYPE ctlsup_process_restarts_total counter
ctlsup_process_restarts_total{group="turkey",name="gunicorn",reason="exit"} 0
ctlsup_process_restarts_total{group="turkey",name="gunicorn",reason="retry"} 0
ctlsup_process_restarts_total{group="web",name="web",reason="exit"} 0
ctlsup_process_restarts_total{group="web",name="web",reason="retry"} 0
# HELP ctlsup_process_state The process's supervisord state: 1 for the current one, 0 for the others.
# TYPE ctlsup_process_state gauge
` + stateSet("turkey", "gunicorn", "RUNNING") + stateSet("web", "web", "STOPPED")
	if err := testutil.CollectAndCompare(c, strings.NewReader(golden), "ctlsup_process_up",
		"ctlsup_process_restarts_total", "ctlsup_process_state", "ctlsup_config_last_reload_successful"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(c, "ctlsup_process_resident_memory_bytes"); n != 2 {
		t.Errorf("%d memory series", n)
	}
}

func stateSet(group, name, current string) string {
	var b strings.Builder
	for _, st := range supervisor.AllStates {
		v := 0
		if st.String() == current {
			v = 1
		}
		fmt.Fprintf(&b, "ctlsup_process_state{group=%q,name=%q,state=%q} %d\n", group, name, st, v)
	}
	return b.String()
}

// TestCollector_KillRaisesRestarts kills a child: restarts_total rises,
// the state set follows the new process, and last_exit_code keeps the
// kill's -1 after the respawn.
func TestCollector_KillRaisesRestarts(t *testing.T) {
	dir := t.TempDir()
	s := openEngine(t, osruntime.New(filepath.Join(dir, "state"), nil), []supervisor.GroupSpec{
		{Name: "turkey", Processes: []supervisor.ProcessSpec{spec(dir, "turkey", "gunicorn")}}})
	first := waitFor(t, s, "turkey:gunicorn", func(p *supervisor.ProcessInfo) bool { return p.State == supervisor.Running })
	c := metrics.NewCollector(source(s))
	restarts := func() float64 {
		return testutil.ToFloat64(filterCollector{c, `reason="exit"`})
	}
	if got := restarts(); got != 0 {
		t.Fatalf("restarts %v before the kill", got)
	}
	syscall.Kill(first.Pid, syscall.SIGKILL)
	waitFor(t, s, "turkey:gunicorn", func(p *supervisor.ProcessInfo) bool {
		return p.Pid != first.Pid && p.State == supervisor.Running
	})
	if got := restarts(); got != 1 {
		t.Errorf("restarts_total{reason=exit} = %v, want 1", got)
	}
	if err := testutil.CollectAndCompare(c, strings.NewReader(`
# HELP ctlsup_process_exits_total Exits, expected (stop, or an exit code in exitcodes) or not.
# TYPE ctlsup_process_exits_total counter
ctlsup_process_exits_total{expected="false",group="turkey",name="gunicorn"} 1
ctlsup_process_exits_total{expected="true",group="turkey",name="gunicorn"} 0
# HELP ctlsup_process_last_exit_code The last exit code; -1 for a death by signal.
# TYPE ctlsup_process_last_exit_code gauge
ctlsup_process_last_exit_code{group="turkey",name="gunicorn"} -1
`), "ctlsup_process_exits_total", "ctlsup_process_last_exit_code"); err != nil {
		t.Error(err)
	}
}
