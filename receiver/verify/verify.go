// Package verify confirms reported repairs against the monitoring: once a task's settle time has
// passed it asks Prometheus (HTTP API /api/v1/query) which of the task's alerts still fire in the
// ALERTS series, and hands the answer to the task rules. It also reconciles quiet tasks whose
// alerts may have ended without a resolved notification (silences, inhibitions).
//
// An absence in ALERTS is believed only with positive evidence that the Prometheus asked
// evaluates the rules (evidence.rules, the Watchdog) and sees the task's machine
// (evidence.target, its cgminer_up): an empty answer from a new, wrong or data-less Prometheus
// clears nothing and confirms nothing.
package verify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/minefarm/cgminer-stack/receiver/config"
	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/task"
)

// Querier returns the label sets of the series an instant query selects, evaluated at `at`
// (the zero time: Prometheus's now).
type Querier interface {
	Query(ctx context.Context, q string, at time.Time) ([]map[string]string, error)
}

// Prometheus queries a Prometheus server's HTTP API.
type Prometheus struct {
	URL    string
	Client *http.Client
}

type apiResponse struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
		} `json:"result"`
	} `json:"data"`
}

// Query implements Querier.
func (p *Prometheus) Query(ctx context.Context, q string, at time.Time) ([]map[string]string, error) {
	c := p.Client
	if c == nil {
		c = &http.Client{Timeout: 30 * time.Second}
	}
	u := strings.TrimRight(p.URL, "/") + "/api/v1/query"
	form := url.Values{"query": {q}}
	if !at.IsZero() {
		form.Set("time", strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("query prometheus: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("query prometheus: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("query prometheus: %w", err)
	}
	var r apiResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("query prometheus: HTTP %d, undecodable answer: %w", resp.StatusCode, err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("query prometheus: HTTP %d: %s: %s", resp.StatusCode, r.ErrorType, r.Error)
	}
	if r.Data.ResultType != "vector" {
		return nil, fmt.Errorf("query prometheus: result type %q, want vector", r.Data.ResultType)
	}
	out := make([]map[string]string, len(r.Data.Result))
	for i, s := range r.Data.Result {
		out[i] = s.Metric
	}
	return out, nil
}

// Selector is the PromQL query for a task's firing alerts: ALERTS for its identity labels and the
// alertnames of its problems.
func Selector(t task.Task, problems []task.Problem) string {
	names := map[string]bool{}
	for _, p := range problems {
		names[p.Alertname] = true
	}
	alts := make([]string, 0, len(names))
	for n := range names {
		alts = append(alts, regexpQuote(n))
	}
	sort.Strings(alts)
	m := []string{`alertstate="firing"`, Matchers(t.Identity)}
	m = append(m, fmt.Sprintf("alertname=~%s", quote(strings.Join(alts, "|"))))
	return "ALERTS{" + strings.Join(m, ",") + "}"
}

// Matchers renders a task's identity labels as PromQL equality matchers in name order
// (`instance="10.1.0.7"`), the {{.Matchers}} of evidence.target.
func Matchers(identity map[string]string) string {
	keys := make([]string, 0, len(identity))
	for k := range identity {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	m := make([]string, len(keys))
	for i, k := range keys {
		m[i] = fmt.Sprintf("%s=%s", k, quote(identity[k]))
	}
	return strings.Join(m, ",")
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func regexpQuote(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`\.+*?()|[]{}^$`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Firing returns the keys of the problems a series still shows firing. A series matches a problem
// when the alertname is the same and every label both carry has the same value (labels only on one
// side, such as Prometheus external labels or volatile labels, do not count).
func Firing(problems []task.Problem, series []map[string]string, volatile []string) map[string]bool {
	skip := map[string]bool{"alertstate": true}
	for _, v := range volatile {
		skip[v] = true
	}
	out := map[string]bool{}
	for _, p := range problems {
	series:
		for _, s := range series {
			if s["alertname"] != p.Alertname {
				continue
			}
			for k, v := range p.Labels {
				if skip[k] {
					continue
				}
				if sv, ok := s[k]; ok && sv != v {
					continue series
				}
			}
			out[p.Key] = true
			break
		}
	}
	return out
}

// Service is what the loop needs from the repair service.
type Service interface {
	Verifying(ctx context.Context) ([]store.Detail, error)
	Verified(ctx context.Context, id int64, chk task.Check) (task.Task, error)
}

// Metrics count what reconciliation did.
type Metrics struct {
	// Passes by result: complete (every quiet task looked at), partial (max_tasks or the
	// budget reached; the next pass goes on), no_rules_evidence, error.
	Passes *prometheus.CounterVec
	// Tasks by result: cleared, still_firing, no_evidence (Prometheus does not show the machine),
	// error.
	Tasks *prometheus.CounterVec
	// Exprs: verify_expr checks by result (holds, clear, invalid, error); Facts: questions
	// about a task's machine (ok, error); Snapshots: snapshot attempts (taken, truncated,
	// rate_limited, retry, failed).
	Exprs, Facts, Snapshots *prometheus.CounterVec
}

// NewMetrics registers the reconciliation metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Passes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "repair_receiver_reconcile_passes_total",
			Help: "Reconciliation passes, by result (complete, partial, no_rules_evidence, error)."}, []string{"result"}),
		Tasks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "repair_receiver_reconciliations_total",
			Help: "Quiet tasks checked against Prometheus, by result (cleared, still_firing, no_evidence, error)."}, []string{"result"}),
	}
	for _, r := range []string{"complete", "partial", "no_rules_evidence", "error"} {
		m.Passes.WithLabelValues(r)
	}
	for _, r := range []string{"cleared", "still_firing", "no_evidence", "error"} {
		m.Tasks.WithLabelValues(r)
	}
	m.evidenceMetrics()
	reg.MustRegister(m.Passes, m.Tasks, m.Exprs, m.Facts, m.Snapshots)
	return m
}

