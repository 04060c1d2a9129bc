package testhelper

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is a real server a test started on a free port in a temp dir.
type Server struct {
	Addr  string // host:port
	start func() *exec.Cmd
	cmd   *exec.Cmd
	log   *SyncBuffer
	// stopSignal is the server's own "stop now": PostgreSQL's SIGTERM
	// waits for every client to leave, and Stop's SIGKILL 15 s later
	// would leave its backends orphaned, serving on.
	stopSignal syscall.Signal
	// ready, if set, says the server answers: listening is not enough
	// for PostgreSQL, which refuses sessions while it starts up.
	ready func() bool
}

// Stop stops the server (its data stays, for Start).
func (s *Server) Stop() {
	if s.cmd != nil {
		StopWith(s.cmd, cmp.Or(s.stopSignal, syscall.SIGTERM))
		s.cmd = nil
	}
}

// Start starts the server again on the same port and data.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	s.cmd = s.start()
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", s.Addr, time.Second); err == nil {
			c.Close()
			if s.ready == nil || s.ready() {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not listen on %s: %s", s.cmd.Path, s.Addr, s.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// FreePort returns a TCP port nothing listens on now.
func FreePort(t testing.TB) int {
	t.Helper()
	// Below the kernel's ephemeral range: a port picked there may be
	// given to some other socket's connect (tests run in parallel) before
	// the server that is to listen on it binds it.
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 12000 {
				low = n
			}
		}
	}
	freePorts.Lock()
	defer freePorts.Unlock()
	for range 1000 {
		port := 10000 + rand.IntN(low-10000)
		if freePorts.given[port] {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		l.Close()
		freePorts.given[port] = true
		return port
	}
	t.Fatal("no free port below the ephemeral range")
	return 0
}

// freePorts are the ports FreePort gave in this process: each once.
var freePorts = struct {
	sync.Mutex
	given map[int]bool
}{given: map[int]bool{}}

func newServer(t testing.TB, port int, start func() *exec.Cmd, ready func() bool) *Server {
	s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port), log: &SyncBuffer{}, ready: ready}
	s.start = func() *exec.Cmd {
		c := start()
		c.Stdout, c.Stderr = s.log, s.log
		return c
	}
	s.Start(t)
	t.Cleanup(s.Stop)
	return s
}

// StartRedis runs Debian's redis-server with no persistence.
func StartRedis(t testing.TB) *Server {
	t.Helper()
	bin := RequirePackage(t, "redis-server", "redis-server")
	dir, port := t.TempDir(), FreePort(t)
	return newServer(t, port, func() *exec.Cmd {
		return exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no")
	}, nil)
}

// StartEtcd runs Debian's etcd as a one-member cluster.
func StartEtcd(t testing.TB) *Server {
	t.Helper()
	bin := RequirePackage(t, "etcd", "etcd-server")
	dir, port, peer := t.TempDir(), FreePort(t), FreePort(t)
	client := fmt.Sprintf("http://127.0.0.1:%d", port)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peer)
	return newServer(t, port, func() *exec.Cmd {
		c := exec.Command(bin, "--name", "test", "--data-dir", filepath.Join(dir, "data"),
			"--listen-client-urls", client, "--advertise-client-urls", client,
			"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
			"--initial-cluster", "test="+peerURL)
		return c
	}, nil)
}

// StartPostgres runs Debian's PostgreSQL server in a fresh cluster owned
// by the postgres user (it refuses to run as root), trusting local TCP.
// The URL is for database postgres as user postgres.
func StartPostgres(t testing.TB) (*Server, string) {
	t.Helper()
	bindir := "/usr/lib/postgresql/15/bin"
	RequirePackage(t, filepath.Join(bindir, "postgres"), "postgresql")
	dir, port := t.TempDir(), FreePort(t)
	data := filepath.Join(dir, "data")
	var cred *syscall.Credential
	if os.Getuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("no postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		os.Chmod(dir, 0o755)
		os.Chmod(filepath.Dir(dir), 0o755) // t.TempDir's own parent is 0700
		os.MkdirAll(data, 0o700)
		os.Chown(data, uid, gid)
	}
	initdb := exec.Command(filepath.Join(bindir, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Dir = "/"
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	s := newServer(t, port, func() *exec.Cmd {
		c := exec.Command(filepath.Join(bindir, "postgres"), "-D", data, "-p", strconv.Itoa(port),
			"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+data, "-c", "fsync=off")
		c.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		c.Dir = "/"
		return c
	}, func() bool {
		return exec.Command(filepath.Join(bindir, "pg_isready"), "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(port)).Run() == nil
	})
	s.stopSignal = syscall.SIGINT // fast shutdown: sessions end at once, as `pg_ctl stop` does
	return s, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
}
