package store

import (
	"context"
	"time"
)

// Remediation is one decision of receiver/remedy about a task's machine: a restart sent (or
// would-be sent in a dry run), refused, rate-limited or failed. The rows are what the limits
// count (per machine per window, per site per hour, per task), so they live in the store and
// survive a restart of the receiver; the task's history carries the same story for people.
type Remediation struct {
	ID      int64
	TaskID  int64
	Machine string
	Site    string
	// Target is the miner's API endpoint (IP:port), empty when none could be derived.
	Target string
	// Result is one of the Remedy* constants.
	Result string
	// Reply is what the miner answered or why nothing was sent (bounded by the caller).
	Reply  string
	At     time.Time // when it was decided
	DoneAt time.Time // when the attempt ended (zero while pending)
}

// Remediation results. RemedyPending is a restart about to be sent: it counts against the limits
// from the moment it is reserved, so a receiver that dies while dialling never sends a second one
// early.
const (
	RemedyPending     = "pending"
	RemedySent        = "sent"
	RemedyDryRun      = "dry_run"
	RemedyRefused     = "refused"
	RemedyFailed      = "failed"
	RemedyRateLimited = "rate_limited"
)

// RemedyAttempts are the results that count as an attempt against the per-site and per-task
// limits: everything that went (or in a dry run would have gone) to a miner.
var RemedyAttempts = []string{RemedyPending, RemedySent, RemedyDryRun, RemedyFailed}

// RemediationTx is the part of a transaction that keeps the remediation log.
type RemediationTx interface {
	// AddRemediation stores a decision and sets its ID.
	AddRemediation(ctx context.Context, r *Remediation) error
	// FinishRemediation records how a pending attempt ended.
	FinishRemediation(ctx context.Context, id int64, result, reply string, at time.Time) error
	// LastRemediation returns the machine's most recent decision, or nil.
	LastRemediation(ctx context.Context, machine string) (*Remediation, error)
	// CountRemediations counts the attempts (RemedyAttempts) decided at or after since, of one
	// site (site != nil) or of one task (taskID != 0), whichever are given.
	CountRemediations(ctx context.Context, q RemediationCount) (int, error)
	// PruneRemediations forgets decisions made before `before` and returns how many.
	PruneRemediations(ctx context.Context, before time.Time) (int, error)
}

// RemediationCount selects the attempts CountRemediations counts.
type RemediationCount struct {
	Site   *string
	TaskID int64
	Since  time.Time
}
