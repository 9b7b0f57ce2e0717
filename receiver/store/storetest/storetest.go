// Package storetest is the conformance suite every store.Store implementation runs.
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

var t0 = time.Date(2026, 11, 22, 8, 0, 0, 123456000, time.UTC)

// Run runs the suite; open returns a fresh, empty store.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"TaskRoundTrip", testTaskRoundTrip},
		{"OneOpenTaskPerMachine", testOneOpen},
		{"OccurrenceUnique", testOccurrenceUnique},
		{"RollbackOnError", testRollback},
		{"Reopenable", testReopenable},
		{"LoadsAndLastAssignee", testLoads},
		{"ListFilterDueCounts", testList},
		{"Outbox", testOutbox},
		{"Deliveries", testDeliveries},
		{"ClaimDelivery", testClaimDelivery},
		{"Heartbeat", testHeartbeat},
		{"HistoryOrder", testHistory},
		{"ConcurrentCreate", testConcurrentCreate},
		{"QuietPages", testQuiet},
		{"DuePages", testDuePages},
		{"EarlyResolves", testEarlyResolves},
		{"DetailBounded", testDetailBounded},
		{"ProblemLookups", testProblemLookups},
		{"Evidence", testEvidence},
		{"Remediations", testRemediations},
		{"Prefetch", testPrefetch},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func mkTask(machine string, st task.State) *task.Task {
	return &task.Task{Machine: machine, Identity: map[string]string{"instance": machine}, Location: map[string]string{"site": "site-a", "rack": "r1"},
		Site: "site-a", Category: "fan", Severity: "critical", Title: "fan", State: st, Assignee: "alice", Team: "a",
		CreatedAt: t0, UpdatedAt: t0, OpenedAt: t0}
}

func create(t *testing.T, s store.Store, tk *task.Task) {
	t.Helper()
	if err := s.InTx(context.Background(), func(tx store.Tx) error { return tx.CreateTask(context.Background(), tk) }); err != nil {
		t.Fatal(err)
	}
}

