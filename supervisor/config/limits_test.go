package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ctlsup/ctlsup/supervisor/config"
)

// Files that used to take the daemon down (out of memory, or an open that
// never returns) are errors naming the file, for --check and reload alike.
func TestLoad_HostileFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.toml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.toml")
	os.WriteFile(big, []byte("# "+strings.Repeat("x", 5<<20)+"\n"), 0o644)
	deep := filepath.Join(dir, "deep.toml")
	os.WriteFile(deep, []byte("[program.x]\ncommand = \"true\"\nenvironment = "+strings.Repeat("{a=", 100000)+"1"+strings.Repeat("}", 100000)+"\n"), 0o644)
	many := filepath.Join(dir, "many.toml")
	os.WriteFile(many, []byte("[program.x]\ncommand = \"true\"\nnumprocs = 100000000\n"), 0o644)
	quoted := filepath.Join(dir, "quoted.toml")
	os.WriteFile(quoted, []byte("[program.x]\ncommand = \"echo '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[{{{{'\"\n"), 0o644)
	for _, c := range []struct{ include, want string }{
		{"/dev/zero", "not a regular file"},
		{fifo, "not a regular file"},
		{big, "at most"},
		{deep, "nest more than"},
		{many, "at most 10000 processes"},
	} {
		daemon := filepath.Join(dir, "ctlsupd.toml")
		os.WriteFile(daemon, []byte("include = [\""+c.include+"\"]\nstate_dir = \""+dir+"/state\"\n"), 0o644)
		done := make(chan error, 1)
		go func() { _, err := config.Load(daemon); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("include %s: %v, want an error saying %q", c.include, err, c.want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("include %s: Load did not return", c.include)
		}
	}
	// Brackets inside strings are not nesting.
	daemon := filepath.Join(dir, "ctlsupd.toml")
	os.WriteFile(daemon, []byte("include = [\""+quoted+"\"]\nstate_dir = \""+dir+"/state\"\n"), 0o644)
	if _, err := config.Load(daemon); err != nil {
		t.Errorf("brackets in a string: %v", err)
	}
}
