// Command ctlsup-bench runs the same generated workloads under ctlsupd and
// under Debian's supervisord 4.2.5 in one run and prints one table with
// both figures and their ratio. Run it from the module root:
//
//	go run ./cmd/ctlsup-bench [-quick]
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ctlsup/ctlsup/api/xmlrpc"
)

// row is one line of the table; a NaN figure was not measured.
type row struct {
	figure        string
	ctlsup, super float64
	unit, target  string
}

var rows []row

func add(figure string, ctlsup, super float64, unit, target string) {
	rows = append(rows, row{figure, ctlsup, super, unit, target})
	fmt.Fprintf(os.Stderr, "  %-46s %10.3f %12.3f %s\n", figure, ctlsup, super, unit)
}

const none = -1 // not measured

func main() {
	if len(os.Args) == 2 && filepath.Base(os.Args[0]) == restarterArg0 {
		n, _ := strconv.Atoi(os.Args[1])
		runRestarter(n)
		return
	}
	quick := flag.Bool("quick", false, "smaller workloads (about a minute)")
	skipSupervisord := flag.Bool("no-supervisord", false, "measure ctlsupd only")
	only := flag.String("only", "", "comma-separated parts to run: idle, restart, logs, adopt, cgroups, zerodowntime, features, scale (default all)")
	flag.Parse()
	run := func(part string) bool {
		return *only == "" || slices.Contains(strings.Split(*only, ","), part)
	}
	bin, err := build()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ctlsup-bench:", err)
		os.Exit(1)
	}
	defer os.RemoveAll(filepath.Dir(bin.ctlsupd))
	kinds := []string{"ctlsupd", "supervisord"}
	if _, err := exec.LookPath("supervisord"); err != nil || *skipSupervisord {
		fmt.Fprintln(os.Stderr, "supervisord not measured (install Debian's supervisor package)")
		kinds = kinds[:1]
	}
	sizes, kills, lines, bulk := []int{10, 100, 1000}, 50, 500000, 256<<20
	if *quick {
		sizes, kills, lines, bulk = []int{10, 100}, 10, 50000, 32<<20
	}
	if run("idle") {
		for _, n := range sizes {
			idle(bin, kinds, n)
		}
		forkBaseline(sizes[len(sizes)-1])
	}
	if run("restart") {
		restartAll(bin, kinds, 100)
		restartAtScale(bin, kinds, 1, kills, 1200*time.Millisecond)
		restartAtScale(bin, kinds, sizes[len(sizes)-1], kills, 300*time.Millisecond)
	}
	if run("logs") {
		logCapture(bin, kinds, bulk, lines)
	}
	if run("adopt") {
		adoption(bin, sizes[len(sizes)-1])
	}
	if run("zerodowntime") {
		zeroDowntime(bin, kinds, 20)
	}
	if run("cgroups") {
		cgroupCost(bin, sizes[len(sizes)-1])
	}
	if run("features") {
		features(bin, sizes[len(sizes)-1], kills)
	}
	if !*quick && run("scale") {
		scale(bin, kinds, []int{1000, 5000, 10000})
		// ctlsupd alone: supervisord would take minutes to start 10,000.
		restartAtScale(bin, kinds[:1], 10000, kills, 300*time.Millisecond)
	}
	print(kinds)
}

type binaries struct{ ctlsupd, ctlsup string }

// build compiles ctlsupd and ctlsup once.
func build() (binaries, error) {
	dir, err := os.MkdirTemp("", "ctlsup-bench-bin-")
	if err != nil {
		return binaries{}, err
	}
	b := binaries{filepath.Join(dir, "ctlsupd"), filepath.Join(dir, "ctlsup")}
	for out, pkg := range map[string]string{b.ctlsupd: "./cmd/ctlsupd", b.ctlsup: "./cmd/ctlsup"} {
		if msg, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
			return b, fmt.Errorf("go build %s (run from the module root): %v\n%s", pkg, err, msg)
		}
	}
	return b, nil
}

