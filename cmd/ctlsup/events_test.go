package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ctlsup/ctlsup/api/client"
	"github.com/ctlsup/ctlsup/supervisor/config/ini"
	"github.com/ctlsup/ctlsup/supervisor/testhelper"
)

// listenerDaemon runs kind with an event listener pool written with
// supervisor's childutils, recording into events, beside a program that
// runs once and one that fails to start.
func listenerDaemon(t *testing.T, kind, dir string, quitOnFatal bool) (*exec.Cmd, string) {
	t.Helper()
	script, _ := filepath.Abs("testdata/record_listener.py")
	events := filepath.Join(dir, "events.log")
	sock := filepath.Join(dir, "ctl.sock")
	env := ""
	if quitOnFatal {
		env = "QUIT_ON_FATAL=1"
	}
	var cmd *exec.Cmd
	switch kind {
	case "supervisord", "converted":
		conf := filepath.Join(dir, "supervisord.conf")
		envLine := ""
		if env != "" {
			envLine = "environment=" + env
		}
		os.WriteFile(conf, []byte(fmt.Sprintf(`[unix_http_server]
file=%[1]s
[supervisord]
logfile=%[2]s/supervisord.log
pidfile=%[2]s/supervisord.pid
childlogdir=%[2]s
nodaemon=true
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[eventlistener:recorder]
command=/usr/bin/python3 %[3]s %[4]s
events=PROCESS_STATE,REMOTE_COMMUNICATION,PROCESS_COMMUNICATION
%[5]s
[program:talker]
command=/bin/sh -c 'sleep 1; printf "before<!--XSUPERVISOR:BEGIN-->a message<!--XSUPERVISOR:END-->after\n"; exec sleep 1000'
stdout_capture_maxbytes=1MB
startsecs=0
[program:once]
command=/bin/sh -c 'sleep 1.5; exit 3'
startsecs=1
autorestart=false
[program:failing]
command=/bin/sh -c 'exit 1'
startsecs=5
startretries=1
autostart=false
`, sock, dir, script, events, envLine)), 0o644)
		cmd = exec.Command(testhelper.RequireReference(t, "supervisord"), "-n", "-c", conf)
		if kind == "converted" {
			// The same file, through ctlsup convert, under ctlsupd.
			res, err := ini.Convert([]string{conf})
			if err != nil || len(res.Omitted) != 0 {
				t.Fatalf("convert: %v, omitted %v", err, res.Omitted)
			}
			daemon := strings.Replace(res.Daemon, `state_dir = "/run/ctlsup"`, `state_dir = "`+filepath.Join(dir, "state")+`"`, 1)
			os.MkdirAll(filepath.Join(dir, "conf.d"), 0o755)
			os.WriteFile(filepath.Join(dir, "ctlsupd.toml"), []byte(daemon), 0o644)
			os.WriteFile(filepath.Join(dir, "conf.d", "supervisord.toml"), []byte(res.Programs), 0o644)
			cmd = exec.Command(ctlsupdBin, "-c", filepath.Join(dir, "ctlsupd.toml"))
		}
	default:
		conf := filepath.Join(dir, "ctlsupd.toml")
		envLine := ""
		if quitOnFatal {
			envLine = `environment = { QUIT_ON_FATAL = "1" }`
		}
		os.WriteFile(conf, []byte(fmt.Sprintf(`log_dir = %[2]q
state_dir = "%[2]s/state"
[control]
socket = %[1]q
[eventlistener.recorder]
command = ["/usr/bin/python3", %[3]q, %[4]q]
events = ["PROCESS_STATE", "REMOTE_COMMUNICATION", "PROCESS_COMMUNICATION"]
%[5]s
[program.talker]
command = "/bin/sh -c 'sleep 1; printf \"before<!--XSUPERVISOR:BEGIN-->a message<!--XSUPERVISOR:END-->after\\n\"; exec sleep 1000'"
stdout_capture_maxbytes = "1MB"
startsecs = 0
[program.once]
command = "/bin/sh -c 'sleep 1.5; exit 3'"
startsecs = 1
autorestart = false
[program.failing]
command = "/bin/sh -c 'exit 1'"
startsecs = 5
startretries = 1
autostart = false
`, sock, dir, script, events, envLine)), 0o644)
		cmd = exec.Command(ctlsupdBin, "-c", conf)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { testhelper.Stop(cmd) })
	return cmd, "unix://" + sock
}

