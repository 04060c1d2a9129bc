package api

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestReadLog_Offsets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.log")
	os.WriteFile(path, []byte("0123456789"), 0o644)
	for _, tc := range []struct {
		off, n int
		want   string
	}{
		{0, 0, "0123456789"}, {2, 3, "234"}, {-4, 0, "6789"}, {-100, 0, "0123456789"},
		{8, 10, "89"}, {10, 0, ""}, {50, 5, ""},
	} {
		if got, err := readLog(context.Background(), path, tc.off, tc.n, false); err != nil || got != tc.want {
			t.Errorf("readLog(%d, %d) = %q, %v; want %q", tc.off, tc.n, got, err, tc.want)
		}
	}
	missing := filepath.Join(t.TempDir(), "none")
	if _, err := readLog(context.Background(), missing, 0, 0, false); err == nil || !strings.Contains(err.Error(), "NO_FILE") {
		t.Errorf("missing file: %v, want NO_FILE", err)
	}
	// The file is looked for before the arguments, as supervisord does.
	if _, err := readLog(context.Background(), missing, 0, -1, false); err == nil || !strings.Contains(err.Error(), "NO_FILE") {
		t.Errorf("missing file, bad arguments: %v, want NO_FILE", err)
	}
	if _, err := readLog(context.Background(), "", -1, 5, false); err == nil || !strings.Contains(err.Error(), "NO_FILE") {
		t.Errorf("no log, bad arguments: %v, want NO_FILE", err)
	}
	if _, err := readLog(context.Background(), path, 0, -1, false); err == nil || !strings.Contains(err.Error(), "BAD_ARGUMENTS") {
		t.Errorf("bad arguments: %v", err)
	}
	// A process's log before its first output: empty, as supervisord's
	// (made at the spawn) would be; bad arguments are still refused.
	if got, err := readLog(context.Background(), missing, -100, 0, true); err != nil || got != "" {
		t.Errorf("unwritten process log = %q, %v; want empty", got, err)
	}
	if _, err := readLog(context.Background(), missing, -1, 5, true); err == nil || !strings.Contains(err.Error(), "BAD_ARGUMENTS") {
		t.Errorf("bad arguments on an unwritten log: %v", err)
	}
}

func TestTailLog_Supervisord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.log")
	os.WriteFile(path, []byte("0123456789"), 0o644)
	for _, tc := range []struct {
		off, n int
		want   []any
	}{
		{0, 4, []any{"6789", 10, true}},  // more than length follows: the last length bytes
		{8, 4, []any{"6789", 10, false}}, // fewer than length follow: still the last length bytes
		{10, 4, []any{"", 10, false}},    // nothing new
		{0, 20, []any{"0123456789", 10, false}},
	} {
		if got := tailLog(context.Background(), path, tc.off, tc.n, false); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("tailLog(%d, %d) = %v, want %v", tc.off, tc.n, got, tc.want)
		}
	}
	// supervisord's answer for a log that does not exist: offset 0.
	missing := filepath.Join(t.TempDir(), "none")
	if got := tailLog(context.Background(), missing, 7, 4, false); !reflect.DeepEqual(got, []any{"", 0, false}) {
		t.Errorf("missing file: %v", got)
	}
	// A process's log before its first output is supervisord's empty
	// file: overflow when offset+length ends before 0.
	for _, tc := range []struct {
		off, n   int
		overflow bool
	}{{-100000, 0, true}, {0, 1600, false}, {-5, 4, true}, {7, 4, false}} {
		if got := tailLog(context.Background(), missing, tc.off, tc.n, true); !reflect.DeepEqual(got, []any{"", 0, tc.overflow}) {
			t.Errorf("unwritten tailLog(%d, %d) = %v, want overflow %v", tc.off, tc.n, got, tc.overflow)
		}
	}
}

// TestReadLog_PlantedFIFO: a FIFO at a log's path, which nothing writes,
// does not block a request that reads the log.
func TestReadLog_PlantedFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "web.log")
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		readLog(context.Background(), path, 0, 0, false)
		tailLog(context.Background(), path, 0, 100, false)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("reading a FIFO nothing writes is blocked")
	}
}

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"plain\ttext\r\n": "plain\ttext\r\n", "\x1b[31mred\x1b[0m": "\uFFFD[31mred\uFFFD[0m", "cut \xe2\x82": "cut \uFFFD",
	} {
		if got := printable([]byte(in)); got != want {
			t.Errorf("printable(%q) = %q, want %q", in, got, want)
		}
	}
}
