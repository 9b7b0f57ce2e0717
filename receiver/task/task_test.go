package task

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/minefarm/cgminer-stack/receiver/config"
)

var t0 = time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)

func windows() config.Windows {
	return config.Default().Windows
}

func fresh(st State) *Task {
	return &Task{ID: 7, Machine: `instance="10.0.0.1"`, State: st, Assignee: "alice", CreatedAt: t0, OpenedAt: t0, UpdatedAt: t0}
}

func TestTransitions(t *testing.T) {
	type act func(*Task) (Change, error)
	ack := func(tk *Task) (Change, error) { return Ack(tk, "bob", t0.Add(time.Minute)) }
	start := func(tk *Task) (Change, error) { return Start(tk, "alice", t0.Add(time.Minute)) }
	fixed := func(tk *Task) (Change, error) { return ReportFixed(tk, "alice", "replaced fan 2", t0.Add(time.Minute)) }
	fixedEmpty := func(tk *Task) (Change, error) { return ReportFixed(tk, "alice", "  ", t0.Add(time.Minute)) }
	note := func(tk *Task) (Change, error) { return Note(tk, "alice", "ordered a fan", t0.Add(time.Minute)) }
	assign := func(tk *Task) (Change, error) { return Assign(tk, "carol", "bob", t0.Add(time.Minute)) }
	cancel := func(tk *Task) (Change, error) { return Cancel(tk, "carol", "decommissioned", t0.Add(time.Minute)) }
	for _, tc := range []struct {
		name    string
		from    State
		do      act
		to      State
		wantErr error
	}{
		{"ack open", Open, ack, Acknowledged, nil},
		{"ack acknowledged", Acknowledged, ack, "", ErrInvalidTransition},
		{"ack verifying", Verifying, ack, "", ErrInvalidTransition},
		{"start open", Open, start, InProgress, nil},
		{"start acknowledged", Acknowledged, start, InProgress, nil},
		{"start in_progress", InProgress, start, "", ErrInvalidTransition},
		{"start done", Done, start, "", ErrInvalidTransition},
		{"fixed open", Open, fixed, "", ErrInvalidTransition},
		{"fixed acknowledged", Acknowledged, fixed, Verifying, nil},
		{"fixed in_progress", InProgress, fixed, Verifying, nil},
		{"fixed verifying", Verifying, fixed, "", ErrInvalidTransition},
		{"fixed without saying what", InProgress, fixedEmpty, "", ErrInvalidInput},
		{"note open", Open, note, Open, nil},
		{"note done", Done, note, Done, nil},
		{"assign open", Open, assign, Open, nil},
		{"assign cancelled", Cancelled, assign, "", ErrInvalidTransition},
		{"cancel in_progress (still firing)", InProgress, cancel, "", ErrInvalidTransition},
		{"cancel done", Done, cancel, "", ErrInvalidTransition},
		{"cancel auto_resolved", AutoResolved, cancel, "", ErrInvalidTransition},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tk := fresh(tc.from)
			c, err := tc.do(tk)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if tk.State != tc.from {
					t.Fatalf("state changed to %s on a refused transition", tk.State)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tk.State != tc.to {
				t.Fatalf("state = %s, want %s", tk.State, tc.to)
			}
			if len(c.Events) == 0 {
				t.Fatal("no history event recorded")
			}
			for _, e := range c.Events {
				if e.Actor == "" || e.At.IsZero() || e.TaskID != 7 {
					t.Fatalf("event without who/when/task: %+v", e)
				}
			}
		})
	}
}

// A task whose problems still fire cannot be cancelled: its known firing occurrences would never
// make a new task, so the problem would be hidden until it resolved and fired again.
func TestCancelOnlyOnceCleared(t *testing.T) {
	for _, tc := range []struct {
		name    string
		from    State
		cleared bool
		wantErr error
	}{
		{"open, firing", Open, false, ErrInvalidTransition},
		{"acknowledged, firing", Acknowledged, false, ErrInvalidTransition},
		{"in_progress, firing", InProgress, false, ErrInvalidTransition},
		{"verifying, firing", Verifying, false, ErrInvalidTransition},
		{"open, cleared", Open, true, nil},
		{"acknowledged, cleared", Acknowledged, true, nil},
		{"in_progress, cleared", InProgress, true, nil},
		{"verifying, cleared", Verifying, true, nil},
		{"done", Done, true, ErrInvalidTransition},
		{"auto_resolved", AutoResolved, true, ErrInvalidTransition},
		{"cancelled", Cancelled, true, ErrInvalidTransition},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tk := fresh(tc.from)
			if tc.cleared {
				tk.ClearedAt = t0
			}
			c, err := Cancel(tk, "carol", "  ", t0.Add(time.Minute))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if tk.State != tc.from || len(c.Events) != 0 {
					t.Fatalf("refused cancel changed the task: %s, %d events", tk.State, len(c.Events))
				}
				if !tc.cleared && !strings.Contains(err.Error(), "still fire") {
					t.Fatalf("message does not say why: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tk.State != Cancelled || tk.ClosedAt.IsZero() || len(c.Events) != 1 || c.Events[0].Actor != "carol" || c.Events[0].Text != "cancelled" {
				t.Fatalf("task %+v events %+v", tk, c.Events)
			}
		})
	}
}

