package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/store/postgres/pgtest"
	"github.com/minefarm/cgminer-stack/receiver/store/storetest"
	"github.com/minefarm/cgminer-stack/receiver/task"
)

var srv *pgtest.Server

// TestMain starts a throw-away PostgreSQL 15 on a loopback port in a temporary directory. Missing
// binaries fail the tests: install postgresql-15.
func TestMain(m *testing.M) {
	var err error
	if srv, err = pgtest.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "FATAL: cannot start PostgreSQL 15 for the store tests (apt-get install postgresql-15):", err)
		os.Exit(1)
	}
	code := m.Run()
	srv.Stop()
	os.Exit(code)
}

// Open returns a store on a fresh database.
func open(t *testing.T) store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dsn, err := srv.Database(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, open)
}

func TestMigrationsRunOnce(t *testing.T) {
	ctx := context.Background()
	s := open(t).(interface{ SQL() *sql.DB })
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil || len(files) < 2 {
		t.Fatalf("embedded migrations %v %v", files, err)
	}
	var n int
	if err := s.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n != len(files) {
		t.Fatalf("schema_migrations: %d rows for %d files (%v)", n, len(files), err)
	}
}

// Transactions side by side reuse the pool's connections: database/sql keeps only two idle by
// default, and then nearly every transaction of a burst opened a new one (a new backend process
// on the server, its caches cold).
func TestConnectionsKeptBetweenTransactions(t *testing.T) {
	s := open(t)
	db := s.(interface{ SQL() *sql.DB }).SQL()
	ctx := context.Background()
	for range 5 {
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				err := s.InTx(ctx, func(tx store.Tx) error {
					_, err := tx.OpenTask(ctx, "instance=\"10.0.0.1:4028\"")
					time.Sleep(5 * time.Millisecond)
					return err
				})
				if err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	if st := db.Stats(); st.MaxIdleClosed > 0 || st.OpenConnections < 8 {
		t.Fatalf("%d connections closed for want of an idle slot, %d open; want 0 closed, 8 open", st.MaxIdleClosed, st.OpenConnections)
	}
}

// A store that grows by a quarter analyses its busiest tables itself (sqldb/analyze.go), so that
// the intake's batched lookups are planned as index scans before autovacuum looks (once a
// minute); a few rows do not.
func TestAnalyzeAfterGrowth(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	db := s.(interface{ SQL() *sql.DB }).SQL()
	add := func(from, n int) {
		t.Helper()
		err := s.InTx(ctx, func(tx store.Tx) error {
			for i := from; i < from+n; i++ {
				if err := tx.CreateTask(ctx, mkTask(fmt.Sprintf("instance=\"10.1.%d.%d:4028\"", i>>8, i&255))); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	analyzed := func() bool {
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM pg_stat_user_tables WHERE relname = 'tasks' AND analyze_count > 0`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n > 0
	}
	add(0, 50)
	time.Sleep(500 * time.Millisecond)
	if analyzed() {
		t.Fatal("tasks analysed after 50 rows")
	}
	add(50, 1000)
	deadline := time.Now().Add(10 * time.Second)
	for !analyzed() {
		if time.Now().After(deadline) {
			t.Fatal("tasks not analysed 10 s after growing to 1,050 rows")
		}
		time.Sleep(50 * time.Millisecond)
	}
	var plan string
	if err := db.QueryRow(`EXPLAIN SELECT id FROM tasks WHERE machine IN ('a', 'b', 'c') AND state NOT IN ('done','auto_resolved','cancelled')`).Scan(&plan); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(plan, "Index") {
		t.Fatalf("lookup by machine after ANALYZE planned as %q, want an index scan", plan)
	}
}

// Ids taken ahead from a sequence serve the following transactions (sqldb.seqPool): twenty
// one-task transactions take a few blocks, not a block each, and their ids still increase.
func TestIDsTakenAheadServeLaterTransactions(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	db := s.(interface{ SQL() *sql.DB }).SQL()
	var last int64
	for i := range 20 {
		tk := mkTask(fmt.Sprintf("instance=\"10.2.0.%d:4028\"", i))
		if err := s.InTx(ctx, func(tx store.Tx) error { return tx.CreateTask(ctx, tk) }); err != nil {
			t.Fatal(err)
		}
		if tk.ID <= last {
			t.Fatalf("task %d got id %d after %d", i, tk.ID, last)
		}
		last = tk.ID
	}
	var taken int64
	if err := db.QueryRow(`SELECT last_value FROM pg_sequences WHERE sequencename = 'tasks_id_seq'`).Scan(&taken); err != nil {
		t.Fatal(err)
	}
	if taken > 3*20/2 {
		t.Fatalf("the sequence went to %d for 20 tasks: a block per transaction", taken)
	}
}

func mkTask(machine string) *task.Task {
	now := time.Now()
	return &task.Task{Machine: machine, State: task.Open, Title: "fan", Severity: "critical", Category: "fan",
		CreatedAt: now, UpdatedAt: now, OpenedAt: now}
}

// Two transactions storing new tasks for the same machines, in opposite orders, as two replicas
// given the same burst do: the machine locks Prefetch takes make the later one wait and then see
// the earlier one's tasks, so both commit, without a unique violation or a deadlock (which
// PostgreSQL reported only after deadlock_timeout).
func TestPrefetchSerialisesGroupsOnTheSameMachines(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	machines := []string{`instance="10.3.0.1:4028"`, `instance="10.3.0.2:4028"`, `instance="10.3.0.3:4028"`}
	var ready sync.WaitGroup
	ready.Add(2)
	errs := make(chan error, 2)
	for i := range 2 {
		order := slices.Clone(machines)
		if i == 1 {
			slices.Reverse(order)
		}
		go func() {
			var pq store.PrefetchQuery
			for _, m := range order {
				pq.Alerts = append(pq.Alerts, store.PrefetchAlert{Machine: m, Key: m + "/fan", StartsAt: time.Now(), Firing: true})
			}
			errs <- s.InTx(ctx, func(tx store.Tx) error {
				ready.Done()
				ready.Wait() // both transactions begun before either takes its locks
				if err := tx.Prefetch(ctx, pq); err != nil {
					return err
				}
				for _, m := range order {
					open, err := tx.OpenTask(ctx, m)
					if err != nil {
						return err
					}
					if open == nil {
						if err := tx.CreateTask(ctx, mkTask(m)); err != nil {
							return err
						}
					}
					time.Sleep(20 * time.Millisecond) // the other one runs meanwhile
				}
				return nil
			})
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("a transaction failed (the other holds the same machines): %v", err)
		}
	}
	var n int
	if err := s.(interface{ SQL() *sql.DB }).SQL().QueryRow(`SELECT COUNT(*) FROM tasks`).Scan(&n); err != nil || n != 3 {
		t.Fatalf("%d tasks (%v), want 3", n, err)
	}
}