func (m *Metrics) pass(result string) {
	if m != nil {
		m.Passes.WithLabelValues(result).Inc()
	}
}

func (m *Metrics) task(result string) {
	if m != nil {
		m.Tasks.WithLabelValues(result).Inc()
	}
}

// Loop verifies the due tasks and reconciles quiet ones.
type Loop struct {
	Svc     Service
	Querier Querier               // nil: no Prometheus, resolved notifications alone decide
	Config  func() *config.Config // nil: config.Default()
	Now     func() time.Time      // nil: the wall clock
	Logger  *slog.Logger
	Metrics *Metrics // nil: not counted

	// cursor is the last task the previous reconciliation pass looked at (Reconcile is called
	// from one goroutine).
	cursor int64
}

// queryTimeout bounds one question to Prometheus.
const queryTimeout = 30 * time.Second

func (l *Loop) config() *config.Config {
	if l.Config != nil {
		return l.Config()
	}
	return config.Default()
}

func (l *Loop) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now().UTC()
}

func (l *Loop) query(ctx context.Context, q string, at time.Time) ([]map[string]string, error) {
	qctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	return l.Querier.Query(qctx, q, at)
}

// present reports whether q selects something at every one of the times (zero: now).
func (l *Loop) present(ctx context.Context, q string, at ...time.Time) (bool, error) {
	for _, t := range at {
		series, err := l.query(ctx, q, t)
		if err != nil {
			return false, err
		}
		if len(series) == 0 {
			return false, nil
		}
	}
	return true, nil
}

// Once checks every due task and returns how many it looked at.
func (l *Loop) Once(ctx context.Context) (int, error) {
	due, err := l.Svc.Verifying(ctx)
	if err != nil {
		return 0, fmt.Errorf("list verifying tasks: %w", err)
	}
	if len(due) == 0 {
		return 0, nil
	}
	cfg := l.config()
	ev := cfg.Evidence
	// Once per pass: does this Prometheus evaluate the alerting rules at all?
	var rulesOK bool
	var rulesErr error
	if l.Querier != nil {
		if rulesOK, rulesErr = l.present(ctx, ev.Rules, time.Time{}); rulesErr != nil {
			l.Logger.Warn("verification: cannot ask Prometheus for the rules evidence", "query", ev.Rules, "err", rulesErr)
		} else if !rulesOK {
			l.Logger.Warn("verification: Prometheus shows no evidence that it evaluates the alerting rules; nothing is confirmed",
				"query", ev.Rules)
		}
	}
	var errs []error
	for _, d := range due {
		chk := task.Check{}
		if l.Querier != nil {
			chk = l.check(ctx, cfg, d, rulesOK, rulesErr)
		}
		t, err := l.Svc.Verified(ctx, d.Task.ID, chk)
		if err != nil {
			errs = append(errs, fmt.Errorf("task %d: %w", d.Task.ID, err))
			continue
		}
		if t.State != task.Verifying {
			l.Logger.Info("verification decided", "task", t.ID, "state", t.State, "reason", t.Reason)
		}
	}
	return len(due), errors.Join(errs...)
}

