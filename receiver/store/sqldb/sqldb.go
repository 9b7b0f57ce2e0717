// Package sqldb implements store.Store over database/sql with plain, portable SQL ($n
// placeholders, RETURNING, ON CONFLICT, partial unique indexes), shared by the SQLite and the
// PostgreSQL stores. Timestamps are BIGINT microseconds since the epoch (0 = never), label sets
// are JSON text, booleans are 0/1 integers.
package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/task"
)

// Dialect holds what differs between engines.
type Dialect struct {
	// IsConflict reports a unique-constraint violation.
	IsConflict func(error) bool
	// SerialWriters makes InTx hold a process-wide lock (SQLite has one writer anyway).
	SerialWriters bool
	// BeginForUpdate is appended to SELECTs that read rows a transaction will update
	// (" FOR UPDATE" on PostgreSQL, "" on SQLite whose write lock is per database).
	ForUpdate string
	// SkipLocked is appended to a sub-SELECT that picks a row to claim (" FOR UPDATE SKIP
	// LOCKED" on PostgreSQL: a row another transaction is claiming is left to it, without
	// waiting; "" on SQLite).
	SkipLocked string
	// DriverCachesStatements: the driver prepares each statement once per connection by itself
	// (pgx's default statement cache), so a transaction runs statements without preparing them:
	// database/sql's own Prepare would cost PostgreSQL a round trip to prepare and one to
	// deallocate per statement and transaction. Otherwise (SQLite) statements are prepared once
	// for the database (DB.stmt).
	DriverCachesStatements bool
	// Sequences: ids taken ahead come from the identity columns' sequences (PostgreSQL);
	// otherwise from the largest id, under the database's write lock (SQLite).
	Sequences bool
	// Analyze: the store runs ANALYZE on the columns its lookups filter on itself each time its
	// tables doubled (PostgreSQL; analyze.go).
	Analyze bool
	// MachineLocks: Prefetch takes an advisory lock per machine of the group, in one order
	// (PostgreSQL; batch.go lockMachines), so that replicas storing the same alerts take turns.
	MachineLocks bool
	// BatchParams bounds the parameters of one multi-row INSERT and makes its placeholders "?"
	// (SQLite: modernc.org/sqlite binds each parameter by searching the arguments, so a statement
	// costs the square of its parameters, and "$n" names cost a number formatting each); 0:
	// maxBatchRows rows with "$n" (PostgreSQL).
	BatchParams int
}

// DB is a store.Store.
type DB struct {
	db *sql.DB
	d  Dialect
	mu sync.Mutex

	// stmts are the statements transactions use, prepared once for the database: database/sql
	// keeps each prepared on every connection it was used on, so a transaction no longer parses
	// (SQLite) or prepares and deallocates (PostgreSQL: two round trips) every statement it runs.
	stmtMu sync.Mutex
	stmts  map[string]*sql.Stmt

	seqs seqPool // ids taken ahead (Sequences; batch.go)
	grow growth  // Analyze
}

// maxCachedStmts bounds the statement cache; the store's statements are a fixed set (a few
// dozen), but Loads has one per team size: past the bound a statement is prepared per transaction.
const maxCachedStmts = 256

// New wraps an open, migrated database.
func New(db *sql.DB, d Dialect) *DB { return &DB{db: db, d: d} }

// SerialWriters reports that the store has one writer at a time (SQLite): a writer waiting for
// it waits for the transaction in progress.
func (s *DB) SerialWriters() bool { return s.d.SerialWriters }

// SQL exposes the handle (tests, benchmarks).
func (s *DB) SQL() *sql.DB { return s.db }

