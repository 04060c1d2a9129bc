package metrics

import (
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/ctlsup/ctlsup/supervisor"
)

// The per-process series are written straight in the text format. Through
// client_golang they cost five allocations a series and a sort of every
// family: 36 ms and 371,000 allocations a scrape at 1000 programs, seconds
// at 10,000. Written here, a scrape allocates a few objects per process,
// none per series.

// row is one process as the families read it.
type row struct {
	labels string // `group="…",name="…"`, escaped
	info   *supervisor.ProcessInfo
	usage  supervisor.Usage
	out    supervisor.OutputStats
	holder string // the lease holder of a cluster singleton, if known
	held   bool   // this daemon holds its lease
}

// family is one metric of every process.
type family struct {
	name, help, typ string
	write           func(e *encoder, r *row)
	usage           bool // written only when there is a usage reading
}

var processFamilies = []family{
	{"ctlsup_process_state", "The process's supervisord state: 1 for the current one, 0 for the others.", "gauge", func(e *encoder, r *row) {
		for _, st := range supervisor.AllStates {
			e.sample(r, "state", stateNames[st], b2f(r.info.State == st))
		}
	}, false},
	{"ctlsup_process_up", "1 when the process is RUNNING.", "gauge", func(e *encoder, r *row) {
		e.sample(r, "", "", b2f(r.info.State == supervisor.Running))
	}, false},
	{"ctlsup_process_start_time_seconds", "When the process was last spawned; 0 if never.", "gauge", func(e *encoder, r *row) {
		start := 0.0
		if !r.info.Start.IsZero() {
			start = float64(r.info.Start.UnixMilli()) / 1000
		}
		e.sample(r, "", "", start)
	}, false},
	{"ctlsup_process_restarts_total", "Automatic restarts: after the process exited (exit) or failed to start (retry).", "counter", func(e *encoder, r *row) {
		e.sample(r, "reason", "exit", float64(r.info.RestartsAfterExit))
		e.sample(r, "reason", "retry", float64(r.info.RestartsAfterRetry))
	}, false},
	{"ctlsup_process_exits_total", "Exits, expected (stop, or an exit code in exitcodes) or not.", "counter", func(e *encoder, r *row) {
		e.sample(r, "expected", "false", float64(r.info.ExitsUnexpected))
		e.sample(r, "expected", "true", float64(r.info.ExitsExpected))
	}, false},
	{"ctlsup_process_last_exit_code", "The last exit code; -1 for a death by signal.", "gauge", func(e *encoder, r *row) {
		e.sample(r, "", "", float64(r.info.LastExitCode))
	}, false},
	{"ctlsup_process_backoff_delay_seconds", "The pending delay before the next restart; 0 when none.", "gauge", func(e *encoder, r *row) {
		e.sample(r, "", "", r.info.BackoffDelay.Seconds())
	}, false},
	{"ctlsup_process_resident_memory_bytes", "Resident memory of the process and everything it started.", "gauge", func(e *encoder, r *row) {
		e.sample(r, "", "", float64(r.usage.RSSBytes))
	}, true},
	{"ctlsup_process_memory_bytes", "The process's cgroup memory.current (page cache included); resident memory without the memory controller.", "gauge", func(e *encoder, r *row) {
		e.sample(r, "", "", float64(r.usage.MemoryBytes))
	}, true},
	{"ctlsup_process_memory_peak_bytes", "The highest memory of the current spawn (cgroup memory.peak where available, else the highest seen).", "gauge", func(e *encoder, r *row) {
		e.sample(r, "", "", float64(r.usage.MemoryPeakBytes))
	}, true},
	{"ctlsup_process_tasks", "Processes of the program now (pids.current, or its cgroup's or process group's members).", "gauge", func(e *encoder, r *row) {
		e.sample(r, "", "", float64(r.usage.Tasks))
	}, true},
	{"ctlsup_process_oom_kills_total", "Processes of the program the kernel killed for exceeding memory_max (cgroup memory.events oom_kill).", "counter", func(e *encoder, r *row) {
		e.sample(r, "", "", float64(r.usage.OOMKills))
	}, true},
	{"ctlsup_process_cpu_seconds_total", "User and system CPU time of the process and everything it started, across its restarts since the daemon started.", "counter", func(e *encoder, r *row) {
		e.sample(r, "", "", r.usage.CPUSeconds)
	}, true},
	{"ctlsup_log_written_bytes_total", "Output bytes written to the log files.", "counter", func(e *encoder, r *row) {
		e.sample(r, "stream", "stdout", float64(r.out.StdoutBytes))
		e.sample(r, "stream", "stderr", float64(r.out.StderrBytes))
	}, false},
	{"ctlsup_log_dropped_bytes_total", "Output bytes lost because the log could not be written.", "counter", func(e *encoder, r *row) {
		e.sample(r, "stream", "stdout", float64(r.out.StdoutDropped))
		e.sample(r, "stream", "stderr", float64(r.out.StderrDropped))
	}, false},
	{"ctlsup_log_rotations_total", "Log file rotations.", "counter", func(e *encoder, r *row) {
		e.sample(r, "", "", float64(r.out.Rotations))
	}, false},
}

