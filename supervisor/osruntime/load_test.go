package osruntime

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/ctlsup/ctlsup/supervisor"
)

func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func openFds() int {
	ents, _ := os.ReadDir("/proc/self/fd")
	return len(ents)
}

// TestLoad_CrashLoopFleet: 1000 programs that exit at once, restarted
// forever. The back-off holds the spawn rate down, status answers fast
// throughout, and memory does not grow. (Longer runs: CTLSUP_LOAD_SECONDS.)
func TestLoad_CrashLoopFleet(t *testing.T) {
	dur := 10 * time.Second
	if s := os.Getenv("CTLSUP_LOAD_SECONDS"); s != "" {
		fmt.Sscan(s, &dur)
		dur *= time.Second
	}
	dir := t.TempDir()
	var specs []*supervisor.ProcessSpec
	for i := range 1000 {
		specs = append(specs, helperSpec(dir, fmt.Sprintf("crash%04d", i), []string{"/bin/false"}, func(s *supervisor.ProcessSpec) {
			s.AutoRestart, s.StartRetries = supervisor.RestartAlways, -1
			s.Stdout, s.Stderr = supervisor.LogSpec{}, supervisor.LogSpec{}
		}))
	}
	h := openOS(t, specs...)
	cpu0, t0 := cpuSeconds(), time.Now()
	var lat []time.Duration
	var heapMid uint64
	for time.Since(t0) < dur {
		s := time.Now()
		infos := h.s.Processes()
		lat = append(lat, time.Since(s))
		if len(infos) != 1000 {
			t.Fatalf("%d processes", len(infos))
		}
		if heapMid == 0 && time.Since(t0) > dur/2 {
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			heapMid = ms.HeapInuse
		}
		time.Sleep(10 * time.Millisecond)
	}
	cpu := cpuSeconds() - cpu0
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	slices.Sort(lat)
	p99 := lat[len(lat)*99/100]
	restarts := 0
	for _, p := range h.s.Processes() {
		restarts += p.Restarts
	}
	t.Logf("1000 crash-looping programs for %s: %d restarts, CPU %.2fs (%.0f%% of a core, test included), status p99 %s, heap %d -> %d KiB",
		dur, restarts, cpu, 100*cpu/dur.Seconds(), p99, heapMid/1024, ms.HeapInuse/1024)
	// Exponential back-off: at most a restart at once, then 1s, 2s, 4s ...
	if perProc := float64(restarts) / 1000; perProc > 2+dur.Seconds()/2 {
		t.Errorf("%.1f restarts per program in %s: the back-off does not hold", perProc, dur)
	}
	if ms.HeapInuse > heapMid*2+(8<<20) {
		t.Errorf("heap grew from %d to %d KiB", heapMid/1024, ms.HeapInuse/1024)
	}
}

// TestLoad_UpdateCycles applies 200 configuration changes to 500 running
// programs: untouched processes keep their pids, and no goroutine or
// descriptor leaks.
func TestLoad_UpdateCycles(t *testing.T) {
	dir := t.TempDir()
	var procs []supervisor.ProcessSpec
	for i := range 500 {
		procs = append(procs, *helperSpec(dir, fmt.Sprintf("p%03d", i), []string{"/bin/sleep", "1000"}, func(s *supervisor.ProcessSpec) {
			s.Group = "app"
			s.Stdout, s.Stderr = supervisor.LogSpec{}, supervisor.LogSpec{}
		}))
	}
	logger := quietLogger()
	s := supervisor.New(New(filepath.Join(dir, "state"), logger), []supervisor.GroupSpec{{Name: "app", Processes: procs}})
	s.Logger = logger
	if err := s.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	pids := func() map[string]int {
		out := map[string]int{}
		for _, p := range s.Processes() {
			out[p.Name] = p.Pid
		}
		return out
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		running := 0
		for _, p := range s.Processes() {
			if p.State == supervisor.Running {
				running++
			}
		}
		if running == 500 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 500 running", running)
		}
		time.Sleep(20 * time.Millisecond)
	}
	before := pids()
	g0, fd0 := runtime.NumGoroutine(), openFds()
	t0 := time.Now()
	for cycle := range 200 {
		next := slices.Clone(procs)
		// Each cycle changes one program (p000..p009 in turn) and leaves
		// the rest alone; even cycles change it back.
		i := cycle % 10
		next[i].Argv = []string{"/bin/sleep", fmt.Sprint(1000 + cycle%2)}
		if _, err := s.Apply(context.Background(), []supervisor.GroupSpec{{Name: "app", Processes: next}}); err != nil {
			t.Fatal(err)
		}
	}
	after := pids()
	for name, pid := range before {
		if n := name[1:]; n >= "010" && after[name] != pid {
			t.Errorf("untouched %s restarted", name)
		}
	}
	time.Sleep(200 * time.Millisecond)
	g1, fd1 := runtime.NumGoroutine(), openFds()
	t.Logf("200 updates over 500 programs in %s; goroutines %d -> %d, fds %d -> %d", time.Since(t0), g0, g1, fd0, fd1)
	if g1 > g0+20 || fd1 > fd0+20 {
		t.Errorf("leak: goroutines %d -> %d, fds %d -> %d", g0, g1, fd0, fd1)
	}
}
