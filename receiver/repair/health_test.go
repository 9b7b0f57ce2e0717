package repair

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/minefarm/cgminer-stack/receiver/task"
)

// lockDB holds SQLite's write lock on the receiver's database file from another connection (as
// a backup tool or a second receiver would): reads still work, every write fails once the busy
// timeout passes. It returns the function that lets go.
func lockDB(t *testing.T, file string) (release func()) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+file+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`INSERT INTO heartbeats (name, last_seen) VALUES ('other-writer', 1)`); err != nil {
		t.Fatal(err)
	}
	done := false
	release = func() {
		if !done {
			done = true
			tx.Rollback()
			db.Close()
		}
	}
	t.Cleanup(release)
	return release
}

// The store answering reads is not enough to be ready: with every write failing (the database
// locked by another connection, a full disk) /-/ready must say so, and the metrics must show it.
func TestReadyReflectsCommitFailures(t *testing.T) {
	e := newEnvBusy(t, "", 100*time.Millisecond)
	ingest := func(a al) error {
		_, err := e.ingest(a)
		return err
	}
	if err := ingest(fan); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Ready(e.ctx); err != nil {
		t.Fatalf("not ready with a healthy store: %v", err)
	}
	okAt := testutil.ToFloat64(e.m.LastCommit)
	if okAt != float64(t0.Unix()) {
		t.Fatalf("last commit success %v, want %v", okAt, t0.Unix())
	}

	release := lockDB(t, e.file)
	e.clk.Add(time.Second)
	if err := ingest(hot); err == nil {
		t.Fatal("a write went through a locked database")
	}
	if err := e.st.Ping(e.ctx); err != nil {
		t.Fatalf("ping (reads) should still work: %v", err)
	}
	// One failed commit, more recent than the last good one: not ready.
	err := e.svc.Ready(e.ctx)
	if err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("ready while the last commit failed: %v", err)
	}
	if got := testutil.ToFloat64(e.m.CommitFailures); got != 1 {
		t.Fatalf("commit failures %v, want 1", got)
	}
	// A worker's action fails the same way and counts.
	id := e.tasks()[0].ID
	if _, err := e.svc.Act(e.ctx, id, "alice", Action{Kind: "ack"}); err == nil {
		t.Fatal("an action went through a locked database")
	}
	if err := ingest(hot); err == nil {
		t.Fatal("a write went through a locked database")
	}
	// Three failures and more: not ready however long ago, until a write succeeds. The probe
	// (every 10 s at most) keeps failing while the lock is held.
	e.clk.Add(5 * time.Minute)
	if err := e.svc.Ready(e.ctx); err == nil || !strings.Contains(err.Error(), "commits failed") {
		t.Fatalf("ready after %v failed commits: %v", testutil.ToFloat64(e.m.CommitFailures), err)
	}
	if got := testutil.ToFloat64(e.m.LastCommit); got != okAt {
		t.Fatalf("last commit success moved to %v while nothing committed", got)
	}

	// The lock goes away. A transaction that only reads (a verification with nothing to decide)
	// commits even on a full disk: it proves nothing, readiness stays off until a write commits.
	release()
	e.clk.Add(time.Second)
	if _, err := e.svc.Verified(e.ctx, id, task.Check{}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Ready(e.ctx); err == nil {
		t.Fatal("a read-only commit made the receiver ready")
	}
	// The next probe (10 s after the last attempt) writes, and the receiver is ready again.
	e.clk.Add(10 * time.Second)
	if err := e.svc.Ready(e.ctx); err != nil {
		t.Fatalf("still not ready once writes work again: %v", err)
	}
	if got := testutil.ToFloat64(e.m.LastCommit); got != float64(e.clk.Now().Unix()) {
		t.Fatalf("last commit success %v after the probe, want %v", got, e.clk.Now().Unix())
	}
	if err := ingest(hot); err != nil {
		t.Fatal(err)
	}
	// A transition the task rules refuse rolls back on purpose: not a store failure.
	failures := testutil.ToFloat64(e.m.CommitFailures)
	if _, err := e.svc.Act(e.ctx, id, "alice", Action{Kind: "fixed", Text: "x"}); err == nil {
		t.Fatal("fixed on an open task")
	}
	if got := testutil.ToFloat64(e.m.CommitFailures); got != failures {
		t.Fatalf("a refused transition counted as a commit failure (%v → %v)", failures, got)
	}
	if err := e.svc.Ready(e.ctx); err != nil {
		t.Fatalf("not ready after a refused transition: %v", err)
	}
	// Every sweep writes: an idle receiver's last commit stays fresh.
	e.clk.Add(time.Minute)
	e.sweep()
	if got := testutil.ToFloat64(e.m.LastCommit); got != float64(e.clk.Now().Unix()) {
		t.Fatalf("last commit success %v after a sweep, want %v", got, e.clk.Now().Unix())
	}
}

// One failure long ago with nothing written since does not keep the receiver unready.
func TestReadyAfterAnOldSingleFailure(t *testing.T) {
	e := newEnvBusy(t, "", 50*time.Millisecond)
	release := lockDB(t, e.file)
	if _, err := e.ingest(fan); err == nil {
		t.Fatal("write through a lock")
	}
	release()
	for _, tc := range []struct {
		after time.Duration
		ready bool
	}{{30 * time.Second, true}, {2 * time.Minute, true}} {
		t.Run(fmt.Sprint(tc.after), func(t *testing.T) {
			// 30 s: within the minute, but the probe (10 s since the failure) writes and succeeds.
			e.clk.Add(tc.after)
			if err := e.svc.Ready(e.ctx); (err == nil) != tc.ready {
				t.Fatalf("ready %v, want %v (%v)", err == nil, tc.ready, err)
			}
		})
	}
}
