package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ctlsup/ctlsup/supervisor/config"
	"github.com/ctlsup/ctlsup/supervisor/testhelper"
)

// procfileDir writes a Procfile (and .env) whose processes carry tag in
// their command lines, so the test can find them in /proc.
func procfileDir(t *testing.T, procfile string) (dir, tag string) {
	dir = t.TempDir()
	// A sleep duration no other process uses: "1000.<nanoseconds>".
	tag = fmt.Sprintf("1000.%09d", time.Now().Nanosecond())
	os.WriteFile(filepath.Join(dir, "Procfile"), []byte(strings.ReplaceAll(procfile, "TAG", tag)), 0o644)
	os.WriteFile(filepath.Join(dir, ".env"), []byte("GREETING='hi there'\n"), 0o644)
	return dir, tag
}

// aliveSoon waits up to 5 s for the count of tagged processes to be want,
// and returns the last count: a shell prints before it forks its sleep.
func aliveSoon(tag string, want int) int {
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := alive(tag)
		if n == want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// alive counts live processes whose command line holds tag.
func alive(tag string) int {
	n := 0
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !bytes.Contains(cmdline, []byte(tag)) {
			continue
		}
		if stat, err := os.ReadFile("/proc/" + e.Name() + "/stat"); err == nil && !strings.Contains(string(stat), ") Z ") {
			n++
		}
	}
	return n
}

type runner struct {
	cmd   *exec.Cmd
	lines chan string
}

func startRun(t *testing.T, dir string, args ...string) *runner {
	t.Helper()
	cmd := exec.Command(ctlsupBin, append([]string{"run"}, args...)...)
	cmd.Dir = dir
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &runner{cmd: cmd, lines: make(chan string, 100)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			r.lines <- sc.Text()
		}
		close(r.lines)
	}()
	t.Cleanup(func() { testhelper.Stop(cmd) })
	return r
}

// until collects lines until every wanted line was seen.
func (r *runner) until(t *testing.T, want ...string) []string {
	t.Helper()
	var got []string
	missing := map[string]bool{}
	for _, w := range want {
		missing[w] = true
	}
	timeout := time.After(10 * time.Second)
	for len(missing) > 0 {
		select {
		case l, ok := <-r.lines:
			if !ok {
				t.Fatalf("output ended; missing %v; got:\n%s", missing, strings.Join(got, "\n"))
			}
			got = append(got, l)
			delete(missing, l)
		case <-timeout:
			t.Fatalf("missing %v; got:\n%s", missing, strings.Join(got, "\n"))
		}
	}
	return got
}

func (r *runner) exitCode(t *testing.T) int {
	t.Helper()
	for range r.lines {
	}
	err := r.cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return 0
}

// TestRun_PrefixesPortsAndExit: names padded, PORT per foreman, .env, and a
// process that exits stops the rest with its exit code.
func TestRun_PrefixesPortsAndExit(t *testing.T) {
	dir, tag := procfileDir(t, "web: echo \"web on $PORT\"; exec sleep TAG\n"+
		"worker: echo \"worker $PORT says $GREETING\"; exec sleep TAG\n"+
		"quick: while [ ! -e go-on ]; do sleep 0.05; done; echo bye; exit 3\n")
	r := startRun(t, dir, "-m", "web=1,worker=2,quick=1", "-p", "6000")
	r.until(t, "web       | web on 6000", "worker_00 | worker 6100 says hi there", "worker_01 | worker 6101 says hi there")
	if n := aliveSoon(tag, 3); n != 3 {
		t.Errorf("%d tagged processes, want web and two workers", n)
	}
	os.WriteFile(filepath.Join(dir, "go-on"), nil, 0o644) // quick exits now
	r.until(t, "quick     | bye", "ctlsup    | quick exited: exit status 3")
	if code := r.exitCode(t); code != 3 {
		t.Errorf("exit %d, want quick's 3", code)
	}
	if n := aliveSoon(tag, 0); n != 0 {
		t.Errorf("%d processes left behind", n)
	}
}

