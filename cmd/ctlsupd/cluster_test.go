package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ctlsup/ctlsup/supervisor/testhelper"
)

// The cluster tests run three ctlsupd daemons on this machine as three
// nodes, each reaching a real coordination service through a TCP proxy
// the test can cut. A beat stand-in (one per instance, turkey and iraq)
// appends "node start tick" lines to one file per instance; whatever
// happens, no two runs of it from different nodes may overlap in time.
const (
	clusterTTL    = 6 // seconds
	clusterMargin = 1
)

// clusterNode is one daemon of the test cluster.
type clusterNode struct {
	name    string
	config  string
	sock    string
	state   string
	proxy   *testhelper.Proxy
	metrics string // host:port of its /metrics
	cmd     *exec.Cmd
	log     *testhelper.SyncBuffer
}

func (n *clusterNode) start(t *testing.T) {
	t.Helper()
	n.cmd, n.log = startDaemon(t, n.config)
}

// runningBeats maps each instance to whether this node's beat is RUNNING
// (nil when the daemon does not answer).
func (n *clusterNode) runningBeats() map[string]bool {
	infos, ok := processInfos(n.sock)
	if !ok {
		return nil
	}
	out := map[string]bool{}
	for _, info := range infos {
		out[info["group"].(string)] = info["statename"] == "RUNNING"
	}
	return out
}

type clusterTest struct {
	t     *testing.T
	dir   string
	nodes []*clusterNode
}

func newClusterTest(t *testing.T, backend func(proxy string) string, target string) *clusterTest {
	c := &clusterTest{t: t, dir: t.TempDir()}
	for _, name := range []string{"node-a", "node-b", "node-c"} {
		dir := filepath.Join(c.dir, name)
		os.MkdirAll(filepath.Join(dir, "conf.d"), 0o755)
		n := &clusterNode{name: name, sock: filepath.Join(dir, "state", "ctl.sock"), state: filepath.Join(dir, "state"),
			proxy: testhelper.NewProxy(t, target), config: filepath.Join(dir, "ctlsupd.toml"),
			metrics: fmt.Sprintf("127.0.0.1:%d", testhelper.FreePort(t))}
		os.WriteFile(n.config, []byte(fmt.Sprintf(`include = ["conf.d/*.toml"]
log_dir = %q
state_dir = %q
[control]
socket = %q
[metrics]
listen = %q
[cluster]
backend = %q
node = %q
lease_ttl = %d
fence_margin = %d
`, filepath.Join(dir, "log"), n.state, n.sock, n.metrics, backend(n.proxy.Addr), name, clusterTTL, clusterMargin)), 0o644)
		os.WriteFile(filepath.Join(dir, "conf.d", "beat.toml"), []byte(fmt.Sprintf(`
[instance.turkey]
[instance.iraq]
[program.beat]
instances = ["turkey", "iraq"]
command = ["/bin/sh", "-c", "s=$(date +%%s.%%N); while :; do echo \"$NODE $s $(date +%%s.%%N)\" >> %s/ticks-${instance}; sleep 0.05; done"]
environment = { NODE = %q }
singleton = "cluster"
startsecs = 0
stopwaitsecs = 1
`, c.dir, name)), 0o644)
		c.nodes = append(c.nodes, n)
	}
	return c
}

