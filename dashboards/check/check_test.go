package check

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// The documents the metric names come from, relative to this directory.
var (
	contractPath  = filepath.Join("..", "..", "docs", "CONTRACT.md")
	additionsPath = filepath.Join("..", "..", "docs", "contract-additions.md")
	// price_exporter's metrics, which no contract document has yet.
	pricesPath = filepath.Join("..", "README.md")
	rulesDir   = filepath.Join("..", "..", "rules")
)

func promtool(t *testing.T) Promtool {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: install Debian's prometheus package (make tools) — the PromQL check needs the real parser")
	}
	return Promtool{Bin: bin, Dir: t.TempDir()}
}

// knownMetrics builds the list of metric names from the documents and the rules, as make test does.
func knownMetrics(t *testing.T) Known {
	t.Helper()
	k := NewKnown()
	for _, p := range []string{contractPath, additionsPath, pricesPath} {
		if err := k.AddMarkdownFile(p); err != nil {
			t.Fatalf("metric names from the contract: %v (the checks need ../shared beside the repository)", err)
		}
	}
	if _, err := k.AddRules(rulesDir); err != nil {
		t.Fatalf("recording rule names: %v", err)
	}
	return k
}

func dashboards(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	if want := []string{"energy.json", "farm.json", "health.json", "miner.json", "pools.json", "rack.json", "repairs.json", "site.json"}; !slices.Equal(names, want) {
		t.Fatalf("dashboards: got %v, want %v", names, want)
	}
	return files
}

func TestDashboards(t *testing.T) {
	known := knownMetrics(t)
	pt := promtool(t)
	for _, f := range dashboards(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			problems, err := Problems(context.Background(), f, known, pt)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range problems {
				t.Error(p)
			}
			exprs, _ := Exprs(f)
			t.Logf("%d expressions parsed and checked", len(exprs))
		})
	}
}

// Every template variable of the issue is on the farm and miner dashboards, and model filters
// through cgminer_info.
func TestDashboardVariables(t *testing.T) {
	for _, name := range []string{"farm.json", "miner.json"} {
		exprs, err := Exprs(filepath.Join("..", name))
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, e := range exprs {
			if v, ok := strings.CutPrefix(e.Where, name+": variable "); ok {
				got[strings.Trim(v, `"`)] = e.Raw
			}
		}
		for _, v := range []string{"site", "model", "instance"} {
			if got[v] == "" {
				t.Errorf("%s: no query variable %q", name, v)
			}
		}
		if !strings.Contains(got["model"], "cgminer_info") || !strings.Contains(got["instance"], "cgminer_info") {
			t.Errorf("%s: model must be read from and filter through cgminer_info: model %q, instance %q", name, got["model"], got["instance"])
		}
	}
}

