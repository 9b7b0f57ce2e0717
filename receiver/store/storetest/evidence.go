package storetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/task"
)

// testEvidence: facts become due when a task wants them, only while it is open; a snapshot is
// kept once per task, round-trips its body (NUL bytes and invalid UTF-8 made storable) and
// leaves the pending list once taken; Headlines puts firing problems first; Urgent orders the
// board critical first, then oldest.
func testEvidence(t *testing.T, s store.Store) {
	ctx := context.Background()
	a, b, c := mkTask("m-a", task.Open), mkTask("m-b", task.Done), mkTask("m-c", task.Open)
	b.ClosedAt = t0
	for _, tk := range []*task.Task{a, b, c} {
		create(t, s, tk)
	}
	want := func(tk *task.Task, snap *store.Snapshot, at time.Time) {
		t.Helper()
		if err := s.InTx(ctx, func(tx store.Tx) error { return tx.WantEvidence(ctx, tk.ID, snap, at) }); err != nil {
			t.Fatal(err)
		}
	}
	want(a, &store.Snapshot{Target: "10.0.0.1", Module: "default"}, t0)
	want(b, &store.Snapshot{Target: "10.0.0.2", Module: "default"}, t0)
	want(c, nil, t0.Add(time.Minute))

	due, err := s.FactsDue(ctx, t0.Add(time.Minute), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 2 || due[0].TaskID != a.ID || due[1].TaskID != c.ID || due[0].Identity["instance"] != "m-a" {
		t.Fatalf("facts due (closed task b left out, oldest due first): %+v", due)
	}
	if due, _ := s.FactsDue(ctx, t0, 10); len(due) != 1 {
		t.Fatalf("c is not due before its time: %+v", due)
	}
	f := task.Facts{Model: "Antminer S19j Pro", Firmware: "braiins", Software: "bosminer", Serial: "SN\x00123", MAC: "aa:bb:cc:dd:ee:ff",
		ProbeError: "timeout", AskedAt: t0.Add(2 * time.Minute)}
	if err := s.SaveFacts(ctx, a.ID, f, t0.Add(7*time.Minute), ""); err != nil {
		t.Fatal(err)
	}
	// A failed ask keeps what is known.
	if err := s.SaveFacts(ctx, a.ID, task.Facts{}, t0.Add(8*time.Minute), "prometheus: connection refused"); err != nil {
		t.Fatal(err)
	}
	got, err := s.Facts(ctx, []int64{a.ID, b.ID, c.ID, 999})
	if err != nil {
		t.Fatal(err)
	}
	fa := got[a.ID]
	if fa.Model != f.Model || fa.Serial != "SN123" || fa.MAC != f.MAC || fa.ProbeError != "timeout" || !fa.AskedAt.Equal(f.AskedAt) || fa.Software != "bosminer" {
		t.Fatalf("facts of a: %+v", fa)
	}
	if _, ok := got[999]; ok || len(got) != 3 {
		t.Fatalf("facts: %+v", got)
	}
	if due, _ := s.FactsDue(ctx, t0.Add(7*time.Minute), 10); len(due) != 1 || due[0].TaskID != c.ID {
		t.Fatalf("a is due again at 8m, not 7m: %+v", due)
	}
	if err := s.SaveFacts(ctx, c.ID, task.Facts{Model: strings.Repeat("é", 300), AskedAt: t0}, t0.Add(time.Hour), ""); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Facts(ctx, []int64{c.ID}); len(got[c.ID].Model) > store.MaxFactValue || !strings.HasPrefix(got[c.ID].Model, "éé") {
		t.Fatalf("a long fact is cut on a rune boundary: %d bytes", len(got[c.ID].Model))
	}

	// Snapshots: a and b pending, c has none; a second WantEvidence keeps the first.
	want(a, &store.Snapshot{Target: "10.9.9.9", Module: "other"}, t0.Add(time.Hour))
	sd, err := s.SnapshotsDue(ctx, t0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(sd) != 2 || sd[0].TaskID != a.ID || sd[0].Target != "10.0.0.1" || sd[0].Module != "default" || sd[0].State != store.SnapshotPending {
		t.Fatalf("snapshots due: %+v", sd)
	}
	body := "Probe of 10.0.0.1\n<script>alert(1)</script>\x00\xff end"
	sn := sd[0]
	sn.State, sn.Attempts, sn.TakenAt, sn.Status, sn.Truncated, sn.Body = store.SnapshotTaken, 2, t0.Add(3*time.Second), 200, true, body
	if err := s.SaveSnapshot(ctx, sn); err != nil {
		t.Fatal(err)
	}
	back, ok, err := s.Snapshot(ctx, a.ID)
	if err != nil || !ok {
		t.Fatalf("snapshot of a: %v %v", ok, err)
	}
	if back.State != store.SnapshotTaken || back.Attempts != 2 || !back.TakenAt.Equal(sn.TakenAt) || back.Status != 200 || !back.Truncated ||
		back.Body != "Probe of 10.0.0.1\n<script>alert(1)</script>\uFFFD end" {
		t.Fatalf("snapshot round trip: %+v", back)
	}
	if sd, _ := s.SnapshotsDue(ctx, t0.Add(time.Hour), 10); len(sd) != 1 || sd[0].TaskID != b.ID {
		t.Fatalf("taken snapshot still due: %+v", sd)
	}
	if _, ok, err := s.Snapshot(ctx, c.ID); ok || err != nil {
		t.Fatalf("task without snapshot: %v %v", ok, err)
	}

	// Headlines: firing first, newest first, bounded per task.
	err = s.InTx(ctx, func(tx store.Tx) error {
		for i, firing := range []bool{false, true, false, true, false} {
			p := &task.Problem{TaskID: a.ID, Key: "hk", Alertname: "MinerFanFailure", StartsAt: t0.Add(time.Duration(i) * time.Minute), Firing: firing,
				Labels: map[string]string{"n": string(rune('0' + i))}}
			if err := tx.AddProblem(ctx, p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	hl, err := s.Headlines(ctx, []int64{a.ID, c.ID}, 3)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, p := range hl[a.ID] {
		order = append(order, p.Labels["n"])
	}
	if strings.Join(order, ",") != "3,1,4" || len(hl[c.ID]) != 0 {
		t.Fatalf("headlines of a: %v (want firing 3,1 then cleared 4); c: %v", order, hl[c.ID])
	}

	// Urgent: critical before warning, oldest first within.
	for i, sev := range []string{"warning", "critical", "info", "critical"} {
		tk := mkTask("u"+string(rune('0'+i)), task.Acknowledged)
		tk.Severity, tk.OpenedAt = sev, t0.Add(time.Duration(10-i)*time.Minute)
		create(t, s, tk)
	}
	ts, err := s.ListTasks(ctx, store.Filter{States: []task.State{task.Acknowledged}, Urgent: true})
	if err != nil {
		t.Fatal(err)
	}
	var seq []string
	for _, tk := range ts {
		seq = append(seq, tk.Machine)
	}
	if strings.Join(seq, ",") != "u3,u1,u0,u2" {
		t.Fatalf("urgent order %v, want u3,u1 (critical, oldest first), u0 (warning), u2 (info)", seq)
	}
}
