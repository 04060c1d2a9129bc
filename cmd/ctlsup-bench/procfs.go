package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ctlsup/ctlsup/api/xmlrpc"
)

func statename(v any) string { return member(v, "statename") }
func spawnerr(v any) string  { return member(v, "spawnerr") }

func member(v any, name string) string {
	st, _ := v.(xmlrpc.Struct)
	s, _ := st.Get(name)
	str, _ := s.(string)
	return str
}

// statusKB reads a "Name:   123 kB" line of /proc/PID/status.
func statusKB(path, key string) float64 {
	b, _ := os.ReadFile(path)
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.ParseFloat(f[0], 64)
				return n
			}
		}
	}
	return 0
}

// memMiB is the daemon's RSS and PSS in MiB.
func memMiB(pid int) (rss, pss float64) {
	p := "/proc/" + strconv.Itoa(pid)
	return statusKB(p+"/status", "VmRSS") / 1024, statusKB(p+"/smaps_rollup", "Pss") / 1024
}

// cpuSeconds is the daemon's user + system time.
func cpuSeconds(pid int) float64 {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return (u + s) / 100
}

// contextSwitches sums both kinds over every thread of the daemon.
func contextSwitches(pid int) float64 {
	tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/status")
	total := 0.0
	for _, t := range tasks {
		total += statusKB(t, "voluntary_ctxt_switches") + statusKB(t, "nonvoluntary_ctxt_switches")
	}
	return total
}

// childPids lists the daemon's direct children.
func childPids(pid int) map[int]bool {
	out := map[int]bool{}
	tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/children")
	for _, t := range tasks {
		b, _ := os.ReadFile(t)
		for _, f := range strings.Fields(string(b)) {
			n, _ := strconv.Atoi(f)
			out[n] = true
		}
	}
	return out
}

// childStarts maps each direct child of pid to its start time, which tells
// it from a later process that reuses its pid.
func childStarts(pid int) map[int]string {
	out := map[int]string{}
	for kid := range childPids(pid) {
		out[kid] = startTime(kid)
	}
	return out
}

// startTime is field 22 of /proc/PID/stat, "" once the process is gone.
func startTime(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 20 {
		return ""
	}
	return f[19]
}

// firstSpawnDelay is how long after the daemon pid's own start its first
// child running command began, by their start times in /proc (clock ticks
// of 10 ms): the daemon's preparation (loading its configuration, its
// state, helpers) before its first spawn. -1 if it has no such child.
func firstSpawnDelay(pid int, command string) float64 {
	daemon, err := strconv.ParseInt(startTime(pid), 10, 64)
	if err != nil {
		return none
	}
	first := int64(-1)
	for kid := range childPids(pid) {
		comm, _ := os.ReadFile("/proc/" + strconv.Itoa(kid) + "/comm")
		t, err := strconv.ParseInt(startTime(kid), 10, 64)
		if err == nil && strings.TrimSpace(string(comm)) == command && (first < 0 || t < first) {
			first = t
		}
	}
	if first < 0 {
		return none
	}
	return float64(first-daemon) / 100
}
