package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctlsup/ctlsup/api/xmlrpc"
)

func runMain(stdin string, env map[string]string, args ...string) (string, int) {
	var out bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &out, Stdin: strings.NewReader(stdin), Getenv: func(k string) string { return env[k] }}
	code := m.Run(args)
	return out.String(), code
}

func TestCLI_ServerFromEnvJSONAndShell(t *testing.T) {
	d := startDaemon(t, "ctlsupd")
	env := map[string]string{"CTLSUP_SERVER": d.url}
	// The socket serves before the programs start: wait for them.
	d.waitAutostarted(t)

	// status --json, with the server from CTLSUP_SERVER.
	out, code := runMain("", env, "status", "--json", "grp:*")
	var procs []struct {
		Name, Group, State string
		Usage              *struct {
			CPUSeconds *float64 `json:"cpu_seconds"`
			Tasks      int      `json:"tasks"`
		}
	}
	if err := json.Unmarshal([]byte(out), &procs); err != nil || code != 0 {
		t.Fatalf("status --json: %v exit %d\n%s", err, code, out)
	}
	if len(procs) != 2 || procs[0].Name != "alpha" || procs[0].Group != "grp" || procs[0].State != "RUNNING" {
		t.Errorf("status --json: %+v", procs)
	}
	// ctlsupd's usage comes along: CPU, memory, tasks of a running process.
	if u := procs[0].Usage; u == nil || u.CPUSeconds == nil || u.Tasks < 1 {
		t.Errorf("status --json: no usage for a running process:\n%s", out)
	}

	// argv words are joined and split again, as supervisorctl does.
	if out, code := runMain("", env, "status sleeper"); !strings.HasPrefix(out, "sleeper ") || code != 0 {
		t.Errorf("joined argv: %q exit %d", out, code)
	}

	// The interactive shell: status first, then commands until quit; it
	// exits 0 whatever they did, as supervisorctl's does.
	out, code = runMain("pid sleeper\nbogus\nquit\n", env)
	if !strings.Contains(out, "grp:alpha") || strings.Count(out, "supervisor> ") != 3 ||
		!strings.Contains(out, "*** Unknown syntax: bogus") || code != 0 {
		t.Errorf("shell: exit %d\n%s", code, out)
	}
	// Lines as Python's cmd reads them: a tab separates, "?" is help, and
	// an EOF line ends the shell as quit does.
	out, _ = runMain("pid\tsleeper\n? stop\nEOF\npid sleeper\n", env)
	if strings.Count(out, "supervisor> ") != 3 || !strings.Contains(out, "stop <name>") || strings.Contains(out, "Unknown syntax") {
		t.Errorf("shell, cmd's syntax:\n%s", out)
	}
	// supervisorctl's options: long forms, values glued, -h on stdout.
	noEnv := map[string]string{}
	for _, args := range [][]string{
		{"--serverurl", d.url, "pid", "sleeper"},
		{"--serverurl=" + d.url, "pid", "sleeper"},
		{"-s" + d.url, "pid", "sleeper"},
		{"-r", "/nonexistent/history", "-s", d.url, "pid", "sleeper"},
	} {
		if out, code := runMain("", noEnv, args...); code != 0 || strings.TrimSpace(out) == "" || strings.Contains(out, "rror") {
			t.Errorf("%q: exit %d\n%s", args, code, out)
		}
	}
	// -i with a command runs the command alone, as supervisorctl 4.2.5's.
	if out, code := runMain("quit\n", env, "-i", "pid", "sleeper"); strings.Contains(out, "supervisor> ") || strings.TrimSpace(out) == "" || code != 0 {
		t.Errorf("-i with a command: exit %d\n%s", code, out)
	}
	if out, code := runMain("", noEnv, "-h"); code != 0 || !strings.Contains(out, "Usage: ctlsup [options] [action [arguments]]") {
		t.Errorf("-h: exit %d\n%s", code, out)
	}
	if out, code := runMain("", noEnv, "-x", "status"); code != 2 || !strings.HasPrefix(out, "Error: option -x not recognized\nFor help, use ") {
		t.Errorf("-x: exit %d\n%s", code, out)
	}
	if out, code := runMain("", noEnv, "-s", "bogus://x", "status"); code != 1 || out != "error: <class 'ValueError'>, Unknown protocol for serverurl bogus://x\n" {
		t.Errorf("bad scheme: exit %d\n%s", code, out)
	}
	if out, code := runMain("", env, "exit"); code != 0 || out != "\n" {
		t.Errorf("exit: exit %d %q", code, out)
	}
	// shutdown and reload ask first in the shell, and the next line
	// answers: "n" (or anything but y...) leaves the daemon be.
	out, _ = runMain("shutdown\nn\nreload\nnope\npid sleeper\n", env)
	for _, want := range []string{"Really shut the remote supervisord process down y/N? ", "Really restart the remote supervisord process y/N? "} {
		if !strings.Contains(out, want) {
			t.Errorf("shell: no question %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "Shut down") || strings.Contains(out, "Restarted") || strings.Contains(out, "Unknown syntax") {
		t.Errorf("shell: answered no, yet:\n%s", out)
	}
	if _, code := runMain("", env, "pid", "sleeper"); code != 0 {
		t.Errorf("the daemon is gone after a shutdown answered no")
	}
}

func TestCLI_Check(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ctlsupd.toml")
	os.WriteFile(path, []byte("[program.web]\ncommand = \"/bin/true\"\nnumprocs = 2\n"), 0o644)
	if out, code := runMain("", nil, "-c", path, "check"); code != 0 || !strings.Contains(out, "web:web_01") || !strings.Contains(out, "OK, 1 groups, 2 processes") {
		t.Errorf("check of a good file: exit %d\n%s", code, out)
	}
	os.WriteFile(path, []byte("[program.web]\ncommand = \"/bin/true\"\nstopsignal = \"NOPE\"\n"), 0o644)
	if out, code := runMain("", nil, "-c", path, "check"); code != 1 || !strings.Contains(out, "ctlsupd.toml:3: program \"web\": stopsignal") {
		t.Errorf("check of a bad file: exit %d\n%s", code, out)
	}
	// `check -c FILE`, as the help writes it, checks FILE; a user that
	// does not exist fails as the spawn would.
	other := filepath.Join(dir, "other.toml")
	os.WriteFile(other, []byte("[program.api]\ncommand = \"/bin/true\"\nuser = \"nobdy\"\n"), 0o644)
	if out, code := runMain("", nil, "check", "-c", other); code != 1 || !strings.Contains(out, `other.toml:3: program "api": user = "nobdy"`) {
		t.Errorf("check -c FILE with an unknown user: exit %d\n%s", code, out)
	}
	// A command this host lacks is a warning: supervisord starts with it.
	os.WriteFile(other, []byte("[program.api]\ncommand = \"/no/such/gunicorn\"\n"), 0o644)
	if out, code := runMain("", nil, "check", "-c", other); code != 0 || !strings.Contains(out, "OK, 1 groups, 1 processes") ||
		!strings.Contains(out, `warning: `+other+`:2: program "api": command: can't find command '/no/such/gunicorn' (on this host)`) {
		t.Errorf("check -c FILE with a missing command: exit %d\n%s", code, out)
	}
}

// TestCLI_FindsTheServerWithoutReadingConfd: a mistake in a conf.d file
// (or a variable the client's environment lacks) does not stop commands;
// a -c file that cannot be read is an error, with -s too; a supervisord
// INI file, as Ansible and Salt pass it with -c, names the server too.
func TestCLI_FindsTheServerWithoutReadingConfd(t *testing.T) {
	d := startDaemon(t, "ctlsupd")
	d.waitAutostarted(t)
	sock := strings.TrimPrefix(d.url, "unix://")
	dir := t.TempDir()
	daemon := filepath.Join(dir, "ctlsupd.toml")
	os.MkdirAll(filepath.Join(dir, "conf.d"), 0o755)
	os.WriteFile(daemon, []byte(fmt.Sprintf("include = [\"conf.d/*.toml\"]\n[control]\nsocket = %q\n", sock)), 0o644)
	os.WriteFile(filepath.Join(dir, "conf.d", "typo.toml"), []byte("[program.web]\ncommand = \"${NOT_SET_ANYWHERE}\"\nstopsignl = \"TERM\"\n"), 0o644)
	if out, code := runMain("", nil, "-c", daemon, "pid"); code != 0 || strings.TrimSpace(out) == "" {
		t.Errorf("pid with a broken conf.d file: exit %d\n%s", code, out)
	}
	broken := filepath.Join(dir, "broken.toml")
	os.WriteFile(broken, []byte("this is not TOML ["), 0o644)
	// -c names a file to read, -s or not, as supervisorctl reads it.
	if out, code := runMain("", nil, "-c", broken, "-s", d.url, "pid"); code != 2 || !strings.HasPrefix(out, "Error: cannot read configuration") {
		t.Errorf("-s with a broken -c file: exit %d\n%s", code, out)
	}
	conf := filepath.Join(dir, "supervisord.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("[unix_http_server]\nfile=%s\n\n[supervisorctl]\n\n[program:x]\ncommand=/bin/true\n", sock)), 0o644)
	if out, code := runMain("", nil, "-c", conf, "pid"); code != 0 || strings.TrimSpace(out) == "" {
		t.Errorf("-c with a supervisord INI file: exit %d\n%s", code, out)
	}
	// supervisorctl expands %(here)s and %(ENV_X)s in serverurl.
	t.Setenv("CTLSUP_TEST_SOCKDIR", filepath.Dir(sock))
	for _, url := range []string{"unix://%(here)s/" + filepath.Base(sock), "unix://%(ENV_CTLSUP_TEST_SOCKDIR)s/" + filepath.Base(sock)} {
		conf := filepath.Join(filepath.Dir(sock), "supervisord.conf")
		os.WriteFile(conf, []byte("[supervisorctl]\nserverurl="+url+"\n"), 0o644)
		if out, code := runMain("", nil, "-c", conf, "pid"); code != 0 || strings.TrimSpace(out) == "" {
			t.Errorf("-c with serverurl=%s: exit %d\n%s", url, code, out)
		}
	}
}

// TestCLI_PasswordOptionAlone: -p without -u replaces the file's password
// and keeps its user, as supervisorctl takes each from the file only when
// not given.
func TestCLI_PasswordOptionAlone(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "supervisord.conf")
	os.WriteFile(conf, []byte("[supervisorctl]\nserverurl=http://127.0.0.1:9\nusername=ops\npassword=secret\n"), 0o644)
	m := NewMain()
	m.ConfigPath, m.Password = conf, "wrong"
	if err := m.resolveServer(); err != nil {
		t.Fatal(err)
	}
	if m.Username != "ops" || m.Password != "wrong" {
		t.Errorf("user %q password %q, want the file's user and -p's password", m.Username, m.Password)
	}
}

// TestCLI_DaemonFileTypoStillLocatesTheDaemon: an unknown key written
// into the daemon file since the daemon loaded it does not cost the
// operator every command: the socket is still read from it, and the key
// is said on stderr.
func TestCLI_DaemonFileTypoStillLocatesTheDaemon(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "ctlsupd.toml")
	os.WriteFile(conf, []byte("logdir = \"log\"\n[control]\nsocket = \"run/ctl.sock\"\nsocket_mod = \"0700\"\n"), 0o644)
	m := NewMain()
	var stderr strings.Builder
	m.ConfigPath, m.Stderr = conf, &stderr
	if err := m.resolveServer(); err != nil {
		t.Fatal(err)
	}
	if want := "unix://" + filepath.Join(dir, "run", "ctl.sock"); m.ServerURL != want {
		t.Errorf("server %q, want %q", m.ServerURL, want)
	}
	for _, key := range []string{`ctlsupd.toml:1: daemon: unknown key "logdir"`, `ctlsupd.toml:4: control: unknown key "socket_mod"`} {
		if !strings.Contains(stderr.String(), key) {
			t.Errorf("stderr %q does not tell %s", stderr.String(), key)
		}
	}
	// A value the socket depends on that cannot be read is still an error.
	os.WriteFile(conf, []byte("[control]\nsocket = 7\n"), 0o644)
	m = NewMain()
	m.ConfigPath, m.Stderr = conf, &stderr
	if err := m.resolveServer(); err == nil {
		t.Error("a socket that is not a string: no error")
	}
}

// TestCLI_FileCredentialsWithServerURL: -c and -s together take the URL
// from -s and the credentials (and the shell's prompt) from the file, as
// supervisorctl does (Ansible passes both).
func TestCLI_FileCredentialsWithServerURL(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "supervisord.conf")
	os.WriteFile(conf, []byte("[supervisorctl]\nserverurl=unix:///nonexistent.sock\nusername=ops\npassword=secret\nprompt=myhost\n"), 0o644)
	m := NewMain()
	m.ConfigPath, m.ServerURL = conf, "http://127.0.0.1:9"
	if err := m.resolveServer(); err != nil {
		t.Fatal(err)
	}
	if m.ServerURL != "http://127.0.0.1:9" || m.Username != "ops" || m.Password != "secret" || m.prompt != "myhost" {
		t.Errorf("url %q user %q password %q prompt %q", m.ServerURL, m.Username, m.Password, m.prompt)
	}
}

