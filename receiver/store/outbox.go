package store

import (
	"context"
	"time"

	"github.com/minefarm/cgminer-stack/receiver/task"
)

// Outbox is the notification outbox as the sender and the pages read it: a row per delivery (one
// message to one recipient over one channel), written in the same transaction as the change it
// announces, and every attempt to deliver it with its outcome. Store embeds it.
type Outbox interface {
	// Pending returns up to limit deliveries neither sent nor given up whose next attempt is due.
	Pending(ctx context.Context, now time.Time, limit int) ([]Message, error)
	// Undeliverable counts the given-up deliveries of each of the tasks (tasks without any are
	// left out); at most MaxOutboxTasks ids.
	Undeliverable(ctx context.Context, ids []int64) (map[int64]int, error)
	// UndeliverableByChannel counts the given-up deliveries of tasks that are not closed, per
	// channel (the undeliverable gauge).
	UndeliverableByChannel(ctx context.Context) (map[string]int, error)
	// Deliveries returns a task's last limit deliveries (at most MaxDeliveries), newest first,
	// each with its last MaxAttemptsShown attempts, oldest first.
	Deliveries(ctx context.Context, taskID int64, limit int) ([]Delivery, error)
}

// OutboxTx is what a transaction does with the outbox.
type OutboxTx interface {
	// Enqueue adds deliveries. One with GaveUp set (nobody to send it to: no address for its
	// channel) is stored given up, with LastError and a gave_up attempt saying why.
	Enqueue(ctx context.Context, msgs []Message) error
	// RecordAttempt stores the outcome of an attempt and updates its delivery: sent (SentAt),
	// failed (NextAt, retried then) or gave_up.
	RecordAttempt(ctx context.Context, a Attempt) error
	// ClaimDelivery takes a due delivery for one attempt, so that no other sender (another
	// replica's, during a handover of the lease) sends it too: it succeeds only while the
	// delivery is as m was read (neither sent nor given up, the same attempts and next attempt
	// time), and moves its next attempt to until, past the longest a send may take. The attempt's
	// outcome (RecordAttempt) then sets the delivery's fate; a sender that dies before recording
	// leaves it to be tried again at until. false: another sender has it, or it changed.
	ClaimDelivery(ctx context.Context, m Message, until time.Time) (bool, error)
	// Message returns a delivery by id (task.ErrNotFound when there is none).
	Message(ctx context.Context, id int64) (*Message, error)
	// BatchDelivering reports whether a delivery of the task's message for the ladder step
	// created at createdAt is still sent or on its way (not given up).
	BatchDelivering(ctx context.Context, taskID int64, step int, createdAt time.Time) (bool, error)
	// ActiveTasks pages through the tasks that are not closed, in id order after afterID (to
	// plan their next escalation again after the policy changed).
	ActiveTasks(ctx context.Context, afterID int64, limit int) ([]task.Task, error)
}

// Attempt results.
const (
	AttemptSent    = "sent"
	AttemptFailed  = "failed"  // retried at NextAt
	AttemptGaveUp  = "gave_up" // permanent failure, attempts used up, or nobody to send it to
	MaxErrorLength = 512       // bytes of an error stored
)

// Bounds of what the outbox pages read.
const (
	MaxOutboxTasks   = 2000
	MaxDeliveries    = 200
	MaxAttemptsShown = 20
)

// Message is an outbox entry: one notification to one recipient over one channel.
type Message struct {
	ID     int64
	TaskID int64
	// To is the recipient: a person's name; "" for nobody in particular (the crew's group chat,
	// a distribution list).
	To string
	// Channel is telegram, email, webhook or log; "" for a message stored before channels
	// existed (sent over the default channel).
	Channel string
	// Address is the chat id, e-mail address or phone the channel delivers to.
	Address string
	// Step is the ladder step the message belongs to (0: the assignee's).
	Step int
	// Fields are the task's facts when the message was written (machine, title, severity, state,
	// site, row, rack, slot, …), for the channels' texts.
	Fields    map[string]string
	Text      string
	CreatedAt time.Time
	Attempts  int
	NextAt    time.Time
	SentAt    time.Time
	GaveUp    bool
	LastError string
}

// Attempt is one try to deliver a message.
type Attempt struct {
	ID        int64
	MessageID int64
	TaskID    int64
	At        time.Time
	Channel   string
	Recipient string
	Result    string // AttemptSent, AttemptFailed, AttemptGaveUp
	Error     string
	// NextAt is when a failed delivery is tried again.
	NextAt time.Time
}

// Delivery is a message with its attempts (task page, API).
type Delivery struct {
	Message
	Tries []Attempt
}
