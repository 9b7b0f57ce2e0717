package check

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// peerBinary finds a peer's binaries: the one in PATH under each of names (Debian's), and the one
// the environment variable env names (the Makefile exports the current ones it built), else the
// newest in .tools/ at the repository's root.
func peerBinary(t *testing.T, env, tool string, names ...string) []string {
	t.Helper()
	var out []string
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			out = append(out, p)
		}
	}
	if p := os.Getenv(env); p != "" {
		out = append(out, p)
	} else if m, _ := filepath.Glob(filepath.Join("..", "..", ".tools", tool+"-*", tool)); len(m) > 0 {
		sort.Strings(m)
		out = append(out, m[len(m)-1])
	}
	return out
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// start runs a binary until the test ends.
func start(t *testing.T, bin string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	log, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			t.Logf("%s log:\n%s", filepath.Base(bin), b)
		}
	})
}

// exposedNames reads the metric names of a /metrics page (families from # TYPE lines, with a
// histogram's or summary's series names).
func exposedNames(url string) (map[string]bool, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	names := map[string]bool{}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 64<<20))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			names[f[2]] = true
			switch f[3] {
			case "histogram":
				names[f[2]+"_bucket"], names[f[2]+"_sum"], names[f[2]+"_count"] = true, true, true
			case "summary":
				names[f[2]+"_sum"], names[f[2]+"_count"] = true, true
			}
			continue
		}
		if line != "" && line[0] != '#' {
			name, _, _ := strings.Cut(line, "{")
			name, _, _ = strings.Cut(name, " ")
			names[name] = true
		}
	}
	return names, sc.Err()
}

// waitFor polls until every name in want is on the page, and returns those that never appeared.
func waitFor(t *testing.T, url string, want []string) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		names, err := exposedNames(url)
		var missing []string
		for _, n := range want {
			if !names[n] {
				missing = append(missing, n)
			}
		}
		if err == nil && len(missing) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				t.Fatal(err)
			}
			return missing
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// Every name of PeerMetrics is one the real Prometheus (Debian's 2.42 and the current one) and
// Alertmanager expose, once Prometheus evaluates a rule group, scrapes a target and sends an alert
// to Alertmanager; the per-target scrape series (builtinMetrics) are checked through a query.
func TestPeerMetricsExist(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus and Alertmanager")
	}
	proms := peerBinary(t, "PROMETHEUS", "prometheus", "prometheus")
	ams := peerBinary(t, "ALERTMANAGER", "alertmanager", "prometheus-alertmanager")
	if len(proms) == 0 || len(ams) == 0 {
		t.Fatalf("need Prometheus and Alertmanager (make tools peers): found %v and %v", proms, ams)
	}
	var promNames, amNames []string
	for n, src := range PeerMetrics {
		if strings.HasPrefix(src, "Alertmanager") {
			amNames = append(amNames, n)
		} else {
			promNames = append(promNames, n)
		}
	}
	sort.Strings(promNames)
	sort.Strings(amNames)

	am := ams[len(ams)-1]
	amAddr := freePort(t)
	dir := t.TempDir()
	amCfg := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(amCfg, []byte("route: {receiver: none}\nreceivers: [{name: none}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	start(t, am, "--config.file="+amCfg, "--storage.path="+filepath.Join(dir, "am"),
		"--web.listen-address="+amAddr, "--cluster.listen-address=")

	for _, prom := range proms {
		t.Run(prom, func(t *testing.T) {
			addr := freePort(t)
			d := t.TempDir()
			rules := "groups:\n- name: g\n  interval: 1s\n  rules:\n  - record: r\n    expr: vector(1)\n  - alert: A\n    expr: vector(1)\n"
			cfg := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [rules.yml]
alerting:
  alertmanagers: [{static_configs: [{targets: ['%s']}]}]
scrape_configs:
  - job_name: self
    static_configs: [{targets: ['%s']}]
`, amAddr, addr)
			for name, text := range map[string]string{"rules.yml": rules, "prometheus.yml": cfg} {
				if err := os.WriteFile(filepath.Join(d, name), []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			start(t, prom, "--config.file="+filepath.Join(d, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(d, "data"),
				"--web.listen-address="+addr)
			if missing := waitFor(t, "http://"+addr+"/metrics", promNames); len(missing) > 0 {
				t.Errorf("Prometheus does not expose %v", missing)
			}
			if missing := waitFor(t, "http://"+amAddr+"/metrics", amNames); len(missing) > 0 {
				t.Errorf("Alertmanager does not expose %v", missing)
			}
			for n, src := range builtinMetrics {
				if src != "Prometheus (scrape)" {
					continue
				}
				if missing := waitFor(t, "http://"+addr+"/federate?match[]="+n, []string{n}); len(missing) > 0 {
					t.Errorf("Prometheus records no %s for its targets", n)
				}
			}
		})
	}
}