// TestCLI_FindsSupervisordFileWithoutC: with no -c, -s or CTLSUP_SERVER,
// the file is looked for as supervisorctl looks: ctlsupd's default first,
// then supervisord.conf here, ...
func TestCLI_FindsSupervisordFileWithoutC(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "supervisord.conf")
	os.WriteFile(conf, []byte("[unix_http_server]\nfile=/run/found.sock\n"), 0o644)
	m := &Main{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" },
		defaultPaths: []string{filepath.Join(dir, "ctlsupd.toml"), conf}}
	if err := m.resolveServer(); err != nil {
		t.Fatal(err)
	}
	if m.ServerURL != "unix:///run/found.sock" {
		t.Errorf("url %q, want the supervisord file's socket", m.ServerURL)
	}
}

// TestCLI_ShellAsksForCredentials: in the shell, a server that wants
// credentials gets them asked for, and the command runs again with them,
// as supervisorctl's shell does; the password is not taken as a command.
func TestCLI_ShellAsksForCredentials(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user, pass, ok := r.BasicAuth(); !ok || user != "ops" || pass != "secret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="default"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		call, _ := io.ReadAll(r.Body)
		version := "3.0" // the API's, which the client checks first
		if strings.Contains(string(call), "getSupervisorVersion") {
			version = "4.2.5"
		}
		body, _ := xmlrpc.EncodeResponse(version)
		w.Write(body)
	}))
	defer srv.Close()
	out, code := runMain("ops\nsecret\nversion\n", map[string]string{}, "-s", srv.URL)
	if strings.Count(out, "Server requires authentication") < 1 || !strings.Contains(out, "Username:Password:") ||
		!strings.Contains(out, "supervisor> 4.2.5\n") || strings.Contains(out, "Unknown syntax") || code != 0 {
		t.Errorf("exit %d\n%s", code, out)
	}
	// -i makes a command given on the command line ask as the shell does;
	// without it, the command fails.
	out, code = runMain("ops\nsecret\n", map[string]string{}, "-i", "-s", srv.URL, "version")
	if out != "Server requires authentication\nUsername:Password:\n4.2.5\n" || code != 0 {
		t.Errorf("-i version: exit %d\n%q", code, out)
	}
	out, code = runMain("ops\nsecret\n", map[string]string{}, "-s", srv.URL, "version")
	if !strings.Contains(out, "Server requires authentication") || strings.Contains(out, "Username:") || code == 0 {
		t.Errorf("version without -i: exit %d\n%q", code, out)
	}
	// Input that ends at a question fails the command, as Python's
	// EOFError fails supervisorctl's.
	out, code = runMain("", map[string]string{}, "-i", "-s", srv.URL, "version")
	if out != "Server requires authentication\nUsername:error: <class 'EOFError'>, EOF when reading a line\n" || code != 1 {
		t.Errorf("-i version, no input: exit %d\n%q", code, out)
	}
	out, code = runMain("", map[string]string{}, "-i", "-s", srv.URL, "shutdown")
	if out != "Really shut the remote supervisord process down y/N? error: <class 'EOFError'>, EOF when reading a line\n" || code != 1 {
		t.Errorf("-i shutdown, no input: exit %d\n%q", code, out)
	}
}