// check asks Prometheus about one verifying task: its alerts in ALERTS and, when none fires,
// whether Prometheus sees the machine now.
func (l *Loop) check(ctx context.Context, cfg *config.Config, d store.Detail, rulesOK bool, rulesErr error) task.Check {
	ev, volatile := cfg.Evidence, cfg.VolatileLabels
	if rulesErr != nil {
		return task.Check{Err: rulesErr}
	}
	series, err := l.query(ctx, Selector(d.Task, d.Problems), time.Time{})
	if err != nil {
		l.Logger.Warn("verification query failed", "task", d.Task.ID, "err", err)
		return task.Check{Err: err}
	}
	chk := task.Check{Asked: true, Firing: Firing(d.Problems, series, volatile)}
	if len(chk.Firing) > 0 {
		// Still firing: no evidence needed to say so. Does the condition still hold now?
		chk.Holds = l.holds(ctx, cfg, d, chk.Firing)
		return chk
	}
	if !rulesOK {
		chk.Evidence = "no answer to " + ev.Rules
		return chk
	}
	tq, err := ev.TargetQuery(Matchers(d.Task.Identity))
	if err != nil {
		return task.Check{Err: fmt.Errorf("evidence.target: %w", err)}
	}
	seen, err := l.present(ctx, tq, time.Time{})
	switch {
	case err != nil:
		l.Logger.Warn("verification: cannot ask Prometheus for the target evidence", "task", d.Task.ID, "query", tq, "err", err)
		return task.Check{Err: err}
	case !seen:
		chk.Evidence = "no answer to " + tq
		l.Logger.Info("verification: Prometheus does not show the machine; not confirmed", "task", d.Task.ID, "query", tq)
	default:
		chk.Seen = true
	}
	return chk
}

