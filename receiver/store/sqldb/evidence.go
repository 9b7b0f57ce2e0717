package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/task"
)

// urgency orders tasks by severity for the board (critical first).
const urgency = `CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 WHEN 'info' THEN 2 ELSE 3 END`

// clean makes a string storable in both engines (PostgreSQL's text refuses NUL) and bounds it.
func clean(s string, max int) string {
	s = strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut]
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// WantEvidence implements store.Tx.
func (x *Tx) WantEvidence(ctx context.Context, taskID int64, snap *store.Snapshot, now time.Time) error {
	b := x.held()
	if i, ok := b.factAt[taskID]; ok {
		b.facts[i][1] = us(now) // one row per task in a statement: ON CONFLICT cannot touch a row twice
	} else {
		b.factAt[taskID] = len(b.facts)
		b.facts = append(b.facts, []any{taskID, us(now)})
		b.n++
	}
	if snap == nil || b.snapAt[taskID] {
		return nil
	}
	b.snapAt[taskID] = true
	b.snaps = append(b.snaps, []any{taskID, clean(snap.Target, 1024), clean(snap.Module, 256), store.SnapshotPending, us(now)})
	b.n++
	return x.spill(ctx)
}

// FactsDue implements store.Store.
func (s *DB) FactsDue(ctx context.Context, now time.Time, limit int) ([]store.FactsRequest, error) {
	limit = bound(limit, 100, 1000)
	rows, err := s.db.QueryContext(ctx, `SELECT f.task_id, t.identity FROM machine_facts f JOIN tasks t ON t.id = f.task_id
WHERE f.next_at <= $1 AND t.state NOT IN `+closedStates+` ORDER BY f.next_at, f.task_id LIMIT $2`, us(now), limit)
	if err != nil {
		return nil, fmt.Errorf("facts due: %w", err)
	}
	defer rows.Close()
	var out []store.FactsRequest
	for rows.Next() {
		var r store.FactsRequest
		var identity string
		if err := rows.Scan(&r.TaskID, &identity); err != nil {
			return nil, fmt.Errorf("facts due: %w", err)
		}
		r.Identity = unjs(identity)
		out = append(out, r)
	}
	return out, rows.Err()
}

// SaveFacts implements store.Store.
func (s *DB) SaveFacts(ctx context.Context, taskID int64, f task.Facts, next time.Time, errText string) error {
	var err error
	if errText != "" {
		_, err = s.db.ExecContext(ctx, `UPDATE machine_facts SET next_at = $1, last_error = $2 WHERE task_id = $3`,
			us(next), clean(errText, 1024), taskID)
	} else {
		v := func(s string) string { return clean(s, store.MaxFactValue) }
		_, err = s.db.ExecContext(ctx, `UPDATE machine_facts SET model = $1, firmware = $2, software = $3, serial = $4, mac = $5,
probe_error = $6, asked_at = $7, next_at = $8, last_error = '' WHERE task_id = $9`,
			v(f.Model), v(f.Firmware), v(f.Software), v(f.Serial), v(f.MAC), v(f.ProbeError), us(f.AskedAt), us(next), taskID)
	}
	if err != nil {
		return fmt.Errorf("save facts of task %d: %w", taskID, err)
	}
	return nil
}

// idList renders ids as a placeholder list starting at $first, with their arguments.
func idList(ids []int64, first int) (string, []any) {
	ph := make([]string, len(ids))
	args := make([]any, len(ids))
	for i, id := range ids {
		ph[i] = fmt.Sprintf("$%d", first+i)
		args[i] = id
	}
	return strings.Join(ph, ","), args
}

func boundIDs(ids []int64) []int64 {
	if len(ids) > store.MaxHeadlineTasks {
		return ids[:store.MaxHeadlineTasks]
	}
	return ids
}