func us(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func tm(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// js encodes a label set as JSON text byte for byte as encoding/json does (keys sorted, the same
// escapes, HTML-safe), without its reflection: label and annotation texts are most of what a
// burst writes, and json.Marshal on them was a tenth of the receiver's CPU (FuzzJS checks it).
func js(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	keys := make([]string, 0, len(m))
	n := 2
	for k, v := range m {
		keys = append(keys, k)
		n += len(k) + len(v) + 6
	}
	slices.Sort(keys)
	b := make([]byte, 0, n)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONString(b, m[k])
	}
	return string(append(b, '}'))
}

// appendJSONString appends s as a JSON string, escaped as encoding/json escapes it: \" \\ \b \f
// \n \r \t, other control characters and < > & as \u00XX, U+2028 and U+2029 as \u2028 and
// \u2029, and each byte of invalid UTF-8 as \ufffd.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func unjs(s string) map[string]string {
	m := map[string]string{}
	_ = json.Unmarshal([]byte(s), &m)
	return m
}

// Closed states as SQL literal list (also used by the partial unique index in the migrations).
const closedStates = "('done','auto_resolved','cancelled')"

const taskCols = `id, machine, fleet, identity, location, site, category, severity, title, state, assignee, team,
created_at, updated_at, opened_at, acked_at, started_at, reported_at, closed_at, cleared_at, last_escalated_at,
report, reason, recurrences, failed_repairs, escalations, ladder_step, step_at, step_failed, escalate_at`

type scanner interface{ Scan(...any) error }

func scanTask(r scanner) (task.Task, error) {
	var t task.Task
	var fleet int
	var identity, location, state string
	var c, u, o, a, st, rep, cl, clr, esc, stepAt, escAt int64
	var stepFailed int
	err := r.Scan(&t.ID, &t.Machine, &fleet, &identity, &location, &t.Site, &t.Category, &t.Severity, &t.Title, &state,
		&t.Assignee, &t.Team, &c, &u, &o, &a, &st, &rep, &cl, &clr, &esc, &t.Report, &t.Reason, &t.Recurrences,
		&t.FailedRepairs, &t.Escalations, &t.LadderStep, &stepAt, &stepFailed, &escAt)
	if err != nil {
		return t, err
	}
	t.StepAt, t.StepFailed, t.EscalateAt = tm(stepAt), stepFailed == 1, tm(escAt)
	t.Fleet, t.State = fleet == 1, task.State(state)
	t.Identity, t.Location = unjs(identity), unjs(location)
	t.CreatedAt, t.UpdatedAt, t.OpenedAt, t.AckedAt, t.StartedAt = tm(c), tm(u), tm(o), tm(a), tm(st)
	t.ReportedAt, t.ClosedAt, t.ClearedAt, t.LastEscalatedAt = tm(rep), tm(cl), tm(clr), tm(esc)
	return t, nil
}

func taskArgs(t *task.Task) []any {
	return []any{t.Machine, b2i(t.Fleet), js(t.Identity), js(t.Location), t.Site, t.Category, t.Severity, t.Title,
		string(t.State), t.Assignee, t.Team, us(t.CreatedAt), us(t.UpdatedAt), us(t.OpenedAt), us(t.AckedAt),
		us(t.StartedAt), us(t.ReportedAt), us(t.ClosedAt), us(t.ClearedAt), us(t.LastEscalatedAt), t.Report,
		t.Reason, t.Recurrences, t.FailedRepairs, t.Escalations, t.LadderStep, us(t.StepAt), b2i(t.StepFailed), us(t.EscalateAt)}
}

const problemCols = `id, task_id, key, alertname, category, severity, labels, annotations, starts_at, ends_at, firing,
received_at, resolved_at, fingerprint, generator_url, source_url`

func scanProblem(r scanner) (task.Problem, error) {
	var p task.Problem
	var labels, ann string
	var s, e, rc, rs int64
	var firing int
	err := r.Scan(&p.ID, &p.TaskID, &p.Key, &p.Alertname, &p.Category, &p.Severity, &labels, &ann, &s, &e, &firing,
		&rc, &rs, &p.Fingerprint, &p.GeneratorURL, &p.SourceURL)
	if err != nil {
		return p, err
	}
	p.Labels, p.Annotations = unjs(labels), unjs(ann)
	p.StartsAt, p.EndsAt, p.ReceivedAt, p.ResolvedAt = tm(s), tm(e), tm(rc), tm(rs)
	p.Firing = firing == 1
	return p, nil
}

