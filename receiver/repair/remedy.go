package repair

import (
	"context"
	"fmt"
	"time"

	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/task"
)

// Remedy is a remediation receiver/remedy asks for on a task: where it would go, the limits it
// must respect, and how to carry it out. Remediate checks the limits and reserves the attempt in
// one transaction (so two receivers on one database never both restart a miner), sends outside
// any transaction, and records the outcome in a second; the history event goes through the task
// domain (task.Remediation), which changes no state: verification decides.
type Remedy struct {
	// Target is the miner's API endpoint (IP:port); empty when none could be derived.
	Target string
	// Refused, when set, says why nothing may be sent (the allowlist decided before dialling):
	// the refusal is recorded, once per window.
	Refused string
	// DryRun records what would be sent, and sends nothing.
	DryRun bool
	// Window: at most one decision per machine per window (sent, dry run, refused, failed or
	// rate-limited alike).
	Window time.Duration
	// SitePerHour: at most so many attempts (sent, dry run, failed) per site in the last hour;
	// 0: no limit.
	SitePerHour int
	// MaxPerTask: at most so many attempts per task; past it the task is left to the crew. 0: no
	// limit.
	MaxPerTask int
	// Send sends the restart; reply is what the miner answered or why it failed. Called outside
	// any transaction, without DryRun or Refused.
	Send func(ctx context.Context) (sent bool, reply string)
}

// RemedyOutcome says what Remediate did.
type RemedyOutcome struct {
	// Recorded is false when nothing was written: the machine had a decision within the window,
	// the task reached its limit, or it is closed.
	Recorded bool
	Result   string // a store.Remedy* result
	Text     string // the history event
}

// RemedyKeep is how long remediation rows are kept: the limits look back at most this far.
const RemedyKeep = 7 * 24 * time.Hour

// maxReplyText bounds the miner's reply quoted in the history.
const maxReplyText = 200

