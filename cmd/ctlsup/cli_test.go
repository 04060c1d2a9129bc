package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	var procs []struct{ Name, Group, State string }
	if err := json.Unmarshal([]byte(out), &procs); err != nil || code != 0 {
		t.Fatalf("status --json: %v exit %d\n%s", err, code, out)
	}
	if len(procs) != 2 || procs[0].Name != "alpha" || procs[0].Group != "grp" || procs[0].State != "RUNNING" {
		t.Errorf("status --json: %+v", procs)
	}

	// argv words are joined and split again, as supervisorctl does.
	if out, code := runMain("", env, "status sleeper"); !strings.HasPrefix(out, "sleeper ") || code != 0 {
		t.Errorf("joined argv: %q exit %d", out, code)
	}

	// The interactive shell: status first, then commands until quit.
	out, code = runMain("pid sleeper\nbogus\nquit\n", env)
	if !strings.Contains(out, "grp:alpha") || strings.Count(out, "ctlsup> ") != 3 ||
		!strings.Contains(out, "*** Unknown syntax: bogus") || code != 1 {
		t.Errorf("shell: exit %d\n%s", code, out)
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
	if out, code := runMain("", nil, "check", "-c", other); code != 1 || !strings.Contains(out, `process api: user = "nobdy"`) {
		t.Errorf("check -c FILE with an unknown user: exit %d\n%s", code, out)
	}
}
