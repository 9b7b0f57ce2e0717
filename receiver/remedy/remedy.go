// Package remedy is opt-in remediation (the cointerra-monitor pattern): when a task's problem
// is one a restart of the mining software can cure (zero hashrate, a device not alive, a dead
// pool) and it is still firing after a configured number of consecutive checks, the receiver
// asks the miner to restart, through the cgminer API's privileged restart command, within its
// own allowlist and limits (once per miner per window, so many per site per hour, so many per
// task), records it in the task's history, and leaves the verdict to verification: a restart
// changes no task state. Dry-run rules record what they would do and send nothing.
//
// It is a component of its own: its config file, its allowlist, its own tiny client for the one
// write command; the exporter stays read-only.
package remedy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/minefarm/cgminer-stack/receiver/repair"
	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/task"
	"github.com/minefarm/cgminer-stack/receiver/verify"
)

// Tasks is what the loop reads from the store.
type Tasks interface {
	ListTasks(ctx context.Context, f store.Filter) ([]task.Task, error)
	Problems(ctx context.Context, taskID int64) ([]task.Problem, error)
}

// Remediator records remediation in a task's history under the limits (repair.Service).
type Remediator interface {
	Remediate(ctx context.Context, id int64, r repair.Remedy) (repair.RemedyOutcome, error)
}

// Querier asks Prometheus an instant query (verify.Prometheus).
type Querier interface {
	Query(ctx context.Context, q string, at time.Time) ([]map[string]string, error)
}

// Results of the remediations_total metric.
const (
	ResultSent        = store.RemedySent
	ResultDryRun      = store.RemedyDryRun
	ResultRefused     = store.RemedyRefused
	ResultFailed      = store.RemedyFailed
	ResultRateLimited = store.RemedyRateLimited
)

// Metrics count what remediation did.
type Metrics struct {
	// Remediations by result: sent, dry_run, refused, failed, rate_limited.
	Remediations *prometheus.CounterVec
}

// NewMetrics registers repair_receiver_remediations_total.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{Remediations: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "repair_receiver_remediations_total",
		Help: "Remediation decisions recorded in task histories, by result (sent, dry_run, refused, failed, rate_limited).",
	}, []string{"result"})}
	for _, r := range []string{ResultSent, ResultDryRun, ResultRefused, ResultFailed, ResultRateLimited} {
		m.Remediations.WithLabelValues(r)
	}
	reg.MustRegister(m.Remediations)
	return m
}

// Loop checks the tasks every Config.Interval and remediates the ones whose problem persisted.
type Loop struct {
	Config  *Config
	Tasks   Tasks
	Svc     Remediator
	Querier Querier // nil: the store alone says whether a problem still fires
	// Volatile are the receiver's volatile labels (ignored when matching ALERTS series).
	Volatile func() []string
	Logger   *slog.Logger
	Metrics  *Metrics // nil: not counted

	// Dialer dials the miners (nil: a plain net.Dialer). Tests may set its Control.
	Dialer *net.Dialer

	// streaks counts each task's consecutive failed checks (one goroutine calls Once).
	streaks map[int64]int
}

// queryTimeout bounds one question to Prometheus.
const queryTimeout = 30 * time.Second

// Run checks every interval until ctx ends.
func (l *Loop) Run(ctx context.Context) {
	tk := time.NewTicker(l.Config.Interval)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
		if _, err := l.Once(ctx); err != nil && ctx.Err() == nil {
			l.Logger.Error("remediation check", "err", err)
		}
	}
}

// candidate is a task some rule applies to, with its remediable problems that fire in the store.
type candidate struct {
	t        task.Task
	rule     *Rule
	problems []task.Problem
}

// Once runs one check pass and returns how many decisions it recorded.
func (l *Loop) Once(ctx context.Context) (int, error) {
	cfg := l.Config
	if len(cfg.Rules) == 0 {
		return 0, nil
	}
	if l.streaks == nil {
		l.streaks = map[int64]int{}
	}
	ts, err := l.Tasks.ListTasks(ctx, store.Filter{States: cfg.states(), Limit: cfg.MaxTasks})
	if err != nil {
		return 0, fmt.Errorf("list tasks: %w", err)
	}
	seen := make(map[int64]bool, len(ts))
	recorded := 0
	var errs []error
	for _, t := range ts {
		if ctx.Err() != nil {
			break
		}
		seen[t.ID] = true
		c, err := l.candidate(ctx, t)
		if err != nil {
			errs = append(errs, fmt.Errorf("task %d: %w", t.ID, err))
			delete(l.streaks, t.ID)
			continue
		}
		if c == nil {
			delete(l.streaks, t.ID)
			continue
		}
		failing, err := l.stillFiring(ctx, c)
		if err != nil {
			// No check happened: the streak of consecutive failed checks is broken.
			l.Logger.Warn("remediation: cannot ask Prometheus whether the problem still fires", "task", t.ID, "err", err)
			delete(l.streaks, t.ID)
			continue
		}
		if !failing {
			delete(l.streaks, t.ID)
			continue
		}
		l.streaks[t.ID]++
		if l.streaks[t.ID] < c.rule.AfterChecks {
			continue
		}
		out, err := l.remediate(ctx, c)
		if err != nil {
			errs = append(errs, fmt.Errorf("task %d: %w", t.ID, err))
		}
		if out.Recorded {
			recorded++
			delete(l.streaks, t.ID) // after a decision, the next one needs as many failed checks again
			l.Metrics.count(out.Result)
			l.Logger.Info("remediation", "task", t.ID, "machine", t.Machine, "rule", c.rule.Name, "result", out.Result, "text", out.Text)
		}
	}
	for id := range l.streaks {
		if !seen[id] {
			delete(l.streaks, id) // closed, moved out of the rules' states, or past max_tasks
		}
	}
	return recorded, errors.Join(errs...)
}

