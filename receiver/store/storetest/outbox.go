package storetest

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/task"
)

// testOutbox: deliveries round-trip with their channel, address, step and fields; attempts move
// them through failed (retried at next_at), sent and gave_up, each attempt stored.
func testOutbox(t *testing.T, s store.Store) {
	ctx := context.Background()
	tk := mkTask("m1", task.Open)
	create(t, s, tk)
	fields := map[string]string{"site": "site-a", "rack": "r1", "title": "fan <1> & co"}
	err := s.InTx(ctx, func(tx store.Tx) error {
		return tx.Enqueue(ctx, []store.Message{
			{TaskID: tk.ID, To: "alice", Channel: "telegram", Address: "111", Step: 0, Fields: fields, Text: "one", CreatedAt: t0},
			{TaskID: tk.ID, Channel: "", Text: "two", CreatedAt: t0},
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Pending(ctx, t0, 10)
	if err != nil || len(p) != 2 {
		t.Fatalf("pending %+v %v", p, err)
	}
	want := store.Message{ID: p[0].ID, TaskID: tk.ID, To: "alice", Channel: "telegram", Address: "111", Fields: fields, Text: "one", CreatedAt: t0, NextAt: t0}
	if !reflect.DeepEqual(p[0], want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", p[0], want)
	}
	if p[1].Channel != "" || len(p[1].Fields) != 0 {
		t.Fatalf("legacy row %+v", p[1])
	}
	record := func(a store.Attempt) {
		t.Helper()
		if err := s.InTx(ctx, func(tx store.Tx) error { return tx.RecordAttempt(ctx, a) }); err != nil {
			t.Fatal(err)
		}
	}
	record(store.Attempt{MessageID: p[0].ID, TaskID: tk.ID, At: t0, Channel: "telegram", Recipient: "alice", Result: store.AttemptSent})
	record(store.Attempt{MessageID: p[1].ID, TaskID: tk.ID, At: t0, Result: store.AttemptFailed, Error: "HTTP 429", NextAt: t0.Add(time.Minute)})
	if p, _ := s.Pending(ctx, t0.Add(59*time.Second), 10); len(p) != 0 {
		t.Fatalf("retry before its time: %+v", p)
	}
	p, _ = s.Pending(ctx, t0.Add(time.Minute), 10)
	if len(p) != 1 || p[0].Attempts != 1 || p[0].LastError != "HTTP 429" {
		t.Fatalf("retry due: %+v", p)
	}
	record(store.Attempt{MessageID: p[0].ID, TaskID: tk.ID, At: t0.Add(time.Minute), Result: store.AttemptGaveUp, Error: "HTTP 400"})
	if p, _ := s.Pending(ctx, t0.Add(time.Hour), 10); len(p) != 0 {
		t.Fatalf("given-up message still pending: %+v", p)
	}
	err = s.InTx(ctx, func(tx store.Tx) error {
		m, err := tx.Message(ctx, p[0].ID)
		if err != nil || !m.GaveUp || m.Attempts != 2 || m.LastError != "HTTP 400" || !m.SentAt.IsZero() {
			return fmt.Errorf("given up: %+v %v", m, err)
		}
		if _, err := tx.Message(ctx, 99999); err == nil {
			return fmt.Errorf("missing message found")
		}
		if err := tx.RecordAttempt(ctx, store.Attempt{MessageID: 99999, Result: store.AttemptSent}); err == nil {
			return fmt.Errorf("attempt of a missing message stored")
		}
		return tx.RecordAttempt(ctx, store.Attempt{MessageID: m.ID, Result: "maybe"})
	})
	if err == nil || !strings.Contains(err.Error(), "unknown result") {
		t.Fatalf("unknown result: %v", err)
	}
}

// testDeliveries: what the board, the task page and the gauge read: given-up deliveries per task
// and per channel (open tasks only), a task's deliveries with their attempts, a batch still on
// its way, and the active tasks in pages.
func testDeliveries(t *testing.T, s store.Store) {
	ctx := context.Background()
	a, b, done := mkTask("a", task.Open), mkTask("b", task.InProgress), mkTask("c", task.Done)
	for _, tk := range []*task.Task{a, b, done} {
		create(t, s, tk)
	}
	long := strings.Repeat("é", store.MaxErrorLength) // more bytes than the bound
	err := s.InTx(ctx, func(tx store.Tx) error {
		return tx.Enqueue(ctx, []store.Message{
			{TaskID: a.ID, To: "alice", Channel: "telegram", Address: "111", Step: 0, Text: "new", CreatedAt: t0},
			{TaskID: a.ID, To: "alice", Channel: "email", Address: "alice@farm.example", Step: 0, Text: "new", CreatedAt: t0},
			{TaskID: a.ID, To: "carol", Channel: "email", Step: 1, Text: "escalated", CreatedAt: t0.Add(time.Minute), GaveUp: true, LastError: "carol: no email"},
			{TaskID: b.ID, To: "bob", Channel: "webhook", Step: 0, Text: "x", CreatedAt: t0, GaveUp: true, LastError: long},
			{TaskID: done.ID, To: "dave", Channel: "email", Step: 0, Text: "x", CreatedAt: t0, GaveUp: true, LastError: "gone"},
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := s.Pending(ctx, t0.Add(time.Hour), 10)
	if len(p) != 2 {
		t.Fatalf("given-up rows pending: %+v", p)
	}
	for i, res := range []string{store.AttemptFailed, store.AttemptGaveUp} {
		err := s.InTx(ctx, func(tx store.Tx) error {
			return tx.RecordAttempt(ctx, store.Attempt{MessageID: p[0].ID, TaskID: a.ID, At: t0.Add(time.Duration(i) * time.Second), Channel: "telegram",
				Recipient: "alice", Result: res, Error: fmt.Sprintf("try %d", i), NextAt: t0.Add(time.Minute)})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	u, err := s.Undeliverable(ctx, []int64{a.ID, b.ID, done.ID, 12345})
	if err != nil || !reflect.DeepEqual(u, map[int64]int{a.ID: 2, b.ID: 1, done.ID: 1}) {
		t.Fatalf("undeliverable per task %v %v", u, err)
	}
	if _, err := s.Undeliverable(ctx, make([]int64, store.MaxOutboxTasks+1)); err == nil {
		t.Fatal("unbounded id list accepted")
	}
	byCh, err := s.UndeliverableByChannel(ctx)
	if err != nil || !reflect.DeepEqual(byCh, map[string]int{"telegram": 1, "email": 1, "webhook": 1}) {
		t.Fatalf("undeliverable by channel (closed tasks left out) %v %v", byCh, err)
	}
	ds, err := s.Deliveries(ctx, a.ID, 0)
	if err != nil || len(ds) != 3 {
		t.Fatalf("deliveries %+v %v", ds, err)
	}
	if ds[0].To != "carol" || !ds[0].GaveUp || ds[0].Attempts != 1 || len(ds[0].Tries) != 1 || ds[0].Tries[0].Result != store.AttemptGaveUp || ds[0].Tries[0].Error != "carol: no email" {
		t.Fatalf("no-address delivery %+v", ds[0])
	}
	if tr := ds[2].Tries; ds[2].Channel != "telegram" || len(tr) != 2 || tr[0].Result != store.AttemptFailed || tr[1].Result != store.AttemptGaveUp ||
		tr[0].Error != "try 0" || !tr[1].At.Equal(t0.Add(time.Second)) || tr[1].Recipient != "alice" {
		t.Fatalf("attempts, oldest first: %+v", ds[2].Tries)
	}
	if len(ds[1].Tries) != 0 || ds[1].GaveUp {
		t.Fatalf("untried delivery %+v", ds[1])
	}
	if ds, _ := s.Deliveries(ctx, a.ID, 1); len(ds) != 1 || ds[0].To != "carol" {
		t.Fatalf("limit: %+v", ds)
	}
	db, _ := s.Deliveries(ctx, b.ID, 0)
	if len(db) != 1 || len(db[0].LastError) > store.MaxErrorLength || !utf8.ValidString(db[0].LastError) ||
		len(db[0].Tries[0].Error) > store.MaxErrorLength || !strings.HasSuffix(db[0].LastError, "…") {
		t.Fatalf("long error not bounded: %d bytes", len(db[0].LastError))
	}
	err = s.InTx(ctx, func(tx store.Tx) error {
		for _, tc := range []struct {
			step int
			at   time.Time
			want bool
		}{{0, t0, true}, {1, t0.Add(time.Minute), false}, {0, t0.Add(time.Minute), false}} {
			got, err := tx.BatchDelivering(ctx, a.ID, tc.step, tc.at)
			if err != nil || got != tc.want {
				return fmt.Errorf("batch step %d at %s: %v %v, want %v", tc.step, tc.at, got, err, tc.want)
			}
		}
		first, err := tx.ActiveTasks(ctx, 0, 1)
		if err != nil || len(first) != 1 || first[0].ID != a.ID {
			return fmt.Errorf("active page 1: %+v %v", first, err)
		}
		rest, err := tx.ActiveTasks(ctx, first[0].ID, 10)
		if err != nil || len(rest) != 1 || rest[0].ID != b.ID {
			return fmt.Errorf("active page 2 (the done task left out): %+v %v", rest, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// testClaimDelivery: a due delivery is claimed once; the claim moves its next attempt on, so it is
// neither pending nor claimable again until then; a claim from a stale read (attempts or next
// attempt changed, sent, given up) fails; senders racing for the same delivery get it once.
func testClaimDelivery(t *testing.T, s store.Store) {
	ctx := context.Background()
	tk := mkTask("m1", task.Open)
	create(t, s, tk)
	var msgs []store.Message
	for i := range 4 {
		msgs = append(msgs, store.Message{TaskID: tk.ID, To: "alice", Channel: "telegram", Address: "111", Text: fmt.Sprint(i), CreatedAt: t0})
	}
	if err := s.InTx(ctx, func(tx store.Tx) error { return tx.Enqueue(ctx, msgs) }); err != nil {
		t.Fatal(err)
	}
	p, err := s.Pending(ctx, t0, 10)
	if err != nil || len(p) != 4 {
		t.Fatalf("pending %+v %v", p, err)
	}
	claim := func(m store.Message, until time.Time) bool {
		t.Helper()
		var ok bool
		if err := s.InTx(ctx, func(tx store.Tx) error {
			var err error
			ok, err = tx.ClaimDelivery(ctx, m, until)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	record := func(a store.Attempt) {
		t.Helper()
		if err := s.InTx(ctx, func(tx store.Tx) error { return tx.RecordAttempt(ctx, a) }); err != nil {
			t.Fatal(err)
		}
	}
	until := t0.Add(3 * time.Minute)
	t.Run("once", func(t *testing.T) {
		if !claim(p[0], until) {
			t.Fatal("a due delivery was not claimed")
		}
		if claim(p[0], until) {
			t.Fatal("claimed twice from the same read")
		}
		if got, _ := s.Pending(ctx, until.Add(-time.Second), 10); len(got) != 3 {
			t.Fatalf("a claimed delivery is pending again before its claim ends: %d pending", len(got))
		}
		again, _ := s.Pending(ctx, until, 10)
		if len(again) != 4 || again[0].ID != p[0].ID || !again[0].NextAt.Equal(until) {
			t.Fatalf("after the claim ends (a sender died): %+v", again)
		}
		if !claim(again[0], until.Add(time.Minute)) {
			t.Fatal("an expired claim was not taken over")
		}
	})
	t.Run("stale read", func(t *testing.T) {
		record(store.Attempt{MessageID: p[1].ID, TaskID: tk.ID, At: t0, Result: store.AttemptFailed, Error: "x", NextAt: t0})
		if claim(p[1], until) {
			t.Fatal("claimed with a stale attempt count")
		}
		record(store.Attempt{MessageID: p[2].ID, TaskID: tk.ID, At: t0, Result: store.AttemptSent})
		if claim(p[2], until) {
			t.Fatal("claimed a sent delivery")
		}
	})
	t.Run("race", func(t *testing.T) {
		const n = 8
		wins := make(chan bool, n)
		for range n {
			go func() {
				var ok bool
				err := s.InTx(ctx, func(tx store.Tx) error {
					var err error
					ok, err = tx.ClaimDelivery(ctx, p[3], until)
					return err
				})
				if err != nil {
					t.Error(err)
				}
				wins <- ok
			}()
		}
		won := 0
		for range n {
			if <-wins {
				won++
			}
		}
		if won != 1 {
			t.Fatalf("%d of %d racing senders claimed the delivery, want 1", won, n)
		}
	})
}
