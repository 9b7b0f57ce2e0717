package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/task"
)

// Batched writes. A burst of new alerts used to cost about eleven statements per alert, each a
// round trip to PostgreSQL (or a pass through SQLite's engine). Within one transaction now:
//
//   - the inserts of tasks, problems, events, outbox rows (with their attempts) and evidence
//     requests are held and sent as multi-row INSERTs, in that order (parents first), before any
//     other statement of the transaction runs and before the commit; a transaction therefore reads
//     exactly what it would have read with every insert sent at once. Their ids are taken ahead
//     (nextIDs), so that callers get them at once as before.
//   - Prefetch reads, in a few queries, what the intake will look up for every alert of a group
//     (the occurrences, the machines' open tasks, the early resolves, whether a machine has a
//     closed task that could reopen); the lookups are answered from it, kept up to date by the
//     transaction's own writes, and go to the database for anything it does not cover.
//
// The durability of a transaction is unchanged: its statements all run before its commit.

// maxHeldRows bounds what a transaction holds back: past it the rows are sent at once, so that
// the work left when a group stops early for a worker's action (and on any read) stays small.
const maxHeldRows = 256

// spill sends the held rows once there are maxHeldRows of them.
func (x *Tx) spill(ctx context.Context) error {
	if x.b == nil || x.b.n < maxHeldRows {
		return nil
	}
	return x.flush(ctx)
}

// maxBatchRows bounds the rows of one multi-row INSERT (PostgreSQL allows 65,535 parameters,
// SQLite 32,766; 29 columns × 500 rows stays below both).
const maxBatchRows = 500

// batch is what a transaction holds back.
type batch struct {
	tasks    [][]any       // id, then taskArgs
	taskAt   map[int64]int // task id → index in tasks
	problems [][]any       // id, then the problem's columns
	probAt   map[int64]int
	facts    [][]any // task_id, next_at (an upsert: one row per task)
	factAt   map[int64]int
	snaps    [][]any // task_id, target, module, state, next_at (kept: the first per task)
	snapAt   map[int64]bool
	events   [][]any
	outbox   [][]any // id, then the message's columns
	attempts [][]any
	n        int // rows held
}

func (b *batch) empty() bool { return b == nil || b.n == 0 }

// ids hands out ids taken ahead for one table (SQLite, per transaction).
type ids struct{ next, end int64 }

func (x *Tx) nextID(ctx context.Context, table string) (int64, error) {
	if x.d.Sequences {
		return x.db.seqs.next(ctx, x.tx, table)
	}
	// SQLite: the writer holds the database's write lock (BEGIN IMMEDIATE) until the commit, so
	// nobody else inserts meanwhile; an id is one more than the largest, read once per
	// transaction (every insert into tasks, problems and outbox takes its id here).
	if x.ids == nil {
		x.ids = map[string]*ids{}
	}
	r := x.ids[table]
	if r == nil {
		var max int64
		if err := x.queryRow(ctx, `SELECT COALESCE(MAX(id), 0) FROM `+table).Scan(&max); err != nil {
			return 0, fmt.Errorf("ids for %s: %w", table, err)
		}
		r = &ids{next: max + 1, end: 1 << 62}
		x.ids[table] = r
	}
	id := r.next
	r.next++
	return id, nil
}

// seqPool hands out ids taken ahead from the identity columns' sequences (PostgreSQL), for the
// whole process: a sequence's values are not transactional (a rolled-back insert leaves a gap
// anyway), so ids one transaction took and did not use serve the next one, and a burst costs one
// nextval round trip per seqBlockMax ids instead of a few per transaction. The ids a process
// never uses are gaps. The sequences' names are read from the catalog once.
type seqPool struct {
	mu    sync.Mutex
	names map[string]string  // table → its id sequence (pg_get_serial_sequence)
	free  map[string][]int64 // taken, not yet handed out, increasing
	block map[string]int     // the next block's size
	at    map[string]time.Time
}

// seqBlockMin and seqBlockMax bound a block: it doubles while blocks run out within a second of
// each other (a burst), and starts again from seqBlockMin after a quiet second.
const (
	seqBlockMin = 8
	seqBlockMax = 512
)

