package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ctlsup/ctlsup/supervisor/testhelper"
)

// TestKanoKonnect runs examples/kano_konnect as written, with stand-ins
// for uWSGI (serving HTTP on the socket ctlsupd holds, ready when it
// answers) and celery (started once it does) and temp paths, and drives
// it as its operators do: ctlsup restart kano_konnect-uwsgi, ctlsup
// reread, ctlsup update.
func TestKanoKonnect(t *testing.T) {
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().String()
	l.Close()
	// uWSGI's stand-in serves HTTP on the socket ctlsupd holds for it.
	standIn := strings.Join(testhelper.Argv("listen-fds"), " ")
	rewrite := strings.NewReplacer(
		`"/var/log/ctlsup"`, `"`+filepath.Join(dir, "log")+`"`,
		`"/run/ctlsup/ctlsup.sock"`, `"`+filepath.Join(dir, "ctl.sock")+`"`,
		`"/run/ctlsup"`, `"`+filepath.Join(dir, "state")+`"`,
		"/srv/kano_konnect/shared/env/bin/uwsgi --master --http-socket fd://3 --wsgi-file kano_konnect/kano_konnect/wsgi.py --need-app --hook-master-start 'unix_signal:15 gracefully_kill_them_all'", standIn,
		`"0.0.0.0:9090"`, `"`+port+`"`,

		"/srv/kano_konnect/shared/env/bin/celery -A kano_konnect worker --loglevel=INFO", "/bin/sleep 1001",
		`"/srv/kano_konnect/current/kano_konnect"`, `"`+dir+`"`,
		`"/srv/kano_konnect/current"`, `"`+dir+`"`,
		`user = "nobody"`, ``,
		`startsecs = 10`, `startsecs = 1`,
	)
	for _, f := range []string{"ctlsupd.toml", "conf.d/kano_konnect.toml"} {
		b, err := os.ReadFile(filepath.Join("../../examples/kano_konnect", f))
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755)
		os.WriteFile(filepath.Join(dir, f), []byte(rewrite.Replace(string(b))), 0o644)
	}
	conf := filepath.Join(dir, "ctlsupd.toml")
	daemon := exec.Command(ctlsupdBin, "-c", conf)
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	defer testhelper.Stop(daemon)
	ctl := func(args ...string) (string, int) {
		cmd := exec.Command(ctlsupBin, append([]string{"-c", conf}, args...)...)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		return string(out), code
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("unix", filepath.Join(dir, "ctl.sock")); err == nil {
			c.Close()
			if out, _ := ctl("status"); strings.Count(out, "RUNNING") == 2 {
				break
			}
		}
		if time.Now().After(deadline) {
			out, _ := ctl("status")
			t.Fatalf("kano_konnect programs did not come up:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	uwsgiPid, _ := ctl("pid", "kano_konnect-uwsgi")
	if out, code := ctl("restart", "kano_konnect-uwsgi"); out != "kano_konnect-uwsgi: stopped\nkano_konnect-uwsgi: started\n" || code != 0 {
		t.Errorf("restart: %q exit %d", out, code)
	}
	if after, _ := ctl("pid", "kano_konnect-uwsgi"); after == uwsgiPid {
		t.Errorf("restart kept pid %s", after)
	}
	uwsgiPid, _ = ctl("pid", "kano_konnect-uwsgi")

	confd := filepath.Join(dir, "conf.d", "kano_konnect.toml")
	b, _ := os.ReadFile(confd)
	os.WriteFile(confd, []byte(strings.Replace(string(b), "/bin/sleep 1001", "/bin/sleep 1002", 1)), 0o644)
	if out, code := ctl("reread"); out != "kano_konnect-celeryd: changed\n" || code != 0 {
		t.Errorf("reread: %q exit %d", out, code)
	}
	if out, code := ctl("update"); out != "kano_konnect-celeryd: stopped\nkano_konnect-celeryd: updated process group\n" || code != 0 {
		t.Errorf("update: %q exit %d", out, code)
	}
	if after, _ := ctl("pid", "kano_konnect-uwsgi"); after != uwsgiPid {
		t.Errorf("update restarted the unchanged uwsgi: %s -> %s", uwsgiPid, after)
	}

	// reload: everything stops and starts again in the same daemon, on the
	// same socket, and the old processes are gone.
	daemonPid, _ := ctl("pid")
	if out, code := ctl("reload"); out != "Restarted supervisord\n" || code != 0 {
		t.Errorf("reload: %q exit %d", out, code)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		if out, _ := ctl("status"); strings.Count(out, "RUNNING") == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("programs did not come back after reload")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if after, _ := ctl("pid"); after != daemonPid {
		t.Errorf("reload changed the daemon's pid: %s -> %s", daemonPid, after)
	}
	old, _ := strconv.Atoi(strings.TrimSpace(uwsgiPid))
	if err := syscall.Kill(old, 0); err == nil {
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", old)); !strings.Contains(string(b), ") Z ") {
			t.Errorf("the old uwsgi %d survived the reload", old)
		}
	}
}
