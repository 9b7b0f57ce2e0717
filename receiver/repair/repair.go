// Package repair runs the task rules against the store: alert intake, the worker's actions, the
// grace and escalation sweep, and verification results. Every change is one store transaction
// in which the task, its problems, its history and the outbox are written together; the rules
// themselves are in package task.
package repair

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/minefarm/cgminer-stack/receiver/alert"
	"github.com/minefarm/cgminer-stack/receiver/config"
	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/task"
)

// Clock tells the time; tests move it by hand.
type Clock interface{ Now() time.Time }

// SystemClock is the wall clock.
type SystemClock struct{}

// Now implements Clock.
func (SystemClock) Now() time.Time { return time.Now().UTC() }

// WatchdogHeartbeat is the heartbeat name under which the Watchdog alert is recorded.
const WatchdogHeartbeat = "watchdog"

// Service applies changes.
type Service struct {
	st      store.Store
	cfg     func() *config.Config
	clock   Clock
	logger  *slog.Logger
	metrics *Metrics
}

// New makes a service.
func New(st store.Store, cfg func() *config.Config, clock Clock, logger *slog.Logger, m *Metrics) *Service {
	return &Service{st: st, cfg: cfg, clock: clock, logger: logger, metrics: m}
}

// Store returns the store the service writes to.
func (s *Service) Store() store.Store { return s.st }

// Keyer returns the label rules of the current configuration.
func (s *Service) Keyer() alert.Keyer {
	c := s.cfg()
	return alert.Keyer{Identity: c.IdentityLabels, Location: c.LocationLabels, Volatile: c.VolatileLabels}
}

// Summary says what a delivery did.
type Summary struct {
	Created, Joined, Reopened, Cleared, Duplicates, Unknown int
}

// pending is what a transaction produced, turned into metrics only after commit.
type pending []task.Change

func (s *Service) commit(changes pending) {
	for _, c := range changes {
		s.metrics.observe(c)
	}
}

// inTx retries a transaction a uniqueness rule refused (another writer got there first).
func (s *Service) inTx(ctx context.Context, op string, fn func(store.Tx) error) error {
	var err error
	for attempt := range 8 {
		if err = s.st.InTx(ctx, fn); !errors.Is(err, store.ErrConflict) {
			break
		}
		// Another writer won a race on the same rows (PostgreSQL); back off a little and redo.
		time.Sleep(time.Duration(attempt+1) * 5 * time.Millisecond)
	}
	if err != nil && !isDomain(err) {
		s.metrics.StoreErrors.WithLabelValues(op).Inc()
	}
	return err
}

func isDomain(err error) bool {
	return errors.Is(err, task.ErrInvalidTransition) || errors.Is(err, task.ErrInvalidInput) || errors.Is(err, task.ErrNotFound) ||
		errors.Is(err, ErrForbidden)
}

// Ingest applies every event of one delivery in one transaction.
func (s *Service) Ingest(ctx context.Context, res alert.Result) (Summary, error) {
	cfg := s.cfg()
	now := s.clock.Now()
	var sum Summary
	var changes pending
	err := s.inTx(ctx, "ingest", func(tx store.Tx) error {
		sum, changes = Summary{}, nil
		if res.Watchdog {
			if err := tx.SetHeartbeat(ctx, WatchdogHeartbeat, now); err != nil {
				return err
			}
		}
		as := assignments{}
		for i := range res.Events {
			c, err := s.apply(ctx, tx, cfg, as, &res.Events[i], now, &sum)
			if err != nil {
				return err
			}
			changes = append(changes, c...)
		}
		return nil
	})
	if err != nil {
		return sum, err
	}
	if res.Watchdog {
		s.metrics.Watchdog.Set(float64(now.Unix()))
	}
	s.commit(changes)
	return sum, nil
}

