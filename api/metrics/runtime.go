package metrics

import (
	"bytes"
	"encoding/binary"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// The daemon's Go runtime and process series, under the names every
// dashboard knows from Prometheus's Go client (go_*, process_*). They are
// written here rather than through that client: it and the protobuf
// runtime it needs were a sixth of ctlsupd's binary, whose pages are most
// of an idle daemon's resident memory.

// runtimeSamples are the runtime/metrics the go_memstats_* figures are
// made of, in the order of the sample constants below.
var runtimeSampleNames = []string{
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/released:bytes",
	"/memory/classes/heap/stacks:bytes",
	"/memory/classes/os-stacks:bytes",
	"/memory/classes/metadata/mcache/inuse:bytes",
	"/memory/classes/metadata/mcache/free:bytes",
	"/memory/classes/metadata/mspan/inuse:bytes",
	"/memory/classes/metadata/mspan/free:bytes",
	"/memory/classes/metadata/other:bytes",
	"/memory/classes/profiling/buckets:bytes",
	"/memory/classes/other:bytes",
	"/memory/classes/total:bytes",
	"/gc/heap/allocs:bytes",
	"/gc/heap/allocs:objects",
	"/gc/heap/frees:objects",
	"/gc/heap/tiny/allocs:objects",
	"/gc/heap/objects:objects",
	"/gc/heap/goal:bytes",
	"/gc/gogc:percent",
	"/gc/gomemlimit:bytes",
	"/sched/gomaxprocs:threads",
}

const (
	sHeapObjects = iota
	sHeapUnused
	sHeapFree
	sHeapReleased
	sStacks
	sOSStacks
	sMCacheInuse
	sMCacheFree
	sMSpanInuse
	sMSpanFree
	sGCMeta
	sProfBuckets
	sOther
	sTotal
	sAllocBytes
	sAllocObjects
	sFreeObjects
	sTinyAllocs
	sLiveObjects
	sHeapGoal
	sGOGC
	sMemLimit
	sGOMAXPROCS
)

// runtimeReader reads the runtime's figures. A scrape reads into buffers
// of its own: nothing is shared, so a scraper that stops reading holds up
// no other.
type runtimeReader struct {
	start float64 // process start, seconds since the epoch
}

func newRuntimeReader() *runtimeReader { return &runtimeReader{start: processStart()} }

// runtimeReading is one scrape's reading.
type runtimeReading struct {
	samples []metrics.Sample
	gc      debug.GCStats
}

func (r *runtimeReading) value(i int) float64 {
	v := r.samples[i].Value
	switch v.Kind() {
	case metrics.KindUint64:
		return float64(v.Uint64())
	case metrics.KindFloat64:
		return v.Float64()
	}
	return 0
}

// write writes the go_* and process_* families.
func (rr *runtimeReader) write(e *encoder) {
	if e.err != nil {
		return // the scraper went away
	}
	r := &runtimeReading{samples: make([]metrics.Sample, len(runtimeSampleNames))}
	for i, name := range runtimeSampleNames {
		r.samples[i].Name = name
	}
	metrics.Read(r.samples)
	r.gc.PauseQuantiles = make([]time.Duration, 5)
	debug.ReadGCStats(&r.gc)
	v := r.value

	e.header("go_gc_duration_seconds", "Stop-the-world pauses of the garbage collector: quantiles of the recent ones, sum and count of all.", "summary")
	for i, q := range []string{`quantile="0"`, `quantile="0.25"`, `quantile="0.5"`, `quantile="0.75"`, `quantile="1"`} {
		e.series("", q, r.gc.PauseQuantiles[i].Seconds())
	}
	e.series("_sum", "", r.gc.PauseTotal.Seconds())
	e.series("_count", "", float64(r.gc.NumGC))
	gauge := func(name, help string, x float64) { e.single(name, help, "gauge", "", x) }
	counter := func(name, help string, x float64) { e.single(name, help, "counter", "", x) }
	gauge("go_gc_gogc_percent", "The collector's heap growth target, in percent (GOGC).", v(sGOGC))
	gauge("go_gc_gomemlimit_bytes", "The runtime's soft memory limit (GOMEMLIMIT).", v(sMemLimit))
	// NumGoroutine, not /sched/goroutines, which counts the runtime's own.
	gauge("go_goroutines", "Goroutines that exist now.", float64(runtime.NumGoroutine()))
	e.single("go_info", "The Go version ctlsupd was built with, as a label; always 1.", "gauge", `version="`+escapeLabel(runtime.Version())+`"`, 1)
	gauge("go_memstats_alloc_bytes", "Bytes of heap objects, live or not yet swept.", v(sHeapObjects))
	counter("go_memstats_alloc_bytes_total", "Bytes of heap objects ever allocated.", v(sAllocBytes))
	gauge("go_memstats_buck_hash_sys_bytes", "Bytes of the profiling bucket table.", v(sProfBuckets))
	counter("go_memstats_frees_total", "Heap objects ever freed.", v(sFreeObjects)+v(sTinyAllocs))
	gauge("go_memstats_gc_sys_bytes", "Bytes of the collector's metadata.", v(sGCMeta))
	gauge("go_memstats_heap_alloc_bytes", "Bytes of heap objects, live or not yet swept (as go_memstats_alloc_bytes).", v(sHeapObjects))
	gauge("go_memstats_heap_idle_bytes", "Bytes of heap spans holding no object, released or not.", v(sHeapReleased)+v(sHeapFree))
	gauge("go_memstats_heap_inuse_bytes", "Bytes of heap spans holding objects.", v(sHeapObjects)+v(sHeapUnused))
	gauge("go_memstats_heap_objects", "Heap objects, live or not yet swept.", v(sLiveObjects))
	gauge("go_memstats_heap_released_bytes", "Bytes of heap returned to the kernel.", v(sHeapReleased))
	gauge("go_memstats_heap_sys_bytes", "Bytes of heap address space obtained from the kernel.", v(sHeapObjects)+v(sHeapUnused)+v(sHeapReleased)+v(sHeapFree))
	gauge("go_memstats_last_gc_time_seconds", "When the last collection ended, in seconds since the epoch; 0 before the first.", lastGC(r.gc.LastGC))
	counter("go_memstats_mallocs_total", "Heap objects ever allocated.", v(sAllocObjects)+v(sTinyAllocs))
	gauge("go_memstats_mcache_inuse_bytes", "Bytes of per-P allocation caches in use.", v(sMCacheInuse))
	gauge("go_memstats_mcache_sys_bytes", "Bytes of per-P allocation caches obtained from the kernel.", v(sMCacheInuse)+v(sMCacheFree))
	gauge("go_memstats_mspan_inuse_bytes", "Bytes of span descriptors in use.", v(sMSpanInuse))
	gauge("go_memstats_mspan_sys_bytes", "Bytes of span descriptors obtained from the kernel.", v(sMSpanInuse)+v(sMSpanFree))
	gauge("go_memstats_next_gc_bytes", "The heap size at which the next collection begins.", v(sHeapGoal))
	gauge("go_memstats_other_sys_bytes", "Bytes of other runtime allocations.", v(sOther))
	gauge("go_memstats_stack_inuse_bytes", "Bytes of goroutine stacks in heap spans.", v(sStacks))
	gauge("go_memstats_stack_sys_bytes", "Bytes of stacks obtained from the kernel.", v(sStacks)+v(sOSStacks))
	gauge("go_memstats_sys_bytes", "Bytes the runtime obtained from the kernel.", v(sTotal))
	gauge("go_sched_gomaxprocs_threads", "Threads that may run Go code at once (GOMAXPROCS).", v(sGOMAXPROCS))
	threads, _ := runtime.ThreadCreateProfile(nil)
	gauge("go_threads", "Operating system threads the runtime created.", float64(threads))

	st := selfStatus()
	if st.ok {
		counter("process_cpu_seconds_total", "User and system CPU time of ctlsupd itself, in seconds.", st.cpu)
	}
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) == nil {
		gauge("process_max_fds", "ctlsupd's limit of open descriptors (soft RLIMIT_NOFILE).", float64(lim.Cur))
	}
	if in, out, ok := netOctets(); ok {
		counter("process_network_receive_bytes_total", "Bytes received over IP in ctlsupd's network namespace (IpExt InOctets).", in)
		counter("process_network_transmit_bytes_total", "Bytes sent over IP in ctlsupd's network namespace (IpExt OutOctets).", out)
	}
	if n, ok := openFDs(); ok {
		gauge("process_open_fds", "ctlsupd's open descriptors.", float64(n))
	}
	if st.ok {
		gauge("process_resident_memory_bytes", "ctlsupd's resident memory.", st.rss)
	}
	if rr.start > 0 {
		gauge("process_start_time_seconds", "When ctlsupd started, in seconds since the epoch.", rr.start)
	}
	if st.ok {
		gauge("process_virtual_memory_bytes", "ctlsupd's virtual memory size.", st.vsize)
	}
	if unix.Getrlimit(unix.RLIMIT_AS, &lim) == nil {
		gauge("process_virtual_memory_max_bytes", "ctlsupd's limit of virtual memory (soft RLIMIT_AS).", float64(lim.Cur))
	}
}

