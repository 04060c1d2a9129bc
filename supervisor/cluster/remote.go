package cluster

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/ctlsup/ctlsup/supervisor/internal/proc"
)

// The service clients (etcd's gRPC, Redis, PostgreSQL) are heavy, and a
// daemon without [cluster] needs none of them: they run in a helper
// process, ctlsup-lease, which the daemon starts only for a cluster and
// talks to in JSON lines on its stdin and stdout. The timing stays in the
// daemon: a request counts from when the daemon sent it, before the
// helper forwards it.

// request is one line to the helper.
type request struct {
	ID   uint64   `json:"id"`
	Op   string   `json:"op"` // try, renew, release
	Key  string   `json:"key,omitempty"`
	Keys []string `json:"keys,omitempty"`
	// TimeoutMS bounds the helper's own request to the service.
	TimeoutMS int64 `json:"timeout_ms"`
}

// response is one line from the helper.
type response struct {
	ID      uint64   `json:"id"`
	Attempt Attempt  `json:"attempt"`
	Lost    []string `json:"lost,omitempty"`
	Err     string   `json:"err,omitempty"`
}

// Remote is a Backend served by a helper process, started again if it
// dies.
type Remote struct {
	argv []string
	log  *slog.Logger

	mu      sync.Mutex
	cmd     *proc.Process
	exited  chan struct{} // closed once cmd has ended
	in      io.WriteCloser
	pending map[uint64]chan response
	next    uint64
	started time.Time
	closed  bool
}

// NewRemote returns a backend that runs argv as its helper.
func NewRemote(argv []string, log *slog.Logger) *Remote {
	return &Remote{argv: argv, log: log, pending: map[uint64]chan response{}}
}

func (r *Remote) TryAcquire(ctx context.Context, key string) (Attempt, error) {
	resp, err := r.call(ctx, request{Op: "try", Key: key})
	return resp.Attempt, err
}

func (r *Remote) Renew(ctx context.Context, keys []string) ([]string, error) {
	resp, err := r.call(ctx, request{Op: "renew", Keys: keys})
	return resp.Lost, err
}

func (r *Remote) Release(ctx context.Context, key string) error {
	_, err := r.call(ctx, request{Op: "release", Key: key})
	return err
}

// Close ends the helper: its connections close, which gives up nothing a
// program still runs under (etcd and Redis keys end with their TTL).
func (r *Remote) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	if r.cmd == nil {
		return nil
	}
	r.in.Close()
	cmd, exited := r.cmd, r.exited
	r.mu.Unlock()
	select {
	case <-exited:
	case <-time.After(3 * time.Second):
		cmd.Signal(syscall.SIGKILL)
		<-exited
	}
	r.mu.Lock()
	return nil
}

func (r *Remote) call(ctx context.Context, req request) (response, error) {
	if dl, ok := ctx.Deadline(); ok {
		req.TimeoutMS = max(time.Until(dl).Milliseconds(), 1)
	}
	ch := make(chan response, 1)
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return response{}, errors.New("cluster backend closed")
	}
	if err := r.startLocked(); err != nil {
		r.mu.Unlock()
		return response{}, err
	}
	r.next++
	req.ID = r.next
	r.pending[req.ID] = ch
	b, _ := json.Marshal(req)
	_, err := r.in.Write(append(b, '\n'))
	r.mu.Unlock()
	if err != nil {
		r.forget(req.ID)
		return response{}, fmt.Errorf("ctlsup-lease: %w", err)
	}
	select {
	case resp := <-ch:
		if resp.Err != "" {
			return resp, errors.New(resp.Err)
		}
		return resp, nil
	case <-ctx.Done():
		r.forget(req.ID)
		return response{}, ctx.Err()
	}
}

func (r *Remote) forget(id uint64) {
	r.mu.Lock()
	delete(r.pending, id)
	r.mu.Unlock()
}

// startLocked starts the helper if none runs, at most once a second.
func (r *Remote) startLocked() error {
	if r.cmd != nil {
		return nil
	}
	if wait := time.Second - time.Since(r.started); wait > 0 {
		return fmt.Errorf("ctlsup-lease restarting")
	}
	r.started = time.Now()
	// Spawned as the programs are, under the daemon's reaper (exec.Cmd's
	// Wait would race it).
	childIn, in, err := os.Pipe()
	if err != nil {
		return err
	}
	out, childOut, err := os.Pipe()
	if err != nil {
		childIn.Close()
		in.Close()
		return err
	}
	path, err := exec.LookPath(r.argv[0])
	if err == nil {
		path, err = filepath.Abs(path)
	}
	var cmd *proc.Process
	if err == nil {
		cmd, err = proc.Start(proc.Attr{Path: path, Argv: r.argv, Env: os.Environ(), Umask: -1,
			Files: []*os.File{childIn, childOut, os.Stderr}, Session: true})
	}
	childIn.Close()
	childOut.Close()
	if err != nil {
		in.Close()
		out.Close()
		return fmt.Errorf("cannot start %s: %w", r.argv[0], err)
	}
	r.cmd, r.in, r.exited = cmd, in, make(chan struct{})
	go r.read(cmd, out, r.exited)
	return nil
}

// read dispatches the helper's answers until its output ends, then fails
// what was pending. exited closes then, not once the helper is reaped: a
// daemon closing down has stopped its reaper by the time it closes the
// helper, whose end it must not wait for.
func (r *Remote) read(cmd *proc.Process, out *os.File, exited chan struct{}) {
	defer out.Close()
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var resp response
		if json.Unmarshal(sc.Bytes(), &resp) != nil {
			continue
		}
		r.mu.Lock()
		ch := r.pending[resp.ID]
		delete(r.pending, resp.ID)
		r.mu.Unlock()
		if ch != nil {
			ch <- resp
		}
	}
	r.mu.Lock()
	closed := r.closed
	if r.cmd == cmd {
		r.cmd = nil
	}
	for id, ch := range r.pending {
		ch <- response{ID: id, Err: "ctlsup-lease exited"}
		delete(r.pending, id)
	}
	r.mu.Unlock()
	close(exited)
	if !closed {
		<-cmd.Done()
		r.log.Warn("ctlsup-lease exited; started again on the next request", "err", proc.Describe(cmd.Status()))
	}
}

// Serve answers a daemon's requests with b until in ends: the helper's
// main loop. Requests run concurrently, each bounded by its timeout.
func Serve(b Backend, in io.Reader, out io.Writer) error {
	var wmu sync.Mutex
	enc := json.NewEncoder(out)
	var wg sync.WaitGroup
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var req request
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			continue
		}
		wg.Go(func() {
			timeout := time.Duration(max(req.TimeoutMS, 1)) * time.Millisecond
			if req.TimeoutMS == 0 {
				timeout = 5 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			resp := response{ID: req.ID}
			var err error
			switch req.Op {
			case "try":
				resp.Attempt, err = b.TryAcquire(ctx, req.Key)
			case "renew":
				resp.Lost, err = b.Renew(ctx, req.Keys)
			case "release":
				err = b.Release(ctx, req.Key)
			default:
				err = fmt.Errorf("unknown operation %q", req.Op)
			}
			if err != nil {
				resp.Err = err.Error()
			}
			wmu.Lock()
			enc.Encode(resp)
			wmu.Unlock()
		})
	}
	wg.Wait()
	return errors.Join(sc.Err(), b.Close())
}