// TestRun_InterruptStopsAll: Ctrl-C stops everything and exits 0.
func TestRun_InterruptStopsAll(t *testing.T) {
	dir, tag := procfileDir(t, "web: echo up; exec sleep TAG\nworker: echo up; sleep TAG\n")
	r := startRun(t, dir)
	r.until(t, "web    | up", "worker | up")
	// web's shell execs sleep; worker's shell stays, with sleep as its child.
	if n := aliveSoon(tag, 3); n != 3 {
		t.Fatalf("%d tagged processes, want 3", n)
	}
	r.cmd.Process.Signal(syscall.SIGINT)
	if code := r.exitCode(t); code != 0 {
		t.Errorf("exit %d after Ctrl-C", code)
	}
	if n := aliveSoon(tag, 0); n != 0 {
		t.Errorf("%d processes left behind", n)
	}
}

// TestRun_KeepGoing: one exit leaves the others running.
func TestRun_KeepGoing(t *testing.T) {
	dir, tag := procfileDir(t, "web: echo up; exec sleep TAG\nquick: exit 4\n")
	r := startRun(t, dir, "--keep-going")
	r.until(t, "ctlsup | quick exited: exit status 4")
	time.Sleep(200 * time.Millisecond)
	if n := aliveSoon(tag, 1); n != 1 {
		t.Errorf("%d web processes, want it still running", n)
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	r.exitCode(t)
	if n := aliveSoon(tag, 0); n != 0 {
		t.Errorf("%d processes left behind", n)
	}
}

// TestRun_KeepGoingExitsWithTheFirstFailure: with --keep-going, ctlsup
// run ends once every process has, with the first failure's code, even
// when the last one to exit succeeded (it exited 0).
func TestRun_KeepGoingExitsWithTheFirstFailure(t *testing.T) {
	dir, _ := procfileDir(t, "quick: exit 4\nlater: while [ ! -e go-on ]; do sleep 0.05; done; exit 0\n")
	r := startRun(t, dir, "--keep-going")
	r.until(t, "ctlsup | quick exited: exit status 4")
	os.WriteFile(filepath.Join(dir, "go-on"), nil, 0o644)
	r.until(t, "ctlsup | later exited: exit status 0")
	if code := r.exitCode(t); code != 4 {
		t.Errorf("exit %d, want quick's 4", code)
	}
}

// TestRun_StopReachesTheShellsChild: the shell of a Procfile line may
// keep its command as a child; Ctrl-C's stop signal reaches that child,
// which stops as it chooses, instead of being killed once the shell is
// gone. (The outer shell's own trap runs once its child has ended, so the
// line the child prints comes before the process's end: what a group
// member prints after its leader has ended is not waited for.)
func TestRun_StopReachesTheShellsChild(t *testing.T) {
	dir, tag := procfileDir(t, "web: trap 'exit 0' TERM; sh -c 'trap \"echo graceful; exit 0\" TERM; echo up; while :; do sleep 0.05; done'; echo TAG\n")
	r := startRun(t, dir)
	r.until(t, "web    | up")
	r.cmd.Process.Signal(syscall.SIGINT)
	r.until(t, "web    | graceful")
	if code := r.exitCode(t); code != 0 {
		t.Errorf("exit %d after Ctrl-C", code)
	}
	if n := aliveSoon(tag, 0); n != 0 {
		t.Errorf("%d processes left behind", n)
	}
}

// TestRun_TheShellsChildGetsItsGrace: at Ctrl-C, a shell that dies of
// the TERM at once leaves its child, which the TERM reached too, the rest
// of the 5 s to finish, as foreman gives; one that ignores the TERM is
// killed when they are up, and nothing is left behind.
func TestRun_TheShellsChildGetsItsGrace(t *testing.T) {
	dir, tag := procfileDir(t, "web: sh -c 'trap \"sleep 0.5; echo graceful; exit 0\" TERM; echo up; while :; do sleep 0.05; done # TAG'; echo\n"+
		"deaf: sh -c 'trap \"\" TERM; echo up; while :; do sleep 0.05; done # TAG'; echo\n")
	r := startRun(t, dir)
	r.until(t, "web    | up", "deaf   | up")
	r.cmd.Process.Signal(syscall.SIGINT)
	r.until(t, "web    | graceful")
	r.exitCode(t)
	if n := alive(tag); n != 0 {
		t.Errorf("%d processes left behind once ctlsup run exited", n)
	}
}

// TestRun_ASimpleCommandIsTheProcess: a Procfile line that is one simple
// command is exec'd by its shell: the pid ctlsup run reports, and signals,
// is the command's own.
func TestRun_ASimpleCommandIsTheProcess(t *testing.T) {
	dir, tag := procfileDir(t, "web: sleep TAG\n")
	r := startRun(t, dir)
	pid := 0
	timeout := time.After(10 * time.Second)
	for pid == 0 {
		select {
		case l := <-r.lines:
			if rest, ok := strings.CutPrefix(l, "ctlsup | web started with pid "); ok {
				pid, _ = strconv.Atoi(rest)
			}
		case <-timeout:
			t.Fatal("no start line")
		}
	}
	// Until its exec, the pid runs the shell.
	got := ""
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if got = strings.ReplaceAll(string(cmdline), "\x00", " "); got == "sleep "+tag+" " {
			break
		}
	}
	if got != "sleep "+tag+" " {
		t.Errorf("pid %d runs %q, not the command", pid, got)
	}
	r.cmd.Process.Signal(syscall.SIGINT)
	r.until(t, "ctlsup | web stopped: killed by a signal")
	r.exitCode(t)
}