// holder waits until exactly one node other than those excluded runs the
// instance's beat, and returns it.
func (c *clusterTest) holder(instance string, within time.Duration, exclude ...*clusterNode) *clusterNode {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for {
		var running []*clusterNode
		for _, n := range c.nodes {
			if st := n.runningBeats(); st != nil && st[instance] && !slices.Contains(exclude, n) {
				running = append(running, n)
			}
		}
		if len(running) == 1 {
			return running[0]
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s: %d nodes run the beat after %s, want 1; logs:\n%s", instance, len(running), within, c.logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *clusterTest) logs() string {
	var b strings.Builder
	for _, n := range c.nodes {
		if n.log != nil {
			fmt.Fprintf(&b, "--- %s\n%s\n", n.name, n.log)
		}
	}
	return b.String()
}

// checkClusterStatus waits until ctlsup status over the three nodes (-s
// three times) shows, for each instance, one node running the beat and
// the two others waiting for it, naming that node.
func (c *clusterTest) checkClusterStatus(within time.Duration) {
	c.t.Helper()
	args := []string{}
	for _, n := range c.nodes {
		args = append(args, "-s", "unix://"+n.sock)
	}
	deadline := time.Now().Add(within)
	for {
		out, _ := exec.Command(ctlBinary(), append(args, "status")...).CombinedOutput()
		if c.statusAgrees(string(out)) && c.metricsAgree() {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("cluster status never agreed:\n%s\nlogs:\n%s", out, c.logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// metricsAgree checks /metrics of every node: the holder of each beat
// says it holds it, and every node names the same holder.
func (c *clusterTest) metricsAgree() bool {
	for _, in := range []string{"turkey", "iraq"} {
		held, holders := 0, map[string]bool{}
		for _, n := range c.nodes {
			resp, err := http.Get("http://" + n.metrics + "/metrics")
			if err != nil {
				return false
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, line := range strings.Split(string(b), "\n") {
				if !strings.Contains(line, `group="`+in+`"`) {
					continue
				}
				if strings.HasPrefix(line, "ctlsup_cluster_lease_held{") && strings.HasSuffix(line, " 1") {
					held++
				}
				if strings.HasPrefix(line, "ctlsup_cluster_lease_holder{") {
					holders[line[strings.Index(line, `node="`):]] = true
				}
			}
		}
		if held != 1 || len(holders) != 1 {
			return false
		}
	}
	return true
}

func (c *clusterTest) statusAgrees(out string) bool {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 6 {
		return false
	}
	for _, in := range []string{"turkey", "iraq"} {
		holder, waiting := "", map[string]string{}
		for _, l := range lines {
			f := strings.Fields(l)
			if len(f) < 3 || f[1] != in+":beat" {
				continue
			}
			switch {
			case f[2] == "RUNNING":
				if holder != "" {
					return false
				}
				holder = f[0]
			case f[2] == "STARTING" && strings.Contains(l, "waiting for the cluster lease: held by "):
				waiting[f[0]] = l[strings.LastIndex(l, " ")+1:]
			}
		}
		if holder == "" || len(waiting) != 2 {
			return false
		}
		for _, h := range waiting {
			if h != holder {
				return false
			}
		}
	}
	return true
}

// checkTicks fails the test if two runs of an instance's beat from
// different nodes overlapped, and returns how many runs there were.
func (c *clusterTest) checkTicks(instance string) int {
	c.t.Helper()
	b, err := os.ReadFile(filepath.Join(c.dir, "ticks-"+instance))
	if err != nil {
		c.t.Fatal(err)
	}
	type run struct {
		node        string
		first, last float64
	}
	runs := map[string]*run{}
	var order []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		tick, err := strconv.ParseFloat(f[2], 64)
		if err != nil {
			continue
		}
		key := f[0] + " " + f[1]
		r := runs[key]
		if r == nil {
			r = &run{node: f[0], first: tick}
			runs[key] = r
			order = append(order, key)
		}
		r.last = tick
	}
	sorted := make([]*run, 0, len(runs))
	for _, k := range order {
		sorted = append(sorted, runs[k])
	}
	slices.SortFunc(sorted, func(a, b *run) int {
		return strings.Compare(fmt.Sprintf("%020.6f", a.first), fmt.Sprintf("%020.6f", b.first))
	})
	for i := 1; i < len(sorted); i++ {
		if prev, cur := sorted[i-1], sorted[i]; cur.first <= prev.last {
			c.t.Errorf("%s: %s's beat (%.3f-%.3f) overlaps %s's (%.3f-%.3f); logs:\n%s", instance, cur.node, cur.first, cur.last, prev.node, prev.first, prev.last, c.logs())
		}
	}
	return len(sorted)
}

// TestCluster_OneBeatAcrossNodes runs the scenario against etcd, Redis
// and PostgreSQL: a graceful handover, the holder's daemon killed with
// SIGKILL and left dead past the TTL, the holder cut from the service,
// and the service stopped and started again. Failover times are logged.
func TestCluster_OneBeatAcrossNodes(t *testing.T) {
	backends := []struct {
		name  string
		start func(t *testing.T) (*testhelper.Server, func(proxy string) string)
	}{
		{"etcd", func(t *testing.T) (*testhelper.Server, func(string) string) {
			s := testhelper.StartEtcd(t)
			return s, func(p string) string { return "etcd://" + p }
		}},
		{"redis", func(t *testing.T) (*testhelper.Server, func(string) string) {
			s := testhelper.StartRedis(t)
			return s, func(p string) string { return "redis://" + p + "/0" }
		}},
		{"postgres", func(t *testing.T) (*testhelper.Server, func(string) string) {
			s, url := testhelper.StartPostgres(t)
			return s, func(p string) string { return strings.Replace(url, s.Addr, p, 1) }
		}},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			server, url := b.start(t)
			c := newClusterTest(t, url, server.Addr)
			for _, n := range c.nodes {
				n.start(t)
			}
			settle := time.Duration(clusterTTL+10) * time.Second
			for _, in := range []string{"turkey", "iraq"} {
				c.holder(in, settle)
			}
			c.checkClusterStatus(settle)

			// A graceful stop hands over at once: no TTL to wait.
			h := c.holder("turkey", settle)
			t0 := time.Now()
			if out, err := exec.Command(ctlBinary(), "-s", "unix://"+h.sock, "stop", "turkey:beat").CombinedOutput(); err != nil {
				t.Fatalf("stop: %v %s", err, out)
			}
			next := c.holder("turkey", settle, h)
			handover := time.Since(t0)
			exec.Command(ctlBinary(), "-s", "unix://"+h.sock, "start", "turkey:beat").Run()
			if st := h.runningBeats(); st["turkey"] {
				t.Errorf("%s runs turkey's beat while %s holds it", h.name, next.name)
			}

			// The holder's daemon dies and stays dead past the TTL: its
			// beat must not outlive the lease, and another node takes over.
			h = c.holder("turkey", settle)
			t0 = time.Now()
			h.cmd.Process.Signal(syscall.SIGKILL)
			h.cmd.Wait()
			c.holder("turkey", settle, h)
			afterKill := time.Since(t0)
			time.Sleep(time.Until(t0.Add(clusterTTL * time.Second)))
			h.start(t) // adopts nothing of turkey's: its beat was fenced
			c.holder("turkey", settle)

			// The holder is cut from the service: it stops its beat before
			// its lease ends, and another node takes over.
			h = c.holder("turkey", settle)
			t0 = time.Now()
			h.proxy.Cut()
			c.holder("turkey", settle, h)
			afterCut := time.Since(t0)
			deadline := time.Now().Add(settle)
			for h.runningBeats()["turkey"] {
				if time.Now().After(deadline) {
					t.Fatalf("%s still runs turkey's beat, cut from the service", h.name)
				}
				time.Sleep(20 * time.Millisecond)
			}
			h.proxy.Heal()

			// The service stops: every beat stops before its lease ends,
			// nothing starts; once it is back, one node runs each again.
			server.Stop()
			t0 = time.Now()
			deadline = time.Now().Add(settle)
			for {
				anyRunning := false
				for _, n := range c.nodes {
					if st := n.runningBeats(); st["turkey"] || st["iraq"] {
						anyRunning = true
					}
				}
				if !anyRunning {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("a beat still runs with the service down:\n%s", c.logs())
				}
				time.Sleep(20 * time.Millisecond)
			}
			fenced := time.Since(t0)
			time.Sleep(time.Until(t0.Add(clusterTTL * time.Second)))
			server.Start(t)
			t0 = time.Now()
			for _, in := range []string{"turkey", "iraq"} {
				c.holder(in, settle)
			}
			back := time.Since(t0)

			for _, n := range c.nodes {
				testhelper.Stop(n.cmd)
				// Stop's SIGKILL would hide a daemon stuck on its way out.
				if st := n.cmd.ProcessState; st == nil || !st.Success() {
					t.Errorf("%s did not exit by itself after SIGTERM: %v", n.name, st)
				}
			}
			runs := c.checkTicks("turkey") + c.checkTicks("iraq")
			t.Logf("%s (lease_ttl %ds, fence_margin %ds): handover %s, failover after SIGKILL %s, after a cut %s; "+
				"service down: beats stopped after %s, running again %s after it came back; %d runs, none overlapping",
				b.name, clusterTTL, clusterMargin, handover.Round(time.Millisecond), afterKill.Round(time.Millisecond),
				afterCut.Round(time.Millisecond), fenced.Round(time.Millisecond), back.Round(time.Millisecond), runs)
		})
	}
}

// ctlBinary is ctlsup, built by TestMain next to ctlsupd.
func ctlBinary() string { return filepath.Join(filepath.Dir(daemonBinary), "ctlsup") }

// TestCluster_TwoDaemonsOfOneNodeName: two daemons that share a node name
// (two on one host with node unset, machines cloned with their hostname)
// are two holders: the second does not take the first one's lease for
// its own, and only one runs each beat.
func TestCluster_TwoDaemonsOfOneNodeName(t *testing.T) {
	server := testhelper.StartRedis(t)
	c := newClusterTest(t, func(p string) string { return "redis://" + p + "/0" }, server.Addr)
	a, twin := c.nodes[0], c.nodes[1]
	b, _ := os.ReadFile(twin.config)
	os.WriteFile(twin.config, []byte(strings.Replace(string(b), `node = "node-b"`, `node = "node-a"`, 1)), 0o644)
	c.nodes = c.nodes[:2]
	a.start(t)
	settle := time.Duration(clusterTTL+10) * time.Second
	for _, in := range []string{"turkey", "iraq"} {
		if h := c.holder(in, settle); h != a {
			t.Fatalf("%s's beat runs on %s, want %s", in, h.name, a.name)
		}
	}
	twin.start(t)
	waitUntil(t, "the twin waiting for the leases", twin.log, func() bool {
		infos, _ := processInfos(twin.sock)
		return len(infos) == 2 && strings.Contains(fmt.Sprint(infos), "waiting for the cluster lease: held by node-a")
	})
	time.Sleep(2 * time.Second) // renewals and polls of both
	for _, in := range []string{"turkey", "iraq"} {
		if h := c.holder(in, time.Second); h != a {
			t.Errorf("%s's beat moved to the twin", in)
		}
		c.checkTicks(in)
	}
	if !c.metricsAgree() {
		t.Error("the metrics do not show one holder of each beat (the twin says it holds them?)")
	}
	for _, n := range c.nodes {
		n.cmd.Process.Signal(syscall.SIGTERM)
		n.cmd.Wait()
	}
}

// TestClusterToken_KeptUntilAReboot: a daemon's token stays across its
// restarts, and is made again once the machine has booted again (a state
// directory copied into a cloned machine's image).
func TestClusterToken_KeptUntilAReboot(t *testing.T) {
	dir := t.TempDir()
	first, err := clusterToken(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := clusterToken(dir); again != first {
		t.Errorf("token %q, then %q: not kept", first, again)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "cluster-token"))
	f := strings.Fields(string(b))
	os.WriteFile(filepath.Join(dir, "cluster-token"), []byte("another-boot "+f[1]+"\n"), 0o600)
	if other, _ := clusterToken(dir); other == first || len(other) != 16 {
		t.Errorf("token %q after a reboot, %q before: want a new one", other, first)
	}
}
