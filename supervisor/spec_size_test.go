package supervisor

import (
	"testing"
	"unsafe"
)

// TestProcessSpec_FitsItsSizeClass: a daemon keeps one spec per program,
// so a field that takes it past 512 bytes costs every program the next
// size class, 64 bytes more: fields are placed to fill the padding.
func TestProcessSpec_FitsItsSizeClass(t *testing.T) {
	if n := unsafe.Sizeof(ProcessSpec{}); n > 512 {
		t.Errorf("ProcessSpec is %d bytes, past the 512-byte size class", n)
	}
}
