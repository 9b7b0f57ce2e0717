package task

import (
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
