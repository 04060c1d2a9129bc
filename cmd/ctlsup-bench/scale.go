package main

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// forkLoop forks and execs n sleeps in a loop, as a program of a few
// descriptors would, and returns how long that took. syscall.ForkExec,
// not exec.Cmd: os.StartProcess keeps a pidfd per child, which would make
// the baseline's own descriptor table grow with n. The sleeps get the
// bench's environment, as the daemons' children do: with none, libc
// skips a LANG's locale setup, which was 15% of a sleep's start.
func forkLoop(n int) float64 {
	pids := make([]int, 0, n)
	env := os.Environ()
	t := time.Now()
	for range n {
		pid, err := syscall.ForkExec("/bin/sleep", []string{"sleep", "100000"}, &syscall.ProcAttr{
			Env: env, Sys: &syscall.SysProcAttr{Setpgid: true}})
		if err != nil {
			fmt.Fprintln(os.Stderr, "fork+exec baseline:", err)
			break
		}
		pids = append(pids, pid)
	}
	d := time.Since(t).Seconds()
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGKILL)
		var ws syscall.WaitStatus
		syscall.Wait4(pid, &ws, 0, nil)
	}
	return d
}

// scale: for each n, the fork+exec loop, then ctlsupd starting n programs
// with its spawner and without (CTLSUPD_DIRECT_FORK=1), and at n the
// costs of control: RSS, `ctlsup status`, one metrics scrape. What a
// program costs is the RSS added per program from the smallest n: the
// daemon's own (binary, runtime) is paid once. supervisord's RSS is
// measured at 5000, against which the goal is set.
func scale(bin binaries, kinds []string, sizes []int) {
	var firstN int
	var firstRSS float64
	for _, n := range sizes {
		base := forkLoop(n)
		add(fmt.Sprintf("scale: fork+exec loop, %d sleeps (baseline)", n), base, none, "s", "")
		for _, direct := range []bool{false, true} {
			label, target := "", fmt.Sprintf("≤ 1.1× baseline: %.2f s", 1.1*base)
			if direct {
				label, target = ", forked by the daemon", ""
				os.Setenv("CTLSUPD_DIRECT_FORK", "1")
			}
			d, err := startDaemonWith("ctlsupd", bin.ctlsupd, sleepers(n), true)
			os.Unsetenv("CTLSUPD_DIRECT_FORK")
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				continue
			}
			spawn, err := d.waitRunning(n, 10*time.Minute)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
			}
			add(fmt.Sprintf("scale: start until %d RUNNING%s", n, label), spawn.Seconds(), none, "s", target)
			if !direct {
				// What the loop does not pay: what goal 1 leaves the
				// spawns themselves is the rest.
				add(fmt.Sprintf("scale: of it, before the first spawn, %d programs", n), firstSpawnDelay(d.pid(), "sleep"), none, "s", "")
			}
			add(fmt.Sprintf("scale: failed spawns, %d programs%s", n, label), float64(d.failedSpawns()), none, "", "0")
			if !direct {
				// Idle, as supervisord's is measured: after the daemon
				// has returned what its start freed (ctlsupd does once
				// it has been quiet for a second).
				rss, files := idleRSS(d.pid())
				super, superFiles := float64(none), float64(none)
				if n == 5000 && slices.Contains(kinds, "supervisord") {
					super, superFiles = supervisordRSS(n)
				}
				target := ""
				if super > 0 {
					target = fmt.Sprintf("≤ 1/4 of supervisord's: %.0f", super/4)
				}
				add(fmt.Sprintf("scale: RSS with %d programs", n), rss, super, "MiB", target)
				// The part no per-program saving moves: the daemon's
				// executable and libraries, as far as they are mapped in.
				add(fmt.Sprintf("scale: of it, mapped files, %d programs", n), files, superFiles, "MiB", "")
				if firstN == 0 {
					firstN, firstRSS = n, rss
				} else {
					add(fmt.Sprintf("scale: RSS per program, %d→%d programs", firstN, n), (rss-firstRSS)*1024/float64(n-firstN), none, "KiB", "≤ 4")
				}
				add(fmt.Sprintf("scale: `ctlsup status` with %d programs", n),
					median(3, func() { exec.Command(bin.ctlsup, "-s", d.url, "status").Run() }), none, "s", "10,000: ≤ 0.2")
				add(fmt.Sprintf("scale: metrics scrape with %d programs", n),
					median(3, func() { scrape(d.metricsURL) }), none, "s", "10,000: ≤ 0.1")
			}
			d.stop()
		}
	}
}

