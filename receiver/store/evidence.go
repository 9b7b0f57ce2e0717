package store

import (
	"context"
	"time"

	"github.com/minefarm/cgminer-stack/receiver/task"
)

// Evidence is what the store keeps about tasks' machines besides the task rules: the facts asked
// from Prometheus (model, firmware, serial, MAC, probe error) and the evidence snapshot, what the
// exporter's debug probe said when the task was made. Store embeds it.
type Evidence interface {
	// FactsDue returns up to limit tasks that are not closed and whose facts are due (asked
	// never, or next_at at or before now), the longest due first.
	FactsDue(ctx context.Context, now time.Time, limit int) ([]FactsRequest, error)
	// SaveFacts stores what Prometheus said (f.AskedAt set) or, with errText, that asking failed
	// (the facts already known stay); next is when to ask again.
	SaveFacts(ctx context.Context, taskID int64, f task.Facts, next time.Time, errText string) error
	// Facts returns the facts known about the tasks (tasks without any are left out).
	Facts(ctx context.Context, ids []int64) (map[int64]task.Facts, error)

	// SnapshotsDue returns up to limit pending snapshots whose next attempt is due.
	SnapshotsDue(ctx context.Context, now time.Time, limit int) ([]Snapshot, error)
	// SaveSnapshot stores the outcome of an attempt (state, attempts, next_at, the body …).
	SaveSnapshot(ctx context.Context, s Snapshot) error
	// Snapshot returns a task's snapshot; ok is false when it has none.
	Snapshot(ctx context.Context, taskID int64) (s Snapshot, ok bool, err error)

	// Headlines returns up to perTask problems of each task for its card: the firing ones first,
	// then the latest cleared ones, each newest first (the board's titles and groups).
	Headlines(ctx context.Context, ids []int64, perTask int) (map[int64][]task.Problem, error)
}

// EvidenceTx is what a transaction adds: the rows a new task's machine evidence is fetched into.
type EvidenceTx interface {
	// WantEvidence makes the task's facts due now and, when snap is not nil, adds its pending
	// snapshot (a task keeps its first snapshot).
	WantEvidence(ctx context.Context, taskID int64, snap *Snapshot, now time.Time) error
}

// FactsRequest is a task whose machine's facts are due.
type FactsRequest struct {
	TaskID   int64
	Identity map[string]string
}

// Snapshot states.
const (
	SnapshotPending = "pending"
	SnapshotTaken   = "taken"
	SnapshotFailed  = "failed"
)

// Snapshot is a task's evidence snapshot.
type Snapshot struct {
	TaskID   int64
	Target   string
	Module   string
	State    string
	Attempts int
	NextAt   time.Time
	TakenAt  time.Time
	// Status is the exporter's HTTP status of the last attempt.
	Status    int
	Truncated bool
	Body      string
	LastError string
}

// Bounds of what the evidence tables hold.
const (
	// MaxFactValue bounds a stored fact (a model name, a serial).
	MaxFactValue = 256
	// MaxHeadlineTasks bounds one Headlines or Facts call.
	MaxHeadlineTasks = 2000
)
