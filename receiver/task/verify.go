package task

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/minefarm/cgminer-stack/receiver/config"
)

// Check is what the monitoring said about a verifying task.
type Check struct {
	// Asked is true when Prometheus answered; Firing then holds the keys of the task's problems
	// it still shows firing.
	Asked  bool
	Firing map[string]bool
	// Seen is true when Prometheus also showed positive evidence that it evaluates the alerting
	// rules and sees the task's machine now. An empty ALERTS answer without it is no evidence that
	// anything cleared (a new Prometheus, the wrong one, lost data, a machine it does not scrape).
	Seen bool
	// Err is set when Prometheus was configured but could not be asked.
	Err error
	// Evidence names what was missing when Asked and not Seen (for the task's history).
	Evidence string
	// Holds holds the keys of firing problems whose condition (the alert's verify_expr
	// annotation, evaluated instantly without `for:`) still selected the machine when asked, at
	// least VerifyAfter after the report: the repair did not work, and the task goes back now
	// instead of at the end of the verification window.
	Holds map[string]bool
}

// Annotations a rule gives its alert for the fast verification (rules/cgminer.alerts.yml).
const (
	// AnnotationVerifyExpr is the alert's condition as an instant PromQL query, with the alert's
	// label values as ${label} placeholders (verify.RenderExpr quotes them).
	AnnotationVerifyExpr = "verify_expr"
	// AnnotationVerifyAfter is how long after a report the condition can tell (an alert computed
	// over a 15-minute range needs 15 minutes of data from after the repair).
	AnnotationVerifyAfter = "verify_after"
)

// MaxVerifyAfter caps verify_after: a broken annotation cannot keep a task verifying for days.
const MaxVerifyAfter = 12 * time.Hour

// VerifyAfter is how long after the report a problem's condition is first asked: settle, or the
// alert's verify_after when longer (at most MaxVerifyAfter). An unreadable verify_after counts as
// absent.
func VerifyAfter(p Problem, w config.Windows) time.Duration {
	after := w.Settle
	if v := strings.TrimSpace(p.Annotations[AnnotationVerifyAfter]); v != "" {
		if d, err := model.ParseDuration(v); err == nil && time.Duration(d) > after {
			after = min(time.Duration(d), MaxVerifyAfter)
		}
	}
	return after
}

// VerifyDeadline is how long after the report a problem that still fires sends the task back
// though its condition was never seen holding: the verification window, or VerifyAfter plus
// settle for an alert computed over a longer range (its alert needs that long to clear).
func VerifyDeadline(p Problem, w config.Windows) time.Duration {
	d := w.VerifyWindow
	if a := VerifyAfter(p, w); a > w.Settle {
		d = max(d, a+w.Settle)
	}
	return d
}

// VerifyTimes says when a verifying task is first checked and when, at the latest, it is decided
// (for the board's "verification: … left"). Zero times for a task that is not verifying.
func VerifyTimes(t Task, problems []Problem, w config.Windows) (first, last time.Time) {
	if t.State != Verifying || t.ReportedAt.IsZero() {
		return
	}
	first, last = t.ReportedAt.Add(w.Settle), t.ReportedAt.Add(w.VerifyWindow)
	for _, p := range problems {
		if !p.Firing {
			continue
		}
		if d := t.ReportedAt.Add(VerifyDeadline(p, w)); d.After(last) {
			last = d
		}
	}
	return first, last
}

