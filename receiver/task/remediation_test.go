package task

import (
	"errors"
	"testing"
	"time"
)

func TestRemediationChangesNoState(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, st := range States {
		t.Run(string(st), func(t *testing.T) {
			tk := Task{ID: 7, State: st, Assignee: "alice", UpdatedAt: now.Add(-time.Hour)}
			before := tk
			c, err := Remediation(&tk, "  remediation: restart sent to 10.0.0.5:4028 (reply: RESTART) ", now)
			if err != nil {
				t.Fatal(err)
			}
			if tk.State != before.State || tk.Assignee != before.Assignee || !tk.ClosedAt.Equal(before.ClosedAt) {
				t.Errorf("task changed: %+v", tk)
			}
			if !tk.UpdatedAt.Equal(now) {
				t.Errorf("updated %v", tk.UpdatedAt)
			}
			if len(c.Events) != 1 || len(c.Notify) != 0 || c.Reopened != "" || c.Verification != "" {
				t.Fatalf("change %+v", c)
			}
			e := c.Events[0]
			if e.Kind != KindRemediation || e.Actor != Remedy || e.From != st || e.To != st || e.TaskID != 7 ||
				e.Text != "remediation: restart sent to 10.0.0.5:4028 (reply: RESTART)" {
				t.Errorf("event %+v", e)
			}
		})
	}
	if _, err := Remediation(&Task{}, " ", now); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("empty text: %v", err)
	}
}