func waitFile(t *testing.T, path, want string, limit time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		b, _ := os.ReadFile(path)
		if strings.Contains(string(b), want) {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never held %q:\n%s", path, want, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// byProcess splits recorded events into one sequence per process (and
// one for the rest), without pool serials: the daemons interleave
// processes differently, each in its own time.
func byProcess(log string) map[string][]string {
	out := map[string][]string{}
	for line := range strings.SplitSeq(strings.TrimSpace(log), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		rest := strings.Join(append([]string{f[0]}, f[2:]...), " ")
		key := "other"
		for _, w := range f {
			if p, ok := strings.CutPrefix(w, "processname:"); ok {
				key = p
			}
		}
		out[key] = append(out[key], rest)
	}
	return out
}

// TestEvents_ListenerSeesWhatSupervisordSends: the same listener, written
// with supervisor's childutils, gets under ctlsupd the events it gets
// under supervisord 4.2.5: the same names and payloads, per process in the
// same order, with pool serials counting up from 0; and so it does under
// ctlsupd running supervisord's own file through ctlsup convert.
func TestEvents_ListenerSeesWhatSupervisordSends(t *testing.T) {
	supervisorctl := testhelper.RequireReference(t, "supervisorctl")
	logs, avail := map[string]string{}, map[string]string{}
	for _, kind := range []string{"supervisord", "ctlsupd", "converted"} {
		dir := t.TempDir()
		_, url := listenerDaemon(t, kind, dir, false)
		events := filepath.Join(dir, "events.log")
		waitFile(t, events, "processname:once groupname:once from_state:RUNNING expected:0", 20*time.Second)
		out, _ := exec.Command(supervisorctl, "-s", url, "avail").CombinedOutput()
		avail[kind] = string(out)
		c, _ := client.New(url, "", "")
		c.Call("supervisor.startProcess", "failing", true)
		waitFile(t, events, "PROCESS_STATE_FATAL", 20*time.Second)
		if _, err := c.Call("supervisor.sendRemoteCommEvent", "deploy", "v42 rolled out"); err != nil {
			t.Fatal(err)
		}
		waitFile(t, events, "PROCESS_COMMUNICATION_STDOUT", 10*time.Second)
		logs[kind] = waitFile(t, events, "REMOTE_COMMUNICATION", 10*time.Second)
	}
	want := byProcess(logs["supervisord"])
	for _, kind := range []string{"ctlsupd", "converted"} {
		// A pool without a priority is -1, its process 999, as supervisord's.
		if avail[kind] != avail["supervisord"] {
			t.Errorf("avail under %s:\n%s\nunder supervisord:\n%s", kind, avail[kind], avail["supervisord"])
		}
		got := byProcess(logs[kind])
		for _, p := range []string{"once", "failing", "recorder", "talker", "other"} {
			if !slices.Equal(got[p], want[p]) {
				t.Errorf("%s's events differ\nsupervisord:\n  %s\n%s:\n  %s", p, strings.Join(want[p], "\n  "), kind, strings.Join(got[p], "\n  "))
			}
		}
	}
	var serials []string
	for line := range strings.SplitSeq(strings.TrimSpace(logs["ctlsupd"]), "\n") {
		serials = append(serials, strings.Fields(line)[1])
	}
	for i, s := range serials {
		if s != fmt.Sprintf("poolserial:%d", i) {
			t.Errorf("pool serials %v: want 0, 1, 2, ...", serials)
			break
		}
	}
}

// TestEvents_QuitOnFatal: the listener Docker images with supervisord as
// PID 1 carry (shut the daemon down when a program goes FATAL) works:
// ctlsupd exits.
func TestEvents_QuitOnFatal(t *testing.T) {
	testhelper.RequireReference(t, "supervisorctl")
	dir := t.TempDir()
	cmd, url := listenerDaemon(t, "ctlsupd", dir, true)
	waitFile(t, filepath.Join(dir, "events.log"), "processname:recorder", 20*time.Second)
	c, _ := client.New(url, "", "")
	c.Call("supervisor.startProcess", "failing", true)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ctlsupd exit: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("ctlsupd still runs after the listener asked it to shut down")
	}
}

// TestEvents_ListenerAcrossDaemonRestart: a new daemon that takes over a
// listener pool restarts its listeners (their protocol state is gone with
// the old daemon), and they get its events.
func TestEvents_ListenerAcrossDaemonRestart(t *testing.T) {
	testhelper.RequireReference(t, "supervisorctl")
	dir := t.TempDir()
	first, url := listenerDaemon(t, "ctlsupd", dir, false)
	events := filepath.Join(dir, "events.log")
	waitFile(t, events, "processname:recorder", 20*time.Second)
	first.Process.Signal(syscall.SIGQUIT) // leaves every program to the next daemon
	first.Wait()
	second := exec.Command(ctlsupdBin, "-c", filepath.Join(dir, "ctlsupd.toml"))
	if err := second.Start(); err != nil {
		t.Fatal(err)
	}
	defer testhelper.Stop(second)
	c, _ := client.New(url, "", "")
	deadline := time.Now().Add(20 * time.Second)
	for {
		c.Call("supervisor.sendRemoteCommEvent", "after", "the new daemon")
		if b, _ := os.ReadFile(events); strings.Contains(string(b), "the new daemon") {
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(events)
			t.Fatalf("the listener gets nothing from the new daemon:\n%s", b)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
