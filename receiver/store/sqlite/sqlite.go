// Package sqlite is the embedded default store: one SQLite file (modernc.org/sqlite, pure Go) in WAL
// mode with synchronous=FULL, so a commit is on disk before the webhook answers 2xx. The schema
// migrations are embedded and applied at start.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"net/url"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"github.com/minefarm/cgminer-stack/receiver/store/sqldb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options tune the SQLite store.
type Options struct {
	// BusyTimeout is how long a statement waits for a lock another process holds before it
	// fails with "database is locked"; 0: 10 s.
	BusyTimeout time.Duration
}

// Open opens (creating if needed) the database at file and migrates it.
func Open(ctx context.Context, file string) (*sqldb.DB, error) {
	return OpenWith(ctx, file, Options{})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, file string, o Options) (*sqldb.DB, error) {
	busy := o.BusyTimeout
	if busy <= 0 {
		busy = 10 * time.Second
	}
	q := url.Values{}
	for _, p := range []string{fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()), "journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(1)", "temp_store(MEMORY)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+file+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", file, err)
	}
	// Connections stay open between transactions (database/sql keeps 2 idle by default): a new
	// one runs the pragmas again and starts with a cold page and statement cache.
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	if err := sqldb.Migrate(ctx, db, migrations, "migrations"); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate %s: %w", file, err)
	}
	return sqldb.New(db, sqldb.Dialect{
		IsConflict:    func(err error) bool { return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed") },
		SerialWriters: true,
		BatchParams:   144,
	}), nil
}
