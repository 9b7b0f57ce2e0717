package topology

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/minefarm/cgminer-stack/e2e/stack"
)

const root = "../../.."

// The committed deploy/multisite/config/ and docker-compose.yml are what the generator makes of
// topology.yml and the repository's configs today.
func TestCommittedFilesCurrent(t *testing.T) {
	files, err := Files(root, "deploy/multisite/topology.yml", "deploy/multisite")
	if err != nil {
		t.Fatal(err)
	}
	if stale := Stale(files, filepath.Join(root, "deploy/multisite")); len(stale) > 0 {
		t.Errorf("deploy/multisite is out of date, run `make multisite-config`: %s", strings.Join(stale, ", "))
	}
}

func TestValidate(t *testing.T) {
	good := `
centre:
  victoriametrics: 127.0.0.1:8428
  vmalert: 127.0.0.1:8880
  alertmanagers: [{web: 127.0.0.1:9093, cluster: 127.0.0.1:9794}]
  receivers: [127.0.0.1:9155]
  postgres: 127.0.0.1:5432
sites:
  - name: site-a
    exporters: [{listen: 127.0.0.1:9154, ranges: [10.1.0.0/16]}]
    shards: [127.0.0.1:9090]
`
	if _, err := Parse([]byte(good)); err != nil {
		t.Fatalf("good topology: %v", err)
	}
	for _, tc := range []struct{ name, from, to, want string }{
		{"unknown key", "  postgres: 127.0.0.1:5432\n", "  postgres: 127.0.0.1:5432\n  grafana: x\n", "field grafana not found"},
		{"bad address", "127.0.0.1:8880", "localhost", "not host:port"},
		{"bad port", "127.0.0.1:8880", "127.0.0.1:99999", "bad port"},
		{"shared address", "vmalert: 127.0.0.1:8880", "vmalert: 127.0.0.1:8428", "both listen on 127.0.0.1:8428"},
		{"price on a shard's address", "  postgres: 127.0.0.1:5432\n", "  postgres: 127.0.0.1:5432\n  price: 127.0.0.1:9090\n", "both listen on 127.0.0.1:9090"},
		{"bad price address", "  postgres: 127.0.0.1:5432\n", "  postgres: 127.0.0.1:5432\n  price: 9157\n", "centre.price"},
		{"no shards", "shards: [127.0.0.1:9090]", "shards: []", "0 shards"},
		{"no exporters", "exporters: [{listen: 127.0.0.1:9154, ranges: [10.1.0.0/16]}]", "exporters: []", "0 exporters"},
		{"no ranges", "ranges: [10.1.0.0/16]", "ranges: []", "no ranges"},
		{"bad range", "10.1.0.0/16", "10.1.0.0/33", "range"},
		{"site name", "name: site-a", "name: Site_A", "site name"},
		{"no receivers", "receivers: [127.0.0.1:9155]", "receivers: []", "0 replicas"},
		{"no alertmanagers", "alertmanagers: [{web: 127.0.0.1:9093, cluster: 127.0.0.1:9794}]", "alertmanagers: []", "0 replicas"},
		{"discovery key", "    shards: [127.0.0.1:9090]\n", "    shards: [127.0.0.1:9090]\n    discovery: {ranges: [10.0.0.0/8]}\n", "discovery key"},
		{"overlapping ranges", "    shards: [127.0.0.1:9090]\n",
			"    shards: [127.0.0.1:9090]\n  - name: site-b\n    exporters: [{listen: 127.0.0.1:9164, ranges: [10.1.2.0/24]}]\n    shards: [127.0.0.1:9190]\n", "overlaps"},
		{"site twice", "    shards: [127.0.0.1:9090]\n",
			"    shards: [127.0.0.1:9090]\n  - name: site-a\n    exporters: [{listen: 127.0.0.1:9164, ranges: [10.2.0.0/16]}]\n    shards: [127.0.0.1:9190]\n", "twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := strings.Replace(good, tc.from, tc.to, 1)
			if bad == good {
				t.Fatalf("%q not in the topology", tc.from)
			}
			_, err := Parse([]byte(bad))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Record string `yaml:"record"`
			Alert  string `yaml:"alert"`
			Expr   string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func records(t *testing.T, pattern string) (records, alerts []string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(root, pattern))
	if len(files) == 0 {
		t.Fatalf("no %s", pattern)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var rf ruleFile
		if err := yaml.Unmarshal(b, &rf); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, g := range rf.Groups {
			for _, r := range g.Rules {
				if r.Record != "" {
					records = append(records, r.Record)
				} else {
					alerts = append(alerts, r.Alert)
				}
			}
		}
	}
	return records, alerts
}

// Every aggregate a shard records over its share of the miners reaches the centre under a name
// fleet.vmalert.yml sums back into the single-box name; a new level (row:, say) fails here until
// PartialLevels and the centre's rules know it. Every fleet: and model: name is recorded by the centre.
func TestCentreSumsEveryShardAggregate(t *testing.T) {
	shard, _ := records(t, "rules/*.rules.yml")
	extra, _ := records(t, "rules/multisite.shard.yml")
	centre, _ := records(t, "rules/fleet.vmalert.yml")
	partial := regexp.MustCompile(`^(` + PartialLevels + `):`)
	whole := regexp.MustCompile(`^(` + CentreLevels + `):`)
	centreText, err := os.ReadFile(filepath.Join(root, "rules/fleet.vmalert.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range append(shard, extra...) {
		level, _, _ := strings.Cut(r, ":")
		switch {
		case level == "instance":
		case whole.MatchString(r) || partial.MatchString(r):
			// Re-aggregated under its own name, or read as the shards' share (the efficiency's
			// two sums are only the ratio's inputs).
			if !slices.Contains(centre, r) && !strings.Contains(string(centreText), "shard_"+r) {
				t.Errorf("%s: the shards record it, the centre (rules/fleet.vmalert.yml) neither re-aggregates nor reads it", r)
			}
		default:
			t.Errorf("%s: level %s: neither complete on one shard (instance) nor in PartialLevels (%s) or CentreLevels (%s)", r, level, PartialLevels, CentreLevels)
		}
	}
	// The centre never reads a shard's name as it is on the shard (those do not reach it): every
	// expression, one line or many.
	var rf ruleFile
	if err := yaml.Unmarshal(centreText, &rf); err != nil {
		t.Fatal(err)
	}
	own := regexp.MustCompile(`(?:^|[^a-z_:])((?:` + PartialLevels + `|` + CentreLevels + `):cgminer_[a-z_:]+)`)
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if m := own.FindStringSubmatch(r.Expr); m != nil {
				t.Errorf("fleet.vmalert.yml %s%s reads %s, which only exists at the centre as its own output", r.Record, r.Alert, m[1])
			}
		}
	}
}

type testFile struct {
	Tests []struct {
		AlertRuleTest []struct {
			Alertname string `yaml:"alertname"`
			ExpAlerts []any  `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
		PromQLExprTest []struct {
			Expr string `yaml:"expr"`
		} `yaml:"promql_expr_test"`
	} `yaml:"tests"`
}

// Every rule of the two multi-site files is tested: recording rules by a promql_expr_test, alerts
// firing and quiet.
func TestEveryMultisiteRuleIsTested(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(root, "rules/tests-multisite/*.test.yml"))
	fires, quiet, exprs := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var tf testFile
		if err := yaml.Unmarshal(b, &tf); err != nil {
			t.Fatal(err)
		}
		for _, tc := range tf.Tests {
			for _, a := range tc.AlertRuleTest {
				if len(a.ExpAlerts) > 0 {
					fires[a.Alertname] = true
				} else {
					quiet[a.Alertname] = true
				}
			}
			for _, e := range tc.PromQLExprTest {
				exprs[strings.TrimSpace(e.Expr)] = true
			}
		}
	}
	for _, f := range []string{"rules/fleet.vmalert.yml", "rules/multisite.shard.yml"} {
		recs, alerts := records(t, f)
		for _, r := range recs {
			if !exprs[r] {
				t.Errorf("%s: %s has no promql_expr_test in rules/tests-multisite", f, r)
			}
		}
		for _, a := range alerts {
			if !fires[a] || !quiet[a] {
				t.Errorf("%s: %s needs a test where it fires and one where it stays quiet", f, a)
			}
		}
	}
}

// The generated configs load in the programs that read them: promtool (Prometheus 3.16) for the
// shards, amtool for the Alertmanager cluster, vmalert -dryRun for the fleet rules,
// VictoriaMetrics for its scrape config, the exporter and the receiver for theirs.
func TestGeneratedConfigsLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the exporter and the receiver")
	}
	abs, _ := filepath.Abs(root)
	topo, err := Load(filepath.Join(abs, "deploy/multisite/topology.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, fast := range []*Fast{nil, {Interval: 2e9, ForDiv: 10, ReceiverDiv: 60}} {
		dir := t.TempDir()
		d, err := Generate(topo, Options{Root: abs, RepoDir: abs, ConfigDir: dir, DataDir: filepath.Join(dir, "data"), Fast: fast})
		if err != nil {
			t.Fatal(err)
		}
		for rel, b := range d.Files {
			p := filepath.Join(dir, rel)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		promtool := stack.FindTool(abs, "prometheus", "promtool")
		amtool := stack.FindTool(abs, "alertmanager", "amtool")
		if promtool == "" || amtool == "" {
			t.Fatal("promtool/amtool not in .tools (make peers)")
		}
		run := func(name string, args ...string) {
			t.Helper()
			cmd := exec.Command(name, args...)
			cmd.Dir = abs
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("%s %v: %v\n%s", filepath.Base(name), args, err, out)
			}
		}
		bin := t.TempDir()
		for _, c := range [][2]string{{"cgminer_exporter", "./exporter"}, {"repair_receiver", "./receiver"}, {"price_exporter", "./dashboards/cmd/price_exporter"}} {
			run("go", "build", "-o", filepath.Join(bin, c[0]), c[1])
		}
		for _, s := range d.Services {
			cfg := ""
			for _, a := range s.Args {
				for _, p := range []string{"--config.file=", "-promscrape.config="} {
					if v, ok := strings.CutPrefix(a, p); ok {
						cfg = v
					}
				}
			}
			switch s.Kind {
			case Prometheus:
				run(promtool, "check", "config", cfg)
			case Alertmanager:
				run(amtool, "check-config", cfg)
			case Exporter:
				run(filepath.Join(bin, "cgminer_exporter"), "--config.file="+cfg, "--config.check")
			case Receiver:
				run(filepath.Join(bin, "repair_receiver"), "--config.file="+cfg, "--web.config.file="+filepath.Join(abs, "receiver/web.yml"), "--config.check")
			case Price:
				run(filepath.Join(bin, "price_exporter"), "--config.file="+cfg, "--config.check")
			case VMAlert:
				var rules []string
				for _, a := range s.Args {
					if strings.HasPrefix(a, "-rule=") {
						rules = append(rules, a)
					}
				}
				run(lookPath(t, "vmalert"), append([]string{"-dryRun"}, rules...)...)
			case VictoriaMetrics:
				run(lookPath(t, "victoria-metrics"), "-promscrape.config="+cfg, "-promscrape.config.dryRun")
			}
		}
	}
}

func lookPath(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: make multisite-tools installs Debian's victoria-metrics", name)
	}
	return p
}