func (p *seqPool) next(ctx context.Context, tx *sql.Tx, table string) (int64, error) {
	p.mu.Lock()
	if ids := p.free[table]; len(ids) > 0 {
		p.free[table] = ids[1:]
		p.mu.Unlock()
		return ids[0], nil
	}
	name := p.names[table]
	n := seqBlockMin
	if time.Since(p.at[table]) < time.Second {
		n = min(2*p.block[table], seqBlockMax)
	}
	p.mu.Unlock()
	if name == "" {
		if err := tx.QueryRowContext(ctx, `SELECT pg_get_serial_sequence($1, 'id')`, table).Scan(&name); err != nil {
			return 0, fmt.Errorf("sequence of %s: %w", table, err)
		}
	}
	rows, err := tx.QueryContext(ctx, `SELECT nextval($1::regclass) FROM generate_series(1, $2)`, name, n)
	if err != nil {
		return 0, fmt.Errorf("ids for %s: %w", table, err)
	}
	got := make([]int64, 0, n)
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, fmt.Errorf("ids for %s: %w", table, err)
		}
		got = append(got, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(got) == 0 {
		return 0, fmt.Errorf("ids for %s: %v", table, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.names == nil {
		p.names, p.free, p.block, p.at = map[string]string{}, map[string][]int64{}, map[string]int{}, map[string]time.Time{}
	}
	p.names[table], p.block[table], p.at[table] = name, n, time.Now()
	// Another transaction may have refilled meanwhile: keep both, in order.
	free := append(p.free[table], got[1:]...)
	slices.Sort(free)
	p.free[table] = free
	return got[0], nil
}

func (x *Tx) held() *batch {
	if x.b == nil {
		x.b = &batch{taskAt: map[int64]int{}, probAt: map[int64]int{}, factAt: map[int64]int{}, snapAt: map[int64]bool{}}
	}
	return x.b
}

// flush sends what the transaction holds back. Every statement not held back runs after it.
func (x *Tx) flush(ctx context.Context) error {
	b := x.b
	if b.empty() {
		return nil
	}
	x.b = nil // the statements below must not flush again
	for _, t := range []struct {
		what, head, tail string
		rows             [][]any
	}{
		{"tasks", `INSERT INTO tasks (id, machine, fleet, identity, location, site, category, severity, title, state, assignee,
team, created_at, updated_at, opened_at, acked_at, started_at, reported_at, closed_at, cleared_at, last_escalated_at, report,
reason, recurrences, failed_repairs, escalations, ladder_step, step_at, step_failed, escalate_at) VALUES `, "", b.tasks},
		{"problems", `INSERT INTO problems (id, task_id, key, alertname, category, severity, labels, annotations, starts_at,
ends_at, firing, received_at, resolved_at, fingerprint, generator_url, source_url) VALUES `, "", b.problems},
		{"machine facts", `INSERT INTO machine_facts (task_id, next_at) VALUES `,
			` ON CONFLICT (task_id) DO UPDATE SET next_at = excluded.next_at`, b.facts},
		{"snapshots", `INSERT INTO snapshots (task_id, target, module, state, next_at) VALUES `, ` ON CONFLICT (task_id) DO NOTHING`, b.snaps},
		{"events", `INSERT INTO events (task_id, at, actor, kind, from_state, to_state, text) VALUES `, "", b.events},
		{"outbox", `INSERT INTO outbox (id, task_id, recipient, channel, address, step, fields, text, created_at, attempts,
next_at, sent_at, gave_up, last_error) VALUES `, "", b.outbox},
		{"notification attempts", `INSERT INTO notification_attempts (message_id, task_id, at, channel, recipient, result,
error_text) VALUES `, "", b.attempts},
	} {
		if len(t.rows) == 0 {
			continue
		}
		per := maxBatchRows
		if x.d.BatchParams > 0 {
			per = max(1, x.d.BatchParams/len(t.rows[0]))
		}
		x.added += len(t.rows)
		for len(t.rows) > 0 {
			part := t.rows[:min(len(t.rows), per)]
			t.rows = t.rows[len(part):]
			q := multiRow(t.head, t.tail, len(part), len(part[0]), x.d.BatchParams > 0)
			var err error
			if len(part) == per && !x.d.DriverCachesStatements {
				_, err = x.exec(ctx, q, flat(part)...) // a full statement: prepared once (DB.stmt)
			} else {
				_, err = x.tx.ExecContext(ctx, q, flat(part)...)
			}
			if err != nil {
				return fmt.Errorf("add %s: %w", t.what, err)
			}
		}
	}
	return nil
}

// multiRow is head, then n rows of cols placeholders ($1, $2, … or ?), then tail.
func multiRow(head, tail string, n, cols int, question bool) string {
	var sb strings.Builder
	sb.WriteString(head)
	p := 1
	for r := range n {
		if r > 0 {
			sb.WriteByte(',')
		}
		sb.WriteByte('(')
		for c := range cols {
			if c > 0 {
				sb.WriteByte(',')
			}
			if question {
				sb.WriteByte('?')
			} else {
				fmt.Fprintf(&sb, "$%d", p)
			}
			p++
		}
		sb.WriteByte(')')
	}
	sb.WriteString(tail)
	return sb.String()
}

func flat(rows [][]any) []any {
	out := make([]any, 0, len(rows)*len(rows[0]))
	for _, r := range rows {
		out = append(out, r...)
	}
	return out
}

func problemRow(p *task.Problem) []any {
	return []any{p.ID, p.TaskID, p.Key, p.Alertname, p.Category, p.Severity, js(p.Labels), js(p.Annotations), us(p.StartsAt),
		us(p.EndsAt), b2i(p.Firing), us(p.ReceivedAt), us(p.ResolvedAt), p.Fingerprint, p.GeneratorURL, p.SourceURL}
}

// argRow scans stored arguments as if they came back from the database (the same conversions,
// the same microsecond timestamps), so that a lookup answered from memory returns what a query
// would.
type argRow []any

func (r argRow) Scan(dest ...any) error {
	if len(dest) != len(r) {
		return fmt.Errorf("scan: %d values for %d destinations", len(r), len(dest))
	}
	for i, d := range dest {
		switch d := d.(type) {
		case *int64:
			switch v := r[i].(type) {
			case int64:
				*d = v
			case int:
				*d = int64(v)
			default:
				return fmt.Errorf("scan: column %d is %T, not an integer", i, r[i])
			}
		case *int:
			switch v := r[i].(type) {
			case int64:
				*d = int(v)
			case int:
				*d = v
			default:
				return fmt.Errorf("scan: column %d is %T, not an integer", i, r[i])
			}
		case *string:
			v, ok := r[i].(string)
			if !ok {
				return fmt.Errorf("scan: column %d is %T, not a string", i, r[i])
			}
			*d = v
		default:
			return fmt.Errorf("scan: destination %d is %T", i, d)
		}
	}
	return nil
}

// prefetch is what Prefetch read, kept up to date by the transaction's writes. A machine or a
// key it does not cover is looked up in the database.
type prefetch struct {
	open     map[string][]any              // machine → its open task's row (id, taskArgs), nil: none
	occ      map[string]map[int64][]any    // problem key → starts_at → the occurrence's row
	early    map[string]map[int64][2]int64 // key → starts_at → ends_at, received_at
	closed   map[string]bool               // machines with a done or auto_resolved task closed since `since`
	since    int64
	earlyOff bool // early resolves were pruned: ask the database
}

// Prefetch implements store.Tx.
func (x *Tx) Prefetch(ctx context.Context, q store.PrefetchQuery) error {
	if x.d.MachineLocks {
		if err := x.lockMachines(ctx, q); err != nil {
			return err
		}
	}
	pf := &prefetch{open: map[string][]any{}, occ: map[string]map[int64][]any{}, early: map[string]map[int64][2]int64{},
		closed: map[string]bool{}, since: us(q.ClosedSince)}
	keys := append([]string{}, q.Keys...)
	for _, a := range q.Alerts {
		keys = append(keys, a.Key)
	}
	keys = dedupe(keys)
	if err := x.prefetchKeys(ctx, pf, keys); err != nil {
		return err
	}
	machines := append([]string{}, q.Machines...)
	for _, a := range q.Alerts {
		if row := pf.occ[a.Key][us(a.StartsAt)]; a.Firing && (row == nil || row[10] != 1) { // row[10]: firing
			machines = append(machines, a.Machine)
		}
	}
	machines = dedupe(machines)
	for part := range x.chunks(machines) {
		ph, args := x.placeholders(part, 0)
		rows, err := txQuerier{x}.QueryContext(ctx, `SELECT `+taskCols+` FROM tasks WHERE machine IN (`+ph+`) AND state NOT IN `+closedStates+x.d.ForUpdate, args...)
		if err != nil {
			return fmt.Errorf("prefetch open tasks: %w", err)
		}
		ts, err := scanTasks(rows, "prefetch open tasks")
		if err != nil {
			return err
		}
		for _, m := range part {
			pf.open[m] = nil
		}
		for i := range ts {
			pf.open[ts[i].Machine] = append([]any{ts[i].ID}, taskArgs(&ts[i])...)
		}
		if q.ClosedSince.IsZero() {
			continue
		}
		ph, args = x.placeholders(part, 1)
		first := "$1"
		if x.d.BatchParams > 0 {
			first = "?"
		}
		rows, err = txQuerier{x}.QueryContext(ctx, `SELECT DISTINCT machine FROM tasks WHERE closed_at >= `+first+` AND machine IN (`+ph+
			`) AND state IN ('done','auto_resolved')`, append([]any{us(q.ClosedSince)}, args...)...)
		if err != nil {
			return fmt.Errorf("prefetch closed tasks: %w", err)
		}
		for rows.Next() {
			var m string
			if err := rows.Scan(&m); err != nil {
				rows.Close()
				return fmt.Errorf("prefetch closed tasks: %w", err)
			}
			pf.closed[m] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("prefetch closed tasks: %w", err)
		}
	}
	x.pf = pf
	return nil
}

// prefetchKeys reads the occurrences and early resolves of the keys.
func (x *Tx) prefetchKeys(ctx context.Context, pf *prefetch, keys []string) error {
	for part := range x.chunks(keys) {
		ph, args := x.placeholders(part, 0)
		rows, err := txQuerier{x}.QueryContext(ctx, `SELECT `+problemCols+` FROM problems WHERE key IN (`+ph+`)`+x.d.ForUpdate, args...)
		if err != nil {
			return fmt.Errorf("prefetch occurrences: %w", err)
		}
		for _, k := range part {
			pf.occ[k] = map[int64][]any{}
			pf.early[k] = map[int64][2]int64{}
		}
		for rows.Next() {
			p, err := scanProblem(rows)
			if err != nil {
				rows.Close()
				return fmt.Errorf("prefetch occurrences: %w", err)
			}
			pf.occ[p.Key][us(p.StartsAt)] = problemRow(&p)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("prefetch occurrences: %w", err)
		}
		rows, err = txQuerier{x}.QueryContext(ctx, `SELECT key, starts_at, ends_at, received_at FROM early_resolves WHERE key IN (`+ph+`)`, args...)
		if err != nil {
			return fmt.Errorf("prefetch early resolves: %w", err)
		}
		for rows.Next() {
			var k string
			var s, e, r int64
			if err := rows.Scan(&k, &s, &e, &r); err != nil {
				rows.Close()
				return fmt.Errorf("prefetch early resolves: %w", err)
			}
			pf.early[k][s] = [2]int64{e, r}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("prefetch early resolves: %w", err)
		}
	}
	return nil
}

// machineLockClass is the first key of the intake's advisory locks, pg_advisory_xact_lock(class,
// hash of the machine): "RMAC" (the lease's is "RRLS", lease/postgres.go).
const machineLockClass int32 = 0x524D4143

// lockMachines takes, before the group reads anything, a transaction-scoped advisory lock for
// each machine the group's alerts are about, in one order for every transaction (ascending
// hash). Two replicas given the same burst by both Alertmanagers then store the same machines
// one after the other: the later one waits at its first common machine, then reads what the
// earlier one committed and adds to it. Without the locks both inserted the same new tasks at
// once and waited for each other in a cycle (the later one's rows in another order), which
// PostgreSQL broke only after deadlock_timeout, 1 s, and the loser redid its group. Every new
// task and problem is inserted by an intake group (repair.Service.storeGroup), so these locks
// cover every insert the unique indexes could make wait. Two machines
// with the same 32-bit hash only wait for each other more often. A group locks at most
// IngestChunk (500) machines; the lock table holds max_locks_per_transaction × max_connections
// (6,400 by default) for everything at once.
func (x *Tx) lockMachines(ctx context.Context, q store.PrefetchQuery) error {
	seen := make(map[int32]bool, len(q.Alerts)+len(q.Machines))
	keys := make([]int32, 0, len(q.Alerts)+len(q.Machines))
	add := func(m string) {
		h := fnv.New32a()
		h.Write([]byte(m))
		if k := int32(h.Sum32()); !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	for _, m := range q.Machines {
		add(m)
	}
	for _, a := range q.Alerts {
		add(a.Machine)
	}
	if len(keys) == 0 {
		return nil
	}
	slices.Sort(keys)
	// unnest keeps the array's order; ORDER BY says so again (PostgreSQL evaluates a volatile
	// function of the select list after the sort).
	if _, err := x.tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, k) FROM unnest($2::int4[]) AS k ORDER BY k`, machineLockClass, keys); err != nil {
		return fmt.Errorf("lock machines: %w", err)
	}
	return nil
}

func dedupe(in []string) []string {
	seen := make(map[string]bool, len(in))
	out := make([]string, 0, len(in))
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// chunks yields parts of at most maxBatchRows values (BatchParams on SQLite), one IN list each.
func (x *Tx) chunks(in []string) func(func([]string) bool) {
	per := maxBatchRows
	if x.d.BatchParams > 0 {
		per = x.d.BatchParams - 1 // one more parameter in the query of closed tasks
	}
	return func(yield func([]string) bool) {
		for len(in) > 0 {
			n := min(len(in), per)
			if !yield(in[:n]) {
				return
			}
			in = in[n:]
		}
	}
}

// placeholders is "$k+1,…,$k+n" (or "?,…,?" where BatchParams is set) and the values as arguments.
func (x *Tx) placeholders(vals []string, k int) (string, []any) {
	ph := make([]string, len(vals))
	args := make([]any, len(vals))
	for i, v := range vals {
		ph[i] = fmt.Sprintf("$%d", k+i+1)
		if x.d.BatchParams > 0 {
			ph[i] = "?"
		}
		args[i] = v
	}
	return strings.Join(ph, ","), args
}

// notedTask keeps the prefetch's open task of the machine right after a write of t.
func (x *Tx) notedTask(t *task.Task, row []any) {
	pf := x.pf
	if pf == nil {
		return
	}
	cur, covered := pf.open[t.Machine]
	if !covered {
		return
	}
	switch {
	case !t.State.Closed():
		pf.open[t.Machine] = row
	case cur != nil && cur[0].(int64) == t.ID:
		pf.open[t.Machine] = nil
	}
	if t.State == task.Done || t.State == task.AutoResolved {
		pf.closed[t.Machine] = true // may reopen: ask the database
	}
}

func (x *Tx) notedProblem(p *task.Problem) {
	if x.pf == nil {
		return
	}
	if m, ok := x.pf.occ[p.Key]; ok {
		m[us(p.StartsAt)] = problemRow(p)
	}
}

// cachedOpenTask answers OpenTask from the prefetch (ok false: not covered).
func (x *Tx) cachedOpenTask(machine string) (*task.Task, bool, error) {
	if x.pf == nil {
		return nil, false, nil
	}
	row, ok := x.pf.open[machine]
	if !ok {
		return nil, false, nil
	}
	if row == nil {
		return nil, true, nil
	}
	t, err := scanTask(argRow(row))
	if err != nil {
		return nil, true, err
	}
	return &t, true, nil
}

func (x *Tx) cachedOccurrence(key string, startsAt time.Time) (*task.Problem, bool, error) {
	if x.pf == nil {
		return nil, false, nil
	}
	m, ok := x.pf.occ[key]
	if !ok {
		return nil, false, nil
	}
	row := m[us(startsAt)]
	if row == nil {
		return nil, true, nil
	}
	p, err := scanProblem(argRow(row))
	if err != nil {
		return nil, true, err
	}
	return &p, true, nil
}

func (x *Tx) cachedEarlyResolve(key string, startsAt time.Time) (*store.EarlyResolve, bool) {
	if x.pf == nil || x.pf.earlyOff {
		return nil, false
	}
	m, ok := x.pf.early[key]
	if !ok {
		return nil, false
	}
	v, ok := m[us(startsAt)]
	if !ok {
		return nil, true
	}
	return &store.EarlyResolve{Key: key, StartsAt: startsAt, EndsAt: tm(v[0]), ReceivedAt: tm(v[1])}, true
}

// noReopenable reports that the prefetch knows the machine has no task to reopen since since.
func (x *Tx) noReopenable(machine string, since time.Time) bool {
	pf := x.pf
	if pf == nil || pf.since == 0 || us(since) < pf.since {
		return false
	}
	if _, covered := pf.open[machine]; !covered {
		return false
	}
	return !pf.closed[machine]
}
