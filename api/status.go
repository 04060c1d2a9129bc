package api

import (
	"fmt"
	"time"

	"github.com/ctlsup/ctlsup/supervisor"
)

// Description is supervisord's status text: "pid 7680, uptime 13:22:18" when
// RUNNING, the spawn error in BACKOFF and FATAL, the stop time (server local
// time) or "Not started" in STOPPED and EXITED.
func Description(p *supervisor.ProcessInfo, now time.Time) string {
	switch p.State {
	case supervisor.Running:
		return fmt.Sprintf("pid %d, uptime %s", p.Pid, Uptime(uptime(p, now)))
	case supervisor.Starting:
		// A crash loop's delay, counting down, a wait for dependencies, or
		// what a notify program says of its start; a plain start says
		// nothing, as supervisord's.
		if left, ok := retryLeft(p, now); ok { // in seconds, as the page counts
			return fmt.Sprintf("%s, restarting in %ds", p.SpawnErr, left/time.Second)
		}
		if p.SpawnErr != "" {
			return p.SpawnErr
		}
		return p.StatusText
	case supervisor.Backoff, supervisor.Fatal:
		if p.SpawnErr != "" {
			return p.SpawnErr
		}
		return fmt.Sprintf("unknown error (try \"tail %s\")", p.Name)
	case supervisor.Stopped, supervisor.Exited:
		if p.Start.IsZero() {
			return "Not started"
		}
		return p.Stop.Local().Format("Jan 02 03:04 PM")
	}
	return ""
}

// retryLeft is the time left, in whole seconds rounded up, until a crash
// loop's restart: its delay runs from the exit.
func retryLeft(p *supervisor.ProcessInfo, now time.Time) (time.Duration, bool) {
	if p.State != supervisor.Starting || p.SpawnErr == "" || p.BackoffDelay <= 0 || p.Stop.IsZero() {
		return 0, false
	}
	left := max(p.Stop.Add(p.BackoffDelay).Sub(now), 0)
	return (left + time.Second - 1).Truncate(time.Second), true
}

// uptime is a running process's uptime as status shows it.
func uptime(p *supervisor.ProcessInfo, now time.Time) time.Duration {
	return now.Truncate(time.Second).Sub(p.Start.Truncate(time.Second))
}

// Uptime formats a duration the way Python prints a timedelta: "H:MM:SS",
// "1 day, H:MM:SS", "3 days, H:MM:SS". Negative durations print as 0:00:00.
func Uptime(d time.Duration) string {
	secs := max(int64(d/time.Second), 0)
	days, secs := secs/86400, secs%86400
	hms := fmt.Sprintf("%d:%02d:%02d", secs/3600, secs%3600/60, secs%60)
	switch days {
	case 0:
		return hms
	case 1:
		return "1 day, " + hms
	}
	return fmt.Sprintf("%d days, %s", days, hms)
}
