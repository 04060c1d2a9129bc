package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ctlsup/ctlsup/supervisor/config/ini"
	"github.com/ctlsup/ctlsup/supervisor/testhelper"
)

// statusColumns keeps what must match after a conversion: the namespec
// and the state of every process.
func statusColumns(out string) string {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 {
			lines = append(lines, f[0]+" "+f[1])
		}
	}
	return strings.Join(lines, "\n")
}

// TestConvert_RoundTrip runs the compatibility fixtures under supervisord
// from their INI, then under ctlsupd from what convert made of it, and
// compares supervisorctl status: names, groups and states.
func TestConvert_RoundTrip(t *testing.T) {
	supervisorctl := testhelper.RequireReference(t, "supervisorctl")
	sd := startDaemon(t, "supervisord")
	sd.waitAutostarted(t)
	want, _ := run(t, supervisorctl, sd, "status")
	run(t, supervisorctl, sd, "shutdown")
	sd.cmd.Wait()

	res, err := ini.Convert([]string{filepath.Join(sd.dir, "supervisord.conf")})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "ctl.sock")
	daemonTOML := regexp.MustCompile(`socket = ".*"`).ReplaceAllString(res.Daemon, `socket = "`+sock+`"`)
	daemonTOML = strings.Replace(daemonTOML, `state_dir = "/run/ctlsup"`, `state_dir = "`+filepath.Join(dir, "state")+`"`, 1)
	os.MkdirAll(filepath.Join(dir, "conf.d"), 0o755)
	os.WriteFile(filepath.Join(dir, "ctlsupd.toml"), []byte(daemonTOML), 0o644)
	os.WriteFile(filepath.Join(dir, "conf.d", "supervisord.toml"), []byte(res.Programs), 0o644)
	cmd := exec.Command(ctlsupdBin, "-c", filepath.Join(dir, "ctlsupd.toml"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer testhelper.Stop(cmd)
	cd := &daemon{kind: "ctlsupd", dir: dir, url: "unix://" + sock, cmd: cmd}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("converted configuration did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cd.waitAutostarted(t)
	got, _ := run(t, supervisorctl, cd, "status")
	if statusColumns(got) != statusColumns(want) {
		t.Errorf("status differs\n--- supervisord (INI)\n%s\n--- ctlsupd (converted)\n%s", want, got)
	}
	if len(res.Omitted) != 0 {
		t.Errorf("omitted: %v", res.Omitted)
	}
}

// TestConvert_CredentialsPerListener: the common supervisord setup, an
// open 0700 socket and a password on TCP, answers supervisorctl the same
// after convert: the socket without credentials, TCP only with them.
func TestConvert_CredentialsPerListener(t *testing.T) {
	supervisorctl := testhelper.RequireReference(t, "supervisorctl")
	supervisord := testhelper.RequireReference(t, "supervisord")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	sock := filepath.Join(dir, "ctl.sock")
	conf := filepath.Join(dir, "supervisord.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf(`[unix_http_server]
file=%[1]s
chmod=0700
[inet_http_server]
port=%[2]s
username=ops
password=secret
[supervisord]
logfile=%[3]s/supervisord.log
pidfile=%[3]s/supervisord.pid
childlogdir=%[3]s
nodaemon=true
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[program:sleeper]
command=/bin/sleep 1000
startsecs=0
`, sock, port, dir)), 0o644)
	ask := func(args ...string) string {
		out, _ := exec.Command(supervisorctl, args...).CombinedOutput()
		return statusColumns(string(out))
	}
	answers := func() []string {
		return []string{
			ask("-s", "unix://"+sock, "status"),
			ask("-s", "http://"+port, "status"),
			ask("-s", "http://"+port, "-u", "ops", "-p", "secret", "status"),
		}
	}
	waitFor := func(what string, cond func() bool) {
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	sd := exec.Command(supervisord, "-n", "-c", conf)
	if err := sd.Start(); err != nil {
		t.Fatal(err)
	}
	defer testhelper.Stop(sd)
	waitFor("supervisord", func() bool { return strings.Contains(ask("-s", "unix://"+sock, "status"), "RUNNING") })
	want := answers()
	exec.Command(supervisorctl, "-s", "unix://"+sock, "shutdown").Run()
	sd.Wait()

	res, err := ini.Convert([]string{conf})
	if err != nil {
		t.Fatal(err)
	}
	daemonTOML := strings.Replace(res.Daemon, `state_dir = "/run/ctlsup"`, `state_dir = "`+filepath.Join(dir, "state")+`"`, 1)
	os.MkdirAll(filepath.Join(dir, "conf.d"), 0o755)
	os.WriteFile(filepath.Join(dir, "ctlsupd.toml"), []byte(daemonTOML), 0o644)
	os.WriteFile(filepath.Join(dir, "conf.d", "supervisord.toml"), []byte(res.Programs), 0o644)
	cd := exec.Command(ctlsupdBin, "-c", filepath.Join(dir, "ctlsupd.toml"))
	if err := cd.Start(); err != nil {
		t.Fatal(err)
	}
	defer testhelper.Stop(cd)
	waitFor("ctlsupd", func() bool {
		return strings.Contains(ask("-s", "http://"+port, "-u", "ops", "-p", "secret", "status"), "RUNNING")
	})
	got := answers()
	for i, what := range []string{"socket, no credentials", "TCP, no credentials", "TCP, credentials"} {
		if got[i] != want[i] {
			t.Errorf("%s:\nsupervisord: %q\nctlsupd:     %q", what, want[i], got[i])
		}
	}
	if !strings.Contains(want[0], "RUNNING") || strings.Contains(want[1], "RUNNING") {
		t.Errorf("supervisord's own answers are not the ones this test expects: %q", want)
	}
}

// TestConvert_FailureLeavesTheOutputAlone: a conversion whose result does
// not load writes nothing into -o's directory; what it held (a daemon's
// live configuration, perhaps) stays as it was.
func TestConvert_FailureLeavesTheOutputAlone(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	good, broken := filepath.Join(dir, "good.conf"), filepath.Join(dir, "broken.conf")
	os.WriteFile(good, []byte("[program:web]\ncommand=/bin/sleep 1000\n"), 0o644)
	// A program without a command converts, but does not load.
	os.WriteFile(broken, []byte("[program:web]\ncommand=/bin/sleep 1000\n[program:nocmd]\ndirectory=/tmp\n"), 0o644)
	if text, code := runMain("", nil, "convert", "-o", out, good); code != 0 {
		t.Fatalf("converting the good file: exit %d\n%s", code, text)
	}
	files := []string{filepath.Join(out, "ctlsupd.toml"), filepath.Join(out, "conf.d", "supervisord.toml")}
	var before []string
	for _, f := range files {
		before = append(before, readFile(f))
	}
	if !strings.Contains(before[1], "web") {
		t.Fatalf("the good conversion wrote %q", before[1])
	}
	text, code := runMain("", nil, "convert", "-o", out, broken)
	if code != exitGeneric || !strings.Contains(text, "does not load") || !strings.Contains(text, "left as it was") {
		t.Errorf("converting the broken file: exit %d\n%s", code, text)
	}
	for i, f := range files {
		if got := readFile(f); got != before[i] {
			t.Errorf("%s changed by a failed conversion:\n%s", f, got)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(out, ".convert-*")); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

func readFile(path string) string { b, _ := os.ReadFile(path); return string(b) }

// TestConvert_PrintedOutputIsChecked: without -o, the converted TOML is
// printed and checked as -o checks it; one that would not load is still
// printed, to be read, and the exit status and stderr say it does not
// load. Unset ${X} are named instead of failing the check.
func TestConvert_PrintedOutputIsChecked(t *testing.T) {
	dir := t.TempDir()
	good, broken, env := filepath.Join(dir, "good.conf"), filepath.Join(dir, "broken.conf"), filepath.Join(dir, "env.conf")
	os.WriteFile(good, []byte("[program:web]\ncommand=/bin/sleep 1000\n"), 0o644)
	os.WriteFile(broken, []byte("[program:web]\ncommand=/bin/sleep 1000\n[program:nocmd]\ndirectory=/tmp\n"), 0o644)
	os.WriteFile(env, []byte("[program:web]\ncommand=/bin/sleep %(ENV_CTLSUP_TEST_UNSET)s\n"), 0o644)
	os.Unsetenv("CTLSUP_TEST_UNSET")
	if text, code := runMain("", nil, "convert", good); code != 0 || strings.Contains(text, "does not load") || !strings.Contains(text, "[program.web]") {
		t.Errorf("the good file: exit %d\n%s", code, text)
	}
	text, code := runMain("", nil, "convert", broken)
	if code != exitGeneric || !strings.Contains(text, "does not load") || !strings.Contains(text, "nocmd") || !strings.Contains(text, "[program.web]") {
		t.Errorf("the broken file: exit %d, want %d, the error and the TOML\n%s", code, exitGeneric, text)
	}
	if strings.Contains(text, ".convert-") {
		t.Errorf("the error names the staged copy:\n%s", text)
	}
	text, code = runMain("", nil, "convert", env)
	if code != 0 || !strings.Contains(text, "not checked") || !strings.Contains(text, "CTLSUP_TEST_UNSET") {
		t.Errorf("unset ${X}: exit %d\n%s", code, text)
	}
}

// TestConvert_UnsetEnvironmentIsNamedAtOnce: %(ENV_X)s becomes ${X}, read
// from ctlsupd's environment when it loads the file; a conversion into a
// directory with some of them unset names them all at once and makes
// nothing, where it named the first one, at a staged file already gone,
// and left an empty directory behind. A failure to load names the file
// as converted, not the staged copy.
func TestConvert_UnsetEnvironmentIsNamedAtOnce(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "supervisord.conf")
	os.WriteFile(conf, []byte("[program:web]\ncommand=/bin/sleep %(ENV_CTLSUP_TEST_B)s%(ENV_CTLSUP_TEST_C)s\nuser=%(ENV_CTLSUP_TEST_A)s\n"+
		"[program:worker]\ncommand=/bin/sleep 1000\nenvironment=KEY=\"%(ENV_CTLSUP_TEST_B)s\"\n"), 0o644)
	out := filepath.Join(dir, "new", "deeper")
	text, code := runMain("", nil, "convert", "-o", out, conf)
	if code != exitGeneric || !strings.Contains(text, "not set here: CTLSUP_TEST_A, CTLSUP_TEST_B, CTLSUP_TEST_C") {
		t.Errorf("exit %d\n%s", code, text)
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a failed conversion made %s", out)
	}
	broken := filepath.Join(dir, "broken.conf")
	os.WriteFile(broken, []byte("[program:nocmd]\ndirectory=/tmp\n"), 0o644)
	text, _ = runMain("", nil, "convert", "-o", out, broken)
	if strings.Contains(text, ".convert-") || !strings.Contains(text, filepath.Join(out+" (converted)", "conf.d", "supervisord.toml")) {
		t.Errorf("the error names the staged copy, or no file:\n%s", text)
	}
	if _, err := os.Stat(filepath.Join(dir, "new")); err == nil {
		t.Errorf("a failed conversion made %s", filepath.Join(dir, "new"))
	}
	// What was there before stays, even a link to nowhere.
	link := filepath.Join(dir, "link")
	os.Symlink(filepath.Join(dir, "nowhere"), link)
	runMain("", nil, "convert", "-o", link, broken)
	if _, err := os.Lstat(link); err != nil {
		t.Errorf("a failed conversion removed the link that was at its -o: %v", err)
	}
}

// TestConvert_KeepsHandEdits: converting again replaces what convert
// wrote (an earlier convert's, unstamped, too), but not a file edited
// since or one convert never wrote, whose edits would be lost without a
// word; -force replaces it.
func TestConvert_KeepsHandEdits(t *testing.T) {
	dir := t.TempDir()
	conf, out := filepath.Join(dir, "supervisord.conf"), filepath.Join(dir, "out")
	os.WriteFile(conf, []byte("[program:web]\ncommand=/bin/sleep 1000\nstartsecs=2\n"), 0o644)
	if text, code := runMain("", nil, "convert", "-o", out, conf); code != 0 {
		t.Fatalf("first conversion: exit %d\n%s", code, text)
	}
	progs := filepath.Join(out, "conf.d", "supervisord.toml")
	// The INI changes: converting again follows it.
	os.WriteFile(conf, []byte("[program:web]\ncommand=/bin/sleep 1000\nstartsecs=3\n"), 0o644)
	if text, code := runMain("", nil, "convert", "-o", out, conf); code != 0 || !strings.Contains(readFile(progs), "startsecs = 3") {
		t.Fatalf("converting a changed INI over convert's own files: exit %d\n%s\n%s", code, text, readFile(progs))
	}
	// An edit by hand is not lost.
	edited := strings.Replace(readFile(progs), "startsecs = 3\n", "startsecs = 3\nrestart_max_delay = 10\n", 1)
	os.WriteFile(progs, []byte(edited), 0o644)
	text, code := runMain("", nil, "convert", "-o", out, conf)
	if code != exitGeneric || !strings.Contains(text, progs+" is not what convert wrote there") {
		t.Errorf("converting over a hand edit: exit %d\n%s", code, text)
	}
	if readFile(progs) != edited {
		t.Errorf("the edited file changed:\n%s", readFile(progs))
	}
	// Nor is a ctlsupd.toml convert never wrote.
	daemon := filepath.Join(out, "ctlsupd.toml")
	os.WriteFile(progs, []byte(""), 0o644)
	mine := "# mine\ninclude = [\"conf.d/*.toml\"]\n"
	os.WriteFile(daemon, []byte(mine), 0o644)
	if text, code := runMain("", nil, "convert", "-o", out, conf); code != exitGeneric || !strings.Contains(text, daemon) || readFile(daemon) != mine {
		t.Errorf("converting over a file convert did not write: exit %d\n%s", code, text)
	}
	if text, code := runMain("", nil, "convert", "-o", out, "-force", conf); code != 0 || readFile(daemon) == mine || strings.Contains(readFile(progs), "restart_max_delay") {
		t.Errorf("-force: exit %d\n%s", code, text)
	}
	// An earlier convert's files, unstamped but unchanged, are replaced.
	for _, f := range []string{daemon, progs} {
		text := readFile(f)
		os.WriteFile(f, []byte(text[:strings.LastIndex(text, "# ctlsup convert: sha256 ")]), 0o644)
	}
	if text, code := runMain("", nil, "convert", "-o", out, conf); code != 0 {
		t.Errorf("converting over an earlier convert's files: exit %d\n%s", code, text)
	}
	if _, code := runMain("", nil, "convert", "-force", conf); code != exitInvalidArgs {
		t.Errorf("-force without -o: exit %d, want %d", code, exitInvalidArgs)
	}
}
