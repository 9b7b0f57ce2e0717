package config

import (
	"errors"
	"fmt"
	"strings"
	"text/template"
	"time"
)

// Reconcile bounds the reconciliation of quiet tasks against Prometheus (tasks whose problems
// still fire but that nothing changed for windows.reconcile_after).
type Reconcile struct {
	// Window: a problem absent from ALERTS (firing or pending) for this long is cleared, provided
	// the evidence below held at its start and holds now.
	Window time.Duration `yaml:"window"`
	// MaxTasks is how many tasks one pass looks at; the next pass goes on after the last one.
	MaxTasks int `yaml:"max_tasks"`
	// Budget is how long one pass may take; what is left waits for the next pass.
	Budget time.Duration `yaml:"budget"`
}

// Evidence is what Prometheus must show before the absence of an alert in ALERTS means anything.
// An empty answer from a Prometheus that is new, at the wrong URL, lost its data or does not
// scrape the machine says nothing: without this evidence nothing is cleared (reconciliation) and
// no repair is confirmed (verification).
type Evidence struct {
	// Rules is an instant query that is not empty when this Prometheus evaluates the alerting
	// rules (the always-firing Watchdog). Asked once per pass.
	Rules string `yaml:"rules"`
	// Target is a text/template of an instant query that is not empty when this Prometheus sees
	// the task's machine now; {{.Matchers}} is the task's identity as PromQL matchers
	// (instance="10.1.0.7", or site="site-a" for a fleet task). Asked per task.
	Target string `yaml:"target"`

	target *template.Template
}

// Defaults matching this repository's rules (the Watchdog alert) and prometheus.yml (job
// cgminer, whose probes export cgminer_up: 1 when the miner answered).
const (
	DefaultRulesEvidence  = `ALERTS{alertname="Watchdog",alertstate="firing"}`
	DefaultTargetEvidence = `cgminer_up{job="cgminer",{{.Matchers}}} == 1`
)

func defaultReconcile() Reconcile {
	return Reconcile{Window: 10 * time.Minute, MaxTasks: 500, Budget: time.Minute}
}

func defaultEvidence() Evidence {
	return Evidence{Rules: DefaultRulesEvidence, Target: DefaultTargetEvidence}
}

func (c *Config) validateEvidence() error {
	r := c.Reconcile
	if r.Window <= 0 {
		return errors.New("reconcile.window: must be positive")
	}
	if r.MaxTasks <= 0 || r.MaxTasks > 100000 {
		return fmt.Errorf("reconcile.max_tasks: %d is not between 1 and 100000", r.MaxTasks)
	}
	if r.Budget <= 0 {
		return errors.New("reconcile.budget: must be positive")
	}
	e := &c.Evidence
	if strings.TrimSpace(e.Rules) == "" {
		return errors.New("evidence.rules: a query is required")
	}
	t, err := template.New("target").Option("missingkey=error").Parse(e.Target)
	if err != nil {
		return fmt.Errorf("evidence.target: %w", err)
	}
	e.target = t
	a, errA := e.TargetQuery(`instance="a"`)
	b, errB := e.TargetQuery(`instance="b"`)
	if err := errors.Join(errA, errB); err != nil {
		return fmt.Errorf("evidence.target: %w", err)
	}
	if a == b {
		return errors.New("evidence.target: must use {{.Matchers}}, the task's identity (else it is no evidence about the task's machine)")
	}
	return nil
}

// TargetQuery renders the Target query for a task's identity matchers.
func (e Evidence) TargetQuery(matchers string) (string, error) {
	t := e.target
	if t == nil {
		var err error
		if t, err = template.New("target").Option("missingkey=error").Parse(e.Target); err != nil {
			return "", err
		}
	}
	var b strings.Builder
	if err := t.Execute(&b, struct{ Matchers string }{matchers}); err != nil {
		return "", err
	}
	return b.String(), nil
}