func sleepers(n int) []program {
	ps := make([]program, n)
	for i := range ps {
		ps[i] = program{name: fmt.Sprintf("p%04d", i), command: "/bin/sleep 100000", autorestart: true, maxBytes: "50MB", backups: 10}
	}
	return ps
}

// each runs fn for every daemon kind and returns the two figures.
func each(kinds []string, fn func(kind string) float64) (float64, float64) {
	out := [2]float64{none, none}
	for i, k := range kinds {
		out[i] = fn(k)
	}
	return out[0], out[1]
}

// idle: spawn time, then RSS, PSS, CPU and context switches while idle.
func idle(bin binaries, kinds []string, n int) {
	type result struct{ spawn, rss, pss, cpuMin, ctxMin, status, ctl, roundTrip float64 }
	res := map[string]result{}
	for _, k := range kinds {
		d, err := startDaemon(k, bin.ctlsupd, sleepers(n))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			continue
		}
		spawn, err := d.waitRunning(n, 10*time.Minute)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		time.Sleep(2 * time.Second) // settle
		const window = 10 * time.Second
		cpu0, ctx0 := cpuSeconds(d.pid()), contextSwitches(d.pid())
		time.Sleep(window)
		r := result{spawn: spawn.Seconds(),
			cpuMin: (cpuSeconds(d.pid()) - cpu0) * 60 / window.Seconds(),
			ctxMin: (contextSwitches(d.pid()) - ctx0) * 60 / window.Seconds()}
		r.rss, r.pss = memMiB(d.pid())
		if n >= 1000 {
			r.status = median(5, func() { exec.Command(bin.ctlsup, "-s", d.url, "status").Run() })
			r.ctl = median(5, func() { exec.Command("supervisorctl", "-s", d.url, "status").Run() })
			r.roundTrip = 1000 * median(5, func() { d.client.Call("supervisor.getAllProcessInfo") })
		}
		res[k] = r
		d.stop()
	}
	c := res["ctlsupd"]
	pick := func(k string, f func(result) float64) float64 {
		if _, ok := res[k]; !ok {
			return none
		}
		return f(res[k])
	}
	add(fmt.Sprintf("start until %d RUNNING", n), c.spawn, pick("supervisord", func(r result) float64 { return r.spawn }), "s", "1000: ≤ 2× fork+exec loop")
	add(fmt.Sprintf("idle RSS, %d programs", n), c.rss, pick("supervisord", func(r result) float64 { return r.rss }), "MiB", "1000: ≤ 1/4")
	add(fmt.Sprintf("idle PSS, %d programs", n), c.pss, pick("supervisord", func(r result) float64 { return r.pss }), "MiB", "")
	add(fmt.Sprintf("idle CPU, %d programs", n), c.cpuMin, pick("supervisord", func(r result) float64 { return r.cpuMin }), "s/min", "≈ 0")
	add(fmt.Sprintf("idle context switches, %d programs", n), c.ctxMin, pick("supervisord", func(r result) float64 { return r.ctxMin }), "/min", "no wake-ups")
	if n >= 1000 {
		add(fmt.Sprintf("`status` with %d programs (ctlsup vs supervisorctl)", n), c.status,
			pick("supervisord", func(r result) float64 { return r.ctl }), "s", "≤ 1/10")
		add("`supervisorctl status` against ctlsupd, same", c.ctl, none, "s", "")
		add(fmt.Sprintf("getAllProcessInfo round trip in-process, %d", n), c.roundTrip,
			pick("supervisord", func(r result) float64 { return r.roundTrip }), "ms", "")
	}
}

