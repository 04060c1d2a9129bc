package api_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ctlsup/ctlsup/api"
	"github.com/ctlsup/ctlsup/api/client"
	"github.com/ctlsup/ctlsup/supervisor"
	"github.com/ctlsup/ctlsup/supervisor/osruntime"
)

// TestLoad_ConcurrentClients: 50 clients issue status, start, stop and tail
// against 500 programs at once (5 s, CTLSUP_LOAD_SECONDS for longer). No
// call fails or hangs; latencies are reported. CI runs it under -race too.
func TestLoad_ConcurrentClients(t *testing.T) {
	dir := t.TempDir()
	var procs []supervisor.ProcessSpec
	for i := range 500 {
		procs = append(procs, sleeper(dir, "app", fmt.Sprintf("p%03d", i), func(s *supervisor.ProcessSpec) {
			s.StopWait = time.Second
		}))
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	sup := supervisor.New(osruntime.New(filepath.Join(dir, "state"), logger),
		[]supervisor.GroupSpec{{Name: "app", Processes: procs}})
	sup.Logger = logger
	if err := sup.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer sup.Close(context.Background())
	sock := filepath.Join(dir, "ctl.sock")
	l, err := api.ListenUnix(sock, 0o700, "")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: api.NewServer(sup)}
	go hs.Serve(l)
	defer hs.Close()

	const clients = 50
	dur := 5 * time.Second
	if s := os.Getenv("CTLSUP_LOAD_SECONDS"); s != "" {
		fmt.Sscan(s, &dur)
		dur *= time.Second
	}
	var mu sync.Mutex
	var lat []time.Duration
	var failures []string
	var wg sync.WaitGroup
	stop := time.Now().Add(dur)
	for c := range clients {
		wg.Go(func() {
			cl, _ := client.New("unix://"+sock, "", "")
			defer cl.Close()
			for i := 0; time.Now().Before(stop); i++ {
				name := fmt.Sprintf("app:p%03d", (c*10+i)%500)
				var call []any
				switch i % 4 {
				case 0:
					call = []any{"supervisor.getAllProcessInfo"}
				case 1:
					call = []any{"supervisor.stopProcess", name}
				case 2:
					call = []any{"supervisor.startProcess", name, false}
				case 3:
					call = []any{"supervisor.tailProcessStdoutLog", name, 0, 1024}
				}
				t0 := time.Now()
				_, err := cl.Call(call[0].(string), call[1:]...)
				d := time.Since(t0)
				mu.Lock()
				lat = append(lat, d)
				// Racing clients may find a process already started or
				// stopped: those faults are answers, not failures.
				if f := faultOf(err); err != nil && (f == nil || (f.Code != 60 && f.Code != 70)) {
					failures = append(failures, fmt.Sprintf("%v: %v", call, err))
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(lat)
	t.Logf("%d calls from %d clients in %s against 500 programs: p50 %s, p99 %s, max %s",
		len(lat), clients, dur, lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1])
	if len(failures) > 0 {
		t.Errorf("%d failed calls, first: %s", len(failures), failures[0])
	}
	if _, err := client.New("unix://"+sock, "", ""); err != nil {
		t.Fatal(err)
	}
}
