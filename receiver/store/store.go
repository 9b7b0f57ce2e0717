// Package store is where tasks, problems, history and the notification outbox live. Store is the
// interface the receiver uses; sqlite/ is the embedded default and a PostgreSQL implementation
// satisfies the same interface and the same conformance suite (storetest/). Queries are plain SQL
// with $n placeholders, so both engines run the same statements.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/minefarm/cgminer-stack/receiver/task"
)

// ErrConflict is returned when a uniqueness rule refused a write (another writer won); the caller
// retries the whole transaction.
var ErrConflict = errors.New("conflicting write")

// Store is the durable state.
type Store interface {
	// InTx runs fn in one transaction: committed when fn returns nil, rolled back otherwise.
	// Writers are serialised: fn sees every earlier committed transaction.
	InTx(ctx context.Context, fn func(Tx) error) error

	ListTasks(ctx context.Context, f Filter) ([]task.Task, error)
	// Detail returns a task with a bounded part of its problems and history (DetailQuery) and
	// how many of each it holds. What decides a task's state reads Problems, never Detail.
	Detail(ctx context.Context, id int64, q DetailQuery) (Detail, error)
	// Due lists the tasks a sweep may have to act on at the given limits.
	Due(ctx context.Context, d DueQuery) ([]task.Task, error)
	// Quiet pages through the tasks that still hold firing problems (open, acknowledged or
	// in_progress, not cleared) and have not changed since UpdatedBefore, in id order after AfterID.
	Quiet(ctx context.Context, q QuietQuery) ([]task.Task, error)
	// Problems returns a task's problems (without the history that Detail also reads).
	Problems(ctx context.Context, taskID int64) ([]task.Problem, error)
	Counts(ctx context.Context) ([]Count, error)
	Heartbeat(ctx context.Context, name string) (time.Time, error)

	// Outbox: deliveries and their attempts (outbox.go).
	Outbox

	Ping(ctx context.Context) error
	Close() error

	// Evidence: machine facts and snapshots (evidence.go).
	Evidence
}

// Tx is what a transaction can do.
type Tx interface {
	// OpenTask returns the machine's task that is not closed, or nil.
	OpenTask(ctx context.Context, machine string) (*task.Task, error)
	// ReopenableTask returns the machine's most recently closed done or auto_resolved task that
	// holds the problem and closed at or after since, or nil.
	ReopenableTask(ctx context.Context, machine, problemKey string, since time.Time) (*task.Task, error)
	// Task returns a task by id (task.ErrNotFound when there is none).
	Task(ctx context.Context, id int64) (*task.Task, error)
	CreateTask(ctx context.Context, t *task.Task) error
	UpdateTask(ctx context.Context, t *task.Task) error

	// Occurrence returns the problem occurrence (key, startsAt), or nil.
	Occurrence(ctx context.Context, key string, startsAt time.Time) (*task.Problem, error)
	Problems(ctx context.Context, taskID int64) ([]task.Problem, error)
	// HasProblem reports whether the task holds an occurrence of the problem key, and Firing
	// whether any of its problems still fires: one index lookup each, where reading Problems for
	// every alert of a delivery made it quadratic in the task's problems.
	HasProblem(ctx context.Context, taskID int64, key string) (bool, error)
	Firing(ctx context.Context, taskID int64) (bool, error)
	AddProblem(ctx context.Context, p *task.Problem) error
	UpdateProblem(ctx context.Context, p *task.Problem) error

	AddEvents(ctx context.Context, evs []task.Event) error
	// OutboxTx: deliveries written with the change, attempts recorded (outbox.go).
	OutboxTx

	// Loads counts the tasks that are not closed per assignee, for the given people.
	Loads(ctx context.Context, people []string) (map[string]int, error)
	// LastAssignee is who got the team's most recent task automatically.
	LastAssignee(ctx context.Context, team string) (string, error)
	SetHeartbeat(ctx context.Context, name string, at time.Time) error

	// EarlyResolve returns the resolve remembered for the occurrence (key, startsAt), or nil.
	EarlyResolve(ctx context.Context, key string, startsAt time.Time) (*EarlyResolve, error)
	// AddEarlyResolve remembers a resolve that arrived before its firing copy; an occurrence
	// already remembered keeps its first entry.
	AddEarlyResolve(ctx context.Context, e EarlyResolve) error
	// PruneEarlyResolves forgets the resolves received before `before`, then the oldest ones
	// beyond max; it returns how many it removed.
	PruneEarlyResolves(ctx context.Context, before time.Time, max int) (int, error)

	// Prefetch reads at once what lookups of these machines and problem keys will ask (OpenTask,
	// Occurrence, EarlyResolve, and whether ReopenableTask can find anything closed since
	// ClosedSince), so that a group of deliveries does not pay a query per alert for each. The
	// answers stay exactly those of the queries: the transaction's own writes keep them current,
	// and what the prefetch does not cover is asked as before.
	Prefetch(ctx context.Context, q PrefetchQuery) error

	// EvidenceTx: the rows a new task's machine evidence goes into (evidence.go).
	EvidenceTx
	// RemediationTx: the remediation log receiver/remedy's limits count (remedy.go).
	RemediationTx
}

