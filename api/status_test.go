package api

import (
	"testing"
	"time"

	"github.com/ctlsup/ctlsup/supervisor"
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

// TestDescription_CrashLoopCountsDown: a crash loop's status says how
// long is left until the restart, not the whole delay again and again.
func TestDescription_CrashLoopCountsDown(t *testing.T) {
	exit := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	p := &supervisor.ProcessInfo{State: supervisor.Starting, SpawnErr: "crash loop: exit status 1",
		BackoffDelay: 8 * time.Second, Start: exit.Add(-time.Second), Stop: exit}
	for after, want := range map[time.Duration]string{
		200 * time.Millisecond:  "crash loop: exit status 1, restarting in 8s",
		2500 * time.Millisecond: "crash loop: exit status 1, restarting in 6s",
		8 * time.Second:         "crash loop: exit status 1, restarting in 0s",
		9 * time.Second:         "crash loop: exit status 1, restarting in 0s",
	} {
		if got := Description(p, exit.Add(after)); got != want {
			t.Errorf("%s after the exit: %q, want %q", after, got, want)
		}
	}
	// In seconds past a minute too, as the web page counts them.
	p.BackoffDelay = time.Minute
	if got, want := Description(p, exit), "crash loop: exit status 1, restarting in 60s"; got != want {
		t.Errorf("a minute's delay: %q, want %q", got, want)
	}
}
