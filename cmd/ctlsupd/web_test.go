package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ctlsup/ctlsup/supervisor/testhelper"
)

// TestWeb_InARealBrowser drives the web page in Debian's headless
// Chromium: it loads with every process, shows a killed program's state
// change without a reload, restarts a program with a click, follows a
// tail, and refuses an action without its CSRF token. With
// CTLSUP_SCREENSHOT=FILE it saves a screenshot (the README's).
func TestWeb_InARealBrowser(t *testing.T) {
	chromium := testhelper.RequirePackage(t, "chromium", "chromium")
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	path := testConfig(t, map[string]string{"app.toml": `
[instance.turkey]
[instance.iraq]
` + program("web", "tick", `instances = ["turkey", "iraq"]`) + program("beat", "sleep", `instances = ["turkey"]`) + `
[program.crashy]
command = "/bin/sh -c 'sleep 0.2; exit 1'"
startsecs = 0
autorestart = true
`})
	b, _ := os.ReadFile(path)
	os.WriteFile(path, append(b, []byte(fmt.Sprintf("http_listen = %q\n", addr))...), 0o644)
	sock := filepath.Join(filepath.Dir(path), "state", "ctlsup.sock")
	d, log := startDaemon(t, path)
	waitUntil(t, "all RUNNING", log, func() bool { return statusPidsOrNil(sock)["turkey:beat"] != 0 })

	ctx, cancel := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.Flag("no-sandbox", true), chromedp.WindowSize(1100, 800))...)
	defer cancel()
	ctx, cancel = chromedp.NewContext(ctx)
	defer cancel()
	url := "http://" + addr + "/"
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil { // the first run starts the browser: no timeout on it
		t.Fatalf("load: %v\n%s", err, log)
	}
	step, stop := context.WithTimeout(ctx, 60*time.Second)
	defer stop()
	pidOf := func(name string) string {
		res, err := chromedp.Run(step, chromedp.AttributeValue(chromedp.CSS(fmt.Sprintf(`[data-process=%q]`, name)), "data-pid"))
		if err != nil {
			t.Fatalf("pid of %s: %v", name, err)
		}
		return res.Value
	}
	if err := chromedp.Do(step,
		chromedp.WaitVisible(chromedp.CSS(`[data-process="turkey:web"] .state.running`)),
		chromedp.WaitVisible(chromedp.CSS(`#live.on`)),
	); err != nil {
		t.Fatalf("the page: %v\n%s", err, log)
	}
	groups, _ := chromedp.Run(step, chromedp.Evaluate[[]string](`[...document.querySelectorAll("section[data-group]")].map(s => s.dataset.group)`))
	if strings.Join(groups, " ") != "crashy iraq turkey" {
		t.Errorf("groups on the page: %v", groups)
	}
	if err := chromedp.Do(step, chromedp.WaitVisible(chromedp.CSS(`[data-process="crashy"] .desc.alert`))); err != nil {
		t.Errorf("the crash loop is not shown: %v", err)
	}

	// Killed: the page shows the new process without a reload.
	before := pidOf("turkey:beat")
	n, _ := strconv.Atoi(before)
	syscall.Kill(n, syscall.SIGKILL)
	if err := chromedp.Do(step, chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`[data-process="turkey:beat"]:not([data-pid="%s"]):not([data-pid="0"]) .state.running`, before)))); err != nil {
		t.Errorf("the kill did not show: %v", err)
	}

	// A click on Restart.
	web := pidOf("iraq:web")
	if err := chromedp.Do(step,
		chromedp.Click(chromedp.CSS(`[data-process="iraq:web"] button[data-action="restart"]`)),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`[data-process="iraq:web"]:not([data-pid="%s"]):not([data-pid="0"]) .state.running`, web))),
	); err != nil {
		t.Errorf("restart by click: %v", err)
	}
	if now := statusPids(t, sock)["iraq:web"]; strconv.Itoa(now) == web {
		t.Errorf("iraq:web kept pid %s", web)
	}

	// Tail follows the log.
	if err := chromedp.Do(step,
		chromedp.Click(chromedp.CSS(`[data-process="turkey:web"] button[data-action="tail"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#tail.open`)),
	); err != nil {
		t.Errorf("tail: %v", err)
	}
	// It follows: a tick written after the tail opened shows up.
	if _, err := chromedp.Run(step, chromedp.Poll[bool](`document.getElementById("tail-text").textContent.includes("tick")`)); err != nil {
		t.Errorf("the tail shows nothing: %v", err)
	}
	first, _ := chromedp.Run(step, chromedp.Evaluate[string](`document.getElementById("tail-text").textContent.trim().split("\n").pop()`))
	if _, err := chromedp.Run(step, chromedp.Poll[bool](fmt.Sprintf(`document.getElementById("tail-text").textContent.trim().split("\n").pop() !== %q`, first))); err != nil {
		t.Errorf("the tail does not follow (still %q): %v", first, err)
	}
	if shot := os.Getenv("CTLSUP_SCREENSHOT"); shot != "" {
		if png, err := chromedp.Run(step, chromedp.FullScreenshot(100)); err == nil {
			os.WriteFile(shot, png, 0o644)
		}
	}

	// With no push coming (the stream closed), uptimes still count up.
	upNow := `document.querySelector('[data-process="turkey:web"] .desc').textContent`
	up, err := chromedp.Run(step, chromedp.Evaluate[string](`es.close(); es = null; `+upNow))
	if err != nil || !regexp.MustCompile(`^pid \d+, uptime \d+:\d\d:\d\d$`).MatchString(up) {
		t.Errorf("turkey:web's description: %q %v", up, err)
	}
	ticking, stopTicking := context.WithTimeout(step, 5*time.Second)
	if _, err := chromedp.Run(ticking, chromedp.Poll[bool](fmt.Sprintf(`%s !== %q`, upNow, up))); err != nil {
		t.Errorf("the uptime does not count between pushes (still %q): %v", up, err)
	}
	stopTicking()

	// An action without the page's token is refused.
	status, err := chromedp.Run(step, chromedp.Evaluate[int](`fetch("ui/action", {method: "POST", body: JSON.stringify({Action: "stopall"})}).then(r => r.status)`,
		chromedp.EvalAwaitPromise))
	if err != nil || status != 403 {
		t.Errorf("an action without the CSRF token: %d %v", status, err)
	}
	d.Process.Signal(syscall.SIGTERM)
	d.Wait()
}
