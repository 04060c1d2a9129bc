// Package testhelper lets a test binary impersonate the programs ctlsup
// supervises: TestMain calls Run, and Argv names a helper to spawn. The
// children are real processes running the test binary itself.
package testhelper

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const marker = "ctlsup-test-helper"

// Argv returns the command line that runs helper name with args.
func Argv(name string, args ...string) []string {
	self, err := os.Executable()
	if err != nil {
		panic(err)
	}
	return append([]string{self, marker, name}, args...)
}

// Run runs the helper named on the command line and exits, or returns at
// once when the process is not a helper.
func Run() {
	if len(os.Args) < 3 || os.Args[1] != marker {
		return
	}
	helper, ok := helpers[os.Args[2]]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown helper %q\n", os.Args[2])
		os.Exit(2)
	}
	helper(os.Args[3:])
	os.Exit(0)
}

func forever() { time.Sleep(1 << 62) }

// spawn starts another helper in this process's group, inheriting stdio.
func spawn(name string, args ...string) int {
	argv := Argv(name, args...)
	p, err := os.StartProcess(argv[0], argv, &os.ProcAttr{Files: []*os.File{os.Stdin, os.Stdout, os.Stderr}})
	if err != nil {
		panic(err)
	}
	return p.Pid
}

// spawnSession starts another helper in a session of its own.
func spawnSession(name string, args ...string) int {
	argv := Argv(name, args...)
	p, err := os.StartProcess(argv[0], argv, &os.ProcAttr{Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
		Sys: &syscall.SysProcAttr{Setsid: true}})
	if err != nil {
		panic(err)
	}
	return p.Pid
}

