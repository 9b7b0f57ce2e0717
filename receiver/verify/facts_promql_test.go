package verify

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// promtools are the promtool binaries the query is checked with: Debian's (PATH) and the
// module-built current one in the repository's .tools/, when built. Missing Debian promtool fails.
func promtools(t *testing.T) []string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: run `make tools` (apt-get install prometheus)")
	}
	out := []string{p}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	if m, _ := filepath.Glob(filepath.Join(root, ".tools", "prometheus-v*", "promtool")); len(m) > 0 {
		out = append(out, m[len(m)-1])
	}
	return out
}

// The facts question, asked of a real Prometheus (promtool's rule-test engine): a miner that
// went down 10 minutes ago still has its model and serial (their last values, marked as from
// the lookback), a miner whose model changed shows both (ParseFacts takes the current one), and
// nothing is invented for a miner never seen.
func TestFactsQueryOnPrometheus(t *testing.T) {
	down := FactsQuery(map[string]string{"instance": "10.0.0.1"}, 24*time.Hour)
	upgraded := FactsQuery(map[string]string{"instance": "10.0.0.2"}, 24*time.Hour)
	never := FactsQuery(map[string]string{"instance": "10.0.0.3"}, 24*time.Hour)
	quote := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	test := `evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      # 10.0.0.1 answered for 20 minutes, then went down (only the probe error remains).
      - series: 'cgminer_info{instance="10.0.0.1", job="cgminer", model="Antminer S19j Pro", firmware="stock"}'
        values: '1x20'
      - series: 'cgminer_device_info{instance="10.0.0.1", job="cgminer", serial="SN1", mac="aa:bb"}'
        values: '1x20'
      - series: 'cgminer_probe_error_info{instance="10.0.0.1", job="cgminer", reason="connection_refused"}'
        values: '_x20 1x20'
      # 10.0.0.2 changed model at 20m (a firmware upgrade).
      - series: 'cgminer_info{instance="10.0.0.2", job="cgminer", model="Old", firmware="stock"}'
        values: '1x20'
      - series: 'cgminer_info{instance="10.0.0.2", job="cgminer", model="New", firmware="stock"}'
        values: '_x20 1x20'
    promql_expr_test:
      - expr: ` + quote(down) + `
        eval_time: 30m
        exp_samples:
          - labels: 'cgminer_probe_error_info{instance="10.0.0.1", job="cgminer", reason="connection_refused"}'
            value: 1
          - labels: 'cgminer_info{instance="10.0.0.1", job="cgminer", model="Antminer S19j Pro", firmware="stock", facts_lookback="1"}'
            value: 1
          - labels: 'cgminer_device_info{instance="10.0.0.1", job="cgminer", serial="SN1", mac="aa:bb", facts_lookback="1"}'
            value: 1
      - expr: ` + quote(upgraded) + `
        eval_time: 30m
        exp_samples:
          - labels: 'cgminer_info{instance="10.0.0.2", job="cgminer", model="New", firmware="stock"}'
            value: 1
          - labels: 'cgminer_info{instance="10.0.0.2", job="cgminer", model="New", firmware="stock", facts_lookback="1"}'
            value: 1
          - labels: 'cgminer_info{instance="10.0.0.2", job="cgminer", model="Old", firmware="stock", facts_lookback="1"}'
            value: 1
      - expr: ` + quote(never) + `
        eval_time: 30m
        exp_samples: []
`
	path := filepath.Join(t.TempDir(), "facts.test.yml")
	if err := os.WriteFile(path, []byte(test), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, promtool := range promtools(t) {
		if out, err := exec.Command(promtool, "test", "rules", path).CombinedOutput(); err != nil {
			t.Errorf("%s test rules: %v\n%s", promtool, err, out)
		}
	}

	// What the receiver makes of those answers.
	f := ParseFacts([]map[string]string{
		{"__name__": "cgminer_probe_error_info", "instance": "10.0.0.1", "reason": "connection_refused"},
		{"__name__": "cgminer_info", "instance": "10.0.0.1", "model": "Antminer S19j Pro", "firmware": "stock", factsLookbackLabel: "1"},
		{"__name__": "cgminer_device_info", "instance": "10.0.0.1", "serial": "SN1", "mac": "aa:bb", factsLookbackLabel: "1"},
	})
	if f.Model != "Antminer S19j Pro" || f.Serial != "SN1" || f.MAC != "aa:bb" || f.ProbeError != "connection_refused" {
		t.Errorf("down miner: %+v", f)
	}
	f = ParseFacts([]map[string]string{
		{"__name__": "cgminer_info", "instance": "10.0.0.2", "model": "Old", "firmware": "stock", factsLookbackLabel: "1"},
		{"__name__": "cgminer_info", "instance": "10.0.0.2", "model": "New", "firmware": "stock", factsLookbackLabel: "1"},
		{"__name__": "cgminer_info", "instance": "10.0.0.2", "model": "New", "firmware": "stock"},
	})
	if f.Model != "New" {
		t.Errorf("upgraded miner: model %q, want the current New", f.Model)
	}
}
