package storetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/minefarm/cgminer-stack/receiver/store"
)

// testRemediations: the remediation log keeps each decision, finds a machine's last one, counts
// attempts per site and per task since a time (refusals and rate limits are not attempts),
// bounds what it stores, and prunes old rows.
func testRemediations(t *testing.T, s store.Store) {
	ctx := context.Background()
	siteA, siteB := "site-a", "site-b"
	rows := []store.Remediation{
		{TaskID: 1, Machine: "10.0.0.1", Site: siteA, Target: "10.0.0.1:4028", Result: store.RemedySent, Reply: `{"STATUS":"RESTART","id":1}`, At: t0},
		{TaskID: 1, Machine: "10.0.0.1", Site: siteA, Target: "10.0.0.1:4028", Result: store.RemedyFailed, Reply: "timeout", At: t0.Add(40 * time.Minute)},
		{TaskID: 2, Machine: "10.0.0.2", Site: siteA, Target: "10.0.0.2:4028", Result: store.RemedyDryRun, At: t0.Add(10 * time.Minute)},
		{TaskID: 3, Machine: "10.0.0.3", Site: siteA, Result: store.RemedyRefused, Reply: "not in allowed_targets", At: t0.Add(20 * time.Minute)},
		{TaskID: 4, Machine: "10.0.0.4", Site: siteA, Target: "10.0.0.4:4028", Result: store.RemedyRateLimited, At: t0.Add(30 * time.Minute)},
		{TaskID: 5, Machine: "10.1.0.1", Site: siteB, Target: "10.1.0.1:4028", Result: store.RemedyPending, At: t0.Add(50 * time.Minute)},
	}
	err := s.InTx(ctx, func(tx store.Tx) error {
		for i := range rows {
			if err := tx.AddRemediation(ctx, &rows[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		if r.ID == 0 {
			t.Fatalf("row %d got no id", i)
		}
	}
	var last *store.Remediation
	count := func(q store.RemediationCount) int {
		t.Helper()
		var n int
		if err := s.InTx(ctx, func(tx store.Tx) error {
			var err error
			n, err = tx.CountRemediations(ctx, q)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	lastOf := func(machine string) *store.Remediation {
		t.Helper()
		if err := s.InTx(ctx, func(tx store.Tx) error {
			var err error
			last, err = tx.LastRemediation(ctx, machine)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return last
	}
	if got := lastOf("10.0.0.1"); got == nil || got.ID != rows[1].ID || got.Result != store.RemedyFailed || !got.At.Equal(rows[1].At) || got.Reply != "timeout" {
		t.Errorf("last of 10.0.0.1: %+v, want row %d", got, rows[1].ID)
	}
	if got := lastOf("10.9.9.9"); got != nil {
		t.Errorf("last of a machine never remediated: %+v", got)
	}
	for _, tc := range []struct {
		name string
		q    store.RemediationCount
		want int
	}{
		{"site a, all time", store.RemediationCount{Site: &siteA}, 3}, // sent, failed, dry run
		{"site a, last 25 minutes", store.RemediationCount{Site: &siteA, Since: t0.Add(25 * time.Minute)}, 1},
		{"site b: a pending attempt counts", store.RemediationCount{Site: &siteB}, 1},
		{"task 1", store.RemediationCount{TaskID: 1}, 2},
		{"task 3: refusals are not attempts", store.RemediationCount{TaskID: 3}, 0},
		{"task 4: rate limits are not attempts", store.RemediationCount{TaskID: 4}, 0},
		{"everything", store.RemediationCount{}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := count(tc.q); got != tc.want {
				t.Errorf("%d, want %d", got, tc.want)
			}
		})
	}

	// A pending attempt ends; the row says how.
	done := t0.Add(51 * time.Minute)
	if err := s.InTx(ctx, func(tx store.Tx) error {
		return tx.FinishRemediation(ctx, rows[5].ID, store.RemedySent, "ok\x00"+strings.Repeat("é", 5000), done)
	}); err != nil {
		t.Fatal(err)
	}
	got := lastOf("10.1.0.1")
	if got.Result != store.RemedySent || !got.DoneAt.Equal(done) || len(got.Reply) > 4096 || strings.Contains(got.Reply, "\x00") ||
		!strings.HasPrefix(got.Reply, "ok") || !strings.HasSuffix(got.Reply, "é") {
		t.Errorf("finished row: result %s done %v reply %d bytes %q…", got.Result, got.DoneAt, len(got.Reply), got.Reply[:min(8, len(got.Reply))])
	}
	if err := s.InTx(ctx, func(tx store.Tx) error { return tx.FinishRemediation(ctx, 999999, store.RemedySent, "", done) }); err == nil {
		t.Error("finishing a row that does not exist succeeded")
	}

	// Pruning forgets what was decided before the cut.
	var n int
	if err := s.InTx(ctx, func(tx store.Tx) error {
		var err error
		n, err = tx.PruneRemediations(ctx, t0.Add(35*time.Minute))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("pruned %d, want 4", n)
	}
	if got := count(store.RemediationCount{Site: &siteA}); got != 1 {
		t.Errorf("site a after pruning: %d, want 1", got)
	}
	if got := lastOf("10.0.0.2"); got != nil {
		t.Errorf("a pruned row is still found: %+v", got)
	}
}