var helpers = map[string]func(args []string){
	// sleep runs until a signal ends it.
	"sleep": func([]string) { forever() },
	// ignore-term survives SIGTERM; only SIGKILL ends it.
	"ignore-term": func([]string) {
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ignoring TERM")
		forever()
	},
	// exit N exits with code N at once.
	"exit": func(args []string) {
		n, _ := strconv.Atoi(args[0])
		os.Exit(n)
	},
	// fds prints the open descriptors, then sleeps.
	"fds": func([]string) {
		ents, _ := os.ReadDir("/proc/self/fd")
		var fds []int
		for _, e := range ents {
			n, _ := strconv.Atoi(e.Name())
			if target, _ := os.Readlink("/proc/self/fd/" + e.Name()); !strings.HasPrefix(target, "anon_inode:") || n < 3 {
				fds = append(fds, n)
			}
		}
		slices.Sort(fds)
		fmt.Println("fds", fds)
		forever()
	},
	// orphans N starts N sleeping grandchildren in its group and exits.
	"orphans": func(args []string) {
		n, _ := strconv.Atoi(args[0])
		for range n {
			fmt.Println("grandchild", spawn("sleep"))
		}
	},
	// pool starts two workers in its group and exits 0 on TERM without
	// waiting for them, as a careless pool master would.
	"pool": func([]string) {
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM)
		fmt.Println("worker", spawn("sleep"))
		fmt.Println("worker", spawn("sleep"))
		<-c
	},
	// hold-stdout leaves a grandchild holding stdout open and exits.
	"hold-stdout": func([]string) {
		fmt.Println("grandchild", spawn("print-later"))
	},
	// print-later prints a line after a short pause, then sleeps.
	"print-later": func([]string) {
		time.Sleep(300 * time.Millisecond)
		fmt.Println("late line")
		forever()
	},
	// write N writes N bytes of numbered lines to stdout, then sleeps.
	"write": func(args []string) {
		n, _ := strconv.Atoi(args[0])
		writeBytes(n)
		forever()
	},
	// umask prints the umask, then sleeps.
	"umask": func([]string) {
		old := syscall.Umask(0)
		fmt.Printf("umask %03o\n", old)
		forever()
	},
	// env prints the environment and the working directory, then sleeps.
	"env": func([]string) {
		for _, kv := range os.Environ() {
			fmt.Println(kv)
		}
		wd, _ := os.Getwd()
		fmt.Println("WD=" + wd)
		fmt.Println("END")
		forever()
	},
	// flood writes to stderr as fast as it can, forever.
	"flood": func([]string) {
		line := []byte(strings.Repeat("flood ", 170) + "\n")
		for {
			os.Stderr.Write(line)
		}
	},
	// ignore-all ignores every signal that can be ignored.
	"ignore-all": func([]string) {
		signal.Ignore(syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
		fmt.Println("ignoring everything")
		forever()
	},
	// close-stdio closes stdout and stderr, then sleeps.
	"close-stdio": func([]string) {
		os.Stdout.Close()
		os.Stderr.Close()
		forever()
	},
	// tick prints a numbered line every 20ms until killed.
	"tick": func([]string) {
		for i := 0; ; i++ {
			fmt.Println("tick", i)
			time.Sleep(20 * time.Millisecond)
		}
	},
	// http PORTFILE serves 200 "ok" on a free loopback port, which it
	// writes to PORTFILE, until killed.
	"http": func(args []string) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		tmp := args[0] + ".tmp"
		os.WriteFile(tmp, []byte(strconv.Itoa(l.Addr().(*net.TCPAddr).Port)), 0o644)
		os.Rename(tmp, args[0])
		http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) }))
	},
	// numbered [TAG [fast]] prints numbered lines of about 100 bytes, one a
	// millisecond, until killed; fast, the first 200,000 as fast as it can.
	"numbered": func(args []string) {
		fast := len(args) > 1 && args[1] == "fast"
		pad := strings.Repeat(".", 90)
		w := bufio.NewWriterSize(os.Stdout, 4096)
		for i := 1; ; i++ {
			fmt.Fprintf(w, "line %08d %s\n", i, pad)
			if !fast || i > 200_000 {
				w.Flush()
				time.Sleep(time.Millisecond)
			} else if w.Available() < 128 {
				w.Flush()
			}
		}
	},
	// escape starts a process that leaves the process group with setsid(2)
	// and a daemon that double-forks out of it, prints their pids, and
	// sleeps: what process groups cannot contain.
	"escape": func([]string) {
		fmt.Println("escaper", spawnSession("sleep"))
		p, err := os.StartProcess(Argv("daemonize")[0], Argv("daemonize"), &os.ProcAttr{Files: []*os.File{os.Stdin, os.Stdout, os.Stderr}})
		if err != nil {
			panic(err)
		}
		p.Wait() // the intermediate exits at once, as a daemonizer's does
		forever()
	},
	// daemonize starts a sleeping daemon in a session of its own, prints
	// its pid and exits.
	"daemonize": func([]string) {
		fmt.Println("daemon", spawnSession("sleep"))
	},
	// recycle N runs N workers one after another, each burning about 0.2 s
	// of CPU, waiting for each as a pool master does, then sleeps.
	"recycle": func(args []string) {
		n, _ := strconv.Atoi(args[0])
		for i := range n {
			p, err := os.StartProcess(Argv("burn")[0], Argv("burn"), &os.ProcAttr{})
			if err != nil {
				panic(err)
			}
			p.Wait()
			fmt.Println("recycled", i)
		}
		forever()
	},
	// burn uses about 0.2 s of CPU and exits.
	"burn": func([]string) {
		var st syscall.Rusage
		for x := 0; ; x++ {
			if x%100000 == 0 {
				syscall.Getrusage(syscall.RUSAGE_SELF, &st)
				if st.Utime.Sec*1e6+st.Utime.Usec+st.Stime.Sec*1e6+st.Stime.Usec > 200000 {
					return
				}
			}
		}
	},
	// hold-memory MIB allocates and touches MIB mebibytes, says so, and
	// sleeps; with "grow", it keeps allocating until it is killed.
	"hold-memory": func(args []string) {
		n, _ := strconv.Atoi(args[0])
		var keep [][]byte
		for i := 0; i < n || len(args) > 1; i++ {
			b := make([]byte, 1<<20)
			for j := range b {
				b[j] = byte(j)
			}
			keep = append(keep, b)
			if i == n-1 {
				fmt.Println("holding", n, "MiB")
			}
		}
		forever()
		fmt.Println(len(keep))
	},
	// notify DELAY [STATUS] says STATUS= at once on NOTIFY_SOCKET, READY=1
	// after DELAY ("never": never), then sleeps.
	"notify": func(args []string) {
		send := func(msg string) {
			addr := os.Getenv("NOTIFY_SOCKET")
			if strings.HasPrefix(addr, "@") {
				addr = "\x00" + addr[1:]
			}
			c, err := net.Dial("unixgram", addr)
			if err != nil {
				fmt.Println("notify:", err)
				return
			}
			c.Write([]byte(msg))
			c.Close()
		}
		if len(args) > 1 {
			send("STATUS=" + args[1])
		}
		if args[0] != "never" {
			d, _ := time.ParseDuration(args[0])
			time.Sleep(d)
			send("READY=1\nSTATUS=serving")
			fmt.Println("ready sent")
		}
		forever()
	},
	// serve-after DELAY ADDR serves HTTP 200 on ADDR after DELAY.
	"serve-after": func(args []string) {
		d, _ := time.ParseDuration(args[0])
		time.Sleep(d)
		l, err := net.Listen("tcp", args[1])
		if err != nil {
			panic(err)
		}
		http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) }))
	},
	// touch-after DELAY FILE creates FILE after DELAY, then sleeps.
	"touch-after": func(args []string) {
		d, _ := time.ParseDuration(args[0])
		time.Sleep(d)
		os.WriteFile(args[1], []byte("x"), 0o666)
		forever()
	},
	// listen-fds serves HTTP 200 "pid N" on every socket systemd's way
	// gives it (LISTEN_FDS, LISTEN_PID), saying how many it got.
	"listen-fds": func([]string) {
		n, _ := strconv.Atoi(os.Getenv("LISTEN_FDS"))
		fmt.Println("LISTEN_FDS", n, "LISTEN_PID ok", os.Getenv("LISTEN_PID") == strconv.Itoa(os.Getpid()), "names", os.Getenv("LISTEN_FDNAMES"))
		for i := range n {
			l, err := net.FileListener(os.NewFile(uintptr(3+i), "listener"))
			if err != nil {
				panic(err)
			}
			go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintf(w, "pid %d", os.Getpid()) }))
		}
		if addr := os.Getenv("NOTIFY_SOCKET"); addr != "" {
			if c, err := net.Dial("unixgram", addr); err == nil {
				c.Write([]byte("READY=1"))
				c.Close()
			}
		}
		forever()
	},
	// listener FILE MODE is an event listener: it records "serial
	// eventname payload" lines into FILE and answers OK, except in MODE
	// "fail-first" (FAIL to its first event), "die-first" (exits on its
	// first event without answering), "garbage-first" (answers its first
	// event with a line that is no RESULT), "never-ready" (never says
	// READY) and "slow" (takes 50 ms over each event).
	"listener": func(args []string) {
		file, mode := args[0], args[1]
		in := bufio.NewReader(os.Stdin)
		first := true
		if mode == "never-ready" {
			forever()
		}
		for {
			os.Stdout.WriteString("READY\n")
			line, err := in.ReadString('\n')
			if err != nil {
				return
			}
			headers := map[string]string{}
			for _, kv := range strings.Fields(line) {
				k, v, _ := strings.Cut(kv, ":")
				headers[k] = v
			}
			n, _ := strconv.Atoi(headers["len"])
			payload := make([]byte, n)
			io.ReadFull(in, payload)
			f, _ := os.OpenFile(file, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
			fmt.Fprintf(f, "%s %s %s pid:%d\n", headers["serial"], headers["eventname"], strings.ReplaceAll(string(payload), "\n", " "), os.Getpid())
			f.Close()
			switch {
			case first && mode == "fail-first":
				os.Stdout.WriteString("RESULT 4\nFAIL")
			case first && mode == "die-first":
				os.Exit(1)
			case first && mode == "garbage-first":
				os.Stdout.WriteString("HELLO GARBAGE\n")
			case mode == "slow":
				time.Sleep(50 * time.Millisecond)
				os.Stdout.WriteString("RESULT 2\nOK")
			default:
				os.Stdout.WriteString("RESULT 2\nOK")
			}
			first = false
		}
	},
	// touch creates a file named by its argument, then sleeps.
	"touch": func(args []string) {
		os.WriteFile(filepath.Clean(args[0]), []byte("x"), 0o666)
		forever()
	},
}

// SyncBuffer is a bytes.Buffer that a test can read while a daemon writes
// its log into it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *SyncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// writeBytes writes exactly n bytes of recognisable, unique lines.
func writeBytes(n int) {
	buf := make([]byte, 0, 64<<10)
	line := 0
	for n > 0 {
		s := fmt.Sprintf("%09d %s\n", line, strings.Repeat("x", 89))
		line++
		if len(s) > n {
			s = s[:n]
		}
		buf = append(buf, s...)
		n -= len(s)
		if len(buf) >= 60<<10 || n == 0 {
			os.Stdout.Write(buf)
			buf = buf[:0]
		}
	}
}
