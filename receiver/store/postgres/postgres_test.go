package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/store/postgres/pgtest"
	"github.com/minefarm/cgminer-stack/receiver/store/storetest"
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