// Remediate applies a remediation to a task under its limits (see Remedy).
func (s *Service) Remediate(ctx context.Context, id int64, r Remedy) (RemedyOutcome, error) {
	now := s.clock.Now()
	var out RemedyOutcome
	var row store.Remediation
	var c task.Change
	attempt := 0
	err := s.inTx(ctx, "remedy", func(tx store.Tx) error {
		out, row, c, attempt = RemedyOutcome{}, store.Remediation{}, task.Change{}, 0
		t, err := tx.Task(ctx, id)
		if err != nil {
			return err
		}
		if t.State.Closed() {
			return nil
		}
		last, err := tx.LastRemediation(ctx, t.Machine)
		if err != nil {
			return err
		}
		if last != nil && now.Sub(last.At) < r.Window {
			return nil // once per machine per window: the restart's effect is being waited for
		}
		if r.MaxPerTask > 0 {
			n, err := tx.CountRemediations(ctx, store.RemediationCount{TaskID: t.ID})
			if err != nil {
				return err
			}
			if n >= r.MaxPerTask {
				return nil // the history already shows the attempts; the crew has it now
			}
			attempt = n + 1
		}
		if _, err := tx.PruneRemediations(ctx, now.Add(-RemedyKeep)); err != nil {
			return err
		}
		row = store.Remediation{TaskID: t.ID, Machine: t.Machine, Site: t.Site, Target: r.Target, At: now}
		switch {
		case r.Refused != "":
			row.Result, row.Reply = store.RemedyRefused, r.Refused
			out.Text = "remediation refused: " + r.Refused
		case r.SitePerHour > 0:
			site := t.Site
			n, err := tx.CountRemediations(ctx, store.RemediationCount{Site: &site, Since: now.Add(-time.Hour)})
			if err != nil {
				return err
			}
			if n >= r.SitePerHour {
				row.Result = store.RemedyRateLimited
				row.Reply = fmt.Sprintf("%d restarts at site %q in the last hour (limit %d)", n, site, r.SitePerHour)
				out.Text = fmt.Sprintf("remediation rate-limited: not restarting %s: %s", r.Target, row.Reply)
			}
		}
		if row.Result == "" {
			if r.DryRun {
				row.Result = store.RemedyDryRun
				out.Text = fmt.Sprintf("remediation (dry run): would restart the mining software at %s%s", r.Target, allowance(attempt, r.MaxPerTask))
			} else {
				row.Result = store.RemedyPending
			}
		}
		if err := tx.AddRemediation(ctx, &row); err != nil {
			return err
		}
		out.Recorded, out.Result = true, row.Result
		if row.Result == store.RemedyPending {
			return nil // the event comes with the outcome
		}
		if c, err = task.Remediation(t, out.Text, now); err != nil {
			return err
		}
		return write(ctx, tx, t, c, now)
	})
	if err != nil || !out.Recorded {
		return out, err
	}
	if row.Result != store.RemedyPending {
		s.commit(pending{c})
		return out, nil
	}

	sent, reply := r.Send(ctx)
	done := s.clock.Now()
	quoted := printable(reply, maxReplyText)
	if sent {
		out.Result = store.RemedySent
		out.Text = fmt.Sprintf("remediation: restart sent to %s (reply: %s)%s", r.Target, quoted, allowance(attempt, r.MaxPerTask))
	} else {
		out.Result = store.RemedyFailed
		out.Text = fmt.Sprintf("remediation failed: restart to %s: %s%s", r.Target, quoted, allowance(attempt, r.MaxPerTask))
	}
	// The outcome is recorded even when the caller is going away (shutdown): the miner may be
	// restarting now.
	rctx := context.WithoutCancel(ctx)
	err = s.inTx(rctx, "remedy", func(tx store.Tx) error {
		c = task.Change{}
		if err := tx.FinishRemediation(rctx, row.ID, out.Result, reply, done); err != nil {
			return err
		}
		t, err := tx.Task(rctx, id)
		if err != nil {
			return err
		}
		if c, err = task.Remediation(t, out.Text, done); err != nil {
			return err
		}
		return write(rctx, tx, t, c, done)
	})
	if err != nil {
		// The row stays pending: it still counts against the limits, so nothing is sent twice.
		return out, fmt.Errorf("record the remediation of task %d: %w", id, err)
	}
	s.commit(pending{c})
	return out, nil
}

// allowance says which attempt of the task's allowance this is ("" without a limit).
func allowance(attempt, max int) string {
	if max <= 0 || attempt <= 0 {
		return ""
	}
	if attempt >= max {
		return fmt.Sprintf("; attempt %d of %d for this task, the last", attempt, max)
	}
	return fmt.Sprintf("; attempt %d of %d for this task", attempt, max)
}

// printable makes a miner's reply safe to show: printable ASCII only (anything else as \xNN or
// escapes), cut at max bytes.
func printable(s string, max int) string {
	if s == "" {
		return "none"
	}
	b := make([]byte, 0, min(len(s), max)+8)
	for i := 0; i < len(s); i++ {
		if len(b) >= max {
			return string(b) + "…"
		}
		switch ch := s[i]; {
		case ch >= 0x20 && ch < 0x7f:
			b = append(b, ch)
		case ch == '\n':
			b = append(b, `\n`...)
		default:
			b = fmt.Appendf(b, `\x%02x`, ch)
		}
	}
	return string(b)
}

// The remediation log's writes count as writes for the store's health (health.go).

func (w *writeTx) AddRemediation(ctx context.Context, r *store.Remediation) error {
	return w.did(w.Tx.AddRemediation(ctx, r))
}

func (w *writeTx) FinishRemediation(ctx context.Context, id int64, result, reply string, at time.Time) error {
	return w.did(w.Tx.FinishRemediation(ctx, id, result, reply, at))
}

func (w *writeTx) PruneRemediations(ctx context.Context, before time.Time) (int, error) {
	n, err := w.Tx.PruneRemediations(ctx, before)
	if n > 0 {
		w.did(err)
	}
	return n, err
}
