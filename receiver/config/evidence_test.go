package config

import (
	"strings"
	"testing"
	"time"
)

func TestEvidenceAndReconcile(t *testing.T) {
	c, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Reconcile != (Reconcile{Window: 10 * time.Minute, MaxTasks: 500, Budget: time.Minute}) {
		t.Fatalf("reconcile defaults %+v", c.Reconcile)
	}
	if c.Evidence.Rules != DefaultRulesEvidence {
		t.Fatalf("rules evidence %q", c.Evidence.Rules)
	}
	if q, err := c.Evidence.TargetQuery(`instance="10.1.0.7"`); err != nil || q != `cgminer_up{job="cgminer",instance="10.1.0.7"} == 1` {
		t.Fatalf("target query %q %v", q, err)
	}
	c, err = Parse([]byte("reconcile: {max_tasks: 20}\nevidence: {target: 'up{job=\"miners\",{{.Matchers}}}'}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Reconcile.MaxTasks != 20 || c.Reconcile.Window != 10*time.Minute {
		t.Fatalf("partial reconcile section: %+v", c.Reconcile)
	}
	if q, _ := c.Evidence.TargetQuery(`site="s"`); q != `up{job="miners",site="s"}` {
		t.Fatalf("custom target query %q", q)
	}
	for _, tc := range []struct{ name, yml, want string }{
		{"no window", "reconcile: {window: 0s}", "reconcile.window"},
		{"no tasks", "reconcile: {max_tasks: 0}", "reconcile.max_tasks"},
		{"too many tasks", "reconcile: {max_tasks: 1000000}", "reconcile.max_tasks"},
		{"no budget", "reconcile: {budget: 0s}", "reconcile.budget"},
		{"empty rules evidence", "evidence: {rules: ' '}", "evidence.rules"},
		{"target without the task", "evidence: {target: 'up{job=\"cgminer\"}'}", "{{.Matchers}}"},
		{"broken template", "evidence: {target: 'up{ {{.Matchers }'}", "evidence.target"},
		{"unknown field", "evidence: {target: '{{.Instance}}'}", "evidence.target"},
		{"unknown key", "evidence: {rule: x}", "field rule not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one naming %q", err, tc.want)
			}
		})
	}
}