func (m *Metrics) count(result string) {
	if m != nil && result != store.RemedyPending {
		m.Remediations.WithLabelValues(result).Inc()
	}
}

// candidate finds the rule that applies to a task and the remediable problems the store shows
// firing, or nil.
func (l *Loop) candidate(ctx context.Context, t task.Task) (*candidate, error) {
	if t.Fleet {
		return nil, nil // a whole site's alert: no one machine to restart
	}
	var rules []*Rule
	for i := range l.Config.Rules {
		r := &l.Config.Rules[i]
		if inStates(t.State, r.States) {
			rules = append(rules, r)
		}
	}
	if len(rules) == 0 {
		return nil, nil
	}
	ps, err := l.Tasks.Problems(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	for _, r := range rules {
		var hit []task.Problem
		for _, p := range ps {
			if p.Firing && contains(r.Alerts, p.Alertname) && matches(r.Match, t, p) {
				hit = append(hit, p)
			}
		}
		if len(hit) > 0 {
			return &candidate{t: t, rule: r, problems: hit}, nil
		}
	}
	return nil, nil
}

// matches reports whether every label of the rule's match is on the problem (or the task's
// identity and location) with that value.
func matches(match map[string]string, t task.Task, p task.Problem) bool {
	for k, v := range match {
		got, ok := p.Labels[k]
		if !ok {
			got, ok = t.Identity[k]
		}
		if !ok {
			got, ok = t.Location[k]
		}
		if !ok || got != v {
			return false
		}
	}
	return true
}

func inStates(s task.State, states []task.State) bool {
	for _, x := range states {
		if x == s {
			return true
		}
	}
	return false
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// stillFiring is one check: with a Prometheus, one of the problems must also be in ALERTS as
// firing now; without one, the store's word (firing, no resolve came) is the check.
func (l *Loop) stillFiring(ctx context.Context, c *candidate) (bool, error) {
	if l.Querier == nil {
		return true, nil
	}
	qctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	series, err := l.Querier.Query(qctx, verify.Selector(c.t, c.problems), time.Time{})
	if err != nil {
		return false, err
	}
	var volatile []string
	if l.Volatile != nil {
		volatile = l.Volatile()
	}
	return len(verify.Firing(c.problems, series, volatile)) > 0, nil
}

// remediate decides and, when the limits allow, sends.
func (l *Loop) remediate(ctx context.Context, c *candidate) (repair.RemedyOutcome, error) {
	r := c.rule
	rem := repair.Remedy{Window: r.PerMinerWindow, SitePerHour: r.PerSitePerHour, MaxPerTask: r.MaxPerTask,
		DryRun: r.Mode == ModeDryRun}
	target, why := l.target(c)
	if target.IsValid() {
		rem.Target = target.String()
	}
	switch {
	case why != "":
		rem.Refused = why
	case !l.Config.allowed(target):
		rem.Refused = fmt.Sprintf("%s is not in the remediation allowlist (allowed_targets, allowed_ports); nothing sent", target)
	}
	rem.Send = func(ctx context.Context) (bool, string) {
		d := l.Dialer
		if d == nil {
			d = &net.Dialer{}
		}
		rep, err := sendRestart(ctx, d, target, l.Config.Timeout, l.Config.MaxReplyBytes)
		if err != nil {
			if rep.Text != "" {
				return false, err.Error() + "; reply: " + rep.Text
			}
			return false, err.Error()
		}
		return rep.Accepted, rep.Text
	}
	return l.Svc.Remediate(ctx, c.t.ID, rem)
}

// target is the miner's API endpoint from the task's instance label: an IP literal, with the
// port when it is not 4028. Nothing is resolved: a host name is refused.
func (l *Loop) target(c *candidate) (netip.AddrPort, string) {
	inst := c.t.Identity["instance"]
	if inst == "" && len(c.problems) > 0 {
		inst = c.problems[0].Labels["instance"]
	}
	if inst == "" {
		return netip.AddrPort{}, "the task has no instance label: no miner address to restart"
	}
	var ap netip.AddrPort
	if p, err := netip.ParseAddrPort(inst); err == nil {
		ap = netip.AddrPortFrom(p.Addr().Unmap(), p.Port())
	} else if a, err := netip.ParseAddr(inst); err == nil {
		ap = netip.AddrPortFrom(a.Unmap(), DefaultPort)
	} else {
		return netip.AddrPort{}, "instance " + strconv.Quote(clip(inst, 64)) + " is not an IP address (host names are never resolved); nothing sent"
	}
	if a := ap.Addr(); a.Zone() != "" || a.IsUnspecified() || a.IsMulticast() || ap.Port() == 0 {
		return netip.AddrPort{}, "instance " + strconv.Quote(clip(inst, 64)) + " is not a miner's unicast address; nothing sent"
	}
	return ap, ""
}
