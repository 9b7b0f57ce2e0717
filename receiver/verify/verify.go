// Package verify confirms reported repairs against the monitoring: once a task's settle time has
// passed it asks Prometheus (HTTP API /api/v1/query) which of the task's alerts still fire in the
// ALERTS series, and hands the answer to the task rules.
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
	"strings"
	"time"

	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/task"
)

// Querier returns the label sets of the series an instant query selects.
type Querier interface {
	Query(ctx context.Context, q string) ([]map[string]string, error)
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
func (p *Prometheus) Query(ctx context.Context, q string) ([]map[string]string, error) {
	c := p.Client
	if c == nil {
		c = &http.Client{Timeout: 30 * time.Second}
	}
	u := strings.TrimRight(p.URL, "/") + "/api/v1/query"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(url.Values{"query": {q}}.Encode()))
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
	keys := make([]string, 0, len(t.Identity))
	for k := range t.Identity {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	m := []string{`alertstate="firing"`}
	for _, k := range keys {
		m = append(m, fmt.Sprintf("%s=%s", k, quote(t.Identity[k])))
	}
	m = append(m, fmt.Sprintf("alertname=~%s", quote(strings.Join(alts, "|"))))
	return "ALERTS{" + strings.Join(m, ",") + "}"
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

// Loop verifies the due tasks.
type Loop struct {
	Svc      Service
	Querier  Querier // nil: no Prometheus, resolved notifications alone decide
	Volatile func() []string
	Logger   *slog.Logger
}

// Once checks every due task and returns how many it looked at.
func (l *Loop) Once(ctx context.Context) (int, error) {
	due, err := l.Svc.Verifying(ctx)
	if err != nil {
		return 0, fmt.Errorf("list verifying tasks: %w", err)
	}
	var errs []error
	for _, d := range due {
		chk := task.Check{}
		if l.Querier != nil {
			qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			series, err := l.Querier.Query(qctx, Selector(d.Task, d.Problems))
			cancel()
			if err != nil {
				l.Logger.Warn("verification query failed", "task", d.Task.ID, "err", err)
				chk.Err = err
			} else {
				var vol []string
				if l.Volatile != nil {
					vol = l.Volatile()
				}
				chk.Asked, chk.Firing = true, Firing(d.Problems, series, vol)
			}
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
	Unresolved(ctx context.Context, after time.Duration) ([]store.Detail, error)
	Reconciled(ctx context.Context, id int64, still map[string]bool) (int, error)
}

// ReconcileSelector asks for the task's alerts in any state (pending counts: the alert is back)
// at any time in the last 10 minutes, so one missed rule evaluation does not clear a problem.
func ReconcileSelector(t task.Task, problems []task.Problem) string {
	sel := strings.Replace(Selector(t, problems), `alertstate="firing",`, "", 1)
	return "last_over_time(" + sel + "[10m])"
}

// Reconcile clears the problems of quiet tasks that Prometheus no longer shows: the resolved
// notification of a silenced or inhibited alert never comes. Without Prometheus it does nothing.
func (l *Loop) Reconcile(ctx context.Context, r Reconciler, after time.Duration) (int, error) {
	if l.Querier == nil || after <= 0 {
		return 0, nil
	}
	due, err := r.Unresolved(ctx, after)
	if err != nil {
		return 0, fmt.Errorf("list unresolved tasks: %w", err)
	}
	var vol []string
	if l.Volatile != nil {
		vol = l.Volatile()
	}
	cleared := 0
	var errs []error
	for _, d := range due {
		var firing []task.Problem
		for _, p := range d.Problems {
			if p.Firing {
				firing = append(firing, p)
			}
		}
		qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		series, err := l.Querier.Query(qctx, ReconcileSelector(d.Task, firing))
		cancel()
		if err != nil {
			l.Logger.Warn("reconciliation query failed; nothing cleared", "task", d.Task.ID, "err", err)
			continue
		}
		n, err := r.Reconciled(ctx, d.Task.ID, Firing(firing, series, vol))
		if err != nil {
			errs = append(errs, fmt.Errorf("task %d: %w", d.Task.ID, err))
			continue
		}
		cleared += n
	}
	return cleared, errors.Join(errs...)
}
