// Package postgres is the PostgreSQL store (pgx/v5 through database/sql). It runs the same SQL as
// the SQLite store (package sqldb) against its own copy of the schema, and passes the same
// conformance suite. Writers are not serialised in the process: rows read for update are locked
// (SELECT … FOR UPDATE), the partial unique index keeps one open task per machine, and a unique
// violation, serialization failure or deadlock makes the caller retry the whole transaction.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	"github.com/minefarm/cgminer-stack/receiver/store/sqldb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// maxConns bounds the connections to PostgreSQL: the intake's groups, workers' actions, the
// outbox, verification and the board side by side.
const maxConns = 16

// Open connects to dsn and migrates the schema.
func Open(ctx context.Context, dsn string) (*sqldb.DB, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	// Keep every connection open between transactions: database/sql keeps 2 idle by default,
	// and a burst that runs a few transactions side by side then opened a new one (a new
	// PostgreSQL backend process, its caches cold) for nearly every transaction.
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect postgres: %w", err)
	}
	if err := sqldb.Migrate(ctx, db, migrations, "migrations"); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate postgres: %w", err)
	}
	return sqldb.New(db, sqldb.Dialect{IsConflict: isConflict, ForUpdate: " FOR UPDATE", SkipLocked: " FOR UPDATE SKIP LOCKED",
		DriverCachesStatements: true, Sequences: true, Analyze: true, MachineLocks: true}), nil
}

func isConflict(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case "23505", "40001", "40P01": // unique_violation, serialization_failure, deadlock_detected
		return true
	}
	return false
}
