package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// forkLoop forks and execs n sleeps in a loop, as a program of a few
// descriptors would, and returns how long that took. syscall.ForkExec,
// not exec.Cmd: os.StartProcess keeps a pidfd per child, which would make
// the baseline's own descriptor table grow with n.
func forkLoop(n int) float64 {
	pids := make([]int, 0, n)
	t := time.Now()
	for range n {
		pid, err := syscall.ForkExec("/bin/sleep", []string{"sleep", "100000"}, &syscall.ProcAttr{
			Sys: &syscall.SysProcAttr{Setpgid: true}})
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
// costs of control: RSS, `ctlsup status`, one metrics scrape.
func scale(bin binaries, sizes []int) {
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
			add(fmt.Sprintf("scale: failed spawns, %d programs%s", n, label), float64(d.failedSpawns()), none, "", "0")
			if !direct {
				time.Sleep(time.Second)
				rss, _ := memMiB(d.pid())
				add(fmt.Sprintf("scale: RSS with %d programs", n), rss, none, "MiB", "")
				add(fmt.Sprintf("scale: RSS per program, %d programs", n), rss*1024/float64(n), none, "KiB", "≤ 4")
				add(fmt.Sprintf("scale: `ctlsup status` with %d programs", n),
					median(3, func() { exec.Command(bin.ctlsup, "-s", d.url, "status").Run() }), none, "s", "10,000: ≤ 0.2")
				add(fmt.Sprintf("scale: metrics scrape with %d programs", n),
					median(3, func() { scrape(d.metricsURL) }), none, "s", "10,000: ≤ 0.1")
			}
			d.stop()
		}
	}
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
