package task

import (
	"fmt"
	"time"

	"github.com/minefarm/cgminer-stack/receiver/config"
)

// Grace closes a task auto_resolved when every problem has stayed cleared for the grace window and
// no repair was reported (open, acknowledged or in_progress). It reports whether it did.
func Grace(t *Task, w config.Windows, now time.Time) (Change, bool) {
	var c Change
	switch t.State {
	case Open, Acknowledged, InProgress:
	default:
		return c, false
	}
	if !t.Cleared() || now.Sub(t.ClearedAt) < w.Grace {
		return c, false
	}
	text := "every problem stayed cleared for " + w.Grace.String()
	if t.State != Open {
		text += " and no repair was reported"
	}
	t.set(&c, AutoResolved, System, now, text)
	return c, true
}

// EscalationDue reports whether an open task should be escalated now.
func EscalationDue(t *Task, w config.Windows, now time.Time) bool {
	if t.State != Open || t.Cleared() || w.EscalateAfter <= 0 {
		return false
	}
	if t.LastEscalatedAt.Before(t.OpenedAt) || t.LastEscalatedAt.IsZero() {
		return now.Sub(t.OpenedAt) >= w.EscalateAfter
	}
	return now.Sub(t.LastEscalatedAt) >= w.EscalateRepeat
}

// Escalate records that nobody took the task and hands it to target (the team's lead or the next
// member, see EscalationTarget). Call it only when EscalationDue.
func Escalate(t *Task, target string, now time.Time) Change {
	var c Change
	t.Escalations++
	t.LastEscalatedAt, t.UpdatedAt = now, now
	c.Escalated = true
	waited := now.Sub(t.OpenedAt).Round(time.Second)
	text := fmt.Sprintf("not acknowledged for %s; escalation %d", waited, t.Escalations)
	prev := t.Assignee
	if target != "" && target != prev {
		t.Assignee = target
		text += fmt.Sprintf("; reassigned to %s", target)
		if prev != "" {
			text += " (was " + prev + ")"
		}
	}
	c.event(t, now, System, KindEscalated, t.State, t.State, text)
	msg := fmt.Sprintf("ESCALATED task #%d on %s (%s): nobody acknowledged it for %s", t.ID, t.Machine, t.Title, waited)
	if t.Assignee != "" {
		c.Notify = append(c.Notify, Notice{To: t.Assignee, Text: msg})
	} else {
		c.Notify = append(c.Notify, Notice{Text: msg})
	}
	return c
}

// EscalationTarget: the team's lead unless the lead already has it, else the member after the
// current assignee.
func EscalationTarget(team *config.Team, current string) string {
	if team == nil {
		return current
	}
	if team.Lead != "" && current != team.Lead {
		return team.Lead
	}
	if len(team.Members) == 0 {
		return current
	}
	for i, m := range team.Members {
		if m == current {
			return team.Members[(i+1)%len(team.Members)]
		}
	}
	return team.Members[0]
}

// Pick chooses the assignee of a new task in a team. loads holds each member's open tasks; last is
// who got the team's previous task (round robin).
func Pick(team *config.Team, mode string, loads map[string]int, last string) string {
	if team == nil {
		return ""
	}
	members := team.Members
	if len(members) == 0 {
		return team.Lead
	}
	if mode == config.RoundRobin {
		for i, m := range members {
			if m == last {
				return members[(i+1)%len(members)]
			}
		}
		return members[0]
	}
	best := members[0]
	for _, m := range members[1:] {
		if loads[m] < loads[best] {
			best = m
		}
	}
	return best
}
