package verify

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/minefarm/cgminer-stack/receiver/config"
	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/task"
)

// The fast verification. An alert's verify_expr annotation is its condition as an instant query
// — the alert's expression without `for:` (and, for an alert over a short range, without the
// range) — in which the alert's label values stand as ${label} placeholders:
//
//	cgminer_up{instance=${instance},job=${job}} == 0
//
// Prometheus leaves ${…} alone when it expands the annotation (its templates are {{ … }}), so the
// annotation reaches the receiver as written; RenderExpr puts each label value in as a quoted
// PromQL string, never pasted raw: a label value cannot end the string or add a matcher. The
// placeholders stand where a string literal goes, without quotes of their own.

// MaxExprBytes bounds a rendered verify_expr (the annotation is at most 8 KiB, label values 1 KiB).
const MaxExprBytes = 16 << 10

var placeholder = regexp.MustCompile(`\$\{([a-zA-Z_][a-zA-Z0-9_]*)\}`)

// ErrBadExpr is returned for a verify_expr that cannot be rendered.
var ErrBadExpr = errors.New("bad verify_expr")

// RenderExpr substitutes the ${label} placeholders of a verify_expr with the labels' values as
// PromQL string literals. A placeholder for a label the alert does not carry (or carries empty),
// a stray "${", or an expression without any placeholder (it would not be about this machine)
// is an error.
func RenderExpr(expr string, labels map[string]string) (string, error) {
	expr = strings.TrimSpace(expr)
	if expr == "" || len(expr) > MaxExprBytes {
		return "", fmt.Errorf("%w: empty or longer than %d bytes", ErrBadExpr, MaxExprBytes)
	}
	if strings.Contains(placeholder.ReplaceAllString(expr, ""), "${") {
		return "", fmt.Errorf("%w: a \"${\" that is not a ${label} placeholder", ErrBadExpr)
	}
	if !placeholder.MatchString(expr) {
		return "", fmt.Errorf("%w: no ${label} placeholder (the query would not be about the alert's machine)", ErrBadExpr)
	}
	var missing []string
	out := placeholder.ReplaceAllStringFunc(expr, func(m string) string {
		name := m[2 : len(m)-1]
		v, ok := labels[name]
		if !ok || v == "" {
			missing = append(missing, name)
			return m
		}
		return PromQLString(v)
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("%w: the alert has no label %s", ErrBadExpr, strings.Join(missing, ", "))
	}
	if len(out) > MaxExprBytes {
		return "", fmt.Errorf("%w: longer than %d bytes once rendered", ErrBadExpr, MaxExprBytes)
	}
	return out, nil
}

// PromQLString writes s as a double-quoted PromQL string literal. PromQL's strings take Go's
// escapes (its parser unquotes them with strconv.Unquote), so strconv.Quote is exact.
func PromQLString(s string) string { return strconv.Quote(s) }

// matchesProblem reports whether a series the condition selected is about the problem: it
// carries the task's identity labels with the same values, and every label both the series and
// the problem carry agrees (a board's condition does not hold because another board's does).
func matchesProblem(s map[string]string, identity, labels map[string]string, skip map[string]bool) bool {
	for k, v := range identity {
		if s[k] != v {
			return false
		}
	}
	for k, v := range labels {
		if skip[k] {
			continue
		}
		if sv, ok := s[k]; ok && sv != v {
			return false
		}
	}
	return true
}

// holds asks each firing problem's condition (its verify_expr), once its verify_after has
// passed, and returns the keys of those whose condition still selects the machine.
func (l *Loop) holds(ctx context.Context, cfg *config.Config, d store.Detail, firing map[string]bool) map[string]bool {
	if !cfg.Verification.Fast {
		return nil
	}
	skip := map[string]bool{"alertstate": true, "alertname": true, "__name__": true}
	for _, v := range cfg.VolatileLabels {
		skip[v] = true
	}
	elapsed := l.now().Sub(d.Task.ReportedAt)
	out := map[string]bool{}
	asked := map[string]bool{}
	for i := len(d.Problems) - 1; i >= 0; i-- { // the latest occurrence of a key first
		p := d.Problems[i]
		if !firing[p.Key] || asked[p.Key] {
			continue
		}
		asked[p.Key] = true
		tmpl := p.Annotations[task.AnnotationVerifyExpr]
		if tmpl == "" || elapsed < task.VerifyAfter(p, cfg.Windows) {
			continue
		}
		q, err := RenderExpr(tmpl, p.Labels)
		if err != nil {
			l.Metrics.expr("invalid")
			l.Logger.Warn("verification: the alert's verify_expr cannot be used; its verification window decides", "task", d.Task.ID,
				"alertname", p.Alertname, "err", err)
			continue
		}
		series, err := l.query(ctx, q, timeZero)
		if err != nil {
			l.Metrics.expr("error")
			l.Logger.Warn("verification: verify_expr query failed", "task", d.Task.ID, "alertname", p.Alertname, "query", q, "err", err)
			continue
		}
		held := false
		for _, s := range series {
			if matchesProblem(s, d.Task.Identity, p.Labels, skip) {
				held = true
				break
			}
		}
		if held {
			out[p.Key] = true
			l.Metrics.expr("holds")
			l.Logger.Info("verification: the alert's condition still holds after the report", "task", d.Task.ID, "alertname", p.Alertname, "query", q)
		} else {
			l.Metrics.expr("clear")
		}
	}
	return out
}

// timeZero asks at Prometheus's now.
var timeZero time.Time

func (m *Metrics) evidenceMetrics() {
	m.Exprs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "repair_receiver_verify_expr_checks_total",
		Help: "Fast verification: an alert's verify_expr asked after a report, by result (holds: the task goes back; clear; invalid: cannot be rendered; error: Prometheus failed)."}, []string{"result"})
	m.Facts = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "repair_receiver_machine_facts_queries_total",
		Help: "Questions to Prometheus about a task's machine (model, firmware, serial, MAC, probe error), by result (ok, error)."}, []string{"result"})
	m.Snapshots = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "repair_receiver_snapshots_total",
		Help: "Evidence snapshot attempts (the exporter's debug probe), by result (taken, truncated, rate_limited, retry, failed)."}, []string{"result"})
	for _, r := range []string{"holds", "clear", "invalid", "error"} {
		m.Exprs.WithLabelValues(r)
	}
	for _, r := range []string{"ok", "error"} {
		m.Facts.WithLabelValues(r)
	}
	for _, r := range []string{"taken", "truncated", "rate_limited", "retry", "failed"} {
		m.Snapshots.WithLabelValues(r)
	}
}

func inc(v *prometheus.CounterVec, result string) {
	if v != nil {
		v.WithLabelValues(result).Inc()
	}
}

func (m *Metrics) expr(result string) {
	if m != nil {
		inc(m.Exprs, result)
	}
}
