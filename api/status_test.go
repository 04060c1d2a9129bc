package api

import (
	"testing"
	"time"
)

func TestUptime(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0:00:00", 67 * time.Second: "0:01:07", 13*time.Hour + 22*time.Minute + 18*time.Second: "13:22:18",
		26*time.Hour + 3*time.Minute + 4*time.Second: "1 day, 2:03:04", 73 * time.Hour: "3 days, 1:00:00",
		-time.Second: "0:00:00",
	} {
		if got := Uptime(d); got != want {
			t.Errorf("Uptime(%s) = %q, want %q", d, got, want)
		}
	}
}
