package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"os"
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
