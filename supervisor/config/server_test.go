package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLocateServer_TakesWhatOnlyTheDaemonRefuses: an http_listen open to
// other hosts without credentials fails the load (so --check and an
// upgrade refuse it), but a client that reads the file to find the
// running daemon's socket is not kept from it.
func TestLocateServer_TakesWhatOnlyTheDaemonRefuses(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ctlsupd.toml")
	sock := filepath.Join(dir, "ctl.sock")
	os.WriteFile(path, []byte("log_dir = \"/var/log/x\"\nstate_dir = \"/run/x\"\n[control]\nsocket = \""+sock+"\"\nhttp_listen = \"0.0.0.0:9001\"\n"), 0o644)
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "off loopback it needs username and password") || !strings.Contains(err.Error(), "ctlsupd.toml:5:") {
		t.Errorf("load: %v, want the unsafe http_listen refused", err)
	}
	srv, err := LocateServer(path)
	if err != nil || srv.URL != "unix://"+sock {
		t.Errorf("locate: %+v, %v", srv, err)
	}
}