func lastGC(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

// userHZ is the unit of /proc's CPU times on every Linux architecture Go
// supports.
const userHZ = 100

type selfStat struct {
	ok              bool
	cpu, rss, vsize float64
}

// selfStatus reads ctlsupd's CPU time and memory from /proc/self/stat.
func selfStatus() selfStat {
	f, ok := statFields(read("/proc/self/stat"))
	if !ok {
		return selfStat{}
	}
	// Fields after the command: state is [0], utime [11], stime [12],
	// vsize [20], rss in pages [21].
	utime, _ := strconv.ParseUint(string(f[11]), 10, 64)
	stime, _ := strconv.ParseUint(string(f[12]), 10, 64)
	vsize, _ := strconv.ParseUint(string(f[20]), 10, 64)
	rss, _ := strconv.ParseUint(string(f[21]), 10, 64)
	return selfStat{ok: true, cpu: float64(utime+stime) / userHZ,
		vsize: float64(vsize), rss: float64(rss) * float64(os.Getpagesize())}
}

// statFields splits a /proc/PID/stat line after its command, which may
// hold spaces and parentheses.
func statFields(b []byte) ([][]byte, bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, false
	}
	f := bytes.Fields(b[i+1:])
	return f, len(f) > 21
}

// processStart is when this process started, from its start time in
// clock ticks after boot and the boot time in /proc/stat.
func processStart() float64 {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	f, ok := statFields(b)
	if !ok {
		return 0
	}
	ticks, err := strconv.ParseUint(string(f[19]), 10, 64)
	if err != nil {
		return 0
	}
	b, err = os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	for line := range bytes.Lines(b) {
		if rest, ok := bytes.CutPrefix(line, []byte("btime ")); ok {
			boot, err := strconv.ParseUint(string(bytes.TrimSpace(rest)), 10, 64)
			if err != nil {
				return 0
			}
			return float64(boot) + float64(ticks)/userHZ
		}
	}
	return 0
}