// TestRun_TypesPortsAndDirectory: process types named on the command line
// (with options after them) are the only ones run; the base port is the
// env file's PORT, as foreman's; every process runs in the Procfile's
// directory, whose path may hold blanks, with foreman's PS.
func TestRun_TypesPortsAndDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "my app")
	os.Mkdir(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "Procfile"), []byte("web: echo \"web on $PORT as $PS in $(pwd)\"; exec sleep 1000\n"+
		"worker: echo \"worker on $PORT as $PS\"; exec sleep 1000\nother: echo other; exec sleep 1000\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "base.env"), []byte("PORT=3000\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "more.env"), []byte("GREETING=\"hi\" # a comment\n"), 0o644)
	r := startRun(t, t.TempDir(), "-f", filepath.Join(dir, "Procfile"), "web", "worker", "-m", "worker=2",
		"-e", filepath.Join(dir, "base.env")+","+filepath.Join(dir, "more.env"))
	got := r.until(t, "web       | web on 3000 as web.1 in "+dir, "worker_00 | worker on 3100 as worker.1", "worker_01 | worker on 3101 as worker.2")
	r.cmd.Process.Signal(syscall.SIGTERM)
	got = append(got, r.until(t, "ctlsup    | stopping all processes")...)
	for _, l := range got {
		if strings.HasPrefix(l, "other") || strings.Contains(l, "started with pid 0") {
			t.Errorf("line %q", l)
		}
	}
	r.exitCode(t)
}

// TestRun_ClosedOutputStopsAll: when the reader of ctlsup run's output
// goes away (ctlsup run | head), every process is stopped before ctlsup
// exits, with the shell's code for SIGPIPE; none is orphaned.
func TestRun_ClosedOutputStopsAll(t *testing.T) {
	dir, tag := procfileDir(t, "web: while :; do echo tick; sleep 0.05; done\nquiet: exec sleep TAG\n")
	cmd := exec.Command(ctlsupBin, "run")
	cmd.Dir = dir
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { testhelper.Stop(cmd) })
	if n := aliveSoon(tag, 1); n != 1 {
		t.Fatalf("%d quiet processes", n)
	}
	stdout.Close()
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 141 {
		t.Errorf("ctlsup run ended with %v, want exit status 141", err)
	}
	if n := aliveSoon(tag, 0); n != 0 {
		t.Errorf("%d processes left behind", n)
	}
}

// TestRun_HangupStopsAllWithTheFailure: closing the terminal (SIGHUP)
// stops everything, as Ctrl-C does, and under --keep-going ctlsup exits
// with the failure seen before it.
func TestRun_HangupStopsAllWithTheFailure(t *testing.T) {
	dir, tag := procfileDir(t, "quick: exit 2\nweb: exec sleep TAG\n")
	r := startRun(t, dir, "--keep-going")
	r.until(t, "ctlsup | quick exited: exit status 2")
	r.cmd.Process.Signal(syscall.SIGHUP)
	if code := r.exitCode(t); code != 2 {
		t.Errorf("exit %d, want quick's 2", code)
	}
	if n := aliveSoon(tag, 0); n != 0 {
		t.Errorf("%d processes left behind", n)
	}
}

