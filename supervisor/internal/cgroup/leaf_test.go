package cgroup

import "testing"

// TestKeyed: a key is matched whole, on any line, with or without the
// last newline, and reading it allocates nothing.
func TestKeyed(t *testing.T) {
	for _, tc := range []struct {
		text, key string
		want      int64
	}{
		{"populated 1\nfrozen 0\n", "populated", 1},
		{"frozen 1\npopulated 0", "populated", 0},
		{"oom_kill_disable 7\noom_kill 3\n", "oom_kill", 3},
		{"low 0\nhigh 12 \n", "high", 12},
		{"low 0\n", "max", 0},
		{"", "populated", 0},
	} {
		if got := keyed([]byte(tc.text), tc.key); got != tc.want {
			t.Errorf("keyed(%q, %q) = %d, want %d", tc.text, tc.key, got, tc.want)
		}
	}
	b := []byte("populated 1\nfrozen 0\n")
	if n := testing.AllocsPerRun(100, func() { keyed(b, "frozen") }); n != 0 {
		t.Errorf("keyed allocates %.0f times", n)
	}
}
