package config

import (
	"strconv"
	"strings"

	"github.com/ctlsup/ctlsup/supervisor"
)

// limits reads a program's resource limits: sizes as logfile_maxbytes
// takes them, cpu_max as systemd's CPUQuota= ("150%"), oom_score_adj as
// the kernel's -1000..1000.
func limits(r *reader) supervisor.Limits {
	l := supervisor.Limits{
		MemoryMax:     r.size("memory_max", 0),
		MemoryHigh:    r.size("memory_high", 0),
		PidsMax:       r.integer("pids_max", 0, 1),
		MemoryRestart: r.size("memory_restart", 0),
		CPUMax:        cpuQuota(r),
	}
	if r.has("oom_score_adj") {
		n := r.integer("oom_score_adj", 0, -1000)
		if n > 1000 {
			r.fail("oom_score_adj", "oom_score_adj = %d, but it must be between -1000 and 1000", n)
		}
		l.OOMScoreAdj = &n
	}
	return l
}

func cpuQuota(r *reader) int {
	v, ok := r.m["cpu_max"]
	if !ok {
		return 0
	}
	s, isStr := v.(string)
	n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(s), "%"))
	if !isStr || !strings.HasSuffix(strings.TrimSpace(s), "%") || err != nil || n < 1 {
		r.fail("cpu_max", `cpu_max must be a percentage of one CPU such as "50%%" or "200%%"`)
		return 0
	}
	return n
}
