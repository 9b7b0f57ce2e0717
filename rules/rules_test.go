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

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/minefarm/cgminer-stack/receiver/verify"
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
	// First cells of the table rows: `site:x:y`, `fleet:…` (the same rule per fleet), `instance:x:y`,
	// `pool:x:y`, `rack:x:y`, `site_model:x:y`, `model:x:y`.
	name := regexp.MustCompile("`((?:site|instance|pool|rack|site_model|model):[a-z_:0-9]+)`")
	for _, row := range regexp.MustCompile(`(?m)^\| ([^|]+) \|`).FindAllStringSubmatch(additions, -1) {
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
	// Hand-listed miners in file_sd form, as targets/*.yml takes them (the repository's example
	// lists none: make run's phantom miners would be offline tasks forever).
	targetsDir := filepath.Join(dir, "targets")
	if err := os.MkdirAll(targetsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	handListed := `- targets: ['127.1.1.10']
  labels: {site: site-a, rack: rack-lab, __param_module: antminer_s19jpro}
- targets: ['127.1.1.11:4029']
  labels: {site: site-a, rack: rack-lab}
`
	if err := os.WriteFile(filepath.Join(targetsDir, "miners.yml"), []byte(handListed), 0o600); err != nil {
		t.Fatal(err)
	}
	// The example itself loads: an empty list.
	if b := readFile(t, filepath.Join("..", "targets", "miners.yml")); !strings.Contains(b, "\n[]\n") {
		t.Fatalf("targets/miners.yml is not the documented empty list:\n%s", b)
	}
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
	want := 6 // 4 discovered + 2 hand-listed
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

// rangeIn finds the ranges an expression reads: [15m] selectors and subqueries, and the
// recording rules named after theirs (…:increase15m).
var rangeIn = regexp.MustCompile(`\[(\d+[smhdw])(?::[^\]]*)?\]|:(?:increase|rate)(\d+[smhdw])\b`)

func longestRange(t *testing.T, expr string) time.Duration {
	t.Helper()
	var longest time.Duration
	for _, m := range rangeIn.FindAllStringSubmatch(expr, -1) {
		s := m[1] + m[2]
		d, err := model.ParseDuration(s)
		if err != nil {
			t.Fatalf("range %q in %q: %v", s, expr, err)
		}
		longest = max(longest, time.Duration(d))
	}
	return longest
}

// TestVerifyExprAnnotations: every per-miner alert carries verify_expr, its condition without
// `for:`, restricted to the miner by ${instance} and ${job}. An alert whose expression reads no
// range (an instant condition: offline, fan, board dead, temperature, pool…) reads none in its
// verify_expr either, so the receiver can tell right after settle; an alert that reads one has a
// verify_after at least as long as the longest range its verify_expr reads. Every alert the
// promtool tests expect renders (its placeholders are labels it carries), and every verify_expr
// rendered with hostile label values still parses as PromQL (promtool check rules) and selects
// exactly the series of that hostile value (promtool test rules).
func TestVerifyExprAnnotations(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: run `make tools` (apt-get install prometheus)")
	}
	alerts := loadRules(t, "*.alerts.yml")
	exprs := map[string][]string{} // alertname → its verify_exprs
	hostile := `10.0.0.1"} or vector(1) or up{a="\` + "\n\x01é"
	var records strings.Builder
	records.WriteString("groups:\n  - name: verify_expr\n    rules:\n")
	for i, r := range alerts {
		ve, after := r.Annotations["verify_expr"], r.Annotations["verify_after"]
		perMiner := strings.HasPrefix(r.Alert, "Miner")
		t.Run(r.Alert+"/"+r.Labels["reason"], func(t *testing.T) {
			if !perMiner {
				if ve != "" || after != "" {
					t.Errorf("verify_expr/verify_after on an alert that is not about one miner")
				}
				return
			}
			if ve == "" {
				t.Fatal("per-miner alert without verify_expr")
			}
			for _, l := range []string{"${instance}", "${job}"} {
				if !strings.Contains(ve, l) {
					t.Errorf("verify_expr does not restrict to the miner with %s", l)
				}
			}
			if strings.Contains(ve, "{{") {
				t.Errorf("verify_expr is expanded by Prometheus ({{ … }}): label values must be ${label} placeholders the receiver quotes")
			}
			exprRange, veRange := longestRange(t, r.Expr), longestRange(t, ve)
			var wait time.Duration
			if after != "" {
				d, err := model.ParseDuration(after)
				if err != nil {
					t.Fatalf("verify_after %q: %v", after, err)
				}
				wait = time.Duration(d)
			}
			switch {
			case exprRange == 0 && veRange != 0:
				t.Errorf("instant-condition alert whose verify_expr reads a %s range", veRange)
			case exprRange != 0 && veRange < exprRange && veRange != 0:
				t.Errorf("verify_expr reads %s, the alert %s", veRange, exprRange)
			case veRange > wait:
				t.Errorf("verify_after %q is shorter than the %s range verify_expr reads", after, veRange)
			}
			if wait > 12*time.Hour {
				t.Errorf("verify_after %s is over the receiver's cap of 12h", wait)
			}
			labels := map[string]string{}
			for _, m := range regexp.MustCompile(`\$\{(\w+)\}`).FindAllStringSubmatch(ve, -1) {
				labels[m[1]] = hostile
			}
			q, err := verify.RenderExpr(ve, labels)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(q, `10.0.0.1"}`) { // the quote would end the string
				t.Fatalf("a label value was pasted raw: %s", q)
			}
			fmt.Fprintf(&records, "      - record: verify_expr_%d\n        expr: %s\n", i, yamlQuote(q))
		})
		if ve != "" {
			exprs[r.Alert] = append(exprs[r.Alert], ve)
		}
	}
	// Parses as PromQL once rendered.
	dir := t.TempDir()
	rf := filepath.Join(dir, "rendered.rules.yml")
	if err := os.WriteFile(rf, []byte(records.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", rf).CombinedOutput(); err != nil {
		t.Fatalf("rendered verify_exprs do not parse: %v\n%s", err, out)
	}

	// Every alert a test expects renders with the labels it carries.
	files, _ := filepath.Glob("tests/*.test.yml")
	for _, f := range files {
		var tf testFile
		decode(t, f, &tf, false)
		for _, tc := range tf.Tests {
			for _, a := range tc.AlertRuleTest {
				for _, e := range a.ExpAlerts {
					ok := false
					var errs []string
					for _, ve := range exprs[a.Alertname] {
						if _, err := verify.RenderExpr(ve, e.ExpLabels); err == nil {
							ok = true
						} else {
							errs = append(errs, err.Error())
						}
					}
					if len(exprs[a.Alertname]) > 0 && !ok {
						t.Errorf("%s: %q: %s %v: verify_expr does not render: %v", f, tc.Name, a.Alertname, e.ExpLabels, errs)
					}
				}
			}
		}
	}

	// The quoting round-trips through Prometheus's parser: MinerOffline's condition for a miner
	// whose instance label is hostile selects that miner and no other.
	q, err := verify.RenderExpr(exprs["MinerOffline"][0], map[string]string{"instance": hostile, "job": "cgminer"})
	if err != nil {
		t.Fatal(err)
	}
	series := func(instance string) string {
		return "cgminer_up{instance=" + verify.PromQLString(instance) + `,job="cgminer"}`
	}
	test := fmt.Sprintf(`evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: %s
        values: '0 0'
      - series: %s
        values: '0 0'
    promql_expr_test:
      - expr: %s
        eval_time: 1m
        exp_samples:
          - labels: %s
            value: 0
`, yamlQuote(series(hostile)), yamlQuote(series("10.0.0.1")), yamlQuote(q), yamlQuote(series(hostile)))
	tfPath := filepath.Join(dir, "quoting.test.yml")
	if err := os.WriteFile(tfPath, []byte(test), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "test", "rules", tfPath).CombinedOutput(); err != nil {
		t.Fatalf("the rendered MinerOffline condition does not select exactly the hostile miner: %v\n%s\n%s", err, out, test)
	}
}

// yamlQuote writes s as a YAML double-quoted scalar (JSON's string syntax is a subset).
func yamlQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