func TestAckTakesOverAndMeasures(t *testing.T) {
	tk := fresh(Open)
	c, err := Ack(tk, "bob", t0.Add(90*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if tk.Assignee != "bob" {
		t.Fatalf("assignee = %q, want the one who acknowledged", tk.Assignee)
	}
	if c.AckLatency != 90*time.Second {
		t.Fatalf("ack latency = %s", c.AckLatency)
	}
	if !tk.ClosedAt.IsZero() {
		t.Fatal("acknowledged task has a close time")
	}
}

func TestGrace(t *testing.T) {
	w := windows()
	for _, tc := range []struct {
		name    string
		state   State
		cleared time.Duration // before now; <0: not cleared
		want    State
	}{
		{"open cleared long enough", Open, w.Grace, AutoResolved},
		{"open cleared too recently", Open, w.Grace - time.Second, Open},
		{"open still firing", Open, -1, Open},
		{"acknowledged cleared, no report", Acknowledged, w.Grace + time.Minute, AutoResolved},
		{"in_progress cleared, no report", InProgress, w.Grace, AutoResolved},
		{"verifying is for the verification", Verifying, w.Grace * 3, Verifying},
		{"done stays done", Done, w.Grace * 3, Done},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := t0.Add(time.Hour)
			tk := fresh(tc.state)
			if tc.cleared >= 0 {
				tk.ClearedAt = now.Add(-tc.cleared)
			}
			_, changed := Grace(tk, w, now)
			if tk.State != tc.want || changed != (tc.want != tc.state) {
				t.Fatalf("state = %s changed=%v, want %s", tk.State, changed, tc.want)
			}
			if changed && tk.ClosedAt != now {
				t.Fatal("closed_at not set")
			}
		})
	}
}

func TestEscalationTarget(t *testing.T) {
	team := &config.Team{Members: []string{"alice", "bob"}, Lead: "carol"}
	noLead := &config.Team{Members: []string{"alice", "bob"}}
	for _, tc := range []struct {
		team      *config.Team
		cur, want string
	}{
		{team, "alice", "carol"}, {team, "", "carol"}, {team, "carol", "alice"},
		{noLead, "alice", "bob"}, {noLead, "bob", "alice"}, {noLead, "zed", "alice"}, {nil, "zed", "zed"},
	} {
		if got := EscalationTarget(tc.team, tc.cur); got != tc.want {
			t.Errorf("EscalationTarget(%v, %q) = %q, want %q", tc.team, tc.cur, got, tc.want)
		}
	}
}

