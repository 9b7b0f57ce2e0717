// Package rules holds no Go code: its tests check the rule files' conventions and run the real
// Prometheus on prometheus.yml. `make rules-check` runs promtool and amtool themselves.
package rules

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

type ruleFile struct {
	Groups []struct {
		Name     string `yaml:"name"`
		Interval string `yaml:"interval"`
		Rules    []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type rule struct {
	Record      string            `yaml:"record"`
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

type testFile struct {
	RuleFiles          []string `yaml:"rule_files"`
	EvaluationInterval string   `yaml:"evaluation_interval"`
	Tests              []struct {
		Name          string `yaml:"name"`
		AlertRuleTest []struct {
			Alertname string `yaml:"alertname"`
			ExpAlerts []struct {
				ExpLabels map[string]string `yaml:"exp_labels"`
			} `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
		PromQLExprTest []struct {
			Expr string `yaml:"expr"`
		} `yaml:"promql_expr_test"`
	} `yaml:"tests"`
}

// The contract's alert table plus docs/contract-additions.md.
var contractAlerts = []string{
	"MinerOffline", "MinerNoHashrate", "MinerHashrateLow", "MinerHashboardMissing",
	"MinerHashboardFailed", "MinerHashboardDegraded", "MinerDeviceNotAlive",
	"MinerTemperatureHigh", "MinerTemperatureCritical", "MinerFanFailure", "MinerPoolDown",
	"MinerPoolMisconfigured", "MinerSharesRejectedHigh", "MinerNoSharesAccepted",
	"MinerHardwareErrorsHigh", "MinerRestarting", "FleetHashrateDrop", "Watchdog",
	"SiteDown", "ExporterProbesFailing",
}

var (
	severities = map[string]bool{"critical": true, "warning": true, "info": true}
	categories = map[string]bool{
		"offline": true, "hashrate": true, "hashboard": true, "temperature": true, "fan": true,
		"pool": true, "stability": true, "fleet": true, "meta": true,
	}
)

func loadRules(t *testing.T, pattern string) []rule {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		t.Fatalf("no rule files match %s (err %v)", pattern, err)
	}
	var out []rule
	for _, f := range files {
		var rf ruleFile
		decode(t, f, &rf, true)
		for _, g := range rf.Groups {
			out = append(out, g.Rules...)
		}
	}
	return out
}

// decode reads YAML; strict rejects unknown keys (rule files are read whole, test files only in part).
func decode(t *testing.T, path string, v any, strict bool) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(strict)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return string(b)
}

func TestAlertConventions(t *testing.T) {
	alerts := loadRules(t, "*.alerts.yml")
	runbook := readFile(t, "RUNBOOK.md")
	anchors := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^## (\S+)\s*$`).FindAllStringSubmatch(runbook, -1) {
		anchors[strings.ToLower(m[1])] = true
	}
	const runbookPrefix = "https://github.com/minefarm/cgminer-stack/blob/main/rules/RUNBOOK.md#"

	seen := map[string]bool{}
	for _, r := range alerts {
		if r.Alert == "" {
			t.Errorf("recording rule %q in an alerts file", r.Record)
			continue
		}
		seen[r.Alert] = true
		t.Run(r.Alert+"/"+r.Labels["reason"], func(t *testing.T) {
			if !severities[r.Labels["severity"]] {
				t.Errorf("severity %q not one of critical|warning|info", r.Labels["severity"])
			}
			if !categories[r.Labels["category"]] {
				t.Errorf("category %q not in the contract's list", r.Labels["category"])
			}
			for _, a := range []string{"summary", "description", "runbook_url"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("annotation %s missing", a)
				}
			}
			u := r.Annotations["runbook_url"]
			if !strings.HasPrefix(u, runbookPrefix) {
				t.Errorf("runbook_url %q does not point into rules/RUNBOOK.md", u)
			} else if a := strings.TrimPrefix(u, runbookPrefix); !anchors[a] || a != strings.ToLower(r.Alert) {
				t.Errorf("runbook_url anchor %q: want a RUNBOOK.md section \"## %s\"", a, r.Alert)
			}
			if r.Alert == "Watchdog" {
				return
			}
			d, err := time.ParseDuration(r.For)
			if err != nil || d < 3*time.Minute {
				t.Errorf("for: %q; want at least 3m (several 60 s probes)", r.For)
			}
			if strings.HasPrefix(r.Alert, "Miner") && r.Alert != "MinerOffline" {
				if !strings.Contains(r.Annotations["description"], "$labels.instance") ||
					!strings.Contains(r.Annotations["description"], "$labels.site") ||
					!strings.Contains(r.Annotations["description"], "$labels.rack") {
					t.Errorf("description must name the miner and its site and rack")
				}
				// The measured value; for MinerPoolMisconfigured it is the pool's url and user.
				if !strings.Contains(r.Annotations["description"], "$value") &&
					!strings.Contains(r.Annotations["description"], "$labels.url") {
					t.Errorf("description must give the measured value")
				}
			}
			if strings.Contains(r.Expr, "cgminer_info") {
				t.Errorf("expression joins on cgminer_info")
			}
			if strings.Contains(r.Expr, "group_left") || strings.Contains(r.Expr, "group_right") {
				t.Errorf("expression uses a many-to-one join")
			}
		})
	}
	for _, a := range contractAlerts {
		if !seen[a] {
			t.Errorf("contract alert %s has no rule", a)
		}
	}
	for a := range seen {
		if !anchors[strings.ToLower(a)] {
			t.Errorf("RUNBOOK.md has no section for %s", a)
		}
	}
}

// Every alert needs a test where it fires and one where it is expected quiet; every recording
// rule needs a promql_expr_test.
func TestEveryRuleIsTested(t *testing.T) {
	files, _ := filepath.Glob("tests/*.test.yml")
	if len(files) == 0 {
		t.Fatal("no tests/*.test.yml")
	}
	fires, quiet, exprs := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, f := range files {
		var tf testFile
		decode(t, f, &tf, false)
		for _, tc := range tf.Tests {
			for _, a := range tc.AlertRuleTest {
				if len(a.ExpAlerts) > 0 {
					fires[a.Alertname] = true
				} else {
					quiet[a.Alertname] = true
				}
				for _, e := range a.ExpAlerts {
					if e.ExpLabels["alertname"] != a.Alertname {
						t.Errorf("%s: %q: expected alert labelled %q", f, tc.Name, e.ExpLabels["alertname"])
					}
				}
			}
			for _, e := range tc.PromQLExprTest {
				// A recording rule is checked by an expression that is its name, with or without
				// a label selector.
				expr := strings.TrimSpace(e.Expr)
				if i := strings.IndexByte(expr, '{'); i > 0 {
					expr = expr[:i]
				}
				exprs[expr] = true
			}
		}
	}
	for _, r := range loadRules(t, "*.alerts.yml") {
		if !fires[r.Alert] {
			t.Errorf("%s: no test expects it to fire", r.Alert)
		}
		if !quiet[r.Alert] && r.Alert != "Watchdog" {
			t.Errorf("%s: no test expects it to stay quiet", r.Alert)
		}
	}
	for _, r := range loadRules(t, "*.rules.yml") {
		if !exprs[r.Record] {
			t.Errorf("%s: no promql_expr_test checks it", r.Record)
		}
	}
}

// The recording rules are exactly the names docs/contract-additions.md fixes, and README.md
// explains each.
func TestRecordingRulesMatchContract(t *testing.T) {
	additions := readFile(t, filepath.Join("..", "docs", "contract-additions.md"))
	readme := readFile(t, "README.md")
	want := map[string]bool{}
	// First cells of the table rows: `site:x:y`, `fleet:…` (the same rule per fleet), `instance:x:y`.
	name := regexp.MustCompile("`((?:site|instance):[a-z_:0-9]+)`")
	for _, row := range regexp.MustCompile("(?m)^\\| ([^|]+) \\|").FindAllStringSubmatch(additions, -1) {
		for _, m := range name.FindAllStringSubmatch(row[1], -1) {
			want[m[1]] = true
			if strings.HasPrefix(m[1], "site:") && strings.Contains(row[1], "`fleet:…`") {
				want["fleet:"+strings.TrimPrefix(m[1], "site:")] = true
			}
		}
	}
	if len(want) == 0 {
		t.Fatal("no recording rule names found in docs/contract-additions.md")
	}
	got := map[string]bool{}
	for _, r := range loadRules(t, "*.rules.yml") {
		if r.Record == "" {
			t.Errorf("alert %s in a recording rules file", r.Alert)
			continue
		}
		got[r.Record] = true
		if !want[r.Record] {
			t.Errorf("%s is not a recording rule name of docs/contract-additions.md", r.Record)
		}
		if suffix := r.Record[strings.Index(r.Record, ":"):]; !strings.Contains(readme, "`…"+suffix+"`") && !strings.Contains(readme, "`"+r.Record+"`") {
			t.Errorf("%s is not listed in rules/README.md", r.Record)
		}
	}
	for n := range want {
		if !got[n] {
			t.Errorf("contract recording rule %s is missing", n)
		}
	}
}

type sdGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// TestPrometheusRelabelling runs the real Prometheus on prometheus.yml (the exporter's address
// pointed at a stub serving /sd) and checks the targets it builds: instance, site/rack, the probe
// URL's target= and module=, for discovered and hand-listed miners.
func TestPrometheusRelabelling(t *testing.T) {
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus binary not found: run `make tools` (apt-get install prometheus)")
	}
	groups := []sdGroup{
		{Targets: []string{"127.1.0.5", "127.1.0.6:4029", "127.1.0.7:4028"},
			Labels: map[string]string{"site": "site-a", "rack": "rack-1", "__param_module": "antminer_s19jpro"}},
		{Targets: []string{"127.2.0.9"}, Labels: map[string]string{"site": "site-b"}},
	}
	stub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/sd" {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(groups)
			return
		}
		http.NotFound(w, r)
	}))
	defer stub.Close()
	exporter := strings.TrimPrefix(stub.URL, "http://")

	dir := t.TempDir()
	cfg := readFile(t, filepath.Join("..", "prometheus.yml"))
	if !strings.Contains(cfg, "127.0.0.1:9154") {
		t.Fatal("prometheus.yml does not name the exporter at 127.0.0.1:9154")
	}
	cfg = strings.ReplaceAll(cfg, "127.0.0.1:9154", exporter)
	targetsDir, _ := filepath.Abs(filepath.Join("..", "targets"))
	rulesDir, _ := filepath.Abs(".")
	cfg = strings.ReplaceAll(cfg, "'targets/*.yml'", "'"+targetsDir+"/*.yml'")
	cfg = strings.ReplaceAll(cfg, "- rules/", "- "+rulesDir+"/")
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	listen := freeLoopbackAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--config.file="+cfgPath, "--web.listen-address="+listen,
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--log.level=warn")
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()

	type target struct {
		Labels     map[string]string `json:"labels"`
		ScrapePool string            `json:"scrapePool"`
		ScrapeURL  string            `json:"scrapeUrl"`
	}
	var active []target
	want := 6 // 4 discovered + 2 in targets/miners.yml
	deadline := time.Now().Add(30 * time.Second)
	for {
		active = nil
		resp, err := http.Get("http://" + listen + "/api/v1/targets?state=active")
		if err == nil {
			var body struct {
				Data struct {
					ActiveTargets []target `json:"activeTargets"`
				} `json:"data"`
			}
			err = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			for _, tg := range body.Data.ActiveTargets {
				if tg.ScrapePool == "cgminer" {
					active = append(active, tg)
				}
			}
		}
		if len(active) >= want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus shows %d cgminer targets after 30s, want %d (last error %v); log:\n%s", len(active), want, err, logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}

	type probe struct{ instance, site, rack, target, module, host string }
	var got []probe
	for _, tg := range active {
		u, err := url.Parse(tg.ScrapeURL)
		if err != nil {
			t.Fatalf("scrape URL %q: %v", tg.ScrapeURL, err)
		}
		got = append(got, probe{tg.Labels["instance"], tg.Labels["site"], tg.Labels["rack"],
			u.Query().Get("target"), u.Query().Get("module"), u.Host + u.Path})
		if tg.Labels["job"] != "cgminer" {
			t.Errorf("job = %q", tg.Labels["job"])
		}
	}
	sort.Slice(got, func(i, j int) bool { return got[i].instance < got[j].instance })
	probeAt := exporter + "/probe"
	wantProbes := []probe{
		{"127.1.0.5", "site-a", "rack-1", "127.1.0.5", "antminer_s19jpro", probeAt},
		{"127.1.0.6:4029", "site-a", "rack-1", "127.1.0.6:4029", "antminer_s19jpro", probeAt},
		{"127.1.0.7", "site-a", "rack-1", "127.1.0.7", "antminer_s19jpro", probeAt},
		{"127.1.1.10", "site-a", "rack-lab", "127.1.1.10", "antminer_s19jpro", probeAt},
		{"127.1.1.11:4029", "site-a", "rack-lab", "127.1.1.11:4029", "default", probeAt},
		{"127.2.0.9", "site-b", "", "127.2.0.9", "default", probeAt},
	}
	if fmt.Sprint(got) != fmt.Sprint(wantProbes) {
		t.Errorf("targets:\n got %v\nwant %v", got, wantProbes)
	}
}

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
