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
	"maps"
	"sync/atomic"
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

// SweepHeartbeat is written by every sweep.
const SweepHeartbeat = "sweep"

// Service applies changes.
type Service struct {
	st      store.Store
	cfg     func() *config.Config
	clock   Clock
	logger  *slog.Logger
	metrics *Metrics
	health  health

	acting    atomic.Int32                  // workers' actions waiting for or in the store: the intake yields
	serial    bool                          // the store has one writer (SQLite): only then does the intake yield
	intakes   []intake                      // deliveries waiting for their group commit (intake.go)
	loads     loadCache                     // open-task counts kept between groups (intake.go)
	planned   atomic.Pointer[config.Config] // the configuration tasks' escalations are planned under (outbox.go)
	chunk     int                           // alerts per ingest transaction; 0: IngestChunk (tests set it)
	chunkHook func(int)                     // called after each committed chunk (tests)
}

// New makes a service.
func New(st store.Store, cfg func() *config.Config, clock Clock, logger *slog.Logger, m *Metrics) *Service {
	s := &Service{st: st, cfg: cfg, clock: clock, logger: logger, metrics: m, serial: true}
	if c, ok := st.(interface{ SerialWriters() bool }); ok {
		s.serial = c.SerialWriters()
	}
	s.intakes = make([]intake, 1)
	if !s.serial {
		s.intakes = make([]intake, Groups)
	}
	return s
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
	// EarlyResolved counts firing copies that made no task because their resolve had come
	// first (within windows.out_of_order); they are counted in Duplicates too.
	EarlyResolved int

	early int // resolves of unknown occurrences remembered
}

func (s *Summary) add(o Summary) {
	s.Created += o.Created
	s.Joined += o.Joined
	s.Reopened += o.Reopened
	s.Cleared += o.Cleared
	s.Duplicates += o.Duplicates
	s.Unknown += o.Unknown
	s.EarlyResolved += o.EarlyResolved
	s.early += o.early
}

// pending is what a transaction produced, turned into metrics only after commit.
type pending []task.Change

func (s *Service) commit(changes pending) {
	for _, c := range changes {
		s.metrics.observe(c)
	}
}

// inTx retries a transaction a uniqueness rule refused (another writer got there first), and
// records whether the store committed (health.go).
func (s *Service) inTx(ctx context.Context, op string, fn func(store.Tx) error) error {
	var err error
	var rec *writeTx
	for attempt := range 8 {
		err = s.st.InTx(ctx, func(tx store.Tx) error {
			rec = &writeTx{Tx: tx, cfg: s.cfg()}
			return fn(rec)
		})
		if !errors.Is(err, store.ErrConflict) {
			break
		}
		// Another writer won a race on the same rows (PostgreSQL); back off a little and redo.
		time.Sleep(time.Duration(attempt+1) * 5 * time.Millisecond)
	}
	switch op {
	case "sweep", "verify", "reconcile": // Act drops it itself, when it moved a count
		if err == nil {
			s.loads.drop() // it may have moved the open-task counts the intake keeps (intake.go)
		}
	}
	switch {
	case err == nil:
		// Only a transaction that changed something proves the store can write: one that only
		// read commits fine on a full disk.
		if rec != nil && rec.wrote {
			s.health.committed(s.clock.Now(), s.metrics)
		}
	case isDomain(err):
		// Refused by the task rules: rolled back on purpose, the store is fine.
	case ctx.Err() != nil:
		// The caller went away (a webhook client hung up, shutdown): not the store's fault.
		s.metrics.StoreErrors.WithLabelValues(op).Inc()
	default:
		s.metrics.StoreErrors.WithLabelValues(op).Inc()
		s.health.failed(s.clock.Now(), err, s.metrics)
	}
	return err
}

func isDomain(err error) bool {
	return errors.Is(err, task.ErrInvalidTransition) || errors.Is(err, task.ErrInvalidInput) || errors.Is(err, task.ErrNotFound) ||
		errors.Is(err, ErrForbidden)
}

// IngestChunk is how many alerts of one delivery go into one transaction at most. A 60,000-alert
// delivery in a single transaction held SQLite's one writer for 11 s, and a worker's click waited
// all that time. In chunks, other writers get the store between two of them, and a worker's
// action does not even wait for the chunk to fill: once IngestYield alerts of the chunk are
// applied, a waiting action makes the chunk commit early and the intake let it go first.
//
// The webhook still answers 2xx only after the last chunk is committed; if one fails, Alertmanager
// retries the whole delivery, and what the committed chunks stored is a no-op the second time
// (idempotency: an occurrence is unique in the store).
const (
	IngestChunk = 500
	IngestYield = 25
	// Groups is how many groups of deliveries are stored at once where the store's writers run
	// side by side (PostgreSQL); one on SQLite (intake.go).
	Groups = 4
	// yieldWait bounds how long the intake stands aside for waiting actions after a chunk.
	yieldWait = 200 * time.Millisecond
)

