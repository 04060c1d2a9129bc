package metrics_test

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"text/template"
	"time"

	"go.yaml.in/yaml/v2"

	"github.com/ctlsup/ctlsup/api/metrics"
	"github.com/ctlsup/ctlsup/supervisor"
)

// TestExampleAlerts_Load: the shipped rule file parses as Prometheus 2
// reads rule files (strict YAML v2), every annotation is a template that
// parses, and every ctlsup_ metric its expressions name is one a scrape
// has.
func TestExampleAlerts_Load(t *testing.T) {
	b, err := os.ReadFile("../../examples/prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.UnmarshalStrict(b, &file); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}

	// Every family a scrape of a running engine writes, usage included.
	rt := &idleRuntime{usage: map[string]supervisor.Usage{"app:w": {RSSBytes: 1}}}
	s := supervisor.New(rt, []supervisor.GroupSpec{{Name: "app", Processes: []supervisor.ProcessSpec{{Name: "w", Group: "app",
		Argv: []string{"x"}, Umask: -1, AutoStart: true, StopWait: time.Second, RestartMaxDelay: time.Minute}}}})
	if err := s.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	waitFor(t, s, "app:w", func(p *supervisor.ProcessInfo) bool { return p.State == supervisor.Running })
	mfs, _ := scrapeWithUsage(t, serve(t, metrics.Source{Supervisor: func() *supervisor.Supervisor { return s },
		LastReload: func() (bool, time.Time) { return true, time.Now() }}))

	names := regexp.MustCompile(`\bctlsup_[a-z_]+`)
	rules := 0
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			rules++
			if r.Alert == "" || r.Expr == "" {
				t.Errorf("group %s: a rule without alert or expr: %+v", g.Name, r)
			}
			for _, name := range names.FindAllString(r.Expr, -1) {
				if mfs[name] == nil {
					t.Errorf("%s: no metric %s", r.Alert, name)
				}
			}
			if r.For != "" {
				if _, err := time.ParseDuration(r.For); err != nil {
					t.Errorf("%s: for: %v", r.Alert, err)
				}
			}
			for k, text := range r.Annotations {
				// As Prometheus expands an annotation: these variables first.
				tmpl, err := template.New(k).Parse(`{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}` +
					`{{$externalURL := .ExternalURL}}{{$value := .Value}}` + text)
				if err != nil {
					t.Errorf("%s: annotation %s: %v", r.Alert, k, err)
					continue
				}
				var out strings.Builder
				err = tmpl.Execute(&out, alertData{Labels: map[string]string{"group": "g", "name": "n", "state": "FATAL",
					"reason": "exit", "stream": "stdout"}, Value: 4})
				if err != nil || strings.Contains(out.String(), "<no value>") || strings.Contains(out.String(), "%!") {
					t.Errorf("%s: annotation %s expands to %q: %v", r.Alert, k, out.String(), err)
				}
				if strings.Contains(text, "$labels.") && !strings.Contains(text, "{{") {
					t.Errorf("%s: annotation %s names labels outside a template", r.Alert, k)
				}
			}
		}
	}
	if rules < 4 {
		t.Errorf("%d rules, want the four shipped", rules)
	}
}

// alertData is what Prometheus gives an alert's templates.
type alertData struct {
	Labels, ExternalLabels map[string]string
	ExternalURL            string
	Value                  float64
}
