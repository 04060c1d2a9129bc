package proc

import "testing"

func TestKernelAtLeast(t *testing.T) {
	for release, want := range map[string]bool{
		"6.15.0": true, "6.18.44-fc-v769": true, "7.0.1": true, "6.1.0-28-amd64": false,
		"6.14.11": false, "5.19.0": false, "junk": false, "": false,
	} {
		if got := kernelAtLeast(release, 6, 15); got != want {
			t.Errorf("kernelAtLeast(%q, 6, 15) = %v, want %v", release, got, want)
		}
	}
}
