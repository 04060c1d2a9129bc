package cgroup

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFindMount(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct{ mountinfo, mount, root string }{
		"unified": {"35 24 0:30 / /sys/fs/cgroup rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate\n", "/sys/fs/cgroup", "/"},
		"hybrid": {"31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n" +
			"32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n" +
			"41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n", "/sys/fs/cgroup/unified", "/"},
		"bind of a subtree, escaped": {"50 40 0:30 /docker/abc /mnt/my\\040cgroups rw - cgroup2 cgroup2 rw\n", "/mnt/my cgroups", "/docker/abc"},
	} {
		path := filepath.Join(dir, "mountinfo")
		os.WriteFile(path, []byte(tc.mountinfo), 0o644)
		mount, root, err := findMount(path)
		if err != nil || mount != tc.mount || root != tc.root {
			t.Errorf("%s: %q %q %v", name, mount, root, err)
		}
	}
	os.WriteFile(filepath.Join(dir, "none"), []byte("31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n"), 0o644)
	if _, _, err := findMount(filepath.Join(dir, "none")); err == nil {
		t.Error("no cgroup2 mount: no error")
	}
}

func TestOwnCgroup(t *testing.T) {
	dir := t.TempDir()
	for content, want := range map[string]string{
		"0::/system.slice/ctlsupd.service\n":                  "/system.slice/ctlsupd.service",
		"4:memory:/x\n1:cpu:/\n0::/\n":                        "/",
		"0::/system.slice/ctlsupd.service/daemon (deleted)\n": "",
		"4:memory:/process_api/abc\n1:name=systemd:/\n":       "",
	} {
		path := filepath.Join(dir, "cgroup")
		os.WriteFile(path, []byte(content), 0o644)
		got, err := ownCgroup(path)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("%q: %q, %v", content, got, err)
		}
	}
}

func TestLeafName(t *testing.T) {
	for name, want := range map[string]string{
		"web":                    "web@7",
		"turkey:celery-worker_0": "turkey:celery-worker_0@7",
		"cpu.max":                `cpu\x2emax@7`,
		"a/b c":                  `a\x2fb\x20c@7`,
	} {
		if got := LeafName(name, 7); got != want {
			t.Errorf("LeafName(%q) = %q, want %q", name, got, want)
		}
	}
}