// TestExport_TOMLLoads: the exported TOML loads in ctlsupd with the same
// process names and PORTs ctlsup run gives.
func TestExport_TOMLLoads(t *testing.T) {
	dir, _ := procfileDir(t, "web: gunicorn app:app --bind :$PORT\nworker: ./wait-for redis && celery -A app worker\nbeat: celery -A app beat\n")
	os.WriteFile(filepath.Join(dir, ".env"), []byte("GREETING='hi there'\nPORT=7000\nCONTROL=\"a\x07b\"\n"), 0o644)
	cmd := exec.Command(ctlsupBin, "export", "toml", "-m", "web=1,worker=2,beat=1", "--instance", "cts", "--log-dir", "/var/log/cts")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "conf.d"), 0o755)
	os.WriteFile(filepath.Join(dir, "conf.d", "app.toml"), out, 0o644)
	os.WriteFile(filepath.Join(dir, "ctlsupd.toml"), []byte("include = [\"conf.d/*.toml\"]\n"), 0o644)
	cfg, err := config.Load(filepath.Join(dir, "ctlsupd.toml"))
	if err != nil {
		t.Fatalf("exported TOML does not load: %v\n%s", err, out)
	}
	var got []string
	for _, g := range cfg.Groups {
		for _, p := range g.Processes {
			got = append(got, fmt.Sprintf("%s PORT=%s PS=%s %s %s %s %q %v %v %s", p.FullName(), p.Environment["PORT"], p.Environment["PS"], p.Argv[2],
				p.Environment["GREETING"], p.Stdout.Path, p.Environment["CONTROL"], p.StopAsGroup, p.Singleton, p.Directory))
		}
	}
	want := []string{
		`cts:web PORT=7000 PS=web.1 exec gunicorn app:app --bind :$PORT hi there /var/log/cts/web.log "a\ab" false false ` + dir,
		`cts:worker_00 PORT=7100 PS=worker.1 ./wait-for redis && celery -A app worker hi there /var/log/cts/worker_00.log "a\ab" true false ` + dir,
		`cts:worker_01 PORT=7101 PS=worker.2 ./wait-for redis && celery -A app worker hi there /var/log/cts/worker_01.log "a\ab" true false ` + dir,
		`cts:beat PORT=7200 PS=beat.1 exec celery -A app beat hi there /var/log/cts/beat.log "a\ab" false true ` + dir,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestExport_RefusesWhatTOMLCannotHold: a value that is not UTF-8 would
// reach the program re-encoded; export says so instead of writing it.
func TestExport_RefusesWhatTOMLCannotHold(t *testing.T) {
	dir, _ := procfileDir(t, "web: exec sleep 1000\n")
	os.WriteFile(filepath.Join(dir, ".env"), []byte("LATIN1=\"caf\xe9\"\n"), 0o644)
	cmd := exec.Command(ctlsupBin, "export", "toml")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err == nil || len(out) > 0 || !strings.Contains(stderr.String(), "LATIN1 is not UTF-8") {
		t.Errorf("export: %v, %q, stderr %q", err, out, stderr.String())
	}
}

// TestRun_ExitComesAfterTheLastLine: a process's last output is printed
// before the line saying it exited, as foreman prints them.
func TestRun_ExitComesAfterTheLastLine(t *testing.T) {
	var procfile strings.Builder
	for i := range 8 {
		fmt.Fprintf(&procfile, "p%d: seq 1 3000; exit 0\n", i)
	}
	dir, _ := procfileDir(t, procfile.String())
	r := startRun(t, dir, "--keep-going")
	var got []string
	timeout := time.After(30 * time.Second)
	for done := false; !done; {
		select {
		case l, ok := <-r.lines:
			got, done = append(got, l), !ok
		case <-timeout:
			t.Fatalf("ctlsup run did not end; %d lines", len(got))
		}
	}
	r.cmd.Wait()
	last := map[string]bool{}
	for _, l := range got {
		name, text, _ := strings.Cut(l, " | ")
		name = strings.TrimSpace(name)
		if text == "3000" {
			last[name] = true
		}
		if p, ok := strings.CutSuffix(text, " exited: exit status 0"); ok && name == "ctlsup" && !last[p] {
			t.Errorf("%q came before %s's last line", l, p)
		}
	}
	if len(last) != 8 {
		t.Errorf("%d processes printed their last line, want 8", len(last))
	}
}
