// Package task is the repair domain: a task per machine, the problems inside it, the states a task
// goes through and who takes it. It is pure: no I/O, no clock of its own; every function takes the
// time it happens at and returns the history events and effects of the change.
package task

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// State of a task.
type State string

// The states of the contract.
const (
	Open         State = "open"
	Acknowledged State = "acknowledged"
	InProgress   State = "in_progress"
	Verifying    State = "verifying"
	Done         State = "done"
	AutoResolved State = "auto_resolved"
	Cancelled    State = "cancelled"
)

// States lists every state in board order.
var States = []State{Open, Acknowledged, InProgress, Verifying, Done, AutoResolved, Cancelled}

// Closed reports whether the task is finished.
func (s State) Closed() bool { return s == Done || s == AutoResolved || s == Cancelled }

// ParseState checks a state name.
func ParseState(s string) (State, error) {
	for _, st := range States {
		if string(st) == s {
			return st, nil
		}
	}
	return "", fmt.Errorf("%w: unknown state %q", ErrInvalidInput, s)
}

// Errors a caller maps to 4xx answers.
var (
	ErrInvalidTransition = errors.New("invalid transition")
	ErrInvalidInput      = errors.New("invalid input")
	ErrNotFound          = errors.New("not found")
)

// Reasons a task reopens (metric label values).
const (
	ReasonRecurred           = "recurred"
	ReasonVerificationFailed = "verification_failed"
)

// System is the actor of changes nobody made by hand.
const System = "system"

// Task is the repair job for one machine (or one site, for fleet alerts).
type Task struct {
	ID       int64
	Machine  string
	Fleet    bool
	Identity map[string]string
	Location map[string]string
	Site     string
	Category string
	Severity string
	Title    string
	State    State
	Assignee string
	Team     string

	CreatedAt time.Time
	UpdatedAt time.Time
	// OpenedAt is when the task last entered open (created or reopened): escalation counts from it.
	OpenedAt        time.Time
	AckedAt         time.Time
	StartedAt       time.Time
	ReportedAt      time.Time
	ClosedAt        time.Time
	ClearedAt       time.Time // every problem cleared since then; zero while one fires
	LastEscalatedAt time.Time

	Report        string
	Reason        string // why it was last reopened
	Recurrences   int
	FailedRepairs int
	Escalations   int

	// The escalation ladder (escalation.go): the step the task is at (0: its assignee's own
	// notification), since when, whether every delivery of the step's latest message was given
	// up, and when it climbs next (zero: never; kept by the store for the sweep's query).
	LadderStep int
	StepAt     time.Time
	StepFailed bool
	EscalateAt time.Time
}

// Cleared reports whether every problem of the task has cleared.
func (t Task) Cleared() bool { return !t.ClearedAt.IsZero() }

// Problem is one occurrence of an alert on the task's machine.
type Problem struct {
	ID           int64
	TaskID       int64
	Key          string
	Alertname    string
	Category     string
	Severity     string
	Labels       map[string]string
	Annotations  map[string]string
	StartsAt     time.Time
	EndsAt       time.Time // zero while firing
	Firing       bool
	ReceivedAt   time.Time // when the firing was first received
	ResolvedAt   time.Time // when the resolve was received (zero while firing)
	Fingerprint  string
	GeneratorURL string
	SourceURL    string
}

// Event is one entry of a task's history.
type Event struct {
	ID     int64
	TaskID int64
	At     time.Time
	Actor  string
	Kind   string
	From   State
	To     State
	Text   string
}

// Event kinds.
const (
	KindCreated      = "created"
	KindProblem      = "problem"
	KindCleared      = "cleared"
	KindAllCleared   = "all_cleared"
	KindState        = "state"
	KindAssigned     = "assigned"
	KindNote         = "note"
	KindReopened     = "reopened"
	KindEscalated    = "escalated"
	KindVerification = "verification"
	// KindNotification: a notification could not be delivered (given up).
	KindNotification = "notification"
)

// Notice is a message to a person, delivered through the outbox over the channels of its
// ladder step.
type Notice struct {
	To   string
	Text string
	// Step is the ladder step whose channels carry it (0: the assignee's).
	Step int
	// Emails are further addresses the step's message goes to by e-mail (a distribution list).
	Emails []string
}

// Change is what one domain step did.
type Change struct {
	Events []Event
	Notify []Notice
	// Effects, for metrics once the change is committed.
	Created    bool
	Reopened   string
	AckLatency time.Duration
	RepairTime time.Duration
	Escalated  bool
	// EscalationStep (the step climbed to) and EscalationReason, when Escalated.
	EscalationStep   int
	EscalationReason string
	Verification     string // confirmed, failed, error or ""
}

// Merge adds another change's events and effects.
func (c *Change) Merge(o Change) {
	c.Events = append(c.Events, o.Events...)
	c.Notify = append(c.Notify, o.Notify...)
	c.Created = c.Created || o.Created
	if o.Reopened != "" {
		c.Reopened = o.Reopened
	}
	if o.AckLatency != 0 {
		c.AckLatency = o.AckLatency
	}
	if o.RepairTime != 0 {
		c.RepairTime = o.RepairTime
	}
	if o.Escalated {
		c.Escalated, c.EscalationStep, c.EscalationReason = true, o.EscalationStep, o.EscalationReason
	}
	if o.Verification != "" {
		c.Verification = o.Verification
	}
}

