package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/task"
)

const messageCols = `id, task_id, recipient, channel, address, step, fields, text, created_at, attempts, next_at, sent_at, gave_up, last_error`

func scanMessage(r scanner) (store.Message, error) {
	var m store.Message
	var fields string
	var c, n, sent int64
	var gaveUp int
	err := r.Scan(&m.ID, &m.TaskID, &m.To, &m.Channel, &m.Address, &m.Step, &fields, &m.Text, &c, &m.Attempts, &n, &sent, &gaveUp, &m.LastError)
	if err != nil {
		return m, err
	}
	m.Fields = unjs(fields)
	m.CreatedAt, m.NextAt, m.SentAt, m.GaveUp = tm(c), tm(n), tm(sent), gaveUp == 1
	return m, nil
}

// errText bounds an error stored with a delivery (valid UTF-8, at most store.MaxErrorLength bytes).
func errText(s string) string {
	s = strings.ToValidUTF8(s, "�")
	if len(s) <= store.MaxErrorLength {
		return s
	}
	cut := store.MaxErrorLength - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// Enqueue implements store.Tx.
func (x *Tx) Enqueue(ctx context.Context, msgs []store.Message) error {
	for _, m := range msgs {
		id, err := x.nextID(ctx, "outbox")
		if err != nil {
			return fmt.Errorf("enqueue: %w", err)
		}
		b := x.held()
		b.outbox = append(b.outbox, []any{id, m.TaskID, m.To, m.Channel, m.Address, m.Step, js(m.Fields), m.Text, us(m.CreatedAt),
			b2i(m.GaveUp), us(m.CreatedAt), 0, b2i(m.GaveUp), errText(m.LastError)})
		b.n++
		if m.GaveUp {
			// Nobody to send it to: the outcome is known now, and stored like any other.
			b.attempts = append(b.attempts, []any{id, m.TaskID, us(m.CreatedAt), m.Channel, m.To, store.AttemptGaveUp, errText(m.LastError)})
			b.n++
		}
	}
	return x.spill(ctx)
}

func (x *Tx) addAttempt(ctx context.Context, a store.Attempt) error {
	_, err := x.exec(ctx, `INSERT INTO notification_attempts (message_id, task_id, at, channel, recipient, result, error_text)
VALUES ($1,$2,$3,$4,$5,$6,$7)`, a.MessageID, a.TaskID, us(a.At), a.Channel, a.Recipient, a.Result, errText(a.Error))
	return err
}

// RecordAttempt implements store.Tx.
func (x *Tx) RecordAttempt(ctx context.Context, a store.Attempt) error {
	var q string
	var args []any
	switch a.Result {
	case store.AttemptSent:
		q, args = `UPDATE outbox SET attempts = attempts + 1, sent_at = $1, last_error = '' WHERE id = $2`, []any{us(a.At), a.MessageID}
	case store.AttemptFailed:
		q, args = `UPDATE outbox SET attempts = attempts + 1, next_at = $1, last_error = $2 WHERE id = $3`, []any{us(a.NextAt), errText(a.Error), a.MessageID}
	case store.AttemptGaveUp:
		q, args = `UPDATE outbox SET attempts = attempts + 1, gave_up = 1, last_error = $1 WHERE id = $2`, []any{errText(a.Error), a.MessageID}
	default:
		return fmt.Errorf("record attempt: unknown result %q", a.Result)
	}
	res, err := x.exec(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("record attempt: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("record attempt: message %d: %w", a.MessageID, task.ErrNotFound)
	}
	if err := x.addAttempt(ctx, a); err != nil {
		return fmt.Errorf("record attempt: %w", err)
	}
	return nil
}

// ClaimDelivery implements store.Tx. On PostgreSQL the row is locked with SKIP LOCKED: a sender
// never waits for a row another one is claiming, it leaves it to that one.
func (x *Tx) ClaimDelivery(ctx context.Context, m store.Message, until time.Time) (bool, error) {
	res, err := x.exec(ctx, `UPDATE outbox SET next_at = $1 WHERE id = (SELECT id FROM outbox WHERE id = $2 AND sent_at = 0
AND gave_up = 0 AND attempts = $3 AND next_at = $4`+x.d.SkipLocked+`)`, us(until), m.ID, m.Attempts, us(m.NextAt))
	if err != nil {
		return false, fmt.Errorf("claim delivery %d: %w", m.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("claim delivery %d: %w", m.ID, err)
	}
	return n == 1, nil
}

// Message implements store.Tx.
func (x *Tx) Message(ctx context.Context, id int64) (*store.Message, error) {
	m, err := scanMessage(x.queryRow(ctx, `SELECT `+messageCols+` FROM outbox WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("message %d: %w", id, task.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("message %d: %w", id, err)
	}
	return &m, nil
}

// BatchDelivering implements store.Tx.
func (x *Tx) BatchDelivering(ctx context.Context, taskID int64, step int, createdAt time.Time) (bool, error) {
	return x.exists(ctx, "deliveries of a message", `SELECT 1 FROM outbox WHERE task_id = $1 AND step = $2 AND created_at = $3
AND gave_up = 0 LIMIT 1`, taskID, step, us(createdAt))
}

// ActiveTasks implements store.Tx.
func (x *Tx) ActiveTasks(ctx context.Context, afterID int64, limit int) ([]task.Task, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	rows, err := txQuerier{x}.QueryContext(ctx, `SELECT `+taskCols+` FROM tasks WHERE state NOT IN `+closedStates+
		` AND id > $1 ORDER BY id LIMIT $2`+x.d.ForUpdate, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("active tasks: %w", err)
	}
	return scanTasks(rows, "active tasks")
}

// Pending implements store.Store.
func (s *DB) Pending(ctx context.Context, now time.Time, limit int) ([]store.Message, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+messageCols+`
FROM outbox WHERE sent_at = 0 AND gave_up = 0 AND next_at <= $1 ORDER BY id LIMIT $2`, us(now), limit)
	if err != nil {
		return nil, fmt.Errorf("pending messages: %w", err)
	}
	return scanMessages(rows, "pending messages")
}

func scanMessages(rows *sql.Rows, what string) ([]store.Message, error) {
	defer rows.Close()
	var out []store.Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// Undeliverable implements store.Store.
func (s *DB) Undeliverable(ctx context.Context, ids []int64) (map[int64]int, error) {
	out := map[int64]int{}
	if len(ids) == 0 {
		return out, nil
	}
	if len(ids) > store.MaxOutboxTasks {
		return nil, fmt.Errorf("undeliverable: %d tasks, at most %d", len(ids), store.MaxOutboxTasks)
	}
	ph := make([]string, len(ids))
	args := make([]any, len(ids))
	for i, id := range ids {
		ph[i], args[i] = fmt.Sprintf("$%d", i+1), id
	}
	rows, err := s.db.QueryContext(ctx, `SELECT task_id, COUNT(*) FROM outbox WHERE gave_up = 1 AND task_id IN (`+
		strings.Join(ph, ",")+`) GROUP BY task_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("undeliverable: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("undeliverable: %w", err)
		}
		out[id] = n
	}
	return out, rows.Err()
}

// UndeliverableByChannel implements store.Store.
func (s *DB) UndeliverableByChannel(ctx context.Context) (map[string]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT outbox.channel, COUNT(*) FROM outbox JOIN tasks ON tasks.id = outbox.task_id
WHERE outbox.gave_up = 1 AND tasks.state NOT IN `+closedStates+` GROUP BY outbox.channel`)
	if err != nil {
		return nil, fmt.Errorf("undeliverable by channel: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var ch string
		var n int
		if err := rows.Scan(&ch, &n); err != nil {
			return nil, fmt.Errorf("undeliverable by channel: %w", err)
		}
		out[ch] += n
	}
	return out, rows.Err()
}

// Deliveries implements store.Store.
func (s *DB) Deliveries(ctx context.Context, taskID int64, limit int) ([]store.Delivery, error) {
	limit = bound(limit, store.MaxDeliveries, store.MaxDeliveries)
	rows, err := s.db.QueryContext(ctx, `SELECT `+messageCols+` FROM outbox WHERE task_id = $1 ORDER BY id DESC LIMIT $2`, taskID, limit)
	if err != nil {
		return nil, fmt.Errorf("deliveries of task %d: %w", taskID, err)
	}
	msgs, err := scanMessages(rows, fmt.Sprintf("deliveries of task %d", taskID))
	if err != nil || len(msgs) == 0 {
		return nil, err
	}
	out := make([]store.Delivery, len(msgs))
	at := map[int64]int{}
	for i, m := range msgs {
		out[i].Message = m
		at[m.ID] = i
	}
	// The attempts of these messages, newest first per message, bounded per message in Go: a
	// message has at most notify.max_attempts (≤ 100) of them.
	rows, err = s.db.QueryContext(ctx, `SELECT id, message_id, task_id, at, channel, recipient, result, error_text
FROM notification_attempts WHERE task_id = $1 AND message_id >= $2 ORDER BY message_id, id DESC`, taskID, msgs[len(msgs)-1].ID)
	if err != nil {
		return nil, fmt.Errorf("attempts of task %d: %w", taskID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var a store.Attempt
		var t int64
		if err := rows.Scan(&a.ID, &a.MessageID, &a.TaskID, &t, &a.Channel, &a.Recipient, &a.Result, &a.Error); err != nil {
			return nil, fmt.Errorf("attempts of task %d: %w", taskID, err)
		}
		a.At = tm(t)
		if i, ok := at[a.MessageID]; ok && len(out[i].Tries) < store.MaxAttemptsShown {
			out[i].Tries = append(out[i].Tries, a)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("attempts of task %d: %w", taskID, err)
	}
	for i := range out {
		slices.Reverse(out[i].Tries)
	}
	return out, nil
}
