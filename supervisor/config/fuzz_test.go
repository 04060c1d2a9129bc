package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctlsup/ctlsup/supervisor/config"
)

// FuzzLoad feeds arbitrary text to the loader as a conf.d file: it never
// panics, and every error names the file.
func FuzzLoad(f *testing.F) {
	for _, name := range []string{"../../examples/cts/conf.d/cts.toml", "../../examples/quickstart/conf.d/demo.toml",
		"../../examples/kano_konnect/conf.d/kano_konnect.toml"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("[program.x]\ncommand = \"a ${b\"\n")
	f.Add("[instance.a]\n[program.b]\ninstances = [\"a\"]\nnumprocs = 3\nsingleton = true\n")
	dir := f.TempDir()
	daemon := filepath.Join(dir, "ctlsupd.toml")
	os.WriteFile(daemon, []byte("include = [\"conf.d/*.toml\"]\nlog_dir = \"/tmp/l\"\nstate_dir = \"/tmp/s\"\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, "conf.d"), 0o755)
	f.Fuzz(func(t *testing.T, text string) {
		os.WriteFile(filepath.Join(dir, "conf.d", "app.toml"), []byte(text), 0o644)
		_, err := config.Load(daemon)
		if err != nil && !strings.Contains(err.Error(), "app.toml") {
			t.Fatalf("error does not name the file: %v", err)
		}
	})
}