// EarlyResolve is a resolved notification for an occurrence never seen firing (Alertmanager
// may deliver the resolve before the firing copy: AM #878, HA peers, retries).
type EarlyResolve struct {
	Key        string
	StartsAt   time.Time
	EndsAt     time.Time
	ReceivedAt time.Time
}

// PrefetchQuery is what Tx.Prefetch reads.
type PrefetchQuery struct {
	Machines []string
	Keys     []string // problem keys
	// Alerts add their keys, and the machines of those that may need their open task: firing,
	// and their occurrence not already firing (a repeat needs no task lookup).
	Alerts []PrefetchAlert
	// ClosedSince: the earliest time a ReopenableTask lookup will ask from; zero: none will.
	ClosedSince time.Time
}

// PrefetchAlert is one alert a group will apply.
type PrefetchAlert struct {
	Machine, Key string
	StartsAt     time.Time
	Firing       bool
}

// Filter selects tasks; empty fields match everything.
type Filter struct {
	States   []task.State
	Assignee string
	Site     string
	Category string
	// Instance matches tasks whose identity has this instance label (the miner dashboard's link).
	Instance string
	Limit    int
	// Urgent orders critical first, then warning, then the rest, each oldest opened first (the
	// board); otherwise newest first.
	Urgent bool
}

// DueQuery: tasks cleared at or before ClearedBefore (grace); open, acknowledged or in progress
// whose next escalation (task.EscalateAt) is at or before EscalateBefore; verifying since
// ReportedBefore (verification). A zero time selects nothing of its kind.
type DueQuery struct {
	ClearedBefore  time.Time
	EscalateBefore time.Time
	ReportedBefore time.Time
	// AfterID pages: only tasks with a larger id.
	AfterID int64
	Limit   int
}

// QuietQuery selects Quiet tasks.
type QuietQuery struct {
	UpdatedBefore time.Time
	AfterID       int64
	Limit         int
}

// Bounds of one Detail: a task that has flapped for a year holds 100,000 events and as many
// problems (one per occurrence).
const (
	DefaultDetailProblems = 100
	MaxDetailProblems     = 1000
	DefaultDetailEvents   = 200
	MaxDetailEvents       = 1000
)

// DetailQuery selects the part of a task's problems and history Detail returns.
type DetailQuery struct {
	// Problems is how many problems at most (0: DefaultDetailProblems; at most MaxDetailProblems),
	// the firing ones first, then the cleared ones, each in (startsAt, id) order, after skipping
	// ProblemsOffset of them.
	Problems       int
	ProblemsOffset int
	// Events is how many history events at most (0: DefaultDetailEvents; at most
	// MaxDetailEvents): the last ones before the event EventsBefore (0: the newest), in id order.
	Events       int
	EventsBefore int64
}

// Detail is a task with part of its problems and history (DetailQuery).
type Detail struct {
	Task     task.Task
	Problems []task.Problem
	Events   []task.Event
	// ProblemCount and FiringCount count all the task's problems and the firing ones, EventCount
	// its whole history.
	ProblemCount, FiringCount, EventCount int
	// MoreEvents is true when the history holds events before the first of Events.
	MoreEvents bool
}

// Count is the number of tasks in a state at a site.
type Count struct {
	State task.State
	Site  string
	N     int
}
