package config_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctlsup/ctlsup/supervisor/config"
)

// TestExamples loads every example and checks the processes it expands to,
// so examples/ never rots.
func TestExamples(t *testing.T) {
	for name, want := range map[string]string{
		"quickstart": "dev:web dev:worker_00 dev:worker_01 dev:beat clock",
		"cts": "turkey:gunicorn turkey:celery-worker_00 turkey:celery-worker_01 turkey:celery-beat " +
			"iraq:gunicorn iraq:celery-worker_00 iraq:celery-worker_01 iraq:celery-beat " +
			"jordan:gunicorn jordan:celery-worker_00 jordan:celery-worker_01 jordan:celery-beat",
		"kano_konnect": "kano_konnect-uwsgi kano_konnect-celeryd",
		"durhack":      "durhack:deploy-worker durhack-staging:deploy-worker deployer-uwsgi github-events",
		"crate":        "crate-web crate-celery crate-flower",
	} {
		t.Run(name, func(t *testing.T) {
			cfg, err := config.Load(filepath.Join("..", "..", "examples", name, "ctlsupd.toml"))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, g := range cfg.Groups {
				for _, p := range g.Processes {
					got = append(got, p.FullName())
				}
			}
			if strings.Join(got, " ") != want {
				t.Errorf("processes\n got %s\nwant %s", strings.Join(got, " "), want)
			}
		})
	}
}

// TestExamples_CTS checks what the CTS example means for one instance.
func TestExamples_CTS(t *testing.T) {
	cfg, err := config.Load("../../examples/cts/ctlsupd.toml")
	if err != nil {
		t.Fatal(err)
	}
	procs := map[string]string{}
	for _, g := range cfg.Groups {
		for _, p := range g.Processes {
			procs[p.FullName()] = strings.Join(p.Argv, " ") + " | " + p.Stdout.Path + " | " + p.Environment["DJANGO_SETTINGS_MODULE"]
			if p.FullName() == "iraq:celery-beat" && (!p.Singleton || p.Stderr.Path != "/var/www/cts/log/iraq/celery-beat.err.log") {
				t.Errorf("iraq beat: %+v", p)
			}
			if p.FullName() == "turkey:celery-worker_01" && (p.Stdout.MaxBytes != 100<<20 || p.Stdout.Backups != 14 || !p.KillAsGroup || p.StopAsGroup) {
				t.Errorf("turkey worker rotation/stop: %+v", p)
			}
		}
	}
	for name, want := range map[string]string{
		"jordan:gunicorn":         "/var/www/cts/env/bin/gunicorn cts.wsgi:application --preload --bind 127.0.0.1:8003 --workers 3 | /var/www/cts/log/jordan/gunicorn.log | cts.settings.jordan",
		"turkey:celery-worker_01": "/var/www/cts/env/bin/celery -A cts worker --loglevel=INFO -n turkey-1@%h | /var/www/cts/log/turkey/celery-worker_01.log | cts.settings.turkey",
	} {
		if procs[name] != want {
			t.Errorf("%s:\n got %s\nwant %s", name, procs[name], want)
		}
	}
}
