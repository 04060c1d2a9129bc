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

// TestLocateServer_InetPortForms: supervisord's [inet_http_server] port
// may be a bare port, ":port" or "*:port", all meaning every interface:
// the client reaches this host on loopback.
func TestLocateServer_InetPortForms(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "supervisord.conf")
	for port, want := range map[string]string{
		"9555":           "http://127.0.0.1:9555",
		":9555":          "http://127.0.0.1:9555",
		"*:9555":         "http://127.0.0.1:9555",
		"10.0.0.1:9555":  "http://10.0.0.1:9555",
		"localhost:9555": "http://localhost:9555",
	} {
		os.WriteFile(path, []byte("[inet_http_server]\nport="+port+"\n[supervisorctl]\n"), 0o644)
		if srv, err := LocateServer(path); err != nil || srv.URL != want {
			t.Errorf("port=%s: %q %v, want %q", port, srv.URL, err, want)
		}
	}
}