func (c *Change) event(t *Task, at time.Time, actor, kind string, from, to State, text string) {
	c.Events = append(c.Events, Event{TaskID: t.ID, At: at, Actor: actor, Kind: kind, From: from, To: to, Text: text})
}

func (t *Task) set(c *Change, to State, actor string, now time.Time, text string) {
	from := t.State
	t.State = to
	t.UpdatedAt = now
	if to.Closed() {
		t.ClosedAt = now
	}
	c.event(t, now, actor, KindState, from, to, text)
}

func problemTitle(p Problem) string {
	if s := p.Annotations["summary"]; s != "" {
		return s
	}
	return p.Alertname
}

// New makes the task for a machine's first firing problem. Assignment is done by the caller with
// Pick, before the task is stored.
func New(p Problem, machine string, fleet bool, identity, location map[string]string, now time.Time) (Task, Change) {
	t := Task{
		Machine: machine, Fleet: fleet, Identity: identity, Location: location, Site: location["site"],
		Category: p.Category, Severity: p.Severity, Title: problemTitle(p), State: Open,
		CreatedAt: now, UpdatedAt: now, OpenedAt: now, StepAt: now,
	}
	if t.Site == "" {
		t.Site = identity["site"]
	}
	var c Change
	c.Created = true
	c.event(&t, now, System, KindCreated, "", Open, fmt.Sprintf("%s fired on %s", p.Alertname, machine))
	return t, c
}

// Assigned records the automatic assignment of a new or reopened task and prompts the assignee.
func Assigned(t *Task, team, assignee string, now time.Time) Change {
	var c Change
	t.Team, t.Assignee = team, assignee
	t.progress(now)
	if assignee == "" {
		c.event(t, now, System, KindAssigned, t.State, t.State, "no team member matches; unassigned")
		return c
	}
	c.event(t, now, System, KindAssigned, t.State, t.State, fmt.Sprintf("assigned to %s (team %s)", assignee, team))
	c.Notify = append(c.Notify, Notice{To: assignee, Text: fmt.Sprintf("New repair task #%d on %s: %s", t.ID, t.Name(), t.Title)})
	return c
}

// AddProblem records a new firing occurrence joining an open task. seenBefore says whether the same
// problem already had an occurrence in this task: then it counts as a recurrence.
func AddProblem(t *Task, p Problem, seenBefore bool, now time.Time) Change {
	var c Change
	text := fmt.Sprintf("%s fired (since %s)", p.Alertname, p.StartsAt.Format(time.RFC3339))
	if seenBefore {
		t.Recurrences++
		text = fmt.Sprintf("%s fired again (since %s); recurrence %d", p.Alertname, p.StartsAt.Format(time.RFC3339), t.Recurrences)
	}
	c.event(t, now, System, KindProblem, t.State, t.State, text)
	if t.Cleared() {
		t.ClearedAt = time.Time{}
	}
	t.UpdatedAt = now
	if rank(p.Severity) > rank(t.Severity) {
		t.Severity = p.Severity
	}
	return c
}

func rank(sev string) int {
	switch sev {
	case "critical":
		return 3
	case "warning":
		return 2
	case "info":
		return 1
	}
	return 0
}

// Reopen brings a closed task back because one of its problems fired again within the reopen window.
func Reopen(t *Task, p Problem, now time.Time) Change {
	var c Change
	t.Recurrences++
	t.Reason = fmt.Sprintf("%s fired again within the reopen window", p.Alertname)
	t.ClearedAt, t.ClosedAt, t.ReportedAt = time.Time{}, time.Time{}, time.Time{}
	t.OpenedAt, t.LastEscalatedAt = now, time.Time{}
	t.progress(now)
	from := t.State
	t.State, t.UpdatedAt = Open, now
	c.Reopened = ReasonRecurred
	c.event(t, now, System, KindReopened, from, Open, fmt.Sprintf("%s; recurrence %d", t.Reason, t.Recurrences))
	if t.Assignee != "" {
		c.Notify = append(c.Notify, Notice{To: t.Assignee, Text: fmt.Sprintf("Task #%d on %s reopened: %s", t.ID, t.Name(), t.Reason)})
	}
	return c
}

// Clear records a resolved occurrence. allCleared says whether no problem of the task fires now.
func Clear(t *Task, p Problem, allCleared bool, now time.Time) Change {
	var c Change
	c.event(t, now, System, KindCleared, t.State, t.State, fmt.Sprintf("%s cleared at %s", p.Alertname, p.EndsAt.Format(time.RFC3339)))
	t.UpdatedAt = now
	if allCleared && !t.Cleared() && !t.State.Closed() {
		t.ClearedAt = now
		text := "every problem cleared"
		switch t.State {
		case Acknowledged, InProgress:
			text += "; awaiting the worker's report"
		case Verifying:
			text += "; verification pending"
		}
		c.event(t, now, System, KindAllCleared, t.State, t.State, text)
	}
	return c
}