// Facts implements store.Store.
func (s *DB) Facts(ctx context.Context, ids []int64) (map[int64]task.Facts, error) {
	out := map[int64]task.Facts{}
	ids = boundIDs(ids)
	if len(ids) == 0 {
		return out, nil
	}
	ph, args := idList(ids, 1)
	rows, err := s.db.QueryContext(ctx, `SELECT task_id, model, firmware, software, serial, mac, probe_error, asked_at
FROM machine_facts WHERE task_id IN (`+ph+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("facts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, asked int64
		var f task.Facts
		if err := rows.Scan(&id, &f.Model, &f.Firmware, &f.Software, &f.Serial, &f.MAC, &f.ProbeError, &asked); err != nil {
			return nil, fmt.Errorf("facts: %w", err)
		}
		f.AskedAt = tm(asked)
		out[id] = f
	}
	return out, rows.Err()
}

const snapshotCols = `task_id, target, module, state, attempts, next_at, taken_at, http_status, truncated, body, last_error`

func scanSnapshot(r scanner) (store.Snapshot, error) {
	var sn store.Snapshot
	var next, taken int64
	var trunc int
	err := r.Scan(&sn.TaskID, &sn.Target, &sn.Module, &sn.State, &sn.Attempts, &next, &taken, &sn.Status, &trunc, &sn.Body, &sn.LastError)
	sn.NextAt, sn.TakenAt, sn.Truncated = tm(next), tm(taken), trunc == 1
	return sn, err
}

// SnapshotsDue implements store.Store. The body is not read (pending ones have none).
func (s *DB) SnapshotsDue(ctx context.Context, now time.Time, limit int) ([]store.Snapshot, error) {
	limit = bound(limit, 10, 1000)
	rows, err := s.db.QueryContext(ctx, `SELECT `+snapshotCols+` FROM snapshots WHERE state = $1 AND next_at <= $2
ORDER BY next_at, task_id LIMIT $3`, store.SnapshotPending, us(now), limit)
	if err != nil {
		return nil, fmt.Errorf("snapshots due: %w", err)
	}
	defer rows.Close()
	var out []store.Snapshot
	for rows.Next() {
		sn, err := scanSnapshot(rows)
		if err != nil {
			return nil, fmt.Errorf("snapshots due: %w", err)
		}
		out = append(out, sn)
	}
	return out, rows.Err()
}

// SaveSnapshot implements store.Store. The body is stored as valid UTF-8 without NUL bytes.
func (s *DB) SaveSnapshot(ctx context.Context, sn store.Snapshot) error {
	_, err := s.db.ExecContext(ctx, `UPDATE snapshots SET state = $1, attempts = $2, next_at = $3, taken_at = $4, http_status = $5,
truncated = $6, body = $7, last_error = $8 WHERE task_id = $9`, sn.State, sn.Attempts, us(sn.NextAt), us(sn.TakenAt), sn.Status,
		b2i(sn.Truncated), strings.ToValidUTF8(strings.ReplaceAll(sn.Body, "\x00", ""), "\uFFFD"), clean(sn.LastError, 1024), sn.TaskID)
	if err != nil {
		return fmt.Errorf("save snapshot of task %d: %w", sn.TaskID, err)
	}
	return nil
}

// Snapshot implements store.Store.
func (s *DB) Snapshot(ctx context.Context, taskID int64) (store.Snapshot, bool, error) {
	sn, err := scanSnapshot(s.db.QueryRowContext(ctx, `SELECT `+snapshotCols+` FROM snapshots WHERE task_id = $1`, taskID))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Snapshot{}, false, nil
	}
	if err != nil {
		return store.Snapshot{}, false, fmt.Errorf("snapshot of task %d: %w", taskID, err)
	}
	return sn, true, nil
}

// Headlines implements store.Store: per task, one index range of the firing problems and one of
// the latest cleared ones (problems_task_firing), never a task's whole history.
func (s *DB) Headlines(ctx context.Context, ids []int64, perTask int) (map[int64][]task.Problem, error) {
	out := map[int64][]task.Problem{}
	perTask = bound(perTask, 5, 50)
	for _, id := range boundIDs(ids) {
		for _, firing := range []bool{true, false} {
			if len(out[id]) >= perTask {
				break
			}
			rows, err := s.db.QueryContext(ctx, `SELECT `+problemCols+` FROM problems WHERE task_id = $1 AND firing = $2
ORDER BY starts_at DESC, id DESC LIMIT $3`, id, b2i(firing), perTask-len(out[id]))
			if err != nil {
				return nil, fmt.Errorf("headlines: %w", err)
			}
			for rows.Next() {
				p, err := scanProblem(rows)
				if err != nil {
					rows.Close()
					return nil, fmt.Errorf("headlines: %w", err)
				}
				out[id] = append(out[id], p)
			}
			err = rows.Err()
			rows.Close()
			if err != nil {
				return nil, fmt.Errorf("headlines: %w", err)
			}
		}
	}
	return out, nil
}