// InTx implements store.Store.
func (s *DB) InTx(ctx context.Context, fn func(store.Tx) error) error {
	if s.d.SerialWriters {
		s.mu.Lock()
		defer s.mu.Unlock()
	}
	sqlTx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	tx := &Tx{tx: sqlTx, d: s.d, db: s}
	err = fn(tx)
	if err == nil {
		err = tx.flush(ctx) // the inserts held back (batch.go), before the commit
	}
	if err != nil {
		_ = sqlTx.Rollback()
		if s.d.IsConflict(err) {
			return fmt.Errorf("%w: %v", store.ErrConflict, err)
		}
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		if s.d.IsConflict(err) {
			return fmt.Errorf("%w: %v", store.ErrConflict, err)
		}
		return fmt.Errorf("commit: %w", err)
	}
	if s.d.Analyze && tx.added > 0 {
		s.grow.added(s.db, tx.added)
	}
	return nil
}

// Tx implements store.Tx.
type Tx struct {
	tx    *sql.Tx
	d     Dialect
	db    *DB
	stmts map[string]*sql.Stmt
	b     *batch          // inserts held back (batch.go)
	ids   map[string]*ids // ids taken ahead, by table
	pf    *prefetch       // what Prefetch read
	added int             // rows the held inserts added (growth)
}

// stmt returns the database's prepared statement for q (nil once the cache is full).
func (s *DB) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	if st, ok := s.stmts[q]; ok {
		return st, nil
	}
	if len(s.stmts) >= maxCachedStmts {
		return nil, nil
	}
	st, err := s.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if s.stmts == nil {
		s.stmts = map[string]*sql.Stmt{}
	}
	s.stmts[q] = st
	return st, nil
}

// prepared returns the statement for the transaction, once per transaction: a 5,000-alert
// delivery runs the same few statements thousands of times, and parsing them each time was most
// of its cost. It is the database's statement (DB.stmt) bound to the transaction; the binding is
// closed with the transaction, the statement stays prepared on the connection.
func (x *Tx) prepared(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := x.stmts[q]; ok {
		return st, nil
	}
	var st *sql.Stmt
	dbst, err := x.db.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	if dbst != nil {
		st = x.tx.StmtContext(ctx, dbst)
	} else if st, err = x.tx.PrepareContext(ctx, q); err != nil {
		return nil, err
	}
	if x.stmts == nil {
		x.stmts = map[string]*sql.Stmt{}
	}
	x.stmts[q] = st
	return st, nil
}

func (x *Tx) queryRow(ctx context.Context, q string, args ...any) scanner {
	if err := x.flush(ctx); err != nil {
		return errRow{err}
	}
	if x.d.DriverCachesStatements {
		return x.tx.QueryRowContext(ctx, q, args...)
	}
	st, err := x.prepared(ctx, q)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(ctx, args...)
}

