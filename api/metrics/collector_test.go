package metrics_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"net/http/httptest"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

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

// serve serves src's metrics and returns the /metrics URL.
func serve(t *testing.T, src metrics.Source) string {
	t.Helper()
	srv := httptest.NewServer(metrics.Handler(src))
	t.Cleanup(srv.Close)
	return srv.URL + "/metrics"
}

// scrape reads url's exposition as Prometheus would.
func scrape(t *testing.T, url string) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("the exposition does not parse: %v\n%s", err, body)
	}
	return mfs, string(body)
}

// scrapeWithUsage scrapes until the usage series are there: a scrape
// waits for a usage reading at most 100 ms, which a loaded machine can
// pass even for two programs.
func scrapeWithUsage(t *testing.T, url string) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		mfs, body := scrape(t, url)
		if mfs["ctlsup_process_cpu_seconds_total"] != nil || time.Now().After(deadline) {
			return mfs, body
		}
	}
}

// value is the value of name's series whose labels include want.
func value(t *testing.T, url, name string, want map[string]string) float64 {
	t.Helper()
	mfs, _ := scrape(t, url)
	mf := mfs[name]
	if mf == nil {
		t.Fatalf("no %s", name)
	}
next:
	for _, m := range mf.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Untyped != nil:
			return m.Untyped.GetValue()
		}
	}
	t.Fatalf("no %s series with %v", name, want)
	return 0
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
	url := serve(t, source(s))
	mfs, body := scrapeWithUsage(t, url)
	if problems, err := promlint.New(strings.NewReader(body)).Lint(); err != nil || len(problems) > 0 {
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
	if err := testutil.ScrapeAndCompare(url, strings.NewReader(golden), "ctlsup_process_up",
		"ctlsup_process_restarts_total", "ctlsup_process_state", "ctlsup_config_last_reload_successful"); err != nil {
		t.Error(err)
	}
	if mf := mfs["ctlsup_process_resident_memory_bytes"]; mf == nil || len(mf.Metric) != 2 {
		t.Errorf("memory series: %v", mf)
	}
	for _, name := range []string{"ctlsup_build_info", "go_goroutines", "process_resident_memory_bytes", "ctlsup_log_written_bytes_total"} {
		if mfs[name] == nil {
			t.Errorf("no %s", name)
		}
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
	url := serve(t, source(s))
	restarts := func() float64 {
		return value(t, url, "ctlsup_process_restarts_total", map[string]string{"reason": "exit"})
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
	if err := testutil.ScrapeAndCompare(url, strings.NewReader(`
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
