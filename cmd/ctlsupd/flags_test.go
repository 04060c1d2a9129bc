package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestParseFlags_ConfigPathAbsolute: a relative -c is made absolute, so an
// upgrade's --check of the new binary, which runs from /, reads the same
// file.
func TestParseFlags_ConfigPathAbsolute(t *testing.T) {
	m := NewMain()
	m.Stderr = os.Stderr
	if err := m.ParseFlags([]string{"-c", "conf/ctlsupd.toml"}); err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	if want := filepath.Join(wd, "conf/ctlsupd.toml"); m.ConfigPath != want {
		t.Errorf("ConfigPath %q, want %q", m.ConfigPath, want)
	}
}