// supervisordRSS is supervisord's RSS, idle with n programs running, and
// the part of it that is mapped files.
func supervisordRSS(n int) (rss, files float64) {
	d, err := startDaemon("supervisord", "", sleepers(n))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return none, none
	}
	defer d.stop()
	if _, err := d.waitRunning(n, 30*time.Minute); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return none, none
	}
	return idleRSS(d.pid())
}

// idleSettle is how long a daemon is left alone after its start before
// its idle RSS is read.
const idleSettle = 5 * time.Second

// idleRSS reads a daemon's RSS in MiB once it is idle, and the part of it
// that is mapped files (RssFile): left alone for
// idleSettle, then until it has used under 5% of a CPU for two seconds
// in a row (a minute more at most). On a slow day the tail of a start
// (ctlsupd returns the heap a start freed once quiet for a second)
// outlasts a fixed wait: 10,000 programs read 63.8 MiB 5 s after the
// last one ran, 52.5 MiB once the daemon was quiet.
func idleRSS(pid int) (rss, files float64) {
	time.Sleep(idleSettle)
	last, quiet := cpuSeconds(pid), 0
	for deadline := time.Now().Add(time.Minute); quiet < 2 && time.Now().Before(deadline); {
		time.Sleep(time.Second)
		now := cpuSeconds(pid)
		if now-last < 0.05 {
			quiet++
		} else {
			quiet = 0
		}
		last = now
	}
	rss, _ = memMiB(pid)
	return rss, statusKB("/proc/"+strconv.Itoa(pid)+"/status", "RssFile") / 1024
}

// failedSpawns counts the processes not RUNNING.
func (d *daemon) failedSpawns() int {
	v, err := d.client.Call("supervisor.getAllProcessInfo")
	if err != nil {
		return -1
	}
	failed := 0
	for _, p := range v.([]any) {
		if statename(p) != "RUNNING" {
			failed++
		}
	}
	return failed
}

func scrape(url string) {
	resp, err := http.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "scrape:", err)
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// restartAtScale: kill -9 one of n running programs, chosen at random,
// gap apart, and time until its replacement has exec'd (the kernel's exec
// event of a child of the daemon).
func restartAtScale(bin binaries, kinds []string, n, kills int, gap time.Duration) {
	type q struct{ p50, p90, max float64 }
	res := map[string]q{}
	w, err := newExecWatch()
	if err != nil {
		fmt.Fprintln(os.Stderr, "restart at scale needs the process events connector (root):", err)
		return
	}
	defer w.close()
	for _, k := range kinds {
		d, err := startDaemon(k, bin.ctlsupd, sleepers(n))
		if err != nil {
			continue
		}
		if _, err := d.waitRunning(n, 10*time.Minute); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		time.Sleep(2 * time.Second)
		lat := killLatencies(d, w, kills, gap)
		d.stop()
		if len(lat) > 0 {
			res[k] = q{lat[len(lat)/2], lat[len(lat)*9/10], lat[len(lat)-1]}
		}
	}
	get := func(k string, f func(q) float64) float64 {
		if r, ok := res[k]; ok {
			return f(r)
		}
		return none
	}
	among := ""
	if n > 1 {
		among = fmt.Sprintf(", %d running", n)
	}
	floor50, floorMax := restartFloor(w, n, kills, gap)
	add("restart after kill -9"+among+", floor: wait4+fork+exec loop, p50", floor50, none, "ms", "")
	add("restart after kill -9"+among+", floor: wait4+fork+exec loop, max", floorMax, none, "ms", "")
	// The goal is set at 1000 running and below.
	p50Goal, maxGoal := "≤ 1.5 ms", "≤ 5 ms"
	if n > 1000 {
		p50Goal, maxGoal = "", ""
	}
	add("restart after kill -9"+among+", p50", get("ctlsupd", func(r q) float64 { return r.p50 }), get("supervisord", func(r q) float64 { return r.p50 }), "ms", p50Goal)
	add("restart after kill -9"+among+", p90", get("ctlsupd", func(r q) float64 { return r.p90 }), get("supervisord", func(r q) float64 { return r.p90 }), "ms", "")
	add("restart after kill -9"+among+", max", get("ctlsupd", func(r q) float64 { return r.max }), get("supervisord", func(r q) float64 { return r.max }), "ms", maxGoal)
}