// netOctets reads IpExt's InOctets and OutOctets from
// /proc/self/net/netstat; one the kernel does not list reads 0.
func netOctets() (in, out float64, ok bool) {
	b := read("/proc/self/net/netstat")
	if b == nil {
		return 0, 0, false
	}
	var names [][]byte
	for line := range bytes.Lines(b) {
		rest, found := bytes.CutPrefix(line, []byte("IpExt:"))
		if !found {
			continue
		}
		if names == nil {
			names = bytes.Fields(rest)
			continue
		}
		for i, v := range bytes.Fields(rest) {
			if i >= len(names) {
				break
			}
			x, err := strconv.ParseFloat(string(v), 64)
			if err != nil {
				continue
			}
			switch string(names[i]) {
			case "InOctets":
				in = x
			case "OutOctets":
				out = x
			}
		}
		break
	}
	return in, out, true
}

// read reads a small /proc file; nil if it cannot.
func read(path string) []byte {
	b, _ := os.ReadFile(path)
	return b
}

// openFDs counts ctlsupd's descriptors. Since Linux 6.2 the size of
// /proc/self/fd is that count, which takes no descriptor (a daemon out of
// them still reports how many it has) and no listing of 20,000 entries at
// 10,000 programs; older kernels list them.
func openFDs() (int, bool) {
	var st unix.Stat_t
	if unix.Stat("/proc/self/fd", &st) == nil && st.Size > 0 {
		return int(st.Size), true
	}
	fd, err := unix.Open("/proc/self/fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, false
	}
	defer unix.Close(fd)
	dirents := make([]byte, 8<<10)
	count := 0
	for {
		n, err := unix.Getdents(fd, dirents)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, false
		}
		if n <= 0 {
			return count - 1, true // the one just opened to list them
		}
		for b := dirents[:n]; len(b) >= 19; {
			// linux_dirent64's d_reclen: 8-aligned, past a name and its NUL.
			reclen := int(binary.NativeEndian.Uint16(b[16:18]))
			if reclen < 24 || reclen > len(b) {
				break
			}
			if name := b[19:reclen]; !(name[0] == '.' && (name[1] == 0 || name[1] == '.' && name[2] == 0)) {
				count++
			}
			b = b[reclen:]
		}
	}
}