// Cluster singletons only; node is this daemon's.
var leaseFamilies = []family{
	{"ctlsup_cluster_lease_held", "For a singleton = \"cluster\" process: 1 while this node holds its lease.", "gauge", func(e *encoder, r *row) {
		e.sample(r, "", "", b2f(r.held))
	}, false},
	{"ctlsup_cluster_lease_holder", "The node holding the process's lease, as a label, as far as this node knows; always 1.", "gauge", func(e *encoder, r *row) {
		if r.holder != "" {
			e.sample(r, "node", escapeLabel(r.holder), 1)
		}
	}, false},
}

var stateNames = func() map[supervisor.State]string {
	m := map[supervisor.State]string{}
	for _, st := range supervisor.AllStates {
		m[st] = st.String()
	}
	return m
}()

// writeProcesses writes every process family of src's engine, and
// returns what the scrape calls once it has answered (see usageCache.get).
func writeProcesses(e *encoder, src Source, usages *usageCache) (afterwards func()) {
	sup := src.Supervisor()
	if sup == nil {
		return nothing
	}
	infos := sup.Processes()
	usage, afterwards := usages.get(sup, len(infos))
	var holders map[string]string
	var held map[string]bool
	if src.Cluster != nil {
		holders, held = sup.LeaseView()
		e.node = src.Cluster().Node
	}
	rows := make([]row, len(infos))
	var singletons []*row
	for i, p := range infos {
		rows[i] = row{labels: `group="` + escapeLabel(p.Group) + `",name="` + escapeLabel(p.Name) + `"`,
			info: p, usage: usage[p.FullName()], out: p.OutputStats()}
		if holders != nil && p.Spec.ClusterSingleton {
			rows[i].holder, rows[i].held = holders[p.FullName()], held[p.FullName()]
			singletons = append(singletons, &rows[i])
		}
	}
	for _, f := range processFamilies {
		if f.usage && usage == nil {
			continue // no reading yet (see usageCache)
		}
		e.family(f)
		for i := range rows {
			f.write(e, &rows[i])
		}
	}
	if len(singletons) > 0 {
		for _, f := range leaseFamilies {
			e.family(f)
			for _, r := range singletons {
				f.write(e, r)
			}
		}
	}
	return afterwards
}

// encoder appends to one buffer and writes it out when it passes flushAt:
// a sample is a handful of appends, not a handful of calls through a
// bufio.Writer. After a failed write it writes nothing more.
type encoder struct {
	w    io.Writer
	err  error
	buf  []byte
	name string // the family being written
	node string
}

const flushAt = 64 << 10

func newEncoder(w io.Writer) *encoder {
	return &encoder{w: w, buf: make([]byte, 0, flushAt+4<<10)}
}

func (e *encoder) flush() error {
	if e.err == nil && len(e.buf) > 0 {
		_, e.err = e.w.Write(e.buf)
	}
	e.buf = e.buf[:0]
	return e.err
}

func (e *encoder) family(f family) { e.header(f.name, f.help, f.typ) }

// header begins the family name.
func (e *encoder) header(name, help, typ string) {
	e.name = name
	e.buf = append(e.buf, "# HELP "...)
	e.buf = append(e.buf, name...)
	e.buf = append(e.buf, ' ')
	e.buf = append(e.buf, help...)
	e.buf = append(e.buf, "\n# TYPE "...)
	e.buf = append(e.buf, name...)
	e.buf = append(e.buf, ' ')
	e.buf = append(e.buf, typ...)
	e.buf = append(e.buf, '\n')
}

// single writes a family of one series.
func (e *encoder) single(name, help, typ, labels string, v float64) {
	e.header(name, help, typ)
	e.series("", labels, v)
}

// series writes one series of the current family that is no process's:
// the family's name with suffix (a summary's _sum), and labels, already
// written as the format wants them (`mode="cgroup"`), if any.
func (e *encoder) series(suffix, labels string, v float64) {
	b := append(e.buf, e.name...)
	b = append(b, suffix...)
	if labels != "" {
		b = append(b, '{')
		b = append(b, labels...)
		b = append(b, '}')
	}
	b = append(b, ' ')
	b = appendValue(b, v)
	e.buf = append(b, '\n')
	if len(e.buf) >= flushAt {
		e.flush()
	}
}

// sample writes one series of the current family: r's labels and
// key="value" if key is set (value already escaped), label names in
// order as client libraries write them.
func (e *encoder) sample(r *row, key, value string, v float64) {
	b := append(e.buf, e.name...)
	b = append(b, '{')
	switch {
	case key == "":
		b = append(b, r.labels...)
	case key < "group":
		b = appendLabel(b, key, value)
		b = append(b, ',')
		b = append(b, r.labels...)
	default:
		b = append(b, r.labels...)
		b = append(b, ',')
		b = appendLabel(b, key, value)
	}
	b = append(b, "} "...)
	b = appendValue(b, v)
	e.buf = append(b, '\n')
	if len(e.buf) >= flushAt {
		e.flush()
	}
}

func appendLabel(b []byte, key, value string) []byte {
	b = append(b, key...)
	b = append(b, `="`...)
	b = append(b, value...)
	return append(b, '"')
}

// appendValue formats v as the text format wants it.
func appendValue(b []byte, v float64) []byte {
	switch {
	case v == math.Trunc(v) && math.Abs(v) < 1<<53:
		return strconv.AppendInt(b, int64(v), 10)
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func escapeLabel(s string) string {
	if !strings.ContainsAny(s, "\\\"\n") {
		return s
	}
	return labelEscaper.Replace(s)
}
