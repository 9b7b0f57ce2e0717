package repair

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/task"
)

func remediationEvents(t *testing.T, e *env, id int64) []task.Event {
	t.Helper()
	d, err := e.st.Detail(e.ctx, id, store.DetailQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var out []task.Event
	for _, ev := range d.Events {
		if ev.Kind == task.KindRemediation {
			out = append(out, ev)
		}
	}
	return out
}

// TestRemediateOutsideTheTransaction: the restart is sent with no transaction open (the sender
// can write to the store meanwhile), and the attempt is reserved before it is sent: another
// remediation at the same site, decided while the first is being sent, counts it.
func TestRemediateOutsideTheTransaction(t *testing.T) {
	e := newEnv(t, "")
	e.deliver(fan, al{name: "MinerNoHashrate", instance: "10.1.0.8", site: "site-a", firing: true, start: t0})
	ts := e.tasks()
	if len(ts) != 2 {
		t.Fatalf("%d tasks", len(ts))
	}
	first, second := ts[0].ID, ts[1].ID
	var inner RemedyOutcome
	done := make(chan error, 1)
	go func() {
		out, err := e.svc.Remediate(e.ctx, first, Remedy{Target: "10.1.0.7:4028", Window: 30 * time.Minute, SitePerHour: 1,
			Send: func(ctx context.Context) (bool, string) {
				// A person's note while the restart is on the wire: the store is free.
				if _, err := e.svc.Act(ctx, first, "alice", Action{Kind: "note", Text: "looking at it"}); err != nil {
					t.Errorf("a write while sending: %v", err)
				}
				var err error
				inner, err = e.svc.Remediate(ctx, second, Remedy{Target: "10.1.0.8:4028", Window: 30 * time.Minute, SitePerHour: 1,
					Send: func(context.Context) (bool, string) { t.Error("the second restart was sent"); return true, "" }})
				if err != nil {
					t.Error(err)
				}
				return true, "{\"STATUS\":\"RESTART\",\"id\":1}\x00\x01\n" + strings.Repeat("z", 500)
			}})
		if err == nil && (!out.Recorded || out.Result != store.RemedySent) {
			t.Errorf("outcome %+v", out)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Remediate held the store while sending (deadlock)")
	}
	if !inner.Recorded || inner.Result != store.RemedyRateLimited {
		t.Errorf("the second remediation: %+v, want rate-limited by the pending first", inner)
	}
	evs := remediationEvents(t, e, first)
	if len(evs) != 1 {
		t.Fatalf("events %+v", evs)
	}
	text := evs[0].Text
	if !strings.HasPrefix(text, `remediation: restart sent to 10.1.0.7:4028 (reply: {"STATUS":"RESTART","id":1}\x00\x01\nzzz`) ||
		!strings.Contains(text, "…)") || len(text) > 300 || evs[0].Actor != task.Remedy {
		t.Errorf("event %q (%d bytes)", text, len(text))
	}
	if st := e.tasks()[0].State; st != task.Open {
		t.Errorf("state %s", st)
	}
}

// TestRemediateSkips: a closed task, a machine decided within the window and a task at its limit
// record nothing; without a limit of its own the per-site cap still holds.
func TestRemediateSkips(t *testing.T) {
	e := newEnv(t, "")
	e.deliver(fan)
	id := e.only().Task.ID
	sent := 0
	send := func(context.Context) (bool, string) { sent++; return true, "RESTART" }
	r := Remedy{Target: "10.1.0.7:4028", Window: 10 * time.Minute, MaxPerTask: 2, Send: send}
	for i, want := range []bool{true, false} {
		out, err := e.svc.Remediate(e.ctx, id, r)
		if err != nil || out.Recorded != want {
			t.Fatalf("call %d: %+v %v, want recorded %v", i, out, err, want)
		}
	}
	e.clk.Add(11 * time.Minute)
	if out, _ := e.svc.Remediate(e.ctx, id, r); !out.Recorded || !strings.HasSuffix(out.Text, "attempt 2 of 2 for this task, the last") {
		t.Fatalf("after the window: %+v", out)
	}
	e.clk.Add(11 * time.Minute)
	if out, _ := e.svc.Remediate(e.ctx, id, r); out.Recorded {
		t.Fatalf("past max_per_task: %+v", out)
	}
	if sent != 2 {
		t.Errorf("sent %d times, want 2", sent)
	}
	// A refusal is recorded once per window, and is no attempt.
	e.deliver(al{name: "MinerPoolDown", instance: "10.1.0.9", site: "site-a", firing: true, start: t0})
	var other int64
	for _, tk := range e.tasks() {
		if tk.Machine != e.machineOf(id) {
			other = tk.ID
		}
	}
	ref := Remedy{Refused: "10.1.0.9:4028 is not in the remediation allowlist", Window: 10 * time.Minute, MaxPerTask: 1}
	for i, want := range []bool{true, false} {
		out, err := e.svc.Remediate(e.ctx, other, ref)
		if err != nil || out.Recorded != want || (want && out.Result != store.RemedyRefused) {
			t.Fatalf("refusal %d: %+v %v", i, out, err)
		}
	}
	e.clk.Add(11 * time.Minute)
	if out, _ := e.svc.Remediate(e.ctx, other, ref); !out.Recorded {
		t.Fatalf("a refusal is no attempt: max_per_task must not stop the next one: %+v", out)
	}
	// Cancelled (closed) tasks are never touched.
	e.deliver(fanDone)
	if _, err := e.svc.Act(e.ctx, id, "alice", Action{Kind: "cancel", Text: "spare part"}); err != nil {
		t.Fatal(err)
	}
	e.clk.Add(time.Hour)
	if out, err := e.svc.Remediate(e.ctx, id, Remedy{Window: time.Minute, Send: send}); err != nil || out.Recorded {
		t.Fatalf("closed task: %+v %v", out, err)
	}
}

// machineOf is the machine of task id.
func (e *env) machineOf(id int64) string {
	for _, tk := range e.tasks() {
		if tk.ID == id {
			return tk.Machine
		}
	}
	return ""
}
