package repair

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/minefarm/cgminer-stack/receiver/config"
	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/task"
)

// ChannelNone labels a delivery that had nobody to go to: the recipient has no contact for any
// channel of the step.
const ChannelNone = "none"

// configOf is the configuration a transaction's changes are written under (inTx puts it there).
func configOf(tx store.Tx) *config.Config {
	if w, ok := tx.(*writeTx); ok && w.cfg != nil {
		return w.cfg
	}
	return nil
}

// taskFields are the facts a notification carries about its task.
func taskFields(cfg *config.Config, t *task.Task) map[string]string {
	f := make(map[string]string, len(t.Location)+10)
	for k, v := range t.Location {
		f[k] = v
	}
	var order []string
	if cfg != nil {
		order = cfg.LocationLabels
	}
	for k, v := range map[string]string{
		"machine": t.Machine, "ip": task.IP(t.Identity), "title": t.Title, "severity": t.Severity, "state": string(t.State),
		"assignee": t.Assignee, "team": t.Team, "where": task.Where(t.Location, order),
	} {
		if v != "" {
			f[k] = v
		}
	}
	if t.Fleet {
		f["fleet"] = "true"
	}
	return f
}

// route turns a change's notices into deliveries: each notice goes to its recipient over every
// channel of its ladder step they can be reached on, and to the step's extra e-mail addresses. A
// recipient reachable on none of them gets one delivery stored given up, saying so. It also
// reports whether every delivery of the notices for the task's current step was given up.
func route(cfg *config.Config, t *task.Task, notices []task.Notice, now time.Time) (msgs []store.Message, stepFailed bool) {
	if cfg == nil {
		// Not written through inTx (no configuration at hand): the sender's default channel.
		for _, n := range notices {
			msgs = append(msgs, store.Message{TaskID: t.ID, To: n.To, Step: n.Step, Text: n.Text, CreatedAt: now})
		}
		return msgs, false
	}
	pol := cfg.Policy()
	fields := taskFields(cfg, t)
	current, currentOK := 0, 0
	for _, n := range notices {
		step := pol.Ladder[min(max(n.Step, 0), len(pol.Ladder)-1)]
		var out []store.Message
		mk := func(to, ch, addr string) store.Message {
			return store.Message{TaskID: t.ID, To: to, Channel: ch, Address: addr, Step: n.Step, Fields: fields, Text: n.Text, CreatedAt: now}
		}
		if n.To != "" || len(n.Emails) == 0 {
			for _, ch := range step.Channels {
				if addr, _ := cfg.Address(n.To, ch); addr != "" {
					out = append(out, mk(n.To, ch, addr))
				}
			}
			if len(out) == 0 {
				who := n.To
				if who == "" {
					who = "nobody in particular (no assignee, no group chat)"
				}
				m := mk(n.To, ChannelNone, "")
				m.GaveUp, m.LastError = true, fmt.Sprintf("%s cannot be reached over %v: no contact in people", who, step.Channels)
				out = append(out, m)
			}
		}
		for _, a := range n.Emails {
			if cfg.Notify.Has(config.ChannelEmail) {
				out = append(out, mk("", config.ChannelEmail, a))
			}
		}
		if n.Step == t.LadderStep {
			for _, m := range out {
				current++
				if !m.GaveUp {
					currentOK++
				}
			}
		}
		msgs = append(msgs, out...)
	}
	return msgs, current > 0 && currentOK == 0
}

// Record stores the outcome of a delivery attempt (notify.Outbox). A delivery given up is noted in
// its task's history; when it was the last of its step's latest message still on its way, the
// task's step is marked failed and the sweep moves it to the next step.
func (s *Service) Record(ctx context.Context, m store.Message, a store.Attempt) error {
	cfg := s.cfg()
	var c task.Change
	err := s.inTx(ctx, "notify", func(tx store.Tx) error {
		c = task.Change{}
		if err := tx.RecordAttempt(ctx, a); err != nil {
			return err
		}
		if a.Result != store.AttemptGaveUp || m.TaskID <= 0 {
			return nil
		}
		t, err := tx.Task(ctx, m.TaskID)
		if errors.Is(err, task.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		delivering := true
		if t.LadderStep == m.Step && !m.CreatedAt.Before(t.StepAt) {
			if delivering, err = tx.BatchDelivering(ctx, t.ID, m.Step, m.CreatedAt); err != nil {
				return err
			}
		}
		who := m.To
		if who == "" {
			who = m.Address
		}
		c = task.Undeliverable(t, m.Step, !delivering, fmt.Sprintf("%s over %s: %s", who, a.Channel, a.Error), a.At)
		t.EscalateAt = task.NextEscalation(t, cfg.Policy())
		return write(ctx, tx, t, c, a.At)
	})
	if err != nil {
		return err
	}
	s.commit(pending{c})
	return nil
}

// replanned remembers the configuration the tasks' next escalations were planned under.
func (s *Service) replan(ctx context.Context, cfg *config.Config) error {
	if s.planned.Load() == cfg {
		return nil
	}
	pol := cfg.Policy()
	var after int64
	for {
		var n int
		err := s.inTx(ctx, "sweep", func(tx store.Tx) error {
			ts, err := tx.ActiveTasks(ctx, after, 500)
			if err != nil {
				return err
			}
			n = len(ts)
			for i := range ts {
				t := &ts[i]
				after = t.ID
				next := task.NextEscalation(t, pol)
				if next.Equal(t.EscalateAt) {
					continue
				}
				t.EscalateAt = next
				if err := tx.UpdateTask(ctx, t); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("plan escalations: %w", err)
		}
		if n < 500 {
			break
		}
	}
	s.planned.Store(cfg)
	return nil
}

// stepLabel is the metric label of a ladder step: its number as the board shows it (1 = the
// assignee's).
func stepLabel(step int) string { return strconv.Itoa(step + 1) }

// Pending returns the deliveries due now (notify.Outbox).
func (s *Service) Pending(ctx context.Context, now time.Time, limit int) ([]store.Message, error) {
	msgs, err := s.st.Pending(ctx, now, limit)
	if err != nil {
		s.metrics.StoreErrors.WithLabelValues("notify").Inc()
	}
	return msgs, err
}

// Claim takes a due delivery for one attempt until `until` (notify.Outbox): false when another
// sender took it first or it changed since it was read (store.OutboxTx.ClaimDelivery).
func (s *Service) Claim(ctx context.Context, m store.Message, until time.Time) (bool, error) {
	var ok bool
	err := s.inTx(ctx, "notify", func(tx store.Tx) error {
		var err error
		ok, err = tx.ClaimDelivery(ctx, m, until)
		return err
	})
	return ok, err
}