// TestCLI_Getopt: options are parsed as Python's getopt parses
// supervisorctl's (the expected results are what it gives): clusters,
// glued values, values that look like options, unique prefixes of long
// names, and its errors word for word.
func TestCLI_Getopt(t *testing.T) {
	for in, want := range map[string]string{
		"-uadmin -psecret status":        "-u=admin -p=secret | status",
		"-c/etc/x.conf tail -f web":      "-c=/etc/x.conf | tail -f web",
		"-p -secret -s unix:///x status": "-p=-secret -s=unix:///x | status",
		"--serverurl=unix:///x -i pid":   "--serverurl=unix:///x -i= | pid",
		"-serverurl unix:///x pid":       "-s=erverurl | unix:///x pid",
		"-s unix:///x -- -weird":         "-s=unix:///x | -weird",
		"-ic /etc/x.conf status":         "-i= -c=/etc/x.conf | status",
		"-iuadmin status":                "-i= -u=admin | status",
		"--serv unix:///x status":        "--serverurl=unix:///x | status",
		"--user=admin --pass secret":     "--username=admin --password=secret | ",
		"--h":                            "error: option --h not a unique prefix",
		"--he":                           "--help= | ",
		"--i":                            "--interactive= | ",
		"--in status":                    "--interactive= | status",
		"--interactive=1":                "error: option --interactive must not have an argument",
		"--bogus":                        "error: option --bogus not recognized",
		"-x status":                      "error: option -x not recognized",
		"-c":                             "error: option -c requires argument",
		"--configuration":                "error: option --configuration requires argument",
		"-p=x status":                    "-p==x | status",
		"- status":                       " | - status",
		"status -c x":                    " | status -c x",
		"--":                             " | ",
		"-?":                             "-?= | ",
		"-h -x":                          "error: option -x not recognized",
		"-é":                             "error: option -é not recognized",
		"--=x":                           "error: option -- not a unique prefix",
		"--history_file=/tmp/h -r x":     "--history_file=/tmp/h -r=x | ",
		"-:":                             "error: option -: not recognized",
	} {
		opts, rest, err := getopt(strings.Fields(in), shortOptions, longOptions)
		got := ""
		if err != nil {
			got = "error: " + err.Error()
		} else {
			var parts []string
			for _, o := range opts {
				parts = append(parts, o.name+"="+o.value)
			}
			got = strings.Join(parts, " ") + " | " + strings.Join(rest, " ")
		}
		if got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

// TestCLI_ServerURLMustBeAURL: -s takes what Python's urlparse finds a
// scheme and a host or path in (the expected results are its), and the
// refusal reads as supervisorctl's.
func TestCLI_ServerURLMustBeAURL(t *testing.T) {
	for v, want := range map[string]bool{
		"unix:///tmp/x.sock":    true,
		"http://localhost:9001": true,
		"localhost:9001":        true,
		"foo":                   false,
		"http:":                 false,
		"http://":               false,
		"http:///x":             true,
		"unix://":               false,
		":x":                    false,
		"1http://x":             false,
		"http:?x":               false,
		"http:;x":               false,
		"http:/a;b":             true,
		"h t://x":               false,
		"bogus://x":             true,
		"  http://x":            true,
		"ht\ntp://x":            true,
		"http:#x":               false,
		"x:y":                   true,
		"é://x":                 false,
		"http://x?y":            true,
		"unix:;":                true,
	} {
		if err := pyURL(v); (err == nil) != want {
			t.Errorf("%q: %v, want a URL: %v", v, err, want)
		}
	}
	for v, want := range map[string]string{
		"http://[::1":       "Invalid IPv6 URL",
		"http://[x]:9001":   "'x' does not appear to be an IPv4 or IPv6 address",
		"http://[::1]:9001": "",
		"http://[1.2.3.4]/": "An IPv4 address cannot be in brackets",
		"http://a[::1]/":    "Invalid IPv6 URL",
		"http://[::1]x/":    "Invalid IPv6 URL",
		"http://u@[::1]:1":  "",
		"http://[v1.x]/":    "",
		"http://[vz]/":      "IPvFuture address is invalid",
		"//[x":              "Invalid IPv6 URL",
		"http://a]b":        "Invalid IPv6 URL",
	} {
		got := ""
		if err := pyURL(v); err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("%q: %q, want %q", v, got, want)
		}
	}
	out, code := runMain("", map[string]string{}, "--serverurl", "foo", "status")
	if code != 2 || !strings.HasPrefix(out, "Error: invalid value for --serverurl 'foo': value 'foo' is not a URL\n") {
		t.Errorf("exit %d\n%s", code, out)
	}
	out, code = runMain("", map[string]string{}, "-u", "a", "-ub", "status")
	if code != 2 || !strings.HasPrefix(out, "Error: conflicting command line option '-u'\n") {
		t.Errorf("exit %d\n%s", code, out)
	}
	// -h is heard before a conflict that follows it, as supervisorctl's
	// handler exits at once.
	if out, code := runMain("", map[string]string{}, "-h", "-u", "a", "-u", "b"); code != 0 || !strings.Contains(out, "Usage:") {
		t.Errorf("exit %d\n%s", code, out)
	}
}

// TestCLI_ServerURLTakesTheFoundFilesCredentials: -s gives the URL, and
// the file found where supervisorctl looks still gives the credentials;
// a -c file that only gives credentials serves beside -s; one that cannot
// be read is an error even with -s.
func TestCLI_ServerURLTakesTheFoundFilesCredentials(t *testing.T) {
	dir := t.TempDir()
	found := filepath.Join(dir, "supervisord.conf")
	os.WriteFile(found, []byte("[supervisorctl]\nusername=admin\npassword=s3cret\nprompt=myhost\n"), 0o644)
	m := &Main{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" },
		ServerURL: "http://127.0.0.1:9", defaultPaths: []string{filepath.Join(dir, "none.toml"), found}}
	if err := m.resolveServer(); err != nil {
		t.Fatal(err)
	}
	if m.ServerURL != "http://127.0.0.1:9" || m.Username != "admin" || m.Password != "s3cret" || m.prompt != "myhost" {
		t.Errorf("found file with -s: url %q user %q password %q prompt %q", m.ServerURL, m.Username, m.Password, m.prompt)
	}
	m = &Main{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }, ConfigPath: found}
	if err := m.resolveServer(); err != nil || m.ServerURL != "http://localhost:9001" || m.Username != "admin" {
		t.Errorf("credentials-only -c alone: url %q user %q err %v; want supervisorctl's default URL", m.ServerURL, m.Username, err)
	}
	broken := filepath.Join(dir, "broken.conf")
	os.WriteFile(broken, []byte("[supervisorctl\nusername=admin\n"), 0o644)
	if out, code := runMain("", map[string]string{}, "-c", broken, "-s", "http://127.0.0.1:9", "status"); code != 2 || !strings.HasPrefix(out, "Error: ") {
		t.Errorf("a broken -c with -s: exit %d\n%s", code, out)
	}
	if out, code := runMain("", map[string]string{}, "--bogus"); code != 2 || !strings.HasPrefix(out, "Error: option --bogus not recognized\n") {
		t.Errorf("--bogus: exit %d\n%s", code, out)
	}
	// An unknown scheme fails the first call, not help.
	if out, code := runMain("", map[string]string{}, "-s", "bogus://x", "help", "stop"); code != 0 || !strings.Contains(out, "stop <name>") {
		t.Errorf("help with a bad scheme: exit %d\n%s", code, out)
	}
}

// TestCLI_ConnectionClosedWithoutAnAnswer: a daemon that closes the
// connection before answering (an upgrade in place under way) is reported
// as supervisorctl reports it.
func TestCLI_ConnectionClosedWithoutAnAnswer(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Read(make([]byte, 4096))
			c.Close()
		}
	}()
	out, code := runMain("", map[string]string{}, "-s", "unix://"+sock, "status")
	if code != 1 || !strings.Contains(out, "error: <class 'http.client.RemoteDisconnected'>, Remote end closed connection without response\n") {
		t.Errorf("exit %d\n%s", code, out)
	}
}
