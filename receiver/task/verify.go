package task

import (
	"fmt"
	"sort"
	"strings"
	"time"

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
}

// Verify decides about a verifying task. problems are all of the task's problems; the caller stores
// the ones returned in cleared (confirmed cleared by Prometheus though no resolve arrived).
func Verify(t *Task, problems []Problem, chk Check, w config.Windows, now time.Time) (c Change, cleared []Problem) {
	if t.State != Verifying || now.Sub(t.ReportedAt) < w.Settle {
		return c, nil
	}
	windowOver := now.Sub(t.ReportedAt) >= w.VerifyWindow
	var firing []string
	switch {
	case chk.Asked:
		for _, p := range problems {
			if chk.Firing[p.Key] {
				firing = append(firing, p.Alertname)
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
	if !windowOver {
		return c, nil
	}
	sort.Strings(firing)
	t.FailedRepairs++
	t.Reason = fmt.Sprintf("still firing %s after the %s verification window", strings.Join(dedup(firing), ", "), w.VerifyWindow)
	t.ReportedAt = time.Time{}
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
