package task

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/minefarm/cgminer-stack/receiver/config"
)

func ladder() *config.Escalation {
	return &config.Escalation{
		Severities: map[string]config.Timeouts{
			"critical": {Ack: 5 * time.Minute, Progress: time.Hour},
			"warning":  {Ack: 30 * time.Minute, Progress: 4 * time.Hour, Repeat: 2 * time.Hour},
			"info":     {},
			"default":  {Ack: 10 * time.Minute},
		},
		OnCall: []string{"olga", "carol"},
		Ladder: []config.Step{
			{To: []string{config.ToAssignee}, Channels: []string{config.ChannelTelegram}},
			{To: []string{config.ToLead}, Channels: []string{config.ChannelEmail}, Assign: true},
			{To: []string{config.ToOnCall}, Channels: []string{config.ChannelWebhook}, Emails: []string{"oncall@farm.example"}},
		},
	}
}

var team = &config.Team{Name: "a", Members: []string{"alice", "bob"}, Lead: "carol"}

func TestNextEscalation(t *testing.T) {
	e := ladder()
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	for _, tc := range []struct {
		name string
		tk   Task
		next time.Duration // from t0; -1: never
		why  string        // at next
	}{
		{"open critical: ack timeout", Task{State: Open, Severity: "critical", StepAt: t0, OpenedAt: t0}, 5 * time.Minute, EscalateUnacknowledged},
		{"open warning", Task{State: Open, Severity: "warning", StepAt: t0}, 30 * time.Minute, EscalateUnacknowledged},
		{"open info: never", Task{State: Open, Severity: "info", StepAt: t0}, -1, ""},
		{"unknown severity: default", Task{State: Open, Severity: "page", StepAt: t0}, 10 * time.Minute, EscalateUnacknowledged},
		{"acknowledged: progress timeout", Task{State: Acknowledged, Severity: "critical", StepAt: t0}, time.Hour, EscalateNoProgress},
		{"in progress, last note later", Task{State: InProgress, Severity: "critical", StepAt: at(20 * time.Minute)}, 80 * time.Minute, EscalateNoProgress},
		{"acknowledged, no progress timeout (default)", Task{State: Acknowledged, Severity: "page", StepAt: t0}, -1, ""},
		{"step 2, open: ack timeout again", Task{State: Open, Severity: "critical", LadderStep: 1, StepAt: at(5 * time.Minute)}, 10 * time.Minute, EscalateUnacknowledged},
		{"step 2, in progress: the wait is the ack timeout", Task{State: InProgress, Severity: "critical", LadderStep: 1, StepAt: at(time.Hour)}, 65 * time.Minute, EscalateNoProgress},
		{"last step repeats", Task{State: Open, Severity: "warning", LadderStep: 2, StepAt: t0}, 2 * time.Hour, EscalateUnacknowledged},
		{"last step repeats at the wait", Task{State: Open, Severity: "critical", LadderStep: 2, StepAt: t0}, 5 * time.Minute, EscalateUnacknowledged},
		{"undeliverable: at once", Task{State: Open, Severity: "critical", StepAt: at(time.Minute), StepFailed: true}, time.Minute, EscalateUndeliverable},
		{"undeliverable in progress", Task{State: InProgress, Severity: "critical", LadderStep: 1, StepAt: at(time.Minute), StepFailed: true}, time.Minute, EscalateUndeliverable},
		{"undeliverable info escalates too", Task{State: Open, Severity: "info", StepAt: t0, StepFailed: true}, 0, EscalateUndeliverable},
		{"undeliverable last step: its repeat", Task{State: Open, Severity: "critical", LadderStep: 2, StepAt: t0, StepFailed: true}, 5 * time.Minute, EscalateUnacknowledged},
		{"verifying: never", Task{State: Verifying, Severity: "critical", StepAt: t0}, -1, ""},
		{"done: never", Task{State: Done, Severity: "critical", StepAt: t0}, -1, ""},
		{"every problem cleared: never", Task{State: Open, Severity: "critical", StepAt: t0, ClearedAt: at(time.Minute)}, -1, ""},
		{"stored before the ladder: opened_at", Task{State: Open, Severity: "critical", OpenedAt: t0}, 5 * time.Minute, EscalateUnacknowledged},
		{"stored before the ladder: last escalation", Task{State: Open, Severity: "critical", OpenedAt: t0, LastEscalatedAt: at(time.Hour), LadderStep: 1}, 65 * time.Minute, EscalateUnacknowledged},
		{"stored before the ladder: started", Task{State: InProgress, Severity: "critical", OpenedAt: t0, AckedAt: at(time.Minute), StartedAt: at(2 * time.Minute)}, 62 * time.Minute, EscalateNoProgress},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next := NextEscalation(&tc.tk, e)
			if tc.next < 0 {
				if !next.IsZero() {
					t.Fatalf("next %s, want never", next.Sub(t0))
				}
				if why := EscalationDue(&tc.tk, e, at(1000*time.Hour)); why != "" {
					t.Fatalf("due (%s) though never", why)
				}
				return
			}
			if !next.Equal(at(tc.next)) {
				t.Fatalf("next %s, want %s", next.Sub(t0), tc.next)
			}
			if why := EscalationDue(&tc.tk, e, at(tc.next-time.Second)); why != "" && tc.next > 0 {
				t.Fatalf("due a second early (%s)", why)
			}
			if why := EscalationDue(&tc.tk, e, at(tc.next)); why != tc.why {
				t.Fatalf("reason %q, want %q", why, tc.why)
			}
		})
	}
	if !NextEscalation(&Task{State: Open, Severity: "critical"}, nil).IsZero() {
		t.Fatal("no policy escalates")
	}
}