// Verify decides about a verifying task. problems are all of the task's problems; the caller stores
// the ones returned in cleared (confirmed cleared by Prometheus though no resolve arrived).
func Verify(t *Task, problems []Problem, chk Check, w config.Windows, now time.Time) (c Change, cleared []Problem) {
	if t.State != Verifying || now.Sub(t.ReportedAt) < w.Settle {
		return c, nil
	}
	elapsed := now.Sub(t.ReportedAt)
	windowOver := elapsed >= w.VerifyWindow
	var firing, holding []string
	overdue := false // a still-firing problem is past its deadline
	switch {
	case chk.Asked:
		for _, p := range problems {
			if !chk.Firing[p.Key] {
				continue
			}
			firing = append(firing, p.Alertname)
			if elapsed >= VerifyDeadline(p, w) {
				overdue = true
			}
			if chk.Holds[p.Key] && elapsed >= VerifyAfter(p, w) {
				holding = append(holding, Phrase(p))
			}
		}
		if len(firing) == 0 && !chk.Seen {
			if !windowOver {
				c.Verification = "no_evidence"
				return c, nil
			}
			return unconfirmed(t, chk, w, now), nil
		}
	case chk.Err != nil && !windowOver:
		c.Verification = "error"
		return c, nil
	default:
		// No Prometheus (or it failed for the whole window): the resolved notifications decide.
		for _, p := range problems {
			if p.Firing {
				firing = append(firing, p.Alertname)
			}
		}
		overdue = windowOver
	}
	if len(firing) == 0 {
		how := "Prometheus shows none of its alerts firing"
		if !chk.Asked {
			how = "every problem resolved by Alertmanager"
			if chk.Err != nil {
				how += " (Prometheus unreachable: " + chk.Err.Error() + ")"
			}
		}
		for _, p := range problems {
			if p.Firing {
				p.Firing, p.EndsAt, p.ResolvedAt = false, now, now
				cleared = append(cleared, p)
			}
		}
		if t.ClearedAt.IsZero() {
			t.ClearedAt = now
		}
		c.Verification = "confirmed"
		c.RepairTime = now.Sub(t.CreatedAt)
		c.event(t, now, System, KindVerification, t.State, t.State, "repair confirmed: "+how)
		t.set(&c, Done, System, now, "done")
		return c, cleared
	}
	switch {
	case len(holding) > 0:
		// Positive evidence that the repair did not work: the alert still fires and its condition
		// still holds now, after settle (and after the alert's verify_after).
		sort.Strings(holding)
		t.Reason = fmt.Sprintf("still broken %s after the report: %s (the alert still fires and its condition still holds)",
			elapsed.Round(time.Second), strings.Join(dedup(holding), ", "))
	case overdue:
		sort.Strings(firing)
		t.Reason = fmt.Sprintf("still firing %s after the %s verification window", strings.Join(dedup(firing), ", "), w.VerifyWindow)
		if !windowOver {
			t.Reason = fmt.Sprintf("still firing %s %s after the report", strings.Join(dedup(firing), ", "), elapsed.Round(time.Second))
		}
	default:
		return c, nil
	}
	t.FailedRepairs++
	t.ReportedAt = time.Time{}
	t.progress(now) // back with the worker: the ladder starts again at their step
	c.Verification = "failed"
	c.Reopened = ReasonVerificationFailed
	c.event(t, now, System, KindVerification, t.State, t.State, "repair not confirmed: "+t.Reason)
	t.set(&c, Acknowledged, System, now, fmt.Sprintf("reopened: %s; failed repair %d", t.Reason, t.FailedRepairs))
	if t.Assignee != "" {
		c.Notify = append(c.Notify, Notice{To: t.Assignee, Text: fmt.Sprintf("Task #%d on %s is NOT fixed: %s. Please look again.", t.ID, t.Machine, t.Reason)})
	}
	return c, nil
}

// unconfirmed hands a verifying task back to its worker when the verification window ended
// without Prometheus ever showing that it sees the machine: the repair may be fine, but nothing
// confirms it. It is not counted as a failed repair.
func unconfirmed(t *Task, chk Check, w config.Windows, now time.Time) Change {
	var c Change
	what := chk.Evidence
	if what == "" {
		what = "no evidence that it evaluates the rules for it"
	}
	t.Reason = fmt.Sprintf("the monitoring does not see %s (%s) after the %s verification window: the repair cannot be confirmed",
		t.Machine, what, w.VerifyWindow)
	t.ReportedAt = time.Time{}
	t.progress(now)
	c.Verification = "unconfirmed"
	c.event(t, now, System, KindVerification, t.State, t.State, "repair not confirmed: "+t.Reason)
	t.set(&c, Acknowledged, System, now, "back to the worker: "+t.Reason)
	if t.Assignee != "" {
		c.Notify = append(c.Notify, Notice{To: t.Assignee, Text: fmt.Sprintf("Task #%d on %s: %s. Check that the machine answers and is monitored, then report it fixed again.", t.ID, t.Machine, t.Reason)})
	}
	return c
}

func dedup(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