// standAside lets the workers' actions that are waiting for the store go first (bounded). A
// store whose writers run side by side (PostgreSQL: row locks) has no need of it: an action does
// not wait for the intake there.
func (s *Service) standAside(ctx context.Context) {
	if !s.serial {
		return
	}
	deadline := time.Now().Add(yieldWait)
	for s.acting.Load() > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
}

// write stores a changed task with its history and its notifications, routed to their
// recipients' channels (outbox.go), and plans the task's next escalation.
func write(ctx context.Context, tx store.Tx, t *task.Task, c task.Change, now time.Time) error {
	for i := range c.Events {
		if c.Events[i].TaskID == 0 {
			c.Events[i].TaskID = t.ID
		}
	}
	cfg := configOf(tx)
	msgs, stepFailed := route(cfg, t, c.Notify, now)
	if cfg != nil {
		if stepFailed {
			t.StepFailed = true // nobody on this step can be reached: the sweep moves on
		}
		t.EscalateAt = task.NextEscalation(t, cfg.Policy())
	}
	if err := tx.UpdateTask(ctx, t); err != nil {
		return err
	}
	if err := tx.AddEvents(ctx, c.Events); err != nil {
		return err
	}
	if len(msgs) == 0 {
		return nil
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
// transaction (a group of deliveries, intake.go): counting a member's open tasks once per
// transaction, not once per new task, keeps a 5,000-alert delivery linear in the number of alerts.
type assignments map[string]*teamLoad

type teamLoad struct {
	loads map[string]int
	last  string
	// What the group started from (loadCache): the kept counts, or those read from the store.
	base     map[string]int
	baseLast string
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
		tl = &teamLoad{loads: loads, last: last, base: maps.Clone(loads), baseLast: last}
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
		return s.resolve(ctx, tx, cfg, ev, occ, now, sum)
	}
	if occ == nil && cfg.Windows.OutOfOrder > 0 {
		er, err := tx.EarlyResolve(ctx, ev.ProblemKey, ev.StartsAt)
		if err != nil {
			return nil, err
		}
		if er != nil && now.Sub(er.ReceivedAt) < cfg.Windows.OutOfOrder {
			// Its resolve came first (AM #878, an HA peer, a retry): the occurrence is over, and a
			// task made now would stay open forever, for no resolve is coming any more.
			sum.Duplicates++
			sum.EarlyResolved++
			return nil, nil
		}
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
			// One lookup, not the task's problems: a delivery of n alerts on one machine read
			// n²/2 rows (1,000 alerts: 15 s; BenchmarkOneMachineDelivery).
			if seen, err = tx.HasProblem(ctx, t.ID, p.Key); err != nil {
				return nil, err
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
		if err := wantEvidence(ctx, tx, cfg, t, nil, now); err != nil {
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
	if err := wantEvidence(ctx, tx, cfg, &nt, ev, now); err != nil {
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

func (s *Service) resolve(ctx context.Context, tx store.Tx, cfg *config.Config, ev *alert.Event, occ *task.Problem, now time.Time, sum *Summary) ([]task.Change, error) {
	if occ == nil {
		// Resolved before we ever saw it fire (AM #878), or an occurrence we never stored:
		// remembered for windows.out_of_order, so that a firing copy arriving late makes no task.
		s.logger.Debug("resolved notification for an unknown occurrence; remembered", "machine", ev.Machine,
			"alertname", ev.Alertname, "startsAt", ev.StartsAt)
		sum.Unknown++
		if cfg.Windows.OutOfOrder <= 0 {
			return nil, nil
		}
		sum.early++
		return nil, tx.AddEarlyResolve(ctx, store.EarlyResolve{Key: ev.ProblemKey, StartsAt: ev.StartsAt, EndsAt: ev.EndsAt, ReceivedAt: now})
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
	firing, err := tx.Firing(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	c := task.Clear(t, *occ, !firing, now)
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
	s.acting.Add(1) // a person waits for this: a big delivery's intake lets it go first
	defer s.acting.Add(-1)
	now := s.clock.Now()
	var out task.Task
	var c task.Change
	var before task.Task // as stored, to move the open-task counts (intake.go, loadCache)
	err := s.inTx(ctx, "act", func(tx store.Tx) error {
		t, err := tx.Task(ctx, id)
		if err != nil {
			return err
		}
		before = *t
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
	if out.Assignee != before.Assignee || out.State.Closed() != before.State.Closed() {
		s.loads.move(before.Assignee, !before.State.Closed(), out.Assignee, !out.State.Closed())
	}
	s.commit(pending{c})
	return out, nil
}

// MaxEarlyResolves caps the remembered early resolves: past it, the oldest are forgotten first
// (a flood of resolves for occurrences never seen cannot grow the table without bound).
const MaxEarlyResolves = 100000

func pruneEarly(ctx context.Context, tx store.Tx, cfg *config.Config, now time.Time) error {
	_, err := tx.PruneEarlyResolves(ctx, now.Add(-cfg.Windows.OutOfOrder), MaxEarlyResolves)
	return err
}

// Sweep closes tasks whose grace has passed and escalates open tasks nobody took, and forgets
// early resolves older than windows.out_of_order. It returns how many tasks it changed.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	cfg := s.cfg()
	w := cfg.Windows
	now := s.clock.Now()
	// Every sweep writes (its heartbeat), so a store that cannot write any more is noticed within
	// one sweep interval even when no alert arrives (readiness, RepairReceiverStoreFailing).
	if err := s.inTx(ctx, "sweep", func(tx store.Tx) error {
		if err := tx.SetHeartbeat(ctx, SweepHeartbeat, now); err != nil {
			return err
		}
		return pruneEarly(ctx, tx, cfg, now)
	}); err != nil {
		return 0, fmt.Errorf("sweep heartbeat: %w", err)
	}
	// After a start or a reload every task's next escalation is planned again under the policy in
	// force (the sweep selects on it).
	if err := s.replan(ctx, cfg); err != nil {
		return 0, err
	}
	// Verification has its own loop (ReportedBefore zero: no verifying task).
	q := store.DueQuery{ClearedBefore: now.Add(-w.Grace), EscalateBefore: now, Limit: 1000}
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
			} else if why := task.EscalationDue(t, cfg.Policy(), now); why != "" {
				c, changed = task.Escalate(t, cfg.Policy(), cfg.Team(t.Team), why, now), true
			} else if next := task.NextEscalation(t, cfg.Policy()); !next.Equal(t.EscalateAt) {
				// Planned under other rules (a task the query saw before a change): plan it again,
				// so that it leaves the due list and the page after it is read.
				t.EscalateAt, changed = next, true
				return tx.UpdateTask(ctx, t)
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

// MaxVerifying bounds the verifying tasks one verification pass looks at; each is decided at the
// latest when its verify_window ends, so the ones left wait at most a few passes.
const MaxVerifying = 1000

// Verifying lists the tasks waiting for verification whose settle time has passed (at most
// MaxVerifying, oldest first), with their problems.
func (s *Service) Verifying(ctx context.Context) ([]store.Detail, error) {
	now := s.clock.Now()
	settle := s.cfg().Windows.Settle
	ts, err := s.st.Due(ctx, store.DueQuery{ReportedBefore: now.Add(-settle), Limit: MaxVerifying})
	if err != nil {
		s.metrics.StoreErrors.WithLabelValues("verify").Inc()
		return nil, err
	}
	out := make([]store.Detail, 0, len(ts))
	for _, t := range ts {
		if t.State != task.Verifying {
			continue
		}
		ps, err := s.st.Problems(ctx, t.ID)
		if err != nil {
			s.metrics.StoreErrors.WithLabelValues("verify").Inc()
			return nil, err
		}
		out = append(out, store.Detail{Task: t, Problems: ps})
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

// Quiet returns up to limit tasks after afterID that still hold firing problems and have not
// changed for `after`, with their problems (not their history): Alertmanager sends no resolved
// notification for a silenced or inhibited alert, so such a problem can only be found cleared by
// asking Prometheus (verify.Loop.Reconcile), a page at a time.
func (s *Service) Quiet(ctx context.Context, after time.Duration, afterID int64, limit int) ([]store.Detail, error) {
	now := s.clock.Now()
	ts, err := s.st.Quiet(ctx, store.QuietQuery{UpdatedBefore: now.Add(-after), AfterID: afterID, Limit: limit})
	if err != nil {
		s.metrics.StoreErrors.WithLabelValues("reconcile").Inc()
		return nil, err
	}
	out := make([]store.Detail, 0, len(ts))
	for _, t := range ts {
		ps, err := s.st.Problems(ctx, t.ID)
		if err != nil {
			s.metrics.StoreErrors.WithLabelValues("reconcile").Inc()
			return nil, err
		}
		out = append(out, store.Detail{Task: t, Problems: ps})
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