// write stores a changed task with its history and notifications.
func write(ctx context.Context, tx store.Tx, t *task.Task, c task.Change, now time.Time) error {
	for i := range c.Events {
		if c.Events[i].TaskID == 0 {
			c.Events[i].TaskID = t.ID
		}
	}
	if err := tx.UpdateTask(ctx, t); err != nil {
		return err
	}
	if err := tx.AddEvents(ctx, c.Events); err != nil {
		return err
	}
	if len(c.Notify) == 0 {
		return nil
	}
	msgs := make([]store.Message, len(c.Notify))
	for i, n := range c.Notify {
		msgs[i] = store.Message{TaskID: t.ID, To: n.To, Text: n.Text, CreatedAt: now}
	}
	return tx.Enqueue(ctx, msgs)
}

func problemOf(ev *alert.Event, now time.Time) task.Problem {
	return task.Problem{
		Key: ev.ProblemKey, Alertname: ev.Alertname, Category: ev.Category, Severity: ev.Severity,
		Labels: ev.Labels, Annotations: ev.Annotations, StartsAt: ev.StartsAt, Firing: true, ReceivedAt: now,
		Fingerprint: ev.Fingerprint, GeneratorURL: ev.GeneratorURL, SourceURL: ev.SourceURL,
	}
}

// assignments keeps each team's open-task counts and last assignee for the length of one
// transaction: counting a member's open tasks once per delivery, not once per new task, keeps a
// 5,000-alert delivery linear in the number of alerts.
type assignments map[string]*teamLoad

type teamLoad struct {
	loads map[string]int
	last  string
}

func (a assignments) pick(ctx context.Context, tx store.Tx, cfg *config.Config, team *config.Team) (string, error) {
	tl, ok := a[team.Name]
	if !ok {
		people := append(append([]string{}, team.Members...), team.Lead)
		loads, err := tx.Loads(ctx, people)
		if err != nil {
			return "", err
		}
		last, err := tx.LastAssignee(ctx, team.Name)
		if err != nil {
			return "", err
		}
		tl = &teamLoad{loads: loads, last: last}
		a[team.Name] = tl
	}
	who := task.Pick(team, cfg.Assignment, tl.loads, tl.last)
	tl.loads[who]++
	tl.last = who
	return who, nil
}

func (s *Service) apply(ctx context.Context, tx store.Tx, cfg *config.Config, as assignments, ev *alert.Event, now time.Time, sum *Summary) ([]task.Change, error) {
	occ, err := tx.Occurrence(ctx, ev.ProblemKey, ev.StartsAt)
	if err != nil {
		return nil, err
	}
	if !ev.Firing {
		return s.resolve(ctx, tx, ev, occ, now, sum)
	}
	if occ != nil {
		if occ.Firing || now.Sub(occ.ResolvedAt) < cfg.Windows.OutOfOrder {
			// A repeat, a copy from the HA peer, or a firing copy that lost the race with its resolve.
			sum.Duplicates++
			return nil, nil
		}
		// Resolved a while ago and firing again with the same start: the same occurrence is back.
		occ.Firing, occ.EndsAt, occ.ResolvedAt = true, time.Time{}, time.Time{}
		occ.Annotations, occ.Severity = ev.Annotations, ev.Severity
	}
	p := problemOf(ev, now)
	if occ != nil {
		p = *occ
	}
	var changes []task.Change

	t, err := tx.OpenTask(ctx, ev.Machine)
	if err != nil {
		return nil, err
	}
	if t != nil {
		seen := occ != nil && occ.TaskID == t.ID
		if !seen {
			ps, err := tx.Problems(ctx, t.ID)
			if err != nil {
				return nil, err
			}
			for _, q := range ps {
				if q.Key == p.Key {
					seen = true
					break
				}
			}
		}
		c := task.AddProblem(t, p, seen, now)
		sum.Joined++
		changes = append(changes, c)
		if err := s.saveProblem(ctx, tx, &p, t.ID, occ != nil); err != nil {
			return nil, err
		}
		return changes, write(ctx, tx, t, c, now)
	}

	if cfg.Windows.ReopenWindow > 0 {
		t, err = tx.ReopenableTask(ctx, ev.Machine, p.Key, now.Add(-cfg.Windows.ReopenWindow))
		if err != nil {
			return nil, err
		}
	}
	if t != nil {
		c := task.Reopen(t, p, now) // counts the recurrence
		c.Merge(task.AddProblem(t, p, false, now))
		sum.Reopened++
		if err := s.saveProblem(ctx, tx, &p, t.ID, occ != nil); err != nil {
			return nil, err
		}
		return append(changes, c), write(ctx, tx, t, c, now)
	}

	nt, c := task.New(p, ev.Machine, ev.Fleet, ev.Identity, ev.Location, now)
	if err := tx.CreateTask(ctx, &nt); err != nil {
		return nil, err
	}
	labels := map[string]string{}
	for k, v := range ev.Labels {
		labels[k] = v
	}
	if team := cfg.TeamFor(labels); team != nil {
		who, err := as.pick(ctx, tx, cfg, team)
		if err != nil {
			return nil, err
		}
		c.Merge(task.Assigned(&nt, team.Name, who, now))
	} else {
		c.Merge(task.Assigned(&nt, "", "", now))
	}
	sum.Created++
	if err := s.saveProblem(ctx, tx, &p, nt.ID, occ != nil); err != nil {
		return nil, err
	}
	return append(changes, c), write(ctx, tx, &nt, c, now)
}