// ppidOf is field 4 of /proc/PID/stat.
func ppidOf(stat []byte) int {
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

// killLatencies kills a random running sleep of d kills times, gap apart,
// and returns the milliseconds until each replacement exec'd, sorted.
func killLatencies(d *daemon, w *execWatch, kills int, gap time.Duration) []float64 {
	var lat []float64
	// A process killed within a second of its start is a crash loop,
	// which backs off: a replacement is a victim only once that old.
	replaced := map[int]time.Time{}
	for range kills {
		time.Sleep(gap)
		var sleeps []int
		for pid := range childPids(d.pid()) {
			if at, ok := replaced[pid]; ok && time.Since(at) < time.Second {
				continue
			}
			if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); string(b) == "sleep\n" {
				sleeps = append(sleeps, pid)
			}
		}
		if len(sleeps) == 0 {
			break
		}
		victim := sleeps[rand.IntN(len(sleeps))]
		w.drain()
		t := time.Now()
		syscall.Kill(victim, syscall.SIGKILL)
		for deadline := t.Add(10 * time.Second); ; {
			pid := w.next(deadline)
			if pid == 0 {
				break
			}
			if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && ppidOf(st) == d.pid() {
				lat = append(lat, time.Since(t).Seconds()*1000)
				replaced[pid] = time.Now()
				break
			}
		}
	}
	slices.Sort(lat)
	return lat
}

// listener is an event listener that acknowledges every event.
const listener = `import sys
while True:
    sys.stdout.write("READY\n"); sys.stdout.flush()
    header = sys.stdin.readline()
    if not header:
        break
    fields = dict(f.split(":", 1) for f in header.split())
    sys.stdin.read(int(fields["len"]))
    sys.stdout.write("RESULT 2\nOK"); sys.stdout.flush()
`

// features: start n programs, then kill -9 of one of them, under ctlsupd
// with each feature of this wave on, and off where it can be.
func features(bin binaries, n, kills int) {
	w, err := newExecWatch()
	if err != nil {
		fmt.Fprintln(os.Stderr, "features need the process events connector (root):", err)
		return
	}
	defer w.close()
	script, _ := os.CreateTemp("", "ctlsup-bench-listener-*.py")
	script.WriteString(listener)
	script.Close()
	defer os.Remove(script.Name())
	type variant struct {
		label, env, top string
		extra           func(i int) string
	}
	for _, v := range []variant{
		{label: "as shipped (cgroups, spawner, fd holder)"},
		{label: "process groups (CTLSUP_CGROUPS=off)", env: "CTLSUP_CGROUPS=off"},
		{label: "no fd holder (CTLSUPD_NO_HOLDER=1)", env: "CTLSUPD_NO_HOLDER=1"},
		{label: "forked by the helper (CTLSUPD_HELPER_FORK=1)", env: "CTLSUPD_HELPER_FORK=1"},
		{label: "forked by Go's fork (CTLSUPD_DIRECT_FORK=1)", env: "CTLSUPD_DIRECT_FORK=1"},
		{label: "a held unix socket each", extra: func(i int) string {
			return fmt.Sprintf("sockets = [\"s%d\"]\n[socket.s%d]\nlisten = \"unix:{dir}/s%d.sock\"\n", i, i, i)
		}},
		{label: "ready = exec probe", extra: func(int) string { return "ready = \"exec:/bin/true\"\n" }},
		{label: "a PROCESS_STATE listener", top: fmt.Sprintf("[eventlistener.ev]\ncommand = \"python3 %s\"\nevents = [\"PROCESS_STATE\"]\nbuffer_size = 10000\n", script.Name())},
	} {
		progs := sleepers(n)
		if v.extra != nil {
			for i := range progs {
				progs[i].extra = v.extra(i)
			}
		}
		if k, val, ok := strings.Cut(v.env, "="); ok {
			os.Setenv(k, val)
		}
		ctlsupdExtra = v.top
		d, err := startDaemon("ctlsupd", bin.ctlsupd, progs)
		ctlsupdExtra = ""
		if k, _, ok := strings.Cut(v.env, "="); ok {
			os.Unsetenv(k)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			continue
		}
		extra := 0
		if v.top != "" {
			extra = 1 // the listener
		}
		took, err := d.waitRunning(n+extra, 10*time.Minute)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		time.Sleep(2 * time.Second)
		lat := killLatencies(d, w, kills, 300*time.Millisecond)
		d.stop()
		add(fmt.Sprintf("features: start until %d RUNNING, %s", n, v.label), took.Seconds(), none, "s", "")
		if len(lat) > 0 {
			add(fmt.Sprintf("features: restart after kill -9, p50, %s", v.label), lat[len(lat)/2], none, "ms", "")
			add(fmt.Sprintf("features: restart after kill -9, max, %s", v.label), lat[len(lat)-1], none, "ms", "")
		}
	}
}
