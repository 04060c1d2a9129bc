package config_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/ctlsup/ctlsup/supervisor"
	"github.com/ctlsup/ctlsup/supervisor/config"
)

// TestLoad_KeepsNoTextOfItsFiles: a daemon keeps its configuration for its
// whole life, so nothing of it may point into a file's parsed text: a
// program's name, or the key of a lookup table, kept every file whole.
func TestLoad_KeepsNoTextOfItsFiles(t *testing.T) {
	const padding = 3 << 20 // under the 4 MiB a file may have
	var b strings.Builder
	for i := range 4 {
		fmt.Fprintf(&b, "[program.web%d]\ncommand = \"/bin/sleep 1000\"\nuser = \"nobody%d\"\n", i, i)
	}
	// A comment makes the text large enough to see in the heap.
	b.WriteString("# " + strings.Repeat("x", padding) + "\n")
	path := writeConfig(t, daemonFile, map[string]string{"app.toml": b.String()})
	b.Reset()

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if kept := int64(after.HeapAlloc) - int64(before.HeapAlloc); kept > padding/2 {
		t.Errorf("a loaded configuration keeps %d bytes of the heap: its file's %d-byte text", kept, padding)
	}
	if ws := cfg.CheckCommands(func(*supervisor.ProcessSpec) error { return fmt.Errorf("missing") }); len(ws) != 4 || !strings.Contains(ws[0].Error(), ":2:") {
		t.Errorf("CheckCommands: want 4 warnings, each with its command's line: %v", ws)
	}
	runtime.KeepAlive(cfg)
}

// TestDropPlaces: a daemon drops where each command is named, which only
// the checks use; a check then still names the process, without a line.
func TestDropPlaces(t *testing.T) {
	const n = 2000
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "[program.web%04d]\ncommand = \"/bin/sleep %d\"\n", i, i)
	}
	cfg, err := config.Load(writeConfig(t, daemonFile, map[string]string{"app.toml": b.String()}))
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	cfg.DropPlaces()
	runtime.GC()
	runtime.ReadMemStats(&after)
	if freed := int64(before.HeapAlloc) - int64(after.HeapAlloc); freed < n*50 {
		t.Errorf("DropPlaces freed %d bytes of %d programs' places", freed, n)
	}
	ws := cfg.CheckCommands(func(*supervisor.ProcessSpec) error { return fmt.Errorf("missing") })
	if len(ws) != n || !strings.Contains(ws[0].Error(), "web0000") {
		t.Errorf("CheckCommands after DropPlaces: %d warnings: %.300v", len(ws), ws)
	}
}