func (s *Service) saveProblem(ctx context.Context, tx store.Tx, p *task.Problem, taskID int64, exists bool) error {
	p.TaskID = taskID
	if exists {
		return tx.UpdateProblem(ctx, p)
	}
	return tx.AddProblem(ctx, p)
}

func (s *Service) resolve(ctx context.Context, tx store.Tx, ev *alert.Event, occ *task.Problem, now time.Time, sum *Summary) ([]task.Change, error) {
	if occ == nil {
		// Resolved before we ever saw it fire (AM #878), or an occurrence we never stored.
		s.logger.Debug("resolved notification for an unknown occurrence; ignored", "machine", ev.Machine,
			"alertname", ev.Alertname, "startsAt", ev.StartsAt)
		sum.Unknown++
		return nil, nil
	}
	if !occ.Firing || ev.EndsAt.Before(occ.StartsAt) {
		sum.Duplicates++
		return nil, nil
	}
	occ.Firing, occ.EndsAt, occ.ResolvedAt = false, ev.EndsAt, now
	if err := tx.UpdateProblem(ctx, occ); err != nil {
		return nil, err
	}
	sum.Cleared++
	t, err := tx.Task(ctx, occ.TaskID)
	if err != nil {
		return nil, err
	}
	ps, err := tx.Problems(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	all := true
	for _, q := range ps {
		if q.Firing {
			all = false
			break
		}
	}
	c := task.Clear(t, *occ, all, now)
	return []task.Change{c}, write(ctx, tx, t, c, now)
}

// Action is a person's request on a task.
type Action struct {
	Kind     string // ack, start, fixed, note, assign, cancel
	Text     string // report, note or reason
	Assignee string
	// Allow, when set, is asked inside the transaction with the task as stored before anything
	// changes; an error (wrapping ErrForbidden) refuses the action. The web side's authorization.
	Allow func(task.Task) error
}

// ErrForbidden is what an Action's Allow returns when the actor may not do it.
var ErrForbidden = errors.New("forbidden")

// Act applies a person's action.
func (s *Service) Act(ctx context.Context, id int64, actor string, a Action) (task.Task, error) {
	now := s.clock.Now()
	var out task.Task
	var c task.Change
	err := s.inTx(ctx, "act", func(tx store.Tx) error {
		t, err := tx.Task(ctx, id)
		if err != nil {
			return err
		}
		if a.Allow != nil {
			if err := a.Allow(*t); err != nil {
				return err
			}
		}
		switch a.Kind {
		case "ack":
			c, err = task.Ack(t, actor, now)
		case "start":
			c, err = task.Start(t, actor, now)
		case "fixed":
			c, err = task.ReportFixed(t, actor, a.Text, now)
		case "note":
			c, err = task.Note(t, actor, a.Text, now)
		case "assign":
			c, err = task.Assign(t, actor, a.Assignee, now)
		case "cancel":
			c, err = task.Cancel(t, actor, a.Text, now)
		default:
			err = fmt.Errorf("%w: unknown action %q", task.ErrInvalidInput, a.Kind)
		}
		if err != nil {
			return err
		}
		out = *t
		return write(ctx, tx, t, c, now)
	})
	if err != nil {
		return out, err
	}
	s.commit(pending{c})
	return out, nil
}

// Sweep closes tasks whose grace has passed and escalates open tasks nobody took. It returns how
// many tasks it changed.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	cfg := s.cfg()
	w := cfg.Windows
	now := s.clock.Now()
	q := store.DueQuery{ClearedBefore: now.Add(-w.Grace), Limit: 1000}
	if w.EscalateAfter > 0 {
		q.OpenedBefore, q.EscalatedBefore = now.Add(-w.EscalateAfter), now.Add(-w.EscalateRepeat)
	} else {
		q.OpenedBefore = time.UnixMicro(1) // nothing was opened before
	}
	q.ReportedBefore = time.UnixMicro(1) // verification has its own loop
	n := 0
	// Every task Due returns is acted on, so the next page holds the rest.
	for page := 0; page < 100; page++ {
		due, err := s.st.Due(ctx, q)
		if err != nil {
			s.metrics.StoreErrors.WithLabelValues("sweep").Inc()
			return n, err
		}
		changed, err := s.sweepTasks(ctx, cfg, due, now)
		n += changed
		if err != nil || len(due) < q.Limit || changed == 0 {
			return n, err
		}
	}
	return n, nil
}