func TestPick(t *testing.T) {
	team := &config.Team{Members: []string{"alice", "bob", "eve"}, Lead: "carol"}
	for _, tc := range []struct {
		name  string
		mode  string
		loads map[string]int
		last  string
		want  string
	}{
		{"least loaded", config.LeastLoaded, map[string]int{"alice": 3, "bob": 1, "eve": 2}, "", "bob"},
		{"least loaded tie goes to the first", config.LeastLoaded, map[string]int{"alice": 1, "bob": 1, "eve": 1}, "", "alice"},
		{"round robin after bob", config.RoundRobin, nil, "bob", "eve"},
		{"round robin wraps", config.RoundRobin, nil, "eve", "alice"},
		{"round robin first", config.RoundRobin, nil, "", "alice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Pick(team, tc.mode, tc.loads, tc.last); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
	if got := Pick(&config.Team{Lead: "carol"}, config.LeastLoaded, nil, ""); got != "carol" {
		t.Fatalf("team of only a lead: %q", got)
	}
	if got := Pick(nil, config.LeastLoaded, nil, ""); got != "" {
		t.Fatalf("no team: %q", got)
	}
}

func TestVerify(t *testing.T) {
	w := windows() // settle 2m, verify window 15m
	fan := Problem{Key: "k-fan", Alertname: "MinerFanFailure", Firing: true}
	hot := Problem{Key: "k-hot", Alertname: "MinerTemperatureHigh", Firing: false, EndsAt: t0}
	errProm := errors.New("connection refused")
	for _, tc := range []struct {
		name      string
		after     time.Duration
		problems  []Problem
		chk       Check
		want      State
		result    string
		nCleared  int
		wantNotif bool
	}{
		{"before settle nothing happens", time.Minute, []Problem{fan}, Check{Asked: true}, Verifying, "", 0, false},
		{"prometheus clear confirms, closing the still-open problem", 3 * time.Minute, []Problem{fan, hot}, Check{Asked: true, Seen: true, Firing: map[string]bool{}}, Done, "confirmed", 1, false},
		{"an empty answer without evidence decides nothing", 3 * time.Minute, []Problem{fan, hot}, Check{Asked: true, Firing: map[string]bool{}}, Verifying, "no_evidence", 0, false},
		{"no evidence all window long: back to the worker, unconfirmed", 15 * time.Minute, []Problem{hot}, Check{Asked: true, Firing: map[string]bool{}}, Acknowledged, "unconfirmed", 0, true},
		{"firing without evidence still fails at the window's end", 15 * time.Minute, []Problem{fan}, Check{Asked: true, Firing: map[string]bool{"k-fan": true}}, Acknowledged, "failed", 0, true},
		{"still firing inside the window waits", 5 * time.Minute, []Problem{fan}, Check{Asked: true, Firing: map[string]bool{"k-fan": true}}, Verifying, "", 0, false},
		{"still firing after the window reopens", 15 * time.Minute, []Problem{fan, hot}, Check{Asked: true, Firing: map[string]bool{"k-fan": true}}, Acknowledged, "failed", 0, true},
		{"cleared problem firing again in prometheus fails too", 16 * time.Minute, []Problem{hot}, Check{Asked: true, Firing: map[string]bool{"k-hot": true}}, Acknowledged, "failed", 0, true},
		{"no prometheus: resolved notifications confirm", 3 * time.Minute, []Problem{hot}, Check{}, Done, "confirmed", 0, false},
		{"no prometheus: still firing after window fails", 20 * time.Minute, []Problem{fan}, Check{}, Acknowledged, "failed", 0, true},
		{"prometheus error inside window is an error, no decision", 3 * time.Minute, []Problem{hot}, Check{Err: errProm}, Verifying, "error", 0, false},
		{"prometheus error all window long: notifications decide", 15 * time.Minute, []Problem{hot}, Check{Err: errProm}, Done, "confirmed", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tk := fresh(Verifying)
			tk.ReportedAt = t0
			c, cleared := Verify(tk, tc.problems, tc.chk, w, t0.Add(tc.after))
			if tk.State != tc.want || c.Verification != tc.result || len(cleared) != tc.nCleared {
				t.Fatalf("state %s result %q cleared %d; want %s %q %d", tk.State, c.Verification, len(cleared), tc.want, tc.result, tc.nCleared)
			}
			if (len(c.Notify) > 0) != tc.wantNotif {
				t.Fatalf("notices %+v", c.Notify)
			}
			switch {
			case tc.result == "unconfirmed":
				if tk.FailedRepairs != 0 || c.Reopened != "" || !strings.Contains(tk.Reason, "does not see") || tk.Assignee != "alice" || !tk.ReportedAt.IsZero() {
					t.Fatalf("unconfirmed repair: %+v %+v", tk, c)
				}
			case tc.want == Acknowledged:
				if tk.FailedRepairs != 1 || c.Reopened != ReasonVerificationFailed || !strings.Contains(tk.Reason, "still firing") || tk.Assignee != "alice" {
					t.Fatalf("failed repair not recorded: %+v", tk)
				}
			case tc.want == Done:
				if c.RepairTime != tc.after || tk.ClosedAt.IsZero() {
					t.Fatalf("done without repair time / close time: %+v", c)
				}
			}
		})
	}
}

func TestProblemsAndReopen(t *testing.T) {
	p := Problem{Key: "k", Alertname: "MinerFanFailure", Severity: "warning", Annotations: map[string]string{"summary": "fan 2 stopped"}}
	tk, c := New(p, `instance="10.0.0.1"`, false, map[string]string{"instance": "10.0.0.1"}, map[string]string{"site": "site-a"}, t0)
	if tk.State != Open || tk.Site != "site-a" || tk.Title != "fan 2 stopped" || !c.Created {
		t.Fatalf("new task %+v", tk)
	}
	AddProblem(&tk, Problem{Key: "k2", Alertname: "MinerTemperatureCritical", Severity: "critical"}, false, t0)
	if tk.Severity != "critical" || tk.Recurrences != 0 {
		t.Fatalf("joining problem: severity %q recurrences %d", tk.Severity, tk.Recurrences)
	}
	Clear(&tk, p, false, t0.Add(time.Minute))
	if tk.Cleared() {
		t.Fatal("cleared while a problem fires")
	}
	c = Clear(&tk, p, true, t0.Add(2*time.Minute))
	if !tk.Cleared() || len(c.Events) != 2 {
		t.Fatalf("all cleared not recorded: %+v", c.Events)
	}
	AddProblem(&tk, p, true, t0.Add(3*time.Minute))
	if tk.Cleared() || tk.Recurrences != 1 {
		t.Fatalf("problem firing again: cleared %v recurrences %d", tk.Cleared(), tk.Recurrences)
	}
	tk.State, tk.ClosedAt = AutoResolved, t0.Add(time.Hour)
	c = Reopen(&tk, p, t0.Add(2*time.Hour))
	if tk.State != Open || tk.Recurrences != 2 || c.Reopened != ReasonRecurred || !tk.ClosedAt.IsZero() || tk.OpenedAt != t0.Add(2*time.Hour) {
		t.Fatalf("reopen: %+v", tk)
	}
}

func TestParseState(t *testing.T) {
	for _, s := range States {
		if got, err := ParseState(string(s)); err != nil || got != s {
			t.Fatalf("ParseState(%s) = %s, %v", s, got, err)
		}
	}
	if _, err := ParseState("fixed"); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("unknown state accepted: %v", err)
	}
}
