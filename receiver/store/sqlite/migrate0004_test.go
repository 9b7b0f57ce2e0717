package sqlite

import (
	"context"
	"database/sql"
	"io/fs"
	"path/filepath"
	"strconv"
	"testing"
	"testing/fstest"
	"time"

	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/store/sqldb"
	"github.com/minefarm/cgminer-stack/receiver/task"
)

// A database from before the ladder (migrations 0001-0003, the outbox with a pending row) migrates
// to 0004: an open task escalated since it opened is on the lead's step, step_at is its last
// event of the kind, and the old outbox row is kept for the default channel.
func TestMigrationToTheLadder(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "r.db")
	db, err := sql.Open("sqlite", "file:"+file+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	old := fstest.MapFS{}
	entries, _ := fs.ReadDir(migrations, "migrations")
	for _, e := range entries {
		if n := e.Name(); n < "0004" {
			b, _ := fs.ReadFile(migrations, "migrations/"+n)
			old["migrations/"+n] = &fstest.MapFile{Data: b}
		}
	}
	if err := sqldb.Migrate(ctx, db, old, "migrations"); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	us := func(d time.Duration) int64 { return t0.Add(d).UnixMicro() }
	for _, q := range []string{
		`INSERT INTO tasks (id, machine, state, created_at, updated_at, opened_at, last_escalated_at, escalations) VALUES (1, 'a', 'open', ` +
			itoa(us(0)) + `, ` + itoa(us(0)) + `, ` + itoa(us(0)) + `, ` + itoa(us(30*time.Minute)) + `, 1)`,
		`INSERT INTO tasks (id, machine, state, created_at, updated_at, opened_at, acked_at, started_at) VALUES (2, 'b', 'in_progress', ` +
			itoa(us(0)) + `, ` + itoa(us(0)) + `, ` + itoa(us(0)) + `, ` + itoa(us(time.Minute)) + `, ` + itoa(us(2*time.Minute)) + `)`,
		`INSERT INTO outbox (task_id, recipient, text, created_at, next_at) VALUES (1, 'carol', 'ESCALATED', ` + itoa(us(0)) + `, ` + itoa(us(0)) + `)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	s, err := Open(ctx, file)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got []task.Task
	err = s.InTx(ctx, func(tx store.Tx) error {
		got, err = tx.ActiveTasks(ctx, 0, 10)
		return err
	})
	if err != nil || len(got) != 2 {
		t.Fatalf("%+v %v", got, err)
	}
	if a := got[0]; a.LadderStep != 1 || !a.StepAt.Equal(t0.Add(30*time.Minute)) || !a.EscalateAt.IsZero() {
		t.Fatalf("escalated open task: step %d at %s", a.LadderStep, a.StepAt)
	}
	if b := got[1]; b.LadderStep != 0 || !b.StepAt.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("in-progress task: step %d at %s", b.LadderStep, b.StepAt)
	}
	p, err := s.Pending(ctx, t0, 10)
	if err != nil || len(p) != 1 || p[0].Channel != "" || p[0].To != "carol" || len(p[0].Fields) != 0 {
		t.Fatalf("old outbox row %+v %v", p, err)
	}
	if _, err := s.Undeliverable(ctx, []int64{1}); err != nil {
		t.Fatal(err)
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