func median(n int, fn func()) float64 {
	var ds []float64
	for range n {
		t := time.Now()
		fn()
		ds = append(ds, time.Since(t).Seconds())
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// forkBaseline: forking and exec'ing n sleeps in a loop, the floor of
// any supervisor's start time.
func forkBaseline(n int) {
	add(fmt.Sprintf("fork+exec %d sleeps in a loop (baseline)", n), forkLoop(n), none, "s", "")
}

// restartAll: `restart all` with n programs, through each daemon's client.
func restartAll(bin binaries, kinds []string, n int) {
	c, s := each(kinds, func(k string) float64 {
		d, err := startDaemon(k, bin.ctlsupd, sleepers(n))
		if err != nil {
			return none
		}
		defer d.stop()
		d.waitRunning(n, 5*time.Minute)
		ctl := bin.ctlsup
		if k == "supervisord" {
			ctl = "supervisorctl"
		}
		t := time.Now()
		exec.Command(ctl, "-s", d.url, "restart", "all").Run()
		return time.Since(t).Seconds()
	})
	add(fmt.Sprintf("`restart all`, %d programs", n), c, s, "s", "")
}

// adoption: ctlsupd is killed with SIGKILL while n programs run; the time
// from a new daemon's start until it has adopted every one (RUNNING, same
// pid). supervisord has no such thing: its programs die with it or run on
// unmanaged.
func adoption(bin binaries, n int) {
	d, err := startDaemon("ctlsupd", bin.ctlsupd, sleepers(n))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	defer d.stop()
	if _, err := d.waitRunning(n, 5*time.Minute); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	before := d.pids()
	d.cmd.Process.Kill()
	d.cmd.Wait()
	d.cmd = exec.Command(d.cmd.Path, d.cmd.Args[1:]...)
	if err := d.launch(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	took, err := d.pollRunning(n, d.start.Add(5*time.Minute))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	after, same := d.pids(), 0
	for name, pid := range before {
		if after[name] == pid {
			same++
		}
	}
	add(fmt.Sprintf("adopt %d programs after kill -9 (%d kept their pid)", n, same), took.Seconds(), none, "s", "")
}

// cgroupCost: the start of n programs with a cgroup per spawn against
// process groups only (CTLSUP_CGROUPS=off), interleaved three times; the
// medians and their ratio.
func cgroupCost(bin binaries, n int) {
	var with, without []float64
	for range 3 {
		for _, off := range []bool{false, true} {
			if off {
				os.Setenv("CTLSUP_CGROUPS", "off")
			}
			d, err := startDaemon("ctlsupd", bin.ctlsupd, sleepers(n))
			os.Unsetenv("CTLSUP_CGROUPS")
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return
			}
			took, err := d.waitRunning(n, 5*time.Minute)
			d.stop()
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return
			}
			if off {
				without = append(without, took.Seconds())
			} else {
				with = append(with, took.Seconds())
			}
		}
	}
	slices.Sort(with)
	slices.Sort(without)
	add(fmt.Sprintf("start until %d RUNNING, a cgroup per spawn", n), with[1], none, "s", "")
	add(fmt.Sprintf("start until %d RUNNING, process groups only", n), without[1], none, "s", "")
	add("cgroups / process groups, start time", with[1]/without[1], none, "ratio", "")
}

// pids is name → pid of every process.
func (d *daemon) pids() map[string]int {
	out := map[string]int{}
	v, err := d.client.Call("supervisor.getAllProcessInfo")
	if err != nil {
		return out
	}
	for _, p := range v.([]any) {
		st, _ := p.(xmlrpc.Struct)
		pid, _ := st.Get("pid")
		n, _ := pid.(int)
		out[member(p, "name")] = n
	}
	return out
}

// scale: 5000 programs under ctlsupd alone (supervisord needs minutes).
func print(kinds []string) {
	fmt.Printf("%-58s %12s %12s %8s  %s\n", "figure", "ctlsupd", "supervisord", "ratio", "target")
	fmt.Println(strings.Repeat("-", 110))
	for _, r := range rows {
		c, s, ratio := fmtNum(r.ctlsup), fmtNum(r.super), ""
		if r.ctlsup >= 0 && r.super > 0 {
			ratio = fmt.Sprintf("%.3f", r.ctlsup/r.super)
		}
		fmt.Printf("%-58s %12s %12s %8s  %s\n", r.figure+" ("+r.unit+")", c, s, ratio, r.target)
	}
	fmt.Println("\nratio = ctlsupd / supervisord: below 1 is better for ctlsupd.")
}

func fmtNum(v float64) string {
	if v < 0 {
		return "-"
	}
	return fmt.Sprintf("%.3f", v)
}