func TestBrokenDashboards(t *testing.T) {
	known := knownMetrics(t)
	pt := promtool(t)
	tests := []struct {
		file string
		want []string // each must appear in one problem
		not  []string // none may appear in any
	}{
		{
			file: "made_up_metric.json",
			want: []string{`panel 2 "made up" target A: unknown metric cgminer_magic_smoke_total`},
			not:  []string{`panel 1`, `variable`},
		},
		{
			file: "bad_promql.json",
			want: []string{
				`variable "site": could not parse expression: 1:28: parse error: unclosed left parenthesis`,
				`panel 1 "unclosed" target A: could not parse expression`,
				`panel 2 "rate of a gauge vector" target A: could not parse expression: 1:6: parse error: expected type range vector`,
			},
			not: []string{`panel 3`},
		},
		{
			file: "unknown_variable.json",
			want: []string{`panel 1 "rack" target A: unknown variable $rack`, `panel 2 "no expr" target A: no expr`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			problems, err := Problems(context.Background(), filepath.Join("testdata", tt.file), known, pt)
			if err != nil {
				t.Fatal(err)
			}
			all := strings.Join(problems, "\n")
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("no problem says %q; got:\n%s", w, all)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(all, n) {
					t.Errorf("a problem mentions %q, which is fine; got:\n%s", n, all)
				}
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{`up`, []string{"up"}},
		{`sum by (site) (rate(cgminer_shares_accepted_total{site=~"a|b"}[5m]))`, []string{"cgminer_shares_accepted_total"}},
		{`sum(rate(x_total[5m])) by (instance, le)`, []string{"x_total"}},
		{`a / on(instance, pool) group_left(model, url) b`, []string{"a", "b"}},
		{`a and ignoring(board) b unless c or d`, []string{"a", "b", "c", "d"}},
		{`histogram_quantile(0.9, sum by (le) (increase(h_bucket[1h])))`, []string{"h_bucket"}},
		{`site:cgminer_hashrate_hashes_per_second:sum / 1e12 * 2^32 + .5 - 0x1F`, []string{"site:cgminer_hashrate_hashes_per_second:sum"}},
		{`label_replace(m, "dst", "$1", "src", "(.*)")`, []string{"m"}},
		{`{__name__="via_matcher", job="x"}`, []string{"via_matcher"}},
		{`m{re=~"a{2}|}"} offset 5m`, []string{"m"}},
		{`max_over_time(m[1h:5m]) > bool 3`, []string{"m"}},
		{`count(x == 0) or vector(0)`, []string{"x"}},
		{`time() - t @ end()`, []string{"t"}},
		{`sum without (fan) (f) # a comment naming not_a_metric`, []string{"f"}},
		{`x > Inf or y < NaN`, []string{"x", "y"}},
		{`b + b`, []string{"b"}},
		{`topk without(board) (3, m)`, []string{"m"}},
		{`by_site_total + without_x`, []string{"by_site_total", "without_x"}},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			got, err := Metrics(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	for _, bad := range []string{`m{a="x"`, `m{a="x}`, `rate(m[5m)`} {
		if _, err := Metrics(bad); err == nil {
			t.Errorf("Metrics(%q): want an error", bad)
		}
	}
}

func TestSubstitute(t *testing.T) {
	vars := map[string]bool{"site": true, "instance": true}
	tests := []struct {
		in, want, err string
	}{
		{in: `rate(x{site=~"$site"}[$__rate_interval])`, want: `rate(x{site=~"x"}[4m])`},
		{in: `increase(x{instance="${instance}"}[$__range])`, want: `increase(x{instance="x"}[6h])`},
		{in: `x{site=~"${site:regex}"} / [[instance]]`, want: `x{site=~"x"} / x`},
		{in: `x[$__interval] * $__range_s`, want: `x[1m] * 21600`},
		{in: `x{rack="$rack"}`, err: "unknown variable $rack"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Substitute(tt.in, vars)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %q, %v; want error %q", got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestVariableExpr(t *testing.T) {
	tests := []struct {
		in, want string
		err      bool
	}{
		{in: `label_values(cgminer_up, site)`, want: `cgminer_up`},
		{in: `label_values(cgminer_info{site=~"$site"}, model)`, want: `cgminer_info{site=~"$site"}`},
		{in: `label_values(site)`, want: ``},
		{in: `query_result(count by (site) (x))`, want: `count by (site) (x)`},
		{in: `metrics(cgminer_.*)`, want: ``},
		{in: `label_names(cgminer_up)`, want: `cgminer_up`},
		{in: `query_result()`, err: true},
		{in: `SELECT 1`, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := VariableExpr(tt.in)
			if (err != nil) != tt.err || got != tt.want {
				t.Errorf("got %q, %v; want %q (error %v)", got, err, tt.want, tt.err)
			}
		})
	}
}

func TestAddMarkdown(t *testing.T) {
	doc := strings.Join([]string{
		"| metric | type | labels |",
		"|---|---|---|",
		"| `a_total`, `b_total` | counter | `x` |",
		"| `h_seconds` | histogram | |",
		"| `s_seconds` | summary | |",
		"| `not a name` | gauge | |",
		"",
		"| rule | meaning |",
		"|---|---|",
		"| `site:m:sum`, `fleet:…` | |",
		"",
		"| alert | category |",
		"|---|---|",
		"| `MinerOffline` | offline |",
		"| port | what |",
		"| `9154` | exporter |",
	}, "\n")
	k := Known{}
	n := k.AddMarkdown("doc", doc)
	want := []string{"a_total", "b_total", "fleet:m:sum", "h_seconds_bucket", "h_seconds_count", "h_seconds_sum",
		"s_seconds", "s_seconds_count", "s_seconds_sum", "site:m:sum"}
	if got := k.Names(); !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if n != len(want) {
		t.Errorf("added %d, want %d", n, len(want))
	}
	if err := (Known{}).AddMarkdownFile(writeTemp(t, "| alert |\n|---|\n| `X` |\n")); err == nil {
		t.Error("a document without metric tables: want an error")
	}
}

// Prose names metrics after "Metric"/"Metrics": the spans that follow, not label values after a
// semicolon, not spans in a remark, not a span after other words.
func TestAddMarkdownProse(t *testing.T) {
	tests := []struct {
		text string
		want []string
	}{
		{"- Metric `a_total{result=\"x|y\"}`; label values `b_total{result}`: `ok`.", []string{"a_total"}},
		{"Metrics\n  `a_total{step,reason}`,\n  `b_seconds{channel}` (given-up rows; `none_x`: no contact). The API adds `c_total`.", []string{"a_total", "b_seconds"}},
		{"Metric\n  `a_total{result}`, and\n  `b_total{result}`, `c_total`.", []string{"a_total", "b_total", "c_total"}},
		{"(assignee is not a metric label) and a metric of `x_total` is not named by that.", nil},
		{"| metrics `t_total` | x |\n", nil}, // a table row is not prose
		{"Metric `none`, `NotAName-x`.", nil},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			k := Known{}
			n := k.addProse("doc", tt.text)
			if got := k.Names(); !slices.Equal(got, tt.want) || n != len(tt.want) {
				t.Errorf("got %v (%d), want %v", got, n, tt.want)
			}
		})
	}
}

// The real documents give the names the dashboards rely on; a table that moves or loses its
// header would make this fail before the dashboards' check does.
func TestKnownFromDocuments(t *testing.T) {
	k := knownMetrics(t)
	for _, n := range []string{
		"cgminer_up", "cgminer_info", "cgminer_board_chips_failed", "cgminer_shares_stale_total",
		"cgminer_pool_devfee", "cgminer_probe_error_info", "cgminer_command_success",
		"site:cgminer_efficiency_joules_per_terahash:ratio", "fleet:cgminer_efficiency_joules_per_terahash:ratio",
		"fleet:cgminer_shares_accepted:rate5m", "repair_receiver_tasks",
		"repair_receiver_time_to_repair_seconds_bucket", "repair_receiver_time_to_acknowledge_seconds_count",
		"cgminer_discovery_miners", "cgminer_inventory_evictions_total", "cgminer_exporter_probe_duration_seconds_bucket",
		// named in prose ("Metric `…`", "Metrics `…`, `…`")
		"repair_receiver_notifications_total", "repair_receiver_notification_attempts_total",
		"repair_receiver_notifications_undeliverable", "repair_receiver_escalations_total",
		"repair_receiver_verify_expr_checks_total", "repair_receiver_remediations_total",
		"ALERTS", "up", "scrape_duration_seconds", "prometheus_rule_group_last_duration_seconds",
	} {
		if _, ok := k[n]; !ok {
			t.Errorf("%s is not known", n)
		}
	}
	if _, ok := k["repair_receiver_time_to_repair_seconds"]; ok {
		t.Error("a histogram's bare name is not a series")
	}
	// label values in prose, written without their metric's prefix
	for _, n := range []string{"webhook_requests_total", "webhook_alerts_total", "store_errors_total"} {
		if _, ok := k[n]; ok {
			t.Errorf("%s is a label-value remark in the additions, not a metric", n)
		}
	}
}

func TestAddRules(t *testing.T) {
	dir := t.TempDir()
	rules := "groups:\n- name: g\n  rules:\n  - record: site:x:sum\n    expr: sum by (site) (x)\n  - alert: A\n    expr: up == 0\n"
	if err := os.WriteFile(filepath.Join(dir, "a.rules.yml"), []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	k := Known{}
	n, err := k.AddRules(dir)
	if err != nil || n != 1 || k["site:x:sum"] != "a.rules.yml" {
		t.Errorf("got %d, %v, %v", n, err, k)
	}
	if n, err := k.AddRules(filepath.Join(dir, "missing")); err != nil || n != 0 {
		t.Errorf("missing dir: got %d, %v", n, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "b.yml"), []byte("groups: [:"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := k.AddRules(dir); err == nil {
		t.Error("a broken rule file: want an error")
	}
}

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "doc.md")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// The per-miner lists of the farm dashboard sit in collapsed rows, so a refresh does not run them
// (see BENCHMARKS.md); the expressions inside are still found and checked.
func TestCollapsedRows(t *testing.T) {
	exprs, err := Exprs(filepath.Join("..", "farm.json"))
	if err != nil {
		t.Fatal(err)
	}
	collapsed := map[string]bool{} // panel title → collapsed
	n := 0
	for _, e := range exprs {
		_, title, _ := strings.Cut(e.Where, `"`)
		title, _, _ = strings.Cut(title, `"`)
		collapsed[title] = e.Collapsed
		if e.Collapsed {
			n++
		}
	}
	for title, want := range map[string]bool{"Hottest chips": true, "Pools in use": true, "Hashrate": false, "Open alerts by category": false} {
		if got, ok := collapsed[title]; !ok || got != want {
			t.Errorf("panel %q: collapsed %v (found %v), want %v", title, got, ok, want)
		}
	}
	if n == 0 || n == len(exprs) {
		t.Errorf("%d of %d expressions collapsed", n, len(exprs))
	}
}

// TestContractCopyCurrent holds docs/CONTRACT.md equal to the shared original when the checkout
// sits beside it (../shared); on a clean clone elsewhere there is nothing to compare with.
func TestContractCopyCurrent(t *testing.T) {
	orig, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "CONTRACT.md"))
	if err != nil {
		t.Logf("no ../shared/CONTRACT.md beside the repository: nothing to compare (%v)", err)
		return
	}
	cp, err := os.ReadFile(contractPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(cp), string(orig)) {
		t.Errorf("docs/CONTRACT.md differs from ../shared/CONTRACT.md: copy the shared contract again")
	}
}

// A dashboard's scrape_timeout constant is prometheus.yml's scrape_timeout of job cgminer, in
// seconds: the probe-duration panels draw it as the line a scrape fails at.
func TestScrapeTimeoutConstant(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Global struct {
			ScrapeTimeout string `yaml:"scrape_timeout"`
		} `yaml:"global"`
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			ScrapeTimeout string `yaml:"scrape_timeout"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	timeout := cfg.Global.ScrapeTimeout
	for _, sc := range cfg.ScrapeConfigs {
		if sc.JobName == "cgminer" && sc.ScrapeTimeout != "" {
			timeout = sc.ScrapeTimeout
		}
	}
	d, err := time.ParseDuration(timeout)
	if err != nil {
		t.Fatalf("prometheus.yml: job cgminer's scrape_timeout %q: %v", timeout, err)
	}
	want := strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
	found := 0
	for _, f := range dashboards(t) {
		var dash struct {
			Templating struct {
				List []variable `json:"list"`
			} `json:"templating"`
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &dash); err != nil {
			t.Fatal(err)
		}
		for _, v := range dash.Templating.List {
			if v.Name != "scrape_timeout" {
				continue
			}
			found++
			got, err := variableQuery(v.Query)
			if err != nil || v.Type != "constant" || got != want {
				t.Errorf("%s: scrape_timeout is %s %q (%v), want the constant %q (prometheus.yml)", filepath.Base(f), v.Type, got, err, want)
			}
		}
	}
	if found == 0 {
		t.Error("no dashboard has the scrape_timeout constant")
	}
}