func (x *Tx) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if err := x.flush(ctx); err != nil {
		return nil, err
	}
	if x.d.DriverCachesStatements {
		return x.tx.ExecContext(ctx, q, args...)
	}
	st, err := x.prepared(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

func (x *Tx) oneTask(ctx context.Context, q string, args ...any) (*task.Task, error) {
	t, err := scanTask(x.queryRow(ctx, q+x.d.ForUpdate, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &t, nil
}

func (x *Tx) OpenTask(ctx context.Context, machine string) (*task.Task, error) {
	if t, ok, err := x.cachedOpenTask(machine); ok || err != nil {
		return t, err
	}
	t, err := x.oneTask(ctx, `SELECT `+taskCols+` FROM tasks WHERE machine = $1 AND state NOT IN `+closedStates, machine)
	if err != nil {
		return nil, fmt.Errorf("open task: %w", err)
	}
	return t, nil
}

func (x *Tx) ReopenableTask(ctx context.Context, machine, key string, since time.Time) (*task.Task, error) {
	if x.noReopenable(machine, since) {
		return nil, nil
	}
	t, err := x.oneTask(ctx, `SELECT `+taskCols+` FROM tasks WHERE machine = $1 AND state IN ('done','auto_resolved')
AND closed_at >= $2 AND EXISTS (SELECT 1 FROM problems WHERE problems.task_id = tasks.id AND problems.key = $3)
ORDER BY closed_at DESC, id DESC LIMIT 1`,
		machine, us(since), key)
	if err != nil {
		return nil, fmt.Errorf("reopenable task: %w", err)
	}
	return t, nil
}

func (x *Tx) Task(ctx context.Context, id int64) (*task.Task, error) {
	t, err := x.oneTask(ctx, `SELECT `+taskCols+` FROM tasks WHERE id = $1`, id)
	if err != nil {
		return nil, fmt.Errorf("task %d: %w", id, err)
	}
	if t == nil {
		return nil, fmt.Errorf("task %d: %w", id, task.ErrNotFound)
	}
	return t, nil
}

func (x *Tx) CreateTask(ctx context.Context, t *task.Task) error {
	id, err := x.nextID(ctx, "tasks")
	if err != nil {
		return fmt.Errorf("create task: %w", err)
	}
	t.ID = id
	row := append([]any{id}, taskArgs(t)...)
	b := x.held()
	b.taskAt[id] = len(b.tasks)
	b.tasks = append(b.tasks, row)
	b.n++
	x.notedTask(t, row)
	return x.spill(ctx)
}

func (x *Tx) UpdateTask(ctx context.Context, t *task.Task) error {
	row := append([]any{t.ID}, taskArgs(t)...)
	if b := x.b; b != nil {
		if i, ok := b.taskAt[t.ID]; ok { // not inserted yet: insert it as it is now
			b.tasks[i] = row
			x.notedTask(t, row)
			return nil
		}
	}
	defer x.notedTask(t, row)
	args := append(taskArgs(t), t.ID)
	res, err := x.exec(ctx, `UPDATE tasks SET machine=$1, fleet=$2, identity=$3, location=$4, site=$5,
category=$6, severity=$7, title=$8, state=$9, assignee=$10, team=$11, created_at=$12, updated_at=$13, opened_at=$14,
acked_at=$15, started_at=$16, reported_at=$17, closed_at=$18, cleared_at=$19, last_escalated_at=$20, report=$21,
reason=$22, recurrences=$23, failed_repairs=$24, escalations=$25, ladder_step=$26, step_at=$27, step_failed=$28,
escalate_at=$29 WHERE id=$30`, args...)
	if err != nil {
		return fmt.Errorf("update task %d: %w", t.ID, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("update task %d: %w", t.ID, task.ErrNotFound)
	}
	return nil
}

func (x *Tx) Occurrence(ctx context.Context, key string, startsAt time.Time) (*task.Problem, error) {
	if p, ok, err := x.cachedOccurrence(key, startsAt); ok || err != nil {
		return p, err
	}
	p, err := scanProblem(x.queryRow(ctx, `SELECT `+problemCols+` FROM problems WHERE key = $1 AND starts_at = $2`+x.d.ForUpdate,
		key, us(startsAt)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("occurrence: %w", err)
	}
	return &p, nil
}

func (x *Tx) Problems(ctx context.Context, taskID int64) ([]task.Problem, error) {
	return problems(ctx, txQuerier{x}, taskID)
}

func (x *Tx) HasProblem(ctx context.Context, taskID int64, key string) (bool, error) {
	return x.exists(ctx, "problem of task", `SELECT 1 FROM problems WHERE task_id = $1 AND key = $2 LIMIT 1`, taskID, key)
}

func (x *Tx) Firing(ctx context.Context, taskID int64) (bool, error) {
	return x.exists(ctx, "firing problem of task", `SELECT 1 FROM problems WHERE task_id = $1 AND firing = 1 LIMIT 1`, taskID)
}

func (x *Tx) exists(ctx context.Context, what, q string, args ...any) (bool, error) {
	var one int
	err := x.queryRow(ctx, q, args...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	return true, nil
}

type txQuerier struct{ x *Tx }

func (q txQuerier) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if err := q.x.flush(ctx); err != nil {
		return nil, err
	}
	if q.x.d.DriverCachesStatements {
		return q.x.tx.QueryContext(ctx, query, args...)
	}
	st, err := q.x.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func problems(ctx context.Context, q querier, taskID int64) ([]task.Problem, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+problemCols+` FROM problems WHERE task_id = $1 ORDER BY starts_at, id`, taskID)
	if err != nil {
		return nil, fmt.Errorf("problems of task %d: %w", taskID, err)
	}
	defer rows.Close()
	var out []task.Problem
	for rows.Next() {
		p, err := scanProblem(rows)
		if err != nil {
			return nil, fmt.Errorf("problems of task %d: %w", taskID, err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

func (x *Tx) AddProblem(ctx context.Context, p *task.Problem) error {
	id, err := x.nextID(ctx, "problems")
	if err != nil {
		return fmt.Errorf("add problem: %w", err)
	}
	p.ID = id
	b := x.held()
	b.probAt[id] = len(b.problems)
	b.problems = append(b.problems, problemRow(p))
	b.n++
	x.notedProblem(p)
	return x.spill(ctx)
}

func (x *Tx) UpdateProblem(ctx context.Context, p *task.Problem) error {
	if b := x.b; b != nil {
		if i, ok := b.probAt[p.ID]; ok {
			b.problems[i] = problemRow(p)
			x.notedProblem(p)
			return nil
		}
	}
	defer x.notedProblem(p)
	_, err := x.exec(ctx, `UPDATE problems SET task_id=$1, severity=$2, labels=$3, annotations=$4, ends_at=$5,
firing=$6, received_at=$7, resolved_at=$8, fingerprint=$9, generator_url=$10, source_url=$11 WHERE id=$12`,
		p.TaskID, p.Severity, js(p.Labels), js(p.Annotations), us(p.EndsAt), b2i(p.Firing), us(p.ReceivedAt),
		us(p.ResolvedAt), p.Fingerprint, p.GeneratorURL, p.SourceURL, p.ID)
	if err != nil {
		return fmt.Errorf("update problem %d: %w", p.ID, err)
	}
	return nil
}

func (x *Tx) AddEvents(ctx context.Context, evs []task.Event) error {
	if len(evs) == 0 {
		return nil
	}
	b := x.held()
	for _, e := range evs {
		b.events = append(b.events, []any{e.TaskID, us(e.At), e.Actor, e.Kind, string(e.From), string(e.To), e.Text})
		b.n++
	}
	return x.spill(ctx)
}

func (x *Tx) Loads(ctx context.Context, people []string) (map[string]int, error) {
	out := make(map[string]int, len(people))
	if len(people) == 0 {
		return out, nil
	}
	ph := make([]string, len(people))
	args := make([]any, len(people))
	for i, p := range people {
		ph[i] = fmt.Sprintf("$%d", i+1)
		args[i] = p
		out[p] = 0
	}
	rows, err := txQuerier{x}.QueryContext(ctx, `SELECT assignee, COUNT(*) FROM tasks WHERE state NOT IN `+closedStates+
		` AND assignee IN (`+strings.Join(ph, ",")+`) GROUP BY assignee`, args...)
	if err != nil {
		return nil, fmt.Errorf("loads: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var a string
		var n int
		if err := rows.Scan(&a, &n); err != nil {
			return nil, fmt.Errorf("loads: %w", err)
		}
		out[a] = n
	}
	return out, rows.Err()
}

func (x *Tx) LastAssignee(ctx context.Context, team string) (string, error) {
	var a string
	err := x.queryRow(ctx, `SELECT assignee FROM tasks WHERE team = $1 ORDER BY id DESC LIMIT 1`, team).Scan(&a)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("last assignee: %w", err)
	}
	return a, nil
}

func (x *Tx) SetHeartbeat(ctx context.Context, name string, at time.Time) error {
	_, err := x.exec(ctx, `INSERT INTO heartbeats (name, last_seen) VALUES ($1, $2)
ON CONFLICT (name) DO UPDATE SET last_seen = excluded.last_seen`, name, us(at))
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	return nil
}

func (x *Tx) EarlyResolve(ctx context.Context, key string, startsAt time.Time) (*store.EarlyResolve, error) {
	if e, ok := x.cachedEarlyResolve(key, startsAt); ok {
		return e, nil
	}
	e := store.EarlyResolve{Key: key, StartsAt: startsAt}
	var end, rec int64
	err := x.queryRow(ctx, `SELECT ends_at, received_at FROM early_resolves WHERE key = $1 AND starts_at = $2`, key, us(startsAt)).Scan(&end, &rec)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("early resolve: %w", err)
	}
	e.EndsAt, e.ReceivedAt = tm(end), tm(rec)
	return &e, nil
}

func (x *Tx) AddEarlyResolve(ctx context.Context, e store.EarlyResolve) error {
	if _, err := x.exec(ctx, `INSERT INTO early_resolves (key, starts_at, ends_at, received_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (key, starts_at) DO NOTHING`, e.Key, us(e.StartsAt), us(e.EndsAt), us(e.ReceivedAt)); err != nil {
		return fmt.Errorf("add early resolve: %w", err)
	}
	if x.pf != nil {
		if m, ok := x.pf.early[e.Key]; ok {
			if _, had := m[us(e.StartsAt)]; !had {
				m[us(e.StartsAt)] = [2]int64{us(e.EndsAt), us(e.ReceivedAt)}
			}
		}
	}
	return nil
}

func (x *Tx) PruneEarlyResolves(ctx context.Context, before time.Time, max int) (int, error) {
	if x.pf != nil {
		x.pf.earlyOff = true
	}
	res, err := x.exec(ctx, `DELETE FROM early_resolves WHERE received_at < $1`, us(before))
	if err != nil {
		return 0, fmt.Errorf("prune early resolves: %w", err)
	}
	n, _ := res.RowsAffected()
	var count int
	if err := x.queryRow(ctx, `SELECT COUNT(*) FROM early_resolves`).Scan(&count); err != nil {
		return int(n), fmt.Errorf("prune early resolves: %w", err)
	}
	if max < 0 {
		max = 0
	}
	if count > max {
		res, err := x.exec(ctx, `DELETE FROM early_resolves WHERE (key, starts_at) IN
(SELECT key, starts_at FROM early_resolves ORDER BY received_at, key, starts_at LIMIT $1)`, count-max)
		if err != nil {
			return int(n), fmt.Errorf("prune early resolves: %w", err)
		}
		m, _ := res.RowsAffected()
		n += m
	}
	return int(n), nil
}

// ListTasks implements store.Store.
func (s *DB) ListTasks(ctx context.Context, f store.Filter) ([]task.Task, error) {
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	if len(f.States) > 0 {
		ph := make([]string, len(f.States))
		for i, st := range f.States {
			ph[i] = arg(string(st))
		}
		where = append(where, "state IN ("+strings.Join(ph, ",")+")")
	}
	if f.Assignee != "" {
		where = append(where, "assignee = "+arg(f.Assignee))
	}
	if f.Site != "" {
		where = append(where, "site = "+arg(f.Site))
	}
	if f.Category != "" {
		where = append(where, "category = "+arg(f.Category))
	}
	if f.Instance != "" {
		// identity is stored as compact JSON (js): match its "instance" member.
		v, _ := json.Marshal(f.Instance)
		pat := `%"instance":` + likeEscape(string(v)) + `%`
		where = append(where, "identity LIKE "+arg(pat)+` ESCAPE '\'`)
	}
	q := `SELECT ` + taskCols + ` FROM tasks`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	if f.Urgent {
		q += " ORDER BY " + urgency + ", opened_at, id"
	} else {
		q += " ORDER BY id DESC"
	}
	if f.Limit > 0 {
		q += " LIMIT " + arg(f.Limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	defer rows.Close()
	var out []task.Task
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, fmt.Errorf("list tasks: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// Detail implements store.Store: the task, a page of its problems (firing first) and the last
// events before q.EventsBefore, each read through an index range of its own; the counts come from
// the same indexes, so a task with 100,000 events costs a page, not its whole history.
func (s *DB) Detail(ctx context.Context, id int64, q store.DetailQuery) (store.Detail, error) {
	var d store.Detail
	t, err := scanTask(s.db.QueryRowContext(ctx, `SELECT `+taskCols+` FROM tasks WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("task %d: %w", id, task.ErrNotFound)
	}
	if err != nil {
		return d, fmt.Errorf("task %d: %w", id, err)
	}
	d.Task = t
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(firing), 0) FROM problems WHERE task_id = $1`, id).
		Scan(&d.ProblemCount, &d.FiringCount); err != nil {
		return d, fmt.Errorf("problems of task %d: %w", id, err)
	}
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM events WHERE task_id = $1`, id).Scan(&d.EventCount); err != nil {
		return d, fmt.Errorf("history of task %d: %w", id, err)
	}
	limit := bound(q.Problems, store.DefaultDetailProblems, store.MaxDetailProblems)
	offset := max(q.ProblemsOffset, 0)
	if offset < d.FiringCount {
		if d.Problems, err = problemPage(ctx, s.db, id, true, offset, limit); err != nil {
			return d, err
		}
	}
	if rest := limit - len(d.Problems); rest > 0 {
		more, err := problemPage(ctx, s.db, id, false, max(offset-d.FiringCount, 0), rest)
		if err != nil {
			return d, err
		}
		d.Problems = append(d.Problems, more...)
	}
	d.Events, d.MoreEvents, err = eventPage(ctx, s.db, id, q.EventsBefore, bound(q.Events, store.DefaultDetailEvents, store.MaxDetailEvents))
	return d, err
}

// bound is n within 1..max, def when n is not positive.
func bound(n, def, max int) int {
	if n <= 0 {
		return def
	}
	return min(n, max)
}

// problemPage reads limit of a task's firing (or cleared) problems in start order after offset.
func problemPage(ctx context.Context, q querier, taskID int64, firing bool, offset, limit int) ([]task.Problem, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+problemCols+` FROM problems WHERE task_id = $1 AND firing = $2
ORDER BY starts_at, id LIMIT $3 OFFSET $4`, taskID, b2i(firing), limit, offset)
	if err != nil {
		return nil, fmt.Errorf("problems of task %d: %w", taskID, err)
	}
	defer rows.Close()
	var out []task.Problem
	for rows.Next() {
		p, err := scanProblem(rows)
		if err != nil {
			return nil, fmt.Errorf("problems of task %d: %w", taskID, err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("problems of task %d: %w", taskID, err)
	}
	return out, nil
}

// eventPage reads the last limit events of a task before the event `before` (0: the newest), in
// id order, and whether there are earlier ones.
func eventPage(ctx context.Context, q querier, taskID, before int64, limit int) ([]task.Event, bool, error) {
	if before <= 0 {
		before = math.MaxInt64
	}
	rows, err := q.QueryContext(ctx, `SELECT id, task_id, at, actor, kind, from_state, to_state, text FROM events
WHERE task_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3`, taskID, before, limit+1)
	if err != nil {
		return nil, false, fmt.Errorf("history of task %d: %w", taskID, err)
	}
	defer rows.Close()
	var out []task.Event
	for rows.Next() {
		var e task.Event
		var at int64
		var from, to string
		if err := rows.Scan(&e.ID, &e.TaskID, &at, &e.Actor, &e.Kind, &from, &to, &e.Text); err != nil {
			return nil, false, fmt.Errorf("history of task %d: %w", taskID, err)
		}
		e.At, e.From, e.To = tm(at), task.State(from), task.State(to)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("history of task %d: %w", taskID, err)
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	slices.Reverse(out)
	return out, more, nil
}

// Due implements store.Store.
func (s *DB) Due(ctx context.Context, d store.DueQuery) ([]task.Task, error) {
	limit := d.Limit
	if limit <= 0 {
		limit = 1000
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+taskCols+` FROM tasks WHERE id > $5 AND (
(state IN ('open','acknowledged','in_progress') AND cleared_at > 0 AND cleared_at <= $1)
OR (state IN ('open','acknowledged','in_progress') AND escalate_at > 0 AND escalate_at <= $2)
OR (state = 'verifying' AND reported_at <= $3))
ORDER BY id LIMIT $4`, us(d.ClearedBefore), us(d.EscalateBefore), us(d.ReportedBefore), limit, d.AfterID)
	if err != nil {
		return nil, fmt.Errorf("due tasks: %w", err)
	}
	return scanTasks(rows, "due tasks")
}

func scanTasks(rows *sql.Rows, what string) ([]task.Task, error) {
	defer rows.Close()
	var out []task.Task
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// Quiet implements store.Store.
func (s *DB) Quiet(ctx context.Context, q store.QuietQuery) ([]task.Task, error) {
	limit := q.Limit
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+taskCols+` FROM tasks WHERE state IN ('open','acknowledged','in_progress')
AND cleared_at = 0 AND updated_at <= $1 AND id > $2 ORDER BY id LIMIT $3`, us(q.UpdatedBefore), q.AfterID, limit)
	if err != nil {
		return nil, fmt.Errorf("quiet tasks: %w", err)
	}
	return scanTasks(rows, "quiet tasks")
}

// Problems implements store.Store.
func (s *DB) Problems(ctx context.Context, taskID int64) ([]task.Problem, error) {
	return problems(ctx, s.db, taskID)
}

// Counts implements store.Store.
func (s *DB) Counts(ctx context.Context) ([]store.Count, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT state, site, COUNT(*) FROM tasks GROUP BY state, site`)
	if err != nil {
		return nil, fmt.Errorf("counts: %w", err)
	}
	defer rows.Close()
	var out []store.Count
	for rows.Next() {
		var c store.Count
		var st string
		if err := rows.Scan(&st, &c.Site, &c.N); err != nil {
			return nil, fmt.Errorf("counts: %w", err)
		}
		c.State = task.State(st)
		out = append(out, c)
	}
	return out, rows.Err()
}

// Heartbeat implements store.Store.
func (s *DB) Heartbeat(ctx context.Context, name string) (time.Time, error) {
	var v int64
	err := s.db.QueryRowContext(ctx, `SELECT last_seen FROM heartbeats WHERE name = $1`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("heartbeat: %w", err)
	}
	return tm(v), nil
}

// Ping implements store.Store.
func (s *DB) Ping(ctx context.Context) error {
	var one int
	if err := s.db.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}

// Close implements store.Store.
func (s *DB) Close() error {
	s.grow.stop()
	s.stmtMu.Lock()
	for _, st := range s.stmts {
		st.Close()
	}
	s.stmts = nil
	s.stmtMu.Unlock()
	return s.db.Close()
}

// likeEscape escapes LIKE's wildcards (and the escape character) in a literal.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