// Run verifies every interval until ctx ends.
func (l *Loop) Run(ctx context.Context, every time.Duration) {
	tk := time.NewTicker(every)
	defer tk.Stop()
	for {
		if _, err := l.Once(ctx); err != nil && ctx.Err() == nil {
			l.Logger.Error("verification", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
	}
}

// Reconciler is what Reconcile needs from the repair service.
type Reconciler interface {
	// Quiet returns up to limit tasks after afterID (id order) that hold firing problems and
	// have not changed for `after`, each with its problems.
	Quiet(ctx context.Context, after time.Duration, afterID int64, limit int) ([]store.Detail, error)
	Reconciled(ctx context.Context, id int64, still map[string]bool) (int, error)
}

// ReconcileSelector asks for the task's alerts in any state (pending counts: the alert is back)
// at any time in the window, so one missed rule evaluation does not clear a problem.
func ReconcileSelector(t task.Task, problems []task.Problem, window time.Duration) string {
	sel := strings.Replace(Selector(t, problems), `alertstate="firing",`, "", 1)
	return "last_over_time(" + sel + "[" + promDuration(window) + "])"
}

// promDuration writes a duration in PromQL's syntax (whole seconds at least).
func promDuration(d time.Duration) string {
	s := int64(d / time.Second)
	if s < 1 {
		s = 1
	}
	if s%60 == 0 {
		return strconv.FormatInt(s/60, 10) + "m"
	}
	return strconv.FormatInt(s, 10) + "s"
}

// reconcilePage is how many quiet tasks are read from the store at a time.
const reconcilePage = 100

// maxFailedInARow tasks whose check failed end a pass (instead of as many errors as tasks).
const maxFailedInARow = 5

// Reconcile clears the problems of quiet tasks that Prometheus no longer shows: the resolved
// notification of a silenced or inhibited alert never comes. Without Prometheus it does nothing.
//
// A pass first asks whether this Prometheus evaluates the rules (evidence.rules answers now and
// at the start of reconcile.window); without that, nothing is looked at. Then it pages through
// the quiet tasks after where the previous pass stopped, at most reconcile.max_tasks of them and
// for at most reconcile.budget; for each, the machine must be seen (evidence.target answers now
// and at the window's start) before an alert absent from ALERTS for the window is cleared.
func (l *Loop) Reconcile(ctx context.Context, r Reconciler, after time.Duration) (int, error) {
	if l.Querier == nil || after <= 0 {
		return 0, nil
	}
	cfg := l.config()
	rc, ev := cfg.Reconcile, cfg.Evidence
	now := l.now()
	since := now.Add(-rc.Window)
	pass, cancel := context.WithTimeout(ctx, rc.Budget)
	defer cancel()

	ok, err := l.present(pass, ev.Rules, time.Time{}, since)
	if err != nil {
		l.Metrics.pass("error")
		return 0, fmt.Errorf("rules evidence %s: %w", ev.Rules, err)
	}
	if !ok {
		l.Metrics.pass("no_rules_evidence")
		l.Logger.Warn("reconciliation skipped: Prometheus shows no evidence that it has evaluated the alerting rules for the whole window; nothing is cleared",
			"query", ev.Rules, "window", rc.Window)
		return 0, nil
	}
	cleared, examined, failedInARow := 0, 0, 0
	var errs []error
	for examined < rc.MaxTasks {
		limit := min(reconcilePage, rc.MaxTasks-examined)
		page, err := r.Quiet(pass, after, l.cursor, limit)
		if err != nil {
			if pass.Err() != nil && ctx.Err() == nil {
				l.Metrics.pass("partial")
				return cleared, errors.Join(errs...)
			}
			l.Metrics.pass("error")
			return cleared, errors.Join(append(errs, fmt.Errorf("list quiet tasks: %w", err))...)
		}
		for _, d := range page {
			if pass.Err() != nil {
				l.Metrics.pass("partial")
				l.Logger.Info("reconciliation pass out of time; the next one goes on", "examined", examined, "budget", rc.Budget)
				return cleared, errors.Join(errs...)
			}
			examined++
			l.cursor = d.Task.ID
			n, err := l.reconcileTask(ctx, pass, r, ev, cfg.VolatileLabels, d, since, rc.Window)
			if err != nil {
				if pass.Err() != nil && ctx.Err() == nil {
					l.cursor = d.Task.ID - 1 // not looked at after all
					l.Metrics.pass("partial")
					return cleared, errors.Join(errs...)
				}
				l.Metrics.task("error")
				errs = append(errs, fmt.Errorf("task %d: %w", d.Task.ID, err))
				if failedInARow++; failedInARow >= maxFailedInARow {
					// Prometheus (or the store) is down: the next pass tries again from here.
					l.Metrics.pass("error")
					return cleared, errors.Join(append(errs, fmt.Errorf("%d tasks in a row failed; pass abandoned", failedInARow))...)
				}
				continue
			}
			failedInARow = 0
			cleared += n
		}
		if len(page) < limit {
			l.cursor = 0 // the end: the next pass starts again from the first task
			l.Metrics.pass("complete")
			return cleared, errors.Join(errs...)
		}
	}
	l.Metrics.pass("partial")
	return cleared, errors.Join(errs...)
}

// reconcileTask checks one quiet task: queries under the pass's budget, the write under ctx (a
// write once begun is not cut by the budget).
func (l *Loop) reconcileTask(ctx, pass context.Context, r Reconciler, ev config.Evidence, volatile []string, d store.Detail, since time.Time, window time.Duration) (int, error) {
	var firing []task.Problem
	for _, p := range d.Problems {
		if p.Firing {
			firing = append(firing, p)
		}
	}
	if len(firing) == 0 {
		return 0, nil
	}
	tq, err := ev.TargetQuery(Matchers(d.Task.Identity))
	if err != nil {
		return 0, fmt.Errorf("evidence.target: %w", err)
	}
	seen, err := l.present(pass, tq, time.Time{}, since)
	if err != nil {
		l.Logger.Warn("reconciliation: target evidence query failed; nothing cleared", "task", d.Task.ID, "err", err)
		return 0, err
	}
	if !seen {
		l.Metrics.task("no_evidence")
		l.Logger.Debug("reconciliation: Prometheus does not show the machine for the whole window; nothing cleared",
			"task", d.Task.ID, "query", tq)
		return 0, nil
	}
	series, err := l.query(pass, ReconcileSelector(d.Task, firing, window), time.Time{})
	if err != nil {
		l.Logger.Warn("reconciliation query failed; nothing cleared", "task", d.Task.ID, "err", err)
		return 0, err
	}
	n, err := r.Reconciled(ctx, d.Task.ID, Firing(firing, series, volatile))
	if err != nil {
		return 0, err
	}
	if n > 0 {
		l.Metrics.task("cleared")
	} else {
		l.Metrics.task("still_firing")
	}
	return n, nil
}
