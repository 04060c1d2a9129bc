package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sys/unix"

	"github.com/ctlsup/ctlsup/supervisor"
)

// notify sends one sd_notify message; without NOTIFY_SOCKET it does
// nothing. NOTIFY_SOCKET stays in the daemon's environment (children get
// an environment without it), since every message reads it again.
func (m *Main) notify(state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		m.Logger.Warn("sd_notify failed", "err", err)
	}
}

// monotonicUsec is CLOCK_MONOTONIC in microseconds, for RELOADING=1.
func monotonicUsec() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano() / 1000
}

func (m *Main) notifyReloading() {
	m.notify("RELOADING=1\nMONOTONIC_USEC=" + strconv.FormatInt(monotonicUsec(), 10))
}

// statusLine summarises the engine for systemctl status.
func statusLine(s *supervisor.Supervisor) string {
	n := s.StateCounts()
	return fmt.Sprintf("%d running, %d backoff, %d fatal", n[supervisor.Running], n[supervisor.Backoff], n[supervisor.Fatal])
}

// keepStatus sends STATUS= whenever the summary changes, until ctx ends,
// and returns free memory once the engine is quiet after a burst, or
// after a large answer of the control API (memory.go). It follows the engine's change broadcast: no polling.
// statusEvery spaces STATUS= updates: each counts every process.
const statusEvery = time.Second

func (m *Main) keepStatus(ctx context.Context) {
	last := ""
	quiet := time.NewTimer(quietRelease)
	defer quiet.Stop()
	for {
		swapped := *m.swapped.Load()
		s := m.engine.Load()
		changed := s.Changed()
		if line := statusLine(s); line != last {
			m.notify("STATUS=" + line)
			last = line
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
			quiet.Reset(quietRelease)
			// The line counts every process: once a second at most.
			select {
			case <-ctx.Done():
				return
			case <-time.After(statusEvery):
			}
		case <-swapped:
			quiet.Reset(quietRelease)
		case <-m.control.bigAnswer:
			quiet.Reset(quietRelease)
		case <-quiet.C:
			if releaseIdleMemory() {
				m.Logger.Debug("returned free memory to the kernel")
			}
		}
	}
}

// watchdog sends WATCHDOG=1 at half the interval systemd asks for, only
// after the engine answered a Ping: a wedged engine stops the pings and
// systemd restarts the daemon.
func (m *Main) watchdog(ctx context.Context) {
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil || interval == 0 {
		return
	}
	tick := time.NewTicker(interval / 2)
	defer tick.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, interval/2)
		err := m.ping(pctx)
		cancel()
		if err == nil {
			m.notify(daemon.SdNotifyWatchdog)
		} else if ctx.Err() == nil {
			m.Logger.Error("engine did not answer; withholding the watchdog ping", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// ping asks the current engine whether it answers.
func (m *Main) ping(ctx context.Context) error {
	if m.pingHook != nil {
		return m.pingHook(ctx)
	}
	return m.engine.Load().Ping(ctx)
}

// stopLimit is how long a stop of every program may take: the longest
// stopwaitsecs and a margin.
func (m *Main) stopLimit() time.Duration {
	var longest time.Duration
	for _, p := range m.Supervisor.Processes() {
		longest = max(longest, p.Spec.StopWait)
	}
	return longest + stopMargin
}

// stopMargin is how long past the longest stopwaitsecs a stop may take
// (the SIGKILL, the group sweep, the reaping) before systemd may act.
const stopMargin = 30 * time.Second

// extendStop keeps systemd from killing the daemon while long stops
// (celery's stopwaitsecs = 600) drain: EXTEND_TIMEOUT_USEC every few
// seconds until done is closed, but never longer than the longest
// stopwaitsecs plus a margin: a child stuck in D state must not make
// `systemctl stop` hang for ever.
func (m *Main) extendStop(done <-chan struct{}, limit time.Duration) {
	const every = 5 * time.Second
	until := time.Now().Add(limit)
	t := time.NewTicker(every)
	defer t.Stop()
	for time.Now().Before(until) {
		m.notify(fmt.Sprintf("EXTEND_TIMEOUT_USEC=%d", (3 * every).Microseconds()))
		select {
		case <-done:
			return
		case <-t.C:
		}
	}
}