func TestRecipients(t *testing.T) {
	e := ladder()
	for _, tc := range []struct {
		to       []string
		assignee string
		team     *config.Team
		want     string
	}{
		{[]string{"assignee"}, "alice", team, "[alice]"},
		{[]string{"assignee"}, "", team, "[]"},
		{[]string{"lead"}, "alice", team, "[carol]"},
		{[]string{"lead"}, "carol", team, "[alice]"}, // the lead has it: the next member
		{[]string{"lead"}, "alice", nil, "[]"},
		{[]string{"on_call"}, "alice", team, "[olga carol]"},
		{[]string{"lead", "on_call", "bob"}, "alice", team, "[carol olga bob]"},
		{[]string{"assignee", "lead"}, "carol", &config.Team{Lead: "carol"}, "[carol]"},
	} {
		got := Recipients(config.Step{To: tc.to}, &Task{Assignee: tc.assignee}, tc.team, e.OnCall)
		if fmt.Sprint(got) != tc.want {
			t.Errorf("Recipients(%v, assignee %q) = %v, want %s", tc.to, tc.assignee, got, tc.want)
		}
	}
}

func TestEscalationLadder(t *testing.T) {
	e := ladder()
	tk := &Task{ID: 9, Machine: "10.1.0.7", Title: "fan 1 stopped", State: Open, Severity: "critical", CreatedAt: t0, OpenedAt: t0, StepAt: t0}
	c := Assigned(tk, "a", "alice", t0)
	if len(c.Notify) != 1 || c.Notify[0].To != "alice" || c.Notify[0].Step != 0 {
		t.Fatalf("assignment notice %+v", c.Notify)
	}
	now := t0.Add(5 * time.Minute)
	why := EscalationDue(tk, e, now)
	c = Escalate(tk, e, team, why, now)
	if tk.LadderStep != 1 || !tk.StepAt.Equal(now) || tk.Assignee != "carol" || tk.Escalations != 1 || !c.Escalated || c.EscalationStep != 1 ||
		c.EscalationReason != EscalateUnacknowledged {
		t.Fatalf("step 2: %+v %+v", tk, c)
	}
	if len(c.Notify) != 1 || c.Notify[0].To != "carol" || c.Notify[0].Step != 1 ||
		!strings.Contains(c.Notify[0].Text, "ESCALATED task #9 on 10.1.0.7 (fan 1 stopped): nobody acknowledged it for 5m0s") {
		t.Fatalf("step 2 notices %+v", c.Notify)
	}
	if ev := c.Events[0].Text; !strings.Contains(ev, "step 2 of 3 (carol); reassigned to carol (was alice)") {
		t.Fatalf("history %q", ev)
	}
	now = now.Add(5 * time.Minute)
	c = Escalate(tk, e, team, EscalationDue(tk, e, now), now)
	// The lead has it, so "lead" would be the next member; the step names on_call, who also get
	// the distribution list. The task is not handed on by a step without assign.
	var to []string
	for _, n := range c.Notify {
		to = append(to, fmt.Sprintf("%s%v@%d", n.To, n.Emails, n.Step))
	}
	if fmt.Sprint(to) != "[olga[]@2 carol[]@2 [oncall@farm.example]@2]" || tk.Assignee != "carol" || tk.LadderStep != 2 {
		t.Fatalf("step 3: %v, assignee %s", to, tk.Assignee)
	}
	// The last step repeats, at its repeat interval.
	if why := EscalationDue(tk, e, now.Add(4*time.Minute)); why != "" {
		t.Fatalf("repeated early: %s", why)
	}
	now = now.Add(5 * time.Minute)
	Escalate(tk, e, team, EscalationDue(tk, e, now), now)
	if tk.LadderStep != 2 || tk.Escalations != 3 {
		t.Fatalf("repeat: %+v", tk)
	}
	// Acknowledged: back on the first step, with the progress timeout.
	if _, err := Ack(tk, "carol", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if tk.LadderStep != 0 || !NextEscalation(tk, e).Equal(now.Add(time.Minute+time.Hour)) {
		t.Fatalf("after ack: step %d next %s", tk.LadderStep, NextEscalation(tk, e))
	}
	// Forgotten: no progress → the lead is told, but an acknowledged task is not taken away.
	now = now.Add(time.Minute + time.Hour)
	c = Escalate(tk, e, team, EscalationDue(tk, e, now), now)
	if c.EscalationReason != EscalateNoProgress || tk.Assignee != "carol" || c.Notify[0].To != "alice" ||
		!strings.Contains(c.Notify[0].Text, "acknowledged with carol, no progress for 1h0m0s") {
		t.Fatalf("no progress: %+v %+v", c, tk)
	}
	// A note is progress.
	if _, err := Note(tk, "carol", "waiting for a fan", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if tk.LadderStep != 0 || !tk.StepAt.Equal(now.Add(time.Minute)) {
		t.Fatalf("note: step %d at %s", tk.LadderStep, tk.StepAt)
	}
}

func TestEscalationWithNobodyToName(t *testing.T) {
	e := ladder()
	tk := &Task{ID: 3, State: Open, Severity: "critical", OpenedAt: t0, StepAt: t0}
	c := Escalate(tk, e, nil, EscalateUndeliverable, t0)
	if len(c.Notify) != 1 || c.Notify[0].To != "" || c.Notify[0].Step != 1 || !strings.Contains(c.Notify[0].Text, "step 1's notification could not be delivered") {
		t.Fatalf("no team: %+v", c.Notify)
	}
	if tk.Assignee != "" {
		t.Fatalf("assigned to %q", tk.Assignee)
	}
}

// The ladder windows.escalate_after/escalate_repeat stand for behaves as escalation did before:
// the lead takes the open task over, and each repeat hands it on (lead → first member).
func TestLegacyLadder(t *testing.T) {
	cfg := config.Default()
	cfg.Windows.EscalateAfter, cfg.Windows.EscalateRepeat = 30*time.Minute, 20*time.Minute
	e := cfg.Policy()
	tk := fresh(Open)
	tk.StepAt = t0
	if EscalationDue(tk, e, t0.Add(29*time.Minute)) != "" || EscalationDue(tk, e, t0.Add(30*time.Minute)) == "" {
		t.Fatal("not at escalate_after")
	}
	c := Escalate(tk, e, team, EscalateUnacknowledged, t0.Add(30*time.Minute))
	if tk.Assignee != "carol" || len(c.Notify) != 1 || c.Notify[0].To != "carol" {
		t.Fatalf("first escalation: %q %+v", tk.Assignee, c.Notify)
	}
	if EscalationDue(tk, e, t0.Add(49*time.Minute)) != "" || EscalationDue(tk, e, t0.Add(50*time.Minute)) == "" {
		t.Fatal("not repeated at escalate_repeat")
	}
	Escalate(tk, e, team, EscalateUnacknowledged, t0.Add(50*time.Minute))
	if tk.Assignee != "alice" || tk.Escalations != 2 {
		t.Fatalf("repeat from the lead goes to the next member: %q", tk.Assignee)
	}
	if _, err := Ack(tk, "alice", t0.Add(51*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if !NextEscalation(tk, e).IsZero() {
		t.Fatal("acknowledged task escalates without a progress timeout")
	}
	cfg.Windows.EscalateAfter = 0
	if !NextEscalation(fresh(Open), cfg.Policy()).IsZero() {
		t.Fatal("escalate_after 0 escalates")
	}
}

func TestNoteIsProgressOnlyOnceAcknowledged(t *testing.T) {
	e := ladder()
	tk := &Task{State: Open, Severity: "critical", Assignee: "alice", OpenedAt: t0, StepAt: t0}
	if _, err := Note(tk, "bob", "looking", t0.Add(4*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if !NextEscalation(tk, e).Equal(t0.Add(5 * time.Minute)) {
		t.Fatalf("a note put off the acknowledgement timeout: %s", NextEscalation(tk, e))
	}
	tk.State = InProgress
	Note(tk, "alice", "fan on order", t0.Add(10*time.Minute))
	Note(tk, System, "automatic", t0.Add(20*time.Minute))
	if !NextEscalation(tk, e).Equal(t0.Add(70 * time.Minute)) {
		t.Fatalf("the crew's note (and only theirs) restarts the progress timeout: %s", NextEscalation(tk, e))
	}
}
