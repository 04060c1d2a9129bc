package osruntime

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ctlsup/ctlsup/supervisor"
	"github.com/ctlsup/ctlsup/supervisor/testhelper"
)

// A state directory on a full disk, or gone read-only, must not make
// the daemon's trouble the programs': these tests give it a small file
// system of its own.

// mountTmpfs mounts a tmpfs of the size given at a new directory for the
// test's length.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a file system needs root; CI runs as root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Fatalf("mount a tmpfs at %s: %v", dir, err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// fill writes into dir until its file system is full.
func fill(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			return
		}
	}
}

// TestStateFile_FullDiskKeepsRecording: the journal keeps room allocated
// past its end, so the spawns that come while the disk is full are still
// recorded, and a successor finds every one (instead of starting second
// copies, or killing them as strangers' leftovers).
func TestStateFile_FullDiskKeepsRecording(t *testing.T) {
	dir := mountTmpfs(t, "2m")
	path := filepath.Join(dir, "state.json")
	f, _, _, _ := openStateFile(path, "b", quietLogger())
	fill(t, dir)
	spec := &supervisor.ProcessSpec{Group: "g", Name: "n"}
	for i := range 300 { // restarts, past the size that asks for a rewrite
		id := f.newID()
		f.spawning(id, spec, "", nil, 0, "")
		f.started(id, 1000+i, 1, time.Now())
		f.gone(id)
	}
	for i := range 50 {
		id := f.newID()
		f.spawning(id, &supervisor.ProcessSpec{Group: "g", Name: "live" + string(rune('a'+i%26)) + string(rune('a'+i/26))}, "fp", nil, 0, "")
		f.started(id, 5000+i, 1, time.Now())
	}
	f.close()
	if _, got, _, _ := openStateFile(path, "b", quietLogger()); len(got) != 50 {
		t.Fatalf("a successor finds %d of the 50 spawns recorded on a full disk", len(got))
	}
}

// TestOS_SingletonOnReadOnlyState: a state directory gone read-only (its
// locks, here) still holds the lock file an earlier spawn made; a
// singleton (celery beat) starts on it, and is still one.
func TestOS_SingletonOnReadOnlyState(t *testing.T) {
	dir := mountTmpfs(t, "1m")
	spec := helperSpec(t.TempDir(), "beat", testhelper.Argv("sleep"), func(s *supervisor.ProcessSpec) { s.Singleton = true })
	rt := New(filepath.Join(dir, "state"), quietLogger())
	if err := rt.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	first, err := rt.Start(spec, rt.NewOutput(spec))
	if err != nil {
		t.Fatal(err)
	}
	first.Signal(syscall.SIGTERM, false)
	exitOf(first)
	locks := filepath.Join(dir, "state", "locks")
	if err := syscall.Mount(locks, locks, "", syscall.MS_BIND, ""); err != nil {
		t.Fatalf("bind %s: %v", locks, err)
	}
	t.Cleanup(func() { syscall.Unmount(locks, syscall.MNT_DETACH) })
	if err := syscall.Mount("", locks, "", syscall.MS_REMOUNT|syscall.MS_BIND|syscall.MS_RDONLY, ""); err != nil {
		t.Fatalf("make %s read-only: %v", locks, err)
	}
	again, err := rt.Start(spec, rt.NewOutput(spec))
	if err != nil {
		t.Fatalf("the singleton does not start on a read-only state directory: %v", err)
	}
	defer exitOf(again)
	defer again.Signal(syscall.SIGTERM, false)
	if second, err := rt.Start(spec, rt.NewOutput(spec)); err == nil {
		second.Signal(syscall.SIGKILL, false)
		t.Fatal("a second singleton started beside it")
	}
}