// Ack: the assignee accepts the task. Whoever acknowledges becomes the assignee.
func Ack(t *Task, actor string, now time.Time) (Change, error) {
	var c Change
	if t.State != Open {
		return c, fmt.Errorf("%w: cannot acknowledge a task that is %s", ErrInvalidTransition, t.State)
	}
	takeOver(t, &c, actor, now)
	t.AckedAt = now
	c.AckLatency = now.Sub(t.OpenedAt)
	t.progress(now)
	t.set(&c, Acknowledged, actor, now, "acknowledged")
	return c, nil
}

func takeOver(t *Task, c *Change, actor string, now time.Time) {
	if actor != "" && actor != System && t.Assignee != actor {
		prev := t.Assignee
		t.Assignee = actor
		text := "taken by " + actor
		if prev != "" {
			text += " (was " + prev + ")"
		}
		c.event(t, now, actor, KindAssigned, t.State, t.State, text)
	}
}

// Start: the assignee is working on it (acknowledging it on the way if needed).
func Start(t *Task, actor string, now time.Time) (Change, error) {
	var c Change
	switch t.State {
	case Open:
		takeOver(t, &c, actor, now)
		t.AckedAt = now
		c.AckLatency = now.Sub(t.OpenedAt)
	case Acknowledged:
		takeOver(t, &c, actor, now)
	default:
		return c, fmt.Errorf("%w: cannot start a task that is %s", ErrInvalidTransition, t.State)
	}
	t.StartedAt = now
	t.progress(now)
	t.set(&c, InProgress, actor, now, "work started")
	return c, nil
}

// ReportFixed: the worker says what was done; the task waits for the monitoring to confirm.
func ReportFixed(t *Task, actor, report string, now time.Time) (Change, error) {
	var c Change
	report = strings.TrimSpace(report)
	if report == "" {
		return c, fmt.Errorf("%w: say what was done", ErrInvalidInput)
	}
	switch t.State {
	case Acknowledged, InProgress:
	default:
		return c, fmt.Errorf("%w: cannot report a task fixed that is %s (acknowledge or start it first)", ErrInvalidTransition, t.State)
	}
	takeOver(t, &c, actor, now)
	t.Report, t.ReportedAt = report, now
	t.progress(now)
	t.set(&c, Verifying, actor, now, "reported fixed: "+report)
	return c, nil
}

// Note adds a remark to the history; allowed in any state.
func Note(t *Task, actor, text string, now time.Time) (Change, error) {
	var c Change
	text = strings.TrimSpace(text)
	if text == "" {
		return c, fmt.Errorf("%w: empty note", ErrInvalidInput)
	}
	t.UpdatedAt = now
	if actor != System && (t.State == Acknowledged || t.State == InProgress) {
		t.progress(now) // a word from the crew is progress; an open task still waits for its acknowledgement
	}
	c.event(t, now, actor, KindNote, t.State, t.State, text)
	return c, nil
}

// Assign hands the task to someone by hand.
func Assign(t *Task, actor, assignee string, now time.Time) (Change, error) {
	var c Change
	assignee = strings.TrimSpace(assignee)
	if assignee == "" {
		return c, fmt.Errorf("%w: assignee is required", ErrInvalidInput)
	}
	if t.State.Closed() {
		return c, fmt.Errorf("%w: cannot assign a task that is %s", ErrInvalidTransition, t.State)
	}
	if assignee == t.Assignee {
		return c, nil
	}
	prev := t.Assignee
	t.Assignee, t.UpdatedAt = assignee, now
	t.progress(now)
	text := "assigned to " + assignee
	if prev != "" {
		text += " (was " + prev + ")"
	}
	c.event(t, now, actor, KindAssigned, t.State, t.State, text)
	c.Notify = append(c.Notify, Notice{To: assignee, Text: fmt.Sprintf("Task #%d on %s assigned to you by %s: %s", t.ID, t.Name(), actor, t.Title)})
	return c, nil
}

// Cancel closes the task by hand. A task whose problems still fire cannot be cancelled: a firing
// occurrence that is already known never makes a new task, so cancelling would hide the problem
// until it resolves and fires again. Once every problem has cleared it can be cancelled (or it
// closes by itself after the grace window).
func Cancel(t *Task, actor, reason string, now time.Time) (Change, error) {
	var c Change
	if t.State.Closed() {
		return c, fmt.Errorf("%w: task is already %s", ErrInvalidTransition, t.State)
	}
	if !t.Cleared() {
		return c, fmt.Errorf("%w: cannot cancel a task whose problems still fire (it would hide them); "+
			"once they clear it can be cancelled, or it closes by itself", ErrInvalidTransition)
	}
	reason = strings.TrimSpace(reason)
	if reason == "" {
		reason = "cancelled"
	}
	t.set(&c, Cancelled, actor, now, reason)
	return c, nil
}
