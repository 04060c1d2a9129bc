package xmlrpc

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
)

func processInfos(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = Struct{{"name", fmt.Sprintf("worker_%04d", i)}, {"group", "app"}, {"start", 1764041720}, {"stop", 0},
			{"now", 1764041780}, {"state", 20}, {"statename", "RUNNING"}, {"spawnerr", ""}, {"exitstatus", 0},
			{"logfile", "/var/log/app/worker.log"}, {"stdout_logfile", "/var/log/app/worker.log"},
			{"stderr_logfile", "/var/log/app/worker.err.log"}, {"pid", 4242 + i}, {"description", "pid 4242, uptime 0:01:00"}}
	}
	return out
}

// BenchmarkEncodeAllProcessInfo1000 encodes getAllProcessInfo's answer
// for 1000 processes.
func BenchmarkEncodeAllProcessInfo1000(b *testing.B) {
	v := processInfos(1000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeResponse(v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeAllProcessInfo1000 decodes it, as ctlsup status does.
func BenchmarkDecodeAllProcessInfo1000(b *testing.B) {
	raw, _ := EncodeResponse(processInfos(1000))
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeResponse(bytes.NewBuffer(raw)); err != nil {
			b.Fatal(err)
		}
	}
}

// TestEncodeResponse_ProcessInfosInOneBuffer: getAllProcessInfo's answer
// is written into a buffer sized from its first struct, not one that
// doubles its way there (three times the answer's size in garbage).
func TestEncodeResponse_ProcessInfosInOneBuffer(t *testing.T) {
	v := processInfos(1000)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	out, err := EncodeResponse(v)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	limit := uint64(len(out)) * 3 / 2
	if raceBuild {
		limit *= 2
	}
	if allocated := after.TotalAlloc - before.TotalAlloc; allocated > limit {
		t.Errorf("encoding %d bytes allocated %d", len(out), allocated)
	}
}
