package sqldb

import (
	"context"
	"database/sql"
	"sync"
	"time"
)

// Statistics after growth (PostgreSQL). The intake looks rows up by key in batches (Prefetch:
// WHERE machine IN (…), WHERE key IN (…)); the planner picks index scans for them only once it
// knows the keys are nearly unique, which it learns from ANALYZE. Autovacuum analyses a table
// after 10 % of it changed, but looks only once a minute, so a fresh store (or one that a storm
// doubles) planned those lookups as sequential scans of the whole growing table for the first
// minute of a burst: at 30,000 tasks, a third of the intake's throughput. The store therefore
// runs ANALYZE on the columns those lookups filter on, in the background, once the rows its
// transactions added reach what the tables held at the last ANALYZE (at least analyzeMinRows):
// each time the store doubles, a handful of times while it grows by orders of magnitude, never in
// steady state, where autovacuum keeps up. That is enough: the planner scales the row counts of
// the last ANALYZE by the tables' current size, and what it learns (the keys are nearly unique,
// as a fraction of the rows) holds as they grow. A failed ANALYZE is dropped: autovacuum does it
// within a minute anyway.
type growth struct {
	mu      sync.Mutex
	rows    int     // added since the last ANALYZE began
	base    float64 // rows in the tables at the last ANALYZE
	running bool
	closed  bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// analyzeMinRows is the growth that triggers the first ANALYZE. analyzeColumns are the columns
// the store's lookups filter on, the only ones analysed: a full ANALYZE also sorts samples of the
// label and annotation texts, and cost a sixth of the database's CPU in a long burst.
const (
	analyzeMinRows = 1000
	analyzeColumns = "tasks (machine, state, closed_at, assignee, team), problems (key, task_id, firing), " +
		"outbox (task_id, next_at, sent_at, gave_up), early_resolves (key)"
)

// added counts rows a committed transaction added, and starts an ANALYZE when they are enough.
func (g *growth) added(db *sql.DB, n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.rows += n
	if g.running || g.closed || float64(g.rows) < max(analyzeMinRows, g.base) {
		return
	}
	g.running, g.rows = true, 0
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	g.cancel = cancel
	g.wg.Go(func() {
		defer cancel()
		var base float64
		_, err := db.ExecContext(ctx, `ANALYZE `+analyzeColumns)
		if err == nil {
			err = db.QueryRowContext(ctx, `SELECT COALESCE(SUM(GREATEST(reltuples, 0)), 0) FROM pg_class
WHERE relkind = 'r' AND relname IN ('tasks', 'problems', 'outbox', 'early_resolves') AND relnamespace = current_schema()::regnamespace`).Scan(&base)
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		g.running = false
		if err == nil {
			g.base = base
		}
	})
}

// stop cancels an ANALYZE in progress and waits for it (Close).
func (g *growth) stop() {
	g.mu.Lock()
	g.closed = true
	if g.cancel != nil {
		g.cancel()
	}
	g.mu.Unlock()
	g.wg.Wait()
}