func testTaskRoundTrip(t *testing.T, s store.Store) {
	ctx := context.Background()
	tk := mkTask("m1", task.InProgress)
	tk.Fleet, tk.AckedAt, tk.StartedAt, tk.ClearedAt, tk.LastEscalatedAt = true, t0.Add(time.Second), t0.Add(2*time.Second), t0.Add(3*time.Second), t0.Add(4*time.Second)
	tk.Report, tk.Reason, tk.Recurrences, tk.FailedRepairs, tk.Escalations = "swapped", "again", 2, 1, 3
	tk.LadderStep, tk.StepAt, tk.StepFailed, tk.EscalateAt = 2, t0.Add(5*time.Second), true, t0.Add(6*time.Second)
	create(t, s, tk)
	if tk.ID == 0 {
		t.Fatal("no id")
	}
	p := &task.Problem{TaskID: tk.ID, Key: "k", Alertname: "MinerFanFailure", Category: "fan", Severity: "critical",
		Labels: map[string]string{"fan": "2"}, Annotations: map[string]string{"summary": "s <&>"}, StartsAt: t0, Firing: true,
		ReceivedAt: t0, Fingerprint: "abc", GeneratorURL: "http://g", SourceURL: "http://am"}
	err := s.InTx(ctx, func(tx store.Tx) error {
		if err := tx.AddProblem(ctx, p); err != nil {
			return err
		}
		return tx.AddEvents(ctx, []task.Event{{TaskID: tk.ID, At: t0, Actor: "alice", Kind: task.KindNote, From: task.Open, To: task.Open, Text: "hi"}})
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.Detail(ctx, tk.ID, store.DetailQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(d.Task, *tk) {
		t.Fatalf("task round trip:\n got %+v\nwant %+v", d.Task, *tk)
	}
	if len(d.Problems) != 1 || !reflect.DeepEqual(d.Problems[0], *p) {
		t.Fatalf("problem round trip:\n got %+v\nwant %+v", d.Problems, *p)
	}
	if len(d.Events) != 1 || d.Events[0].Text != "hi" || !d.Events[0].At.Equal(t0) {
		t.Fatalf("events %+v", d.Events)
	}
	if _, err := s.Detail(ctx, 999999, store.DetailQuery{}); !errors.Is(err, task.ErrNotFound) {
		t.Fatalf("missing task: %v", err)
	}
	err = s.InTx(ctx, func(tx store.Tx) error { _, err := tx.Task(ctx, 999999); return err })
	if !errors.Is(err, task.ErrNotFound) {
		t.Fatalf("missing task in tx: %v", err)
	}
}

func testOneOpen(t *testing.T, s store.Store) {
	ctx := context.Background()
	create(t, s, mkTask("m1", task.Open))
	err := s.InTx(ctx, func(tx store.Tx) error { return tx.CreateTask(ctx, mkTask("m1", task.Acknowledged)) })
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second open task for a machine: %v, want ErrConflict", err)
	}
	create(t, s, mkTask("m1", task.Done))
	create(t, s, mkTask("m2", task.Open))
	err = s.InTx(ctx, func(tx store.Tx) error {
		got, err := tx.OpenTask(ctx, "m1")
		if err != nil || got == nil || got.State != task.Open {
			t.Errorf("OpenTask = %+v, %v", got, err)
		}
		none, err := tx.OpenTask(ctx, "m3")
		if err != nil || none != nil {
			t.Errorf("OpenTask(m3) = %+v, %v", none, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testOccurrenceUnique(t *testing.T, s store.Store) {
	ctx := context.Background()
	tk := mkTask("m1", task.Open)
	create(t, s, tk)
	add := func(start time.Time) error {
		return s.InTx(ctx, func(tx store.Tx) error {
			return tx.AddProblem(ctx, &task.Problem{TaskID: tk.ID, Key: "k", Alertname: "A", StartsAt: start, Firing: true})
		})
	}
	if err := add(t0); err != nil {
		t.Fatal(err)
	}
	if err := add(t0); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate occurrence: %v", err)
	}
	if err := add(t0.Add(time.Microsecond)); err != nil {
		t.Fatalf("next occurrence: %v", err)
	}
	err := s.InTx(ctx, func(tx store.Tx) error {
		p, err := tx.Occurrence(ctx, "k", t0)
		if err != nil || p == nil || !p.StartsAt.Equal(t0) {
			t.Errorf("Occurrence = %+v, %v", p, err)
			return nil
		}
		p.Firing, p.EndsAt, p.ResolvedAt = false, t0.Add(time.Hour), t0.Add(time.Hour)
		if err := tx.UpdateProblem(ctx, p); err != nil {
			return err
		}
		q, _ := tx.Occurrence(ctx, "k", t0)
		if q.Firing || !q.EndsAt.Equal(t0.Add(time.Hour)) {
			t.Errorf("update not seen: %+v", q)
		}
		if none, err := tx.Occurrence(ctx, "k", t0.Add(time.Second)); err != nil || none != nil {
			t.Errorf("unknown occurrence = %+v, %v", none, err)
		}
		ps, err := tx.Problems(ctx, tk.ID)
		if err != nil || len(ps) != 2 {
			t.Errorf("problems %d %v", len(ps), err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testRollback(t *testing.T, s store.Store) {
	ctx := context.Background()
	boom := errors.New("boom")
	err := s.InTx(ctx, func(tx store.Tx) error {
		if err := tx.CreateTask(ctx, mkTask("m1", task.Open)); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	ts, err := s.ListTasks(ctx, store.Filter{})
	if err != nil || len(ts) != 0 {
		t.Fatalf("rolled-back task is visible: %d %v", len(ts), err)
	}
}

func testReopenable(t *testing.T, s store.Store) {
	ctx := context.Background()
	old := mkTask("m1", task.Done)
	old.ClosedAt = t0.Add(-48 * time.Hour)
	recent := mkTask("m1", task.AutoResolved)
	recent.ClosedAt = t0.Add(-time.Hour)
	cancelled := mkTask("m1", task.Cancelled)
	cancelled.ClosedAt = t0.Add(-time.Minute)
	for _, tk := range []*task.Task{old, recent, cancelled} {
		create(t, s, tk)
		tk := tk
		if err := s.InTx(ctx, func(tx store.Tx) error {
			return tx.AddProblem(ctx, &task.Problem{TaskID: tk.ID, Key: "k", Alertname: "A", StartsAt: tk.ClosedAt.Add(-time.Minute)})
		}); err != nil {
			t.Fatal(err)
		}
	}
	_ = s.InTx(ctx, func(tx store.Tx) error {
		got, err := tx.ReopenableTask(ctx, "m1", "k", t0.Add(-24*time.Hour))
		if err != nil || got == nil || got.ID != recent.ID {
			t.Errorf("ReopenableTask = %+v, %v; want the recent auto_resolved one (never a cancelled one)", got, err)
		}
		if got, _ := tx.ReopenableTask(ctx, "m1", "other", t0.Add(-24*time.Hour)); got != nil {
			t.Errorf("reopenable for another problem: %+v", got)
		}
		if got, _ := tx.ReopenableTask(ctx, "m1", "k", t0); got != nil {
			t.Errorf("reopenable outside the window: %+v", got)
		}
		return nil
	})
}

func testLoads(t *testing.T, s store.Store) {
	ctx := context.Background()
	for i, a := range []string{"alice", "alice", "bob"} {
		tk := mkTask(string(rune('a'+i)), task.Open)
		tk.Assignee = a
		create(t, s, tk)
	}
	closed := mkTask("z", task.Done)
	closed.Assignee = "bob"
	create(t, s, closed)
	other := mkTask("y", task.Open)
	other.Team, other.Assignee = "b", "zed"
	create(t, s, other)
	_ = s.InTx(ctx, func(tx store.Tx) error {
		l, err := tx.Loads(ctx, []string{"alice", "bob", "carol"})
		if err != nil || l["alice"] != 2 || l["bob"] != 1 || l["carol"] != 0 {
			t.Errorf("loads %v %v", l, err)
		}
		if last, err := tx.LastAssignee(ctx, "a"); err != nil || last != "bob" {
			t.Errorf("last assignee of team a = %q %v", last, err)
		}
		if last, err := tx.LastAssignee(ctx, "none"); err != nil || last != "" {
			t.Errorf("last assignee of empty team = %q %v", last, err)
		}
		return nil
	})
}

func testList(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := mkTask("a", task.Open)
	b := mkTask("b", task.Acknowledged)
	b.Site, b.Assignee, b.Category = "site-b", "bob", "hashrate"
	b.ClearedAt = t0.Add(-20 * time.Minute)
	c := mkTask("c", task.Verifying)
	c.ReportedAt = t0.Add(-5 * time.Minute)
	d := mkTask("d", task.Done)
	a.EscalateAt, d.EscalateAt = t0, t0 // a closed task is never due for escalation
	for _, tk := range []*task.Task{a, b, c, d} {
		create(t, s, tk)
	}
	for _, tc := range []struct {
		f    store.Filter
		want []int64
	}{
		{store.Filter{}, []int64{d.ID, c.ID, b.ID, a.ID}},
		{store.Filter{States: []task.State{task.Open, task.Verifying}}, []int64{c.ID, a.ID}},
		{store.Filter{Site: "site-b"}, []int64{b.ID}},
		{store.Filter{Assignee: "alice", Category: "fan"}, []int64{d.ID, c.ID, a.ID}},
		{store.Filter{Limit: 2}, []int64{d.ID, c.ID}},
		{store.Filter{Instance: "c"}, []int64{c.ID}},
		{store.Filter{Instance: "%"}, nil},
	} {
		ts, err := s.ListTasks(ctx, tc.f)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, tk := range ts {
			ids = append(ids, tk.ID)
		}
		if !reflect.DeepEqual(ids, tc.want) {
			t.Errorf("filter %+v: %v, want %v", tc.f, ids, tc.want)
		}
	}
	due, err := s.Due(ctx, store.DueQuery{ClearedBefore: t0.Add(-10 * time.Minute), EscalateBefore: t0.Add(time.Second), ReportedBefore: t0.Add(-2 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, tk := range due {
		ids = append(ids, tk.ID)
	}
	if !reflect.DeepEqual(ids, []int64{a.ID, b.ID, c.ID}) {
		t.Errorf("due %v, want %v", ids, []int64{a.ID, b.ID, c.ID})
	}
	due, _ = s.Due(ctx, store.DueQuery{ClearedBefore: t0.Add(-30 * time.Minute), EscalateBefore: t0.Add(-time.Second), ReportedBefore: t0.Add(-10 * time.Minute)})
	if len(due) != 0 {
		t.Errorf("nothing is due yet, got %d", len(due))
	}
	// Escalation follows escalate_at, in any state the ladder watches; zero is never.
	for _, tc := range []struct {
		st   task.State
		at   time.Time
		want int
	}{{task.Open, t0.Add(time.Minute), 0}, {task.InProgress, t0, 1}, {task.Acknowledged, time.Time{}, 0}} {
		a.State, a.EscalateAt = tc.st, tc.at
		if err := s.InTx(ctx, func(tx store.Tx) error { return tx.UpdateTask(ctx, a) }); err != nil {
			t.Fatal(err)
		}
		due, _ = s.Due(ctx, store.DueQuery{EscalateBefore: t0.Add(time.Second)})
		if len(due) != tc.want {
			t.Errorf("%s, escalate_at %s: %d due, want %d", tc.st, tc.at, len(due), tc.want)
		}
	}
	a.State = task.Open
	if err := s.InTx(ctx, func(tx store.Tx) error { return tx.UpdateTask(ctx, a) }); err != nil {
		t.Fatal(err)
	}
	counts, err := s.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, c := range counts {
		got[string(c.State)+"/"+c.Site] += c.N
	}
	want := map[string]int{"open/site-a": 1, "acknowledged/site-b": 1, "verifying/site-a": 1, "done/site-a": 1}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("counts %v, want %v", got, want)
	}
}

func testHeartbeat(t *testing.T, s store.Store) {
	ctx := context.Background()
	if at, err := s.Heartbeat(ctx, "watchdog"); err != nil || !at.IsZero() {
		t.Fatalf("never seen: %v %v", at, err)
	}
	for _, at := range []time.Time{t0, t0.Add(time.Minute)} {
		if err := s.InTx(ctx, func(tx store.Tx) error { return tx.SetHeartbeat(ctx, "watchdog", at) }); err != nil {
			t.Fatal(err)
		}
	}
	if at, err := s.Heartbeat(ctx, "watchdog"); err != nil || !at.Equal(t0.Add(time.Minute)) {
		t.Fatalf("heartbeat %v %v", at, err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

func testHistory(t *testing.T, s store.Store) {
	ctx := context.Background()
	tk := mkTask("m", task.Open)
	create(t, s, tk)
	for i := range 5 {
		_ = s.InTx(ctx, func(tx store.Tx) error {
			return tx.AddEvents(ctx, []task.Event{{TaskID: tk.ID, At: t0, Actor: "x", Kind: "note", Text: string(rune('a' + i))}})
		})
	}
	d, _ := s.Detail(ctx, tk.ID, store.DetailQuery{})
	var got string
	for _, e := range d.Events {
		got += e.Text
	}
	if got != "abcde" {
		t.Fatalf("history order %q", got)
	}
}

// testConcurrentCreate: writers racing to create the same machine's task end with exactly one,
// whatever the engine's locking (the losers get ErrConflict and retry, as the receiver does).
func testConcurrentCreate(t *testing.T, s store.Store) {
	ctx := context.Background()
	const n = 12
	errs := make(chan error, n)
	for range n {
		go func() {
			var err error
			for range 10 {
				err = s.InTx(ctx, func(tx store.Tx) error {
					got, err := tx.OpenTask(ctx, "race")
					if err != nil || got != nil {
						return err
					}
					return tx.CreateTask(ctx, mkTask("race", task.Open))
				})
				if !errors.Is(err, store.ErrConflict) {
					break
				}
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	ts, err := s.ListTasks(ctx, store.Filter{})
	if err != nil || len(ts) != 1 {
		t.Fatalf("%d tasks, want 1 (%v)", len(ts), err)
	}
}

// testQuiet: the reconciliation pages through quiet tasks (firing, unchanged for a while) by id,
// never through closed, verifying or cleared ones, and reads problems without the history.
func testQuiet(t *testing.T, s store.Store) {
	ctx := context.Background()
	var want []int64
	for i, st := range []task.State{task.Open, task.Acknowledged, task.InProgress, task.Verifying, task.Done, task.Open, task.Open} {
		tk := mkTask(string(rune('a'+i)), st)
		switch i {
		case 5:
			tk.ClearedAt = t0 // cleared: nothing fires
		case 6:
			tk.UpdatedAt = t0.Add(time.Hour) // changed recently
		}
		create(t, s, tk)
		if st == task.Open || st == task.Acknowledged || st == task.InProgress {
			if i < 5 {
				want = append(want, tk.ID)
			}
		}
	}
	var got []int64
	after := int64(0)
	for page := 0; page < 10; page++ {
		ts, err := s.Quiet(ctx, store.QuietQuery{UpdatedBefore: t0.Add(time.Minute), AfterID: after, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(ts) > 2 {
			t.Fatalf("page of %d tasks, limit 2", len(ts))
		}
		if len(ts) == 0 {
			break
		}
		for _, tk := range ts {
			got = append(got, tk.ID)
		}
		after = ts[len(ts)-1].ID
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("quiet pages %v, want %v", got, want)
	}
	if err := s.InTx(ctx, func(tx store.Tx) error {
		return tx.AddProblem(ctx, &task.Problem{TaskID: want[0], Key: "k", Alertname: "A", StartsAt: t0, Firing: true})
	}); err != nil {
		t.Fatal(err)
	}
	ps, err := s.Problems(ctx, want[0])
	if err != nil || len(ps) != 1 || ps[0].Key != "k" || !ps[0].Firing {
		t.Fatalf("problems %+v %v", ps, err)
	}
}

func testDuePages(t *testing.T, s store.Store) {
	ctx := context.Background()
	var ids []int64
	for i := range 5 {
		tk := mkTask(string(rune('a'+i)), task.Verifying)
		tk.ReportedAt = t0
		create(t, s, tk)
		ids = append(ids, tk.ID)
	}
	q := store.DueQuery{ReportedBefore: t0, Limit: 2}
	var got []int64
	for range 5 {
		ts, err := s.Due(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(ts) == 0 {
			break
		}
		for _, tk := range ts {
			got = append(got, tk.ID)
		}
		q.AfterID = ts[len(ts)-1].ID
	}
	if !reflect.DeepEqual(got, ids) {
		t.Fatalf("due pages %v, want %v", got, ids)
	}
}

// testEarlyResolves: a resolve that came before its firing copy is remembered per occurrence
// (first entry wins), forgotten after the window, and the table is capped by dropping the oldest.
func testEarlyResolves(t *testing.T, s store.Store) {
	ctx := context.Background()
	in := func(fn func(tx store.Tx) error) {
		t.Helper()
		if err := s.InTx(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	add := func(key string, start, rec time.Time) {
		in(func(tx store.Tx) error {
			return tx.AddEarlyResolve(ctx, store.EarlyResolve{Key: key, StartsAt: start, EndsAt: start.Add(time.Minute), ReceivedAt: rec})
		})
	}
	get := func(key string, start time.Time) (e *store.EarlyResolve) {
		in(func(tx store.Tx) error {
			var err error
			e, err = tx.EarlyResolve(ctx, key, start)
			return err
		})
		return e
	}
	add("k", t0, t0)
	add("k", t0, t0.Add(time.Minute)) // the same occurrence again: the first entry stays
	add("k", t0.Add(time.Second), t0.Add(2*time.Minute))
	add("j", t0, t0.Add(3*time.Minute))
	e := get("k", t0)
	if e == nil || !e.ReceivedAt.Equal(t0) || !e.EndsAt.Equal(t0.Add(time.Minute)) || !e.StartsAt.Equal(t0) || e.Key != "k" {
		t.Fatalf("early resolve %+v", e)
	}
	if get("k", t0.Add(time.Hour)) != nil || get("x", t0) != nil {
		t.Fatal("an unknown occurrence has an early resolve")
	}
	var n int
	in(func(tx store.Tx) error {
		var err error
		n, err = tx.PruneEarlyResolves(ctx, t0.Add(time.Minute), 100)
		return err
	})
	if n != 1 || get("k", t0) != nil || get("k", t0.Add(time.Second)) == nil {
		t.Fatalf("pruned %d by age; want only the one received before the cutoff", n)
	}
	in(func(tx store.Tx) error {
		var err error
		n, err = tx.PruneEarlyResolves(ctx, t0, 1)
		return err
	})
	if n != 1 || get("k", t0.Add(time.Second)) != nil || get("j", t0) == nil {
		t.Fatalf("pruned %d by the cap of 1; want the oldest dropped, the newest kept", n)
	}
}

// testDetailBounded: Detail returns the last events (paged back with EventsBefore) and the firing
// problems first, within its bounds, with the counts of everything the task holds.
func testDetailBounded(t *testing.T, s store.Store) {
	ctx := context.Background()
	tk := mkTask("m", task.Open)
	create(t, s, tk)
	other := mkTask("n", task.Open) // another task's rows are never counted or returned
	create(t, s, other)
	const nEvents, nProblems = 1500, 150
	var firing, cleared []string
	err := s.InTx(ctx, func(tx store.Tx) error {
		for _, id := range []int64{tk.ID, other.ID} {
			evs := make([]task.Event, nEvents)
			for i := range evs {
				evs[i] = task.Event{TaskID: id, At: t0, Actor: "x", Kind: task.KindNote, Text: fmt.Sprintf("e%04d", i)}
			}
			if err := tx.AddEvents(ctx, evs); err != nil {
				return err
			}
			for i := range nProblems {
				// Added newest first, so that id order is not start order.
				start := t0.Add(time.Duration(nProblems-i) * time.Minute)
				p := &task.Problem{TaskID: id, Key: fmt.Sprintf("k%d-%03d", id, i), Alertname: "A", StartsAt: start, Firing: i%3 == 0}
				if err := tx.AddProblem(ctx, p); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := nProblems - 1; i >= 0; i-- { // start order
		k := fmt.Sprintf("k%d-%03d", tk.ID, i)
		if i%3 == 0 {
			firing = append(firing, k)
		} else {
			cleared = append(cleared, k)
		}
	}
	order := append(append([]string{}, firing...), cleared...)
	keys := func(ps []task.Problem) []string {
		out := make([]string, len(ps))
		for i, p := range ps {
			out[i] = p.Key
		}
		return out
	}
	texts := func(evs []task.Event) (out []string) {
		for _, e := range evs {
			out = append(out, e.Text)
		}
		return out
	}
	want := func(from, to int) (out []string) {
		for i := from; i < to; i++ {
			out = append(out, fmt.Sprintf("e%04d", i))
		}
		return out
	}

	for _, tc := range []struct {
		name       string
		q          store.DetailQuery
		problems   []string
		events     []string
		moreEvents bool
	}{
		{"defaults", store.DetailQuery{}, order[:store.DefaultDetailProblems], want(nEvents-store.DefaultDetailEvents, nEvents), true},
		{"a few", store.DetailQuery{Problems: 5, Events: 3}, firing[:5], want(nEvents-3, nEvents), true},
		{"problems across firing and cleared", store.DetailQuery{Problems: 4, ProblemsOffset: len(firing) - 2}, order[len(firing)-2 : len(firing)+2], want(nEvents-store.DefaultDetailEvents, nEvents), true},
		{"cleared problems only", store.DetailQuery{Problems: 3, ProblemsOffset: len(firing) + 1}, cleared[1:4], want(nEvents-store.DefaultDetailEvents, nEvents), true},
		{"past the last problem", store.DetailQuery{ProblemsOffset: nProblems}, nil, want(nEvents-store.DefaultDetailEvents, nEvents), true},
		{"limits above the maximum", store.DetailQuery{Problems: 1 << 30, Events: 1 << 30}, order, want(nEvents-store.MaxDetailEvents, nEvents), true},
		{"negative limits", store.DetailQuery{Problems: -1, Events: -1, ProblemsOffset: -5}, order[:store.DefaultDetailProblems], want(nEvents-store.DefaultDetailEvents, nEvents), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := s.Detail(ctx, tk.ID, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if d.ProblemCount != nProblems || d.FiringCount != len(firing) || d.EventCount != nEvents {
				t.Fatalf("counts %d problems, %d firing, %d events; want %d, %d, %d", d.ProblemCount, d.FiringCount, d.EventCount, nProblems, len(firing), nEvents)
			}
			if got := keys(d.Problems); !reflect.DeepEqual(got, tc.problems) && !(len(got) == 0 && len(tc.problems) == 0) {
				t.Fatalf("problems %v\nwant %v", got, tc.problems)
			}
			if got := texts(d.Events); !reflect.DeepEqual(got, tc.events) {
				t.Fatalf("%d events %v…, want %d from %v", len(got), got[:min(3, len(got))], len(tc.events), tc.events[:1])
			}
			if d.MoreEvents != tc.moreEvents {
				t.Fatalf("MoreEvents %v", d.MoreEvents)
			}
		})
	}

	// Paging back through the whole history, 400 at a time, finds every event once, in order.
	var all []string
	q := store.DetailQuery{Events: 400, Problems: 1}
	for page := 0; ; page++ {
		if page > 10 {
			t.Fatal("history paging does not end")
		}
		d, err := s.Detail(ctx, tk.ID, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Events) > 400 {
			t.Fatalf("page of %d events", len(d.Events))
		}
		all = append(texts(d.Events), all...)
		if !d.MoreEvents {
			break
		}
		q.EventsBefore = d.Events[0].ID
	}
	if !reflect.DeepEqual(all, want(0, nEvents)) {
		t.Fatalf("paged history: %d events", len(all))
	}
	if _, err := s.Detail(ctx, 999999, store.DetailQuery{}); !errors.Is(err, task.ErrNotFound) {
		t.Fatalf("missing task: %v", err)
	}
	// Problems (what verification and reconciliation read) still has every problem.
	if ps, err := s.Problems(ctx, tk.ID); err != nil || len(ps) != nProblems {
		t.Fatalf("Problems: %d %v", len(ps), err)
	}
}

// testProblemLookups: HasProblem finds a key in its task only, Firing sees a task's firing problem.
func testProblemLookups(t *testing.T, s store.Store) {
	ctx := context.Background()
	a, b := mkTask("a", task.Open), mkTask("b", task.Open)
	create(t, s, a)
	create(t, s, b)
	check := func(name string, fn func(tx store.Tx) (bool, error), want bool) {
		t.Helper()
		var got bool
		if err := s.InTx(ctx, func(tx store.Tx) (err error) { got, err = fn(tx); return err }); err != nil || got != want {
			t.Fatalf("%s = %v, %v; want %v", name, got, err, want)
		}
	}
	hasA := func(key string) func(tx store.Tx) (bool, error) {
		return func(tx store.Tx) (bool, error) { return tx.HasProblem(ctx, a.ID, key) }
	}
	firing := func(id int64) func(tx store.Tx) (bool, error) {
		return func(tx store.Tx) (bool, error) { return tx.Firing(ctx, id) }
	}
	check("HasProblem in an empty task", hasA("k"), false)
	check("Firing of an empty task", firing(a.ID), false)
	p := &task.Problem{TaskID: a.ID, Key: "k", Alertname: "A", StartsAt: t0, Firing: true}
	q := &task.Problem{TaskID: b.ID, Key: "j", Alertname: "A", StartsAt: t0}
	if err := s.InTx(ctx, func(tx store.Tx) error {
		if err := tx.AddProblem(ctx, p); err != nil {
			return err
		}
		return tx.AddProblem(ctx, q)
	}); err != nil {
		t.Fatal(err)
	}
	check("HasProblem(k)", hasA("k"), true)
	check("HasProblem of another task's key", hasA("j"), false)
	check("Firing", firing(a.ID), true)
	check("Firing of a task whose problem cleared", firing(b.ID), false)
	p.Firing, p.EndsAt, p.ResolvedAt = false, t0.Add(time.Minute), t0.Add(time.Minute)
	if err := s.InTx(ctx, func(tx store.Tx) error { return tx.UpdateProblem(ctx, p) }); err != nil {
		t.Fatal(err)
	}
	check("Firing after the clear", firing(a.ID), false)
	check("HasProblem after the clear", hasA("k"), true)
}
