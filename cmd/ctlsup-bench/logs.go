package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// logCapture runs two producers under each daemon, with rotation at 50MB
// and 10 backups: bulk bytes through `yes | head -c`, and many one-write
// lines from an unbuffered Python program. Each reports its own wall time;
// the baseline is the same producer into `| cat > file`.
func logCapture(bin binaries, kinds []string, bulk, lines int) {
	producers := []struct{ name, cmd string }{
		{fmt.Sprintf("%d MiB in large blocks", bulk>>20), fmt.Sprintf("yes | head -c %d", bulk)},
		{fmt.Sprintf("%d lines of 100 bytes, a write(2) each", lines),
			fmt.Sprintf(`python3 -u -c 'import os; l=b"x"*99+b"\n"; [os.write(1,l) for _ in range(%d)]'`, lines)},
	}
	add(fmt.Sprintf("floor: writing %d MiB into a file once, no daemon", bulk>>20), writeFloor(bulk), none, "ms/MiB",
		"the kernel's copy into the page cache, which capture cannot avoid")
	// Wall times vary by 10-20% from run to run on a small VM: every figure
	// is the median of three runs.
	const runs = 3
	for _, p := range producers {
		var bases []float64
		for range runs {
			bases = append(bases, baseline(p.cmd))
		}
		base := middle(bases)
		wall := map[string]float64{}
		cpuPerMiB := map[string]float64{}
		for _, k := range kinds {
			var walls, cpus []float64
			for range runs {
				w, c, err := capture(bin, k, p.cmd)
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					continue
				}
				walls, cpus = append(walls, w), append(cpus, c)
			}
			if len(walls) > 0 {
				wall[k], cpuPerMiB[k] = middle(walls), middle(cpus)
			}
		}
		get := func(m map[string]float64, k string) float64 {
			if v, ok := m[k]; ok {
				return v
			}
			return none
		}
		add("log capture, "+p.name+": producer wall time", get(wall, "ctlsupd"), get(wall, "supervisord"), "s", fmt.Sprintf("within 5%% of baseline %.3fs", base))
		add("log capture, "+p.name+": daemon CPU per MiB", get(cpuPerMiB, "ctlsupd"), get(cpuPerMiB, "supervisord"), "ms/MiB", "≤ 1/5")
	}
}

// middle is the median.
func middle(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
}

// timed wraps a producer so it writes its own wall time (ns) to file.
func timed(cmd, file string) string {
	return fmt.Sprintf(`s=$(date +%%s%%N); %s; e=$(date +%%s%%N); echo $((e-s)) > %s; exec sleep 100000`, cmd, file)
}

func baseline(cmd string) float64 {
	dir, _ := os.MkdirTemp("", "ctlsup-bench-base-")
	defer os.RemoveAll(dir)
	t := time.Now()
	exec.Command("/bin/sh", "-c", fmt.Sprintf("(%s) | cat > %s", cmd, filepath.Join(dir, "out"))).Run()
	return time.Since(t).Seconds()
}

// capture runs one producer under a daemon and returns its wall time and
// the daemon's CPU milliseconds per MiB captured.
func capture(bin binaries, kind, cmd string) (float64, float64, error) {
	result, _ := os.CreateTemp("", "ctlsup-bench-result-")
	result.Close()
	os.Remove(result.Name())
	defer os.Remove(result.Name())
	prog := program{name: "producer", command: "/bin/sh -c " + shellQuote(timed(cmd, result.Name())),
		maxBytes: "50MB", backups: 10}
	d, err := startDaemon(kind, bin.ctlsupd, []program{prog})
	if err != nil {
		return 0, 0, err
	}
	defer d.stop()
	cpu0 := cpuSeconds(d.pid())
	deadline := time.Now().Add(10 * time.Minute)
	var wallNs float64
	for {
		if b, err := os.ReadFile(result.Name()); err == nil && len(strings.TrimSpace(string(b))) > 0 {
			wallNs, _ = strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
			break
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("%s: producer did not finish", kind)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Wait for the daemon to have written what the producer wrote.
	captured := 0.0
	for range 600 {
		captured = logBytes(d.logPath("producer"))
		time.Sleep(100 * time.Millisecond)
		if logBytes(d.logPath("producer")) == captured {
			break
		}
	}
	cpu := cpuSeconds(d.pid()) - cpu0
	return wallNs / 1e9, cpu * 1000 / (captured / (1 << 20)), nil
}

// logBytes sums a log and its rotated files, whatever the naming scheme.
func logBytes(path string) float64 {
	matches, _ := filepath.Glob(strings.TrimSuffix(path, ".log") + "*")
	total := 0.0
	for _, m := range matches {
		if st, err := os.Stat(m); err == nil {
			total += float64(st.Size())
		}
	}
	return total
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// writeFloor is the CPU this process spends writing n bytes into a new
// file from memory: one copy into the page cache, what any log capture
// pays at least, in milliseconds per MiB.
func writeFloor(n int) float64 {
	dir, _ := os.MkdirTemp("", "ctlsup-bench-floor-")
	defer os.RemoveAll(dir)
	f, err := os.Create(filepath.Join(dir, "out"))
	if err != nil {
		return none
	}
	defer f.Close()
	buf := []byte(strings.Repeat("y\n", 1<<15)) // 64 KiB
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := threadCPU()
	for written := 0; written < n; written += len(buf) {
		f.Write(buf)
	}
	return (threadCPU() - before) * 1000 / float64(n>>20)
}

func threadCPU() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(1, &ru) // RUSAGE_THREAD
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
