package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/task"
)

var errRollback = errors.New("rolled back on purpose")

// testPrefetch: a transaction that prefetched answers every lookup exactly as one that did not,
// before and after its own writes (tasks created, updated, closed; occurrences added and
// updated; early resolves remembered), and the writes it holds back (tasks, problems, events,
// outbox rows, attempts, evidence) are all read back inside the transaction and after the
// commit, in order.
func testPrefetch(t *testing.T, s store.Store) {
	ctx := context.Background()
	// Stored before: m1 with an open task and its occurrence k1; m2 with a done task holding k2,
	// closed at t0; an early resolve of k3.
	open := mkTask("m1", task.Open)
	done := mkTask("m2", task.Done)
	done.ClosedAt = t0
	err := s.InTx(ctx, func(tx store.Tx) error {
		for _, tk := range []*task.Task{open, done} {
			if err := tx.CreateTask(ctx, tk); err != nil {
				return err
			}
		}
		for _, p := range []*task.Problem{{TaskID: open.ID, Key: "k1", Alertname: "A", StartsAt: t0, Firing: true, ReceivedAt: t0},
			{TaskID: done.ID, Key: "k2", Alertname: "A", StartsAt: t0, ReceivedAt: t0, EndsAt: t0}} {
			if err := tx.AddProblem(ctx, p); err != nil {
				return err
			}
		}
		return tx.AddEarlyResolve(ctx, store.EarlyResolve{Key: "k3", StartsAt: t0, EndsAt: t0.Add(time.Minute), ReceivedAt: t0})
	})
	if err != nil {
		t.Fatal(err)
	}
	since := t0.Add(-time.Hour)
	// run does the same lookups and writes in one transaction and returns what every lookup
	// answered; commit false rolls it back.
	run := func(prefetch *store.PrefetchQuery, commit bool) []string {
		var out []string
		note := func(what string, v any, err error) {
			if err != nil {
				out = append(out, what+": error "+err.Error())
				return
			}
			switch v := v.(type) {
			case *task.Task:
				if v == nil {
					out = append(out, what+": none")
					return
				}
				c := *v
				c.ID = 0 // ids may differ between the two runs
				out = append(out, fmt.Sprintf("%s: %+v", what, c))
			case *task.Problem:
				if v == nil {
					out = append(out, what+": none")
					return
				}
				c := *v
				c.ID, c.TaskID = 0, 0
				out = append(out, fmt.Sprintf("%s: %+v", what, c))
			case *store.EarlyResolve:
				if v == nil {
					out = append(out, what+": none")
					return
				}
				out = append(out, fmt.Sprintf("%s: %+v", what, *v))
			default:
				out = append(out, fmt.Sprintf("%s: %v", what, v))
			}
		}
		err := s.InTx(ctx, func(tx store.Tx) error {
			if prefetch != nil {
				if err := tx.Prefetch(ctx, *prefetch); err != nil {
					return err
				}
			}
			lookups := func(stage string) {
				for _, m := range []string{"m1", "m2", "m3", "m4"} {
					tk, err := tx.OpenTask(ctx, m)
					note(stage+" open "+m, tk, err)
					for _, k := range []string{"k2", "k4"} {
						tk, err = tx.ReopenableTask(ctx, m, k, since)
						note(stage+" reopenable "+m+" "+k, tk, err)
					}
				}
				for _, k := range []string{"k1", "k2", "k3", "k4", "k5", "k6"} {
					p, err := tx.Occurrence(ctx, k, t0)
					note(stage+" occurrence "+k, p, err)
					e, err := tx.EarlyResolve(ctx, k, t0)
					note(stage+" early "+k, e, err)
				}
			}
			lookups("before")
			// A new task on m3 with the new occurrence k4, its history and its notifications.
			nt := mkTask("m3", task.Open)
			nt.CreatedAt = t0.Add(1234567 * time.Nanosecond) // kept to the microsecond, as stored
			if err := tx.CreateTask(ctx, nt); err != nil {
				return err
			}
			p := &task.Problem{TaskID: nt.ID, Key: "k4", Alertname: "B", Labels: map[string]string{"fan": "1"}, StartsAt: t0, Firing: true, ReceivedAt: t0}
			if err := tx.AddProblem(ctx, p); err != nil {
				return err
			}
			if err := tx.AddEvents(ctx, []task.Event{{TaskID: nt.ID, At: t0, Actor: "system", Kind: task.KindCreated, To: task.Open, Text: "one"},
				{TaskID: nt.ID, At: t0, Actor: "system", Kind: task.KindNote, To: task.Open, Text: "two"}}); err != nil {
				return err
			}
			if err := tx.Enqueue(ctx, []store.Message{{TaskID: nt.ID, To: "alice", Channel: "telegram", Address: "1", Text: "new", CreatedAt: t0},
				{TaskID: nt.ID, To: "bob", Channel: "none", Text: "nobody", CreatedAt: t0, GaveUp: true, LastError: "no contact"}}); err != nil {
				return err
			}
			if err := tx.WantEvidence(ctx, nt.ID, &store.Snapshot{Target: "m3", Module: "default"}, t0); err != nil {
				return err
			}
			if err := tx.WantEvidence(ctx, nt.ID, nil, t0.Add(time.Second)); err != nil {
				return err
			}
			nt.Assignee, nt.UpdatedAt = "bob", t0.Add(time.Second)
			if err := tx.UpdateTask(ctx, nt); err != nil {
				return err
			}
			if err := tx.AddEarlyResolve(ctx, store.EarlyResolve{Key: "k5", StartsAt: t0, EndsAt: t0, ReceivedAt: t0}); err != nil {
				return err
			}
			lookups("created")
			has, err := tx.HasProblem(ctx, nt.ID, "k4")
			note("has k4", has, err)
			firing, err := tx.Firing(ctx, nt.ID)
			note("firing", firing, err)
			// The occurrence clears, the task closes done, m1's task closes too.
			p.Firing, p.EndsAt, p.ResolvedAt = false, t0.Add(time.Minute), t0.Add(time.Minute)
			if err := tx.UpdateProblem(ctx, p); err != nil {
				return err
			}
			nt.State, nt.ClosedAt = task.Done, t0.Add(time.Minute)
			if err := tx.UpdateTask(ctx, nt); err != nil {
				return err
			}
			o, err := tx.OpenTask(ctx, "m1")
			if err != nil {
				return err
			}
			o.State, o.ClosedAt = task.Cancelled, t0.Add(time.Minute)
			if err := tx.UpdateTask(ctx, o); err != nil {
				return err
			}
			lookups("closed")
			got, err := tx.Task(ctx, nt.ID)
			note("task", got, err)
			ps, err := tx.Problems(ctx, nt.ID)
			note("problems", len(ps), err)
			if !commit {
				return errRollback
			}
			return nil
		})
		if err != nil && !errors.Is(err, errRollback) {
			t.Fatal(err)
		}
		return out
	}
	// By alerts: m1's k1 fires already (a repeat: m1 is not read), m2's k2 is over, m3's k4 is new.
	byAlerts := run(&store.PrefetchQuery{Alerts: []store.PrefetchAlert{{Machine: "m1", Key: "k1", StartsAt: t0, Firing: true},
		{Machine: "m2", Key: "k2", StartsAt: t0, Firing: true}, {Machine: "m3", Key: "k4", StartsAt: t0, Firing: true},
		{Machine: "m4", Key: "k3", StartsAt: t0}}, Keys: []string{"k5"}, ClosedSince: since}, false)
	plain := run(nil, false)
	fetched := run(&store.PrefetchQuery{Machines: []string{"m1", "m2", "m3", "m1"}, Keys: []string{"k1", "k2", "k3", "k4", "k5"}, ClosedSince: since}, true)
	for _, other := range [][]string{fetched, byAlerts} {
		if len(plain) != len(other) {
			t.Fatalf("%d answers without prefetch, %d with", len(plain), len(other))
		}
		for i := range plain {
			if plain[i] != other[i] {
				t.Errorf("without prefetch: %s\n   with prefetch: %s", plain[i], other[i])
			}
		}
	}
	// What the lookups must say (the two runs could agree on a wrong answer).
	for _, want := range []string{"before open m3: none", "before occurrence k4: none", "before early k4: none",
		"before reopenable m3 k4: none", "created early k5: {Key:k5", "has k4: true", "firing: true", "closed open m1: none",
		"closed open m3: none", "problems: 1"} {
		found := false
		for _, a := range fetched {
			if len(a) >= len(want) && a[:len(want)] == want {
				found = true
			}
		}
		if !found {
			t.Errorf("no answer %q", want)
		}
	}
	for _, a := range fetched {
		for _, bad := range []string{"before open m1: none", "before reopenable m2 k2: none", "before occurrence k1: none",
			"before early k3: none", "created open m3: none", "created occurrence k4: none", "closed reopenable m3 k4: none"} {
			if a == bad {
				t.Errorf("wrong answer %q", a)
			}
		}
	}
	// After the commit: the held-back rows are there, in order.
	ts, err := s.ListTasks(ctx, store.Filter{})
	if err != nil || len(ts) != 3 {
		t.Fatalf("%d tasks, %v", len(ts), err)
	}
	var nt task.Task
	for _, tk := range ts {
		if tk.Machine == "m3" {
			nt = tk
		}
	}
	if nt.State != task.Done || nt.Assignee != "bob" || !nt.CreatedAt.Equal(t0.Add(1234*time.Microsecond)) {
		t.Fatalf("new task as stored: %+v", nt)
	}
	d, err := s.Detail(ctx, nt.ID, store.DetailQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Events) != 2 || d.Events[0].Text != "one" || d.Events[1].Text != "two" || len(d.Problems) != 1 || d.Problems[0].Firing ||
		!reflect.DeepEqual(d.Problems[0].Labels, map[string]string{"fan": "1"}) {
		t.Fatalf("detail %+v", d)
	}
	p, err := s.Pending(ctx, t0, 10)
	if err != nil || len(p) != 1 || p[0].Text != "new" {
		t.Fatalf("pending %+v %v", p, err)
	}
	ms, err := s.Deliveries(ctx, nt.ID, 10)
	if err != nil || len(ms) != 2 {
		t.Fatalf("messages %+v %v", ms, err)
	}
	gaveUp := 0
	for _, m := range ms {
		if m.GaveUp {
			gaveUp++
			if len(m.Tries) != 1 || m.Tries[0].Result != store.AttemptGaveUp {
				t.Fatalf("given-up message's attempts %+v", m.Tries)
			}
		}
	}
	if gaveUp != 1 {
		t.Fatalf("messages %+v", ms)
	}
	snap, ok, err := s.Snapshot(ctx, nt.ID)
	if err != nil || !ok || snap.Target != "m3" || snap.Module != "default" || snap.State != store.SnapshotPending {
		t.Fatalf("snapshot %+v %v %v", snap, ok, err)
	}
}
