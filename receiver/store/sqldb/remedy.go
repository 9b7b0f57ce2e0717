package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/minefarm/cgminer-stack/receiver/store"
)

// Bounds of a remediation row's text columns.
const (
	maxRemedyField = 256
	maxRemedyReply = 4096
)

// remedyText makes a string storable in both engines (no NUL, valid UTF-8) and cuts it at max
// bytes on a rune boundary.
func remedyText(s string, max int) string {
	s = strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

const remedyCols = `id, task_id, machine, site, target, result, reply, at, done_at`

// AddRemediation implements store.RemediationTx.
func (x *Tx) AddRemediation(ctx context.Context, r *store.Remediation) error {
	r.Machine, r.Site = remedyText(r.Machine, maxRemedyField), remedyText(r.Site, maxRemedyField)
	r.Target, r.Reply = remedyText(r.Target, maxRemedyField), remedyText(r.Reply, maxRemedyReply)
	err := x.queryRow(ctx, `INSERT INTO remediations (task_id, machine, site, target, result, reply, at, done_at)
VALUES ($1,$2,$3,$4,$5,$6,$7,$8) RETURNING id`,
		r.TaskID, r.Machine, r.Site, r.Target, r.Result, r.Reply, us(r.At), us(r.DoneAt)).Scan(&r.ID)
	if err != nil {
		return fmt.Errorf("add remediation: %w", err)
	}
	return nil
}

// FinishRemediation implements store.RemediationTx.
func (x *Tx) FinishRemediation(ctx context.Context, id int64, result, reply string, at time.Time) error {
	res, err := x.exec(ctx, `UPDATE remediations SET result = $1, reply = $2, done_at = $3 WHERE id = $4`,
		result, remedyText(reply, maxRemedyReply), us(at), id)
	if err != nil {
		return fmt.Errorf("finish remediation %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("finish remediation %d: no such row", id)
	}
	return nil
}

// LastRemediation implements store.RemediationTx.
func (x *Tx) LastRemediation(ctx context.Context, machine string) (*store.Remediation, error) {
	var r store.Remediation
	var at, done int64
	err := x.queryRow(ctx, `SELECT `+remedyCols+` FROM remediations WHERE machine = $1 ORDER BY at DESC, id DESC LIMIT 1`,
		machine).Scan(&r.ID, &r.TaskID, &r.Machine, &r.Site, &r.Target, &r.Result, &r.Reply, &at, &done)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("last remediation of %s: %w", machine, err)
	}
	r.At, r.DoneAt = tm(at), tm(done)
	return &r, nil
}

// CountRemediations implements store.RemediationTx.
func (x *Tx) CountRemediations(ctx context.Context, q store.RemediationCount) (int, error) {
	ph := make([]string, len(store.RemedyAttempts))
	args := []any{us(q.Since)}
	for i, r := range store.RemedyAttempts {
		args = append(args, r)
		ph[i] = fmt.Sprintf("$%d", len(args))
	}
	where := `at >= $1 AND result IN (` + strings.Join(ph, ",") + `)`
	if q.Site != nil {
		args = append(args, *q.Site)
		where += fmt.Sprintf(" AND site = $%d", len(args))
	}
	if q.TaskID != 0 {
		args = append(args, q.TaskID)
		where += fmt.Sprintf(" AND task_id = $%d", len(args))
	}
	var n int
	if err := x.queryRow(ctx, `SELECT COUNT(*) FROM remediations WHERE `+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count remediations: %w", err)
	}
	return n, nil
}

// PruneRemediations implements store.RemediationTx.
func (x *Tx) PruneRemediations(ctx context.Context, before time.Time) (int, error) {
	res, err := x.exec(ctx, `DELETE FROM remediations WHERE at < $1`, us(before))
	if err != nil {
		return 0, fmt.Errorf("prune remediations: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