func (s *Service) sweepTasks(ctx context.Context, cfg *config.Config, due []task.Task, now time.Time) (int, error) {
	w := cfg.Windows
	n := 0
	for _, d := range due {
		var c task.Change
		changed := false
		err := s.inTx(ctx, "sweep", func(tx store.Tx) error {
			c, changed = task.Change{}, false
			t, err := tx.Task(ctx, d.ID)
			if err != nil {
				return err
			}
			if gc, ok := task.Grace(t, w, now); ok {
				c, changed = gc, true
			} else if task.EscalationDue(t, w, now) {
				team := cfg.Team(t.Team)
				c, changed = task.Escalate(t, task.EscalationTarget(team, t.Assignee), now), true
			}
			if !changed {
				return nil
			}
			return write(ctx, tx, t, c, now)
		})
		if err != nil {
			return n, fmt.Errorf("sweep task %d: %w", d.ID, err)
		}
		if changed {
			n++
			s.commit(pending{c})
		}
	}
	return n, nil
}

// Verifying lists the tasks waiting for verification whose settle time has passed.
func (s *Service) Verifying(ctx context.Context) ([]store.Detail, error) {
	now := s.clock.Now()
	settle := s.cfg().Windows.Settle
	ts, err := s.st.ListTasks(ctx, store.Filter{States: []task.State{task.Verifying}})
	if err != nil {
		s.metrics.StoreErrors.WithLabelValues("verify").Inc()
		return nil, err
	}
	var out []store.Detail
	for _, t := range ts {
		if now.Sub(t.ReportedAt) < settle {
			continue
		}
		d, err := s.st.Detail(ctx, t.ID)
		if err != nil {
			s.metrics.StoreErrors.WithLabelValues("verify").Inc()
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// Verified applies what the monitoring said about a verifying task.
func (s *Service) Verified(ctx context.Context, id int64, chk task.Check) (task.Task, error) {
	now := s.clock.Now()
	w := s.cfg().Windows
	var c task.Change
	var out task.Task
	err := s.inTx(ctx, "verify", func(tx store.Tx) error {
		t, err := tx.Task(ctx, id)
		if err != nil {
			return err
		}
		ps, err := tx.Problems(ctx, id)
		if err != nil {
			return err
		}
		var cleared []task.Problem
		c, cleared = task.Verify(t, ps, chk, w, now)
		out = *t
		if len(c.Events) == 0 {
			return nil
		}
		for i := range cleared {
			if err := tx.UpdateProblem(ctx, &cleared[i]); err != nil {
				return err
			}
		}
		return write(ctx, tx, t, c, now)
	})
	if err != nil {
		return out, err
	}
	s.commit(pending{c})
	return out, nil
}

// Unresolved lists the tasks that still hold firing problems and have not changed for `after`:
// Alertmanager sends no resolved notification for a silenced or inhibited alert, so such a
// problem can only be found cleared by asking Prometheus (verify.Loop.Reconcile).
func (s *Service) Unresolved(ctx context.Context, after time.Duration) ([]store.Detail, error) {
	now := s.clock.Now()
	ts, err := s.st.ListTasks(ctx, store.Filter{States: []task.State{task.Open, task.Acknowledged, task.InProgress}})
	if err != nil {
		s.metrics.StoreErrors.WithLabelValues("reconcile").Inc()
		return nil, err
	}
	var out []store.Detail
	for _, t := range ts {
		if t.Cleared() || now.Sub(t.UpdatedAt) < after {
			continue
		}
		d, err := s.st.Detail(ctx, t.ID)
		if err != nil {
			s.metrics.StoreErrors.WithLabelValues("reconcile").Inc()
			return nil, err
		}
		for _, p := range d.Problems {
			if p.Firing {
				out = append(out, d)
				break
			}
		}
	}
	return out, nil
}

// Reconciled clears the firing problems of a task that Prometheus no longer shows (still holds
// the keys it does show), as a resolved notification would have. It returns how many it cleared.
func (s *Service) Reconciled(ctx context.Context, id int64, still map[string]bool) (int, error) {
	now := s.clock.Now()
	var changes pending
	n := 0
	err := s.inTx(ctx, "reconcile", func(tx store.Tx) error {
		changes, n = nil, 0
		t, err := tx.Task(ctx, id)
		if err != nil {
			return err
		}
		if t.State.Closed() || t.State == task.Verifying {
			return nil // verification has its own loop
		}
		ps, err := tx.Problems(ctx, id)
		if err != nil {
			return err
		}
		var gone []int
		firing := 0
		for i := range ps {
			if !ps[i].Firing {
				continue
			}
			firing++
			if !still[ps[i].Key] {
				gone = append(gone, i)
			}
		}
		for k, i := range gone {
			p := &ps[i]
			p.Firing, p.EndsAt, p.ResolvedAt = false, now, now
			if err := tx.UpdateProblem(ctx, p); err != nil {
				return err
			}
			c := task.Clear(t, *p, k == len(gone)-1 && len(gone) == firing, now)
			if err := write(ctx, tx, t, c, now); err != nil {
				return err
			}
			changes = append(changes, c)
			n++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if n > 0 {
		s.logger.Info("cleared problems Prometheus no longer shows (no resolved notification came)", "task", id, "problems", n)
		s.commit(changes)
	}
	return n, nil
}

// LoadWatchdog sets the watchdog gauge from the store (after a restart).
func (s *Service) LoadWatchdog(ctx context.Context) error {
	at, err := s.st.Heartbeat(ctx, WatchdogHeartbeat)
	if err != nil {
		return err
	}
	if !at.IsZero() {
		s.metrics.Watchdog.Set(float64(at.Unix()))
	}
	return nil
}
