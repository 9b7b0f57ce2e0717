package task

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/minefarm/cgminer-stack/receiver/config"
)

// Why a task climbs the ladder (metric label values).
const (
	// EscalateUnacknowledged: open, and nobody acknowledged it within the step's ack timeout.
	EscalateUnacknowledged = "unacknowledged"
	// EscalateNoProgress: acknowledged or in progress, and nothing happened on it within the
	// severity's progress timeout (then each step's wait).
	EscalateNoProgress = "no_progress"
	// EscalateUndeliverable: every delivery of the step's latest message was given up.
	EscalateUndeliverable = "undeliverable"
)

// progress puts the task back on the ladder's first step: someone is on it, or it has just been
// handed (back) to someone.
func (t *Task) progress(now time.Time) {
	t.LadderStep, t.StepAt, t.StepFailed = 0, now, false
}

// Name is how notifications name the task's machine: its address (the instance without the
// port), "site X" for a fleet task, the identity selector only when neither is known.
func (t Task) Name() string {
	if t.Fleet && t.Identity["site"] != "" {
		return "site " + t.Identity["site"]
	}
	if ip := IP(t.Identity); ip != "" {
		return ip
	}
	return t.Machine
}

// escalates reports whether the task's state is one the ladder watches: open, acknowledged or
// in progress with a problem still firing (verification has its own clock; a task whose problems
// all cleared waits for its report or its grace window).
func escalates(t *Task) bool {
	switch t.State {
	case Open, Acknowledged, InProgress:
		return !t.Cleared()
	}
	return false
}

// stepStart is when the task's current step began (tasks stored before the ladder existed have
// no StepAt: their last event of the kind stands in).
func stepStart(t *Task) time.Time {
	if !t.StepAt.IsZero() {
		return t.StepAt
	}
	at := t.OpenedAt
	for _, v := range []time.Time{t.AckedAt, t.StartedAt, t.LastEscalatedAt} {
		if v.After(at) {
			at = v
		}
	}
	return at
}

// NextEscalation returns when the task climbs the ladder next, or zero for never: it is not
// watched (closed, verifying, every problem cleared), its severity has no timeout, or it is on
// the last step and that does not repeat. A step whose deliveries were all given up is due at
// once (unless it is the last: then it waits for its repeat).
func NextEscalation(t *Task, e *config.Escalation) time.Time {
	if e == nil || len(e.Ladder) == 0 || !escalates(t) {
		return time.Time{}
	}
	tm := e.Timeouts(t.Severity)
	last := len(e.Ladder) - 1
	start := stepStart(t)
	var wait time.Duration
	switch {
	case t.StepFailed && t.LadderStep < last:
		return start
	case t.LadderStep == 0 && t.State == Open:
		wait = tm.Ack
	case t.LadderStep == 0:
		wait = tm.Progress
	case t.LadderStep < last:
		wait = tm.Wait()
	default:
		wait = tm.RepeatEvery()
	}
	if wait <= 0 {
		return time.Time{}
	}
	return start.Add(wait)
}

// EscalationDue returns why the task should climb the ladder now; "" when it should not.
func EscalationDue(t *Task, e *config.Escalation, now time.Time) string {
	at := NextEscalation(t, e)
	if at.IsZero() || now.Before(at) {
		return ""
	}
	last := len(e.Ladder) - 1
	switch {
	case t.StepFailed && t.LadderStep < last:
		return EscalateUndeliverable
	case t.State == Open:
		return EscalateUnacknowledged
	}
	return EscalateNoProgress
}

// Recipients resolves a step's recipients for the task, in order, without repeats: assignee (the
// task's assignee; nobody when it has none), lead (EscalationTarget: the lead, or the next member
// when the lead has the task already), on_call (the on-call list), or a person's name.
func Recipients(s config.Step, t *Task, team *config.Team, onCall []string) []string {
	var out []string
	add := func(names ...string) {
		for _, n := range names {
			if n != "" && !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	for _, r := range s.To {
		switch r {
		case config.ToAssignee:
			add(t.Assignee)
		case config.ToLead:
			if team != nil {
				add(EscalationTarget(team, t.Assignee))
			}
		case config.ToOnCall:
			add(onCall...)
		default:
			add(r)
		}
	}
	return out
}

// Escalate moves the task to its next step (the last one repeats) and notifies that step's
// recipients, over the step's channels; an open task on a step with assign goes to the step's
// first recipient. Call it when EscalationDue gave a reason.
func Escalate(t *Task, e *config.Escalation, team *config.Team, reason string, now time.Time) Change {
	var c Change
	last := len(e.Ladder) - 1
	next := min(t.LadderStep+1, last)
	step := e.Ladder[next]
	who := Recipients(step, t, team, e.OnCall)

	var why string
	switch reason {
	case EscalateUnacknowledged:
		why = fmt.Sprintf("nobody acknowledged it for %s", now.Sub(t.OpenedAt).Round(time.Second))
	case EscalateNoProgress:
		by := ""
		if t.Assignee != "" {
			by = " with " + t.Assignee
		}
		why = fmt.Sprintf("%s%s, no progress for %s", strings.ReplaceAll(string(t.State), "_", " "), by, now.Sub(stepStart(t)).Round(time.Second))
	default:
		why = fmt.Sprintf("step %d's notification could not be delivered", t.LadderStep+1)
	}

	t.Escalations++
	t.LastEscalatedAt, t.UpdatedAt = now, now
	t.LadderStep, t.StepAt, t.StepFailed = next, now, false
	c.Escalated, c.EscalationStep, c.EscalationReason = true, next, reason

	text := fmt.Sprintf("%s; escalation %d, step %d of %d", why, t.Escalations, next+1, last+1)
	if len(who) > 0 {
		text += " (" + strings.Join(who, ", ") + ")"
	}
	if step.Assign && t.State == Open && len(who) > 0 && who[0] != t.Assignee {
		prev := t.Assignee
		t.Assignee = who[0]
		text += "; reassigned to " + who[0]
		if prev != "" {
			text += " (was " + prev + ")"
		}
	}
	c.event(t, now, System, KindEscalated, t.State, t.State, text)

	msg := fmt.Sprintf("ESCALATED task #%d on %s (%s): %s", t.ID, t.Name(), t.Title, why)
	for _, r := range who {
		c.Notify = append(c.Notify, Notice{To: r, Text: msg, Step: next})
	}
	if len(step.Emails) > 0 {
		c.Notify = append(c.Notify, Notice{Text: msg, Step: next, Emails: slices.Clone(step.Emails)})
	}
	if len(who) == 0 && len(step.Emails) == 0 {
		// Nobody to name (no assignee, no team): the crew's group chat, if any, or undeliverable.
		c.Notify = append(c.Notify, Notice{Text: msg, Step: next})
	}
	return c
}

// Undeliverable records that a delivery of the task's notification for a ladder step was given
// up. batchFailed says it was the last delivery of the step's latest message still on its way:
// when the task is still on that step, nobody was reached there, and the task climbs to the next
// step at once (NextEscalation).
func Undeliverable(t *Task, step int, batchFailed bool, what string, now time.Time) Change {
	var c Change
	text := fmt.Sprintf("notification not delivered (step %d): %s", step+1, what)
	if batchFailed && t.LadderStep == step && escalates(t) {
		t.StepFailed = true
		text += "; nobody was reached on this step"
	}
	c.event(t, now, System, KindNotification, t.State, t.State, text)
	return c
}
