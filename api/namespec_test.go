package api

import (
	"testing"

	"github.com/ctlsup/ctlsup/supervisor"
)

func TestParseNamespec(t *testing.T) {
	for spec, want := range map[string]supervisor.Target{
		"all": supervisor.All(), "turkey:*": supervisor.Group("turkey"), "turkey:": supervisor.Group("turkey"),
		"turkey:gunicorn": supervisor.Process("turkey:gunicorn"), "kano_konnect-uwsgi": supervisor.Process("kano_konnect-uwsgi"),
	} {
		if got := ParseNamespec(spec); got != want {
			t.Errorf("ParseNamespec(%q) = %+v, want %+v", spec, got, want)
		}
	}
}
