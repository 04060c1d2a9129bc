package main

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// heapGrowth is the GC percentage ctlsupd runs with. Its heap is mostly
// long-lived per-program state, and its steady work (the log pump)
// allocates nothing, so collections happen in bursts (a start, a reload)
// and cost little. What a burst leaves behind is mostly holes: spans that
// hold a few of the programs' objects among the garbage of the spawns,
// which no collection can give back, and they grow with the garbage a
// collection lets pile up. 10,000 idle programs held 65 MiB at Go's
// default of 100, 58-60 at 50 and 53-55 at 25, which starts them in the
// same time and CPU (five alternating starts of 1000: 1.26 s and 37-38
// ticks of CPU either way).
const heapGrowth = 25

// limitHeapGrowth sets heapGrowth, unless GOGC in the environment decides.
func limitHeapGrowth() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(heapGrowth)
	}
}

// A burst of work (spawning a thousand programs, a reload) leaves free heap
// behind that an idle daemon never needs again; the runtime hands it back to
// the kernel only slowly. Once the engine has been quiet for quietRelease,
// ctlsupd returns it at once, if there is enough to be worth a collection:
// one collection per burst costs a few milliseconds of CPU, and the start
// of 5000 programs left 2.7 MiB free (0.55 KiB a program, of 4.4), which a
// floor of 4 MiB kept. Each burst arms the timer once: an idle daemon never
// wakes for it.
// Stacks and large control answers keep the floor of 4 MiB: goroutines
// that need their stacks would have them shrunk in vain, and a dashboard
// fetching a status of a few thousand programs every few seconds would
// have each answer's pages returned and faulted in again.
const (
	quietRelease    = time.Second
	minRelease      = 1 << 20
	minStackRelease = 4 << 20
	bigAnswerBytes  = 4 << 20
)

var heapSamples = []metrics.Sample{
	{Name: "/memory/classes/heap/free:bytes"},    // free, still held
	{Name: "/memory/classes/heap/objects:bytes"}, // live and not yet swept
	{Name: "/gc/heap/live:bytes"},                // live at the last collection
	{Name: "/memory/classes/heap/stacks:bytes"},  // goroutine stacks
	{Name: "/sched/goroutines:goroutines"},
}

// idleStack is what an idle goroutine's stack should come down to: a
// burst grows the stacks of the goroutines that outlive it (servers,
// pollers) beyond what they need while they wait.
const idleStack = 4 << 10

// releaseIdleMemory collects and returns free heap to the kernel when at
// least minRelease could go back, and reports whether it did. Where the
// goroutines' stacks average more than idleStack, it collects twice more
// first: each collection halves the stacks that use less than a quarter of
// theirs.
func releaseIdleMemory() bool {
	metrics.Read(heapSamples)
	free := heapSamples[0].Value.Uint64()
	if objects, live := heapSamples[1].Value.Uint64(), heapSamples[2].Value.Uint64(); objects > live {
		free += objects - live
	}
	stacks, goroutines := heapSamples[3].Value.Uint64(), heapSamples[4].Value.Uint64()
	shrink := stacks > goroutines*idleStack && stacks-goroutines*idleStack >= minStackRelease
	if free < minRelease && !shrink {
		return false
	}
	if shrink {
		runtime.GC()
		runtime.GC()
	}
	debug.FreeOSMemory()
	return true
}
