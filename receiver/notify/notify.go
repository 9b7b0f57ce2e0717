// Package notify delivers the outbox: every delivery (one message to one recipient over one
// channel) is written in the same transaction as the change it announces and sent here, in a
// loop of its own, with retries; the outcome of every attempt is stored. Channels: Telegram (the
// Bot API), e-mail (SMTP), a generic webhook (SMS and voice gateways), and the log. A failing
// channel never blocks intake, nor the other channels.
package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/minefarm/cgminer-stack/receiver/config"
	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/task"
)

// Channel sends one message. An error wrapping ErrPermanent is not retried; one carrying a
// RetryAfter is retried no earlier than it says.
type Channel interface {
	Send(ctx context.Context, m Message) error
}

// ErrPermanent marks a failure that retrying cannot fix.
var ErrPermanent = errors.New("permanent failure")

// RetryAfter is a retryable failure whose peer said when to try again (HTTP 429 Retry-After,
// Telegram's retry_after).
type RetryAfter struct {
	Err   error
	After time.Duration
}

func (r *RetryAfter) Error() string { return r.Err.Error() }
func (r *RetryAfter) Unwrap() error { return r.Err }

// Outbox is what the sender needs from the store: the due deliveries, a claim on one before it is
// sent (so that two senders draining one outbox, as during a handover between replicas, never
// both send it), and a place for each attempt's outcome (repair.Service also moves the task's
// ladder on when a step's deliveries were all given up).
type Outbox interface {
	Pending(ctx context.Context, now time.Time, limit int) ([]store.Message, error)
	Claim(ctx context.Context, m store.Message, until time.Time) (bool, error)
	Record(ctx context.Context, m store.Message, a store.Attempt) error
}

// FactsReader gives what the monitoring says the tasks' machines are (model, firmware, serial):
// asked when the task was made, so usually known by the time its notifications go out.
type FactsReader interface {
	Facts(ctx context.Context, ids []int64) (map[int64]task.Facts, error)
}

// ProblemReader gives the tasks' latest problems, the firing ones first (what the board's cards
// read): the messages carry the runbook of the task's worst firing one (task.Runbook), the one its
// headline names, under the task's link.
type ProblemReader interface {
	Headlines(ctx context.Context, ids []int64, perTask int) (map[int64][]task.Problem, error)
}

// runbookProblems is how many of a task's latest problems (the firing ones first) are read to
// choose its runbook: more than a task's distinct firing problems usually are, and bounded.
const runbookProblems = 20

// Sender drains the outbox.
type Sender struct {
	Outbox Outbox
	// Facts, when set, adds the machines' model, firmware and serial to the messages.
	Facts FactsReader
	// FactsWait holds a delivery back for at most this long after it was written while its
	// machine's facts were never asked yet (a new task: the facts loop asks Prometheus within
	// seconds), so that the first message names the model too. 0: no wait.
	FactsWait time.Duration
	// Problems, when set, adds the runbook link of the task's worst firing alert to the messages.
	Problems ProblemReader
	Config   func() *config.Config
	Now      func() time.Time
	Logger   *slog.Logger
	// Batch is how many due deliveries one pass reads; default 100.
	Batch int

	mu       sync.Mutex
	built    *config.Config
	channels map[string]Channel
	// Build makes the channels of a configuration (tests replace it); default ForConfig.
	Build func(*config.Config) map[string]Channel

	sent     *prometheus.CounterVec
	attempts *prometheus.CounterVec
}

// Metric label values of repair_receiver_notification_attempts_total{result}.
var attemptResults = []string{store.AttemptSent, store.AttemptFailed, store.AttemptGaveUp}

// NewSender makes a sender and registers repair_receiver_notifications_total{result} and
// repair_receiver_notification_attempts_total{channel,result}.
func NewSender(ob Outbox, cfg func() *config.Config, now func() time.Time, logger *slog.Logger, reg prometheus.Registerer) *Sender {
	s := &Sender{Outbox: ob, Config: cfg, Now: now, Logger: logger,
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "repair_receiver_notifications_total",
			Help: "Notification delivery attempts, by result (sent, retry, gave_up)."}, []string{"result"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "repair_receiver_notification_attempts_total",
			Help: "Notification delivery attempts, by channel (telegram, email, webhook, log) and result (sent, failed: retried later, gave_up)."},
			[]string{"channel", "result"}),
	}
	for _, r := range []string{"sent", "retry", "gave_up"} {
		s.sent.WithLabelValues(r)
	}
	for _, ch := range append(config.Channels, config.ChannelLog) {
		for _, r := range attemptResults {
			s.attempts.WithLabelValues(ch, r)
		}
	}
	reg.MustRegister(s.sent, s.attempts)
	return s
}

// Backoff is the wait before attempt n+1: 5 s, doubling, at most 10 minutes.
func Backoff(n int) time.Duration {
	d := 5 * time.Second
	for range n - 1 {
		d *= 2
		if d >= 10*time.Minute {
			return 10 * time.Minute
		}
	}
	return d
}

// MaxRetryAfter bounds the wait a peer may ask for.
const MaxRetryAfter = time.Hour

// sendTimeout bounds one Send beyond the channel's own timeout.
const sendTimeout = 2 * time.Minute

// ClaimFor is how long a claimed delivery is left to its sender: longer than any send may take
// (sendTimeout). A sender that dies between the claim and recording the outcome leaves the
// delivery to be tried again once it is over.
const ClaimFor = sendTimeout + time.Minute

func (s *Sender) channelsFor(cfg *config.Config) map[string]Channel {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.built != cfg || s.channels == nil {
		build := s.Build
		if build == nil {
			build = func(c *config.Config) map[string]Channel { return ForConfig(c, s.Logger) }
		}
		s.channels, s.built = build(cfg), cfg
	}
	return s.channels
}

// Once sends what is due and returns how many deliveries it handled. Deliveries over different
// channels go out side by side: a mail server that times out does not hold up Telegram.
func (s *Sender) Once(ctx context.Context) (int, error) {
	now := s.Now()
	batch := s.Batch
	if batch <= 0 {
		batch = 100
	}
	msgs, err := s.Outbox.Pending(ctx, now, batch)
	if err != nil {
		return 0, fmt.Errorf("read outbox: %w", err)
	}
	if len(msgs) == 0 {
		return 0, nil
	}
	cfg := s.Config()
	chs := s.channelsFor(cfg)
	ids := taskIDs(msgs)
	var facts map[int64]task.Facts
	if s.Facts != nil {
		facts = byTask(ctx, s.Logger, ids, "machine facts", s.Facts.Facts)
	}
	runbooks := map[int64]string{}
	if s.Problems != nil {
		problems := byTask(ctx, s.Logger, ids, "problems", func(ctx context.Context, ids []int64) (map[int64][]task.Problem, error) {
			return s.Problems.Headlines(ctx, ids, runbookProblems)
		})
		for id, ps := range problems {
			runbooks[id] = task.Runbook(task.Group(ps))
		}
	}
	byChannel := map[string][]store.Message{}
	var order []string
	handled := 0
	for _, m := range msgs {
		if s.waitForFacts(m, facts, now) {
			continue // the next pass sends it, with the model or without once FactsWait is over
		}
		handled++
		name := channelOf(m, cfg)
		if _, ok := byChannel[name]; !ok {
			order = append(order, name)
		}
		byChannel[name] = append(byChannel[name], m)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(order))
	for i, name := range order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, m := range byChannel[name] {
				if err := s.deliver(ctx, cfg, chs[name], name, m, facts[m.TaskID], runbooks[m.TaskID]); err != nil {
					errs[i] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	return handled, errors.Join(errs...)
}

func (s *Sender) waitForFacts(m store.Message, facts map[int64]task.Facts, now time.Time) bool {
	if s.Facts == nil || s.FactsWait <= 0 || m.TaskID <= 0 || m.Attempts > 0 || m.Fields["fleet"] == "true" {
		return false
	}
	return facts[m.TaskID].AskedAt.IsZero() && now.Sub(m.CreatedAt) < s.FactsWait
}

// taskIDs are the tasks of msgs, once each.
func taskIDs(msgs []store.Message) []int64 {
	seen := map[int64]bool{}
	var ids []int64
	for _, m := range msgs {
		if m.TaskID > 0 && !seen[m.TaskID] {
			seen[m.TaskID] = true
			ids = append(ids, m.TaskID)
		}
	}
	return ids
}

// byTask reads what read gives for the tasks of a pass; when the read fails the messages go out
// without it rather than not at all.
func byTask[T any](ctx context.Context, logger *slog.Logger, ids []int64, what string, read func(context.Context, []int64) (map[int64]T, error)) map[int64]T {
	m, err := read(ctx, ids)
	if err != nil {
		logger.Warn("notify: cannot read the tasks' "+what, "err", err)
		return nil
	}
	return m
}

// channelOf is the channel a delivery goes over: its own, or for a row stored before channels
// existed, the default (the Telegram group chat when configured, else the log).
func channelOf(m store.Message, cfg *config.Config) string {
	if m.Channel != "" {
		return m.Channel
	}
	if cfg.Notify.Telegram != nil && cfg.Notify.Telegram.ChatID != "" {
		return config.ChannelTelegram
	}
	return config.ChannelLog
}

// deliver makes one attempt and records it; it returns an error only when the outcome could not
// be stored.
func (s *Sender) deliver(ctx context.Context, cfg *config.Config, ch Channel, name string, m store.Message, f task.Facts, runbook string) error {
	if m.Channel == "" {
		m.Channel = name
		if m.Address == "" {
			m.Address, _ = cfg.Address(m.To, name)
		}
	}
	// Claimed first: another replica's sender may be draining the same outbox (a handover of the
	// lease), and a message must not go out twice.
	claimed, err := s.Outbox.Claim(ctx, m, s.Now().Add(ClaimFor))
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("claim delivery %d: %w", m.ID, err)
	}
	if !claimed {
		s.Logger.Debug("notification taken by another sender", "message", m.ID, "task", m.TaskID)
		return nil
	}
	if ch == nil {
		err = fmt.Errorf("channel %s is not configured (any more): %w", name, ErrPermanent)
	} else {
		msg := Render(m, f, runbook, cfg)
		sctx, cancel := context.WithTimeout(ctx, sendTimeout)
		err = ch.Send(sctx, msg)
		cancel()
	}
	if ctx.Err() != nil {
		return ctx.Err() // shutting down: the attempt did not happen as far as anyone can tell
	}
	now := s.Now()
	a := store.Attempt{MessageID: m.ID, TaskID: m.TaskID, At: now, Channel: name, Recipient: m.To, Result: store.AttemptSent}
	attempts := m.Attempts + 1
	maxAttempts := cfg.Notify.MaxAttempts
	if maxAttempts <= 0 {
		maxAttempts = config.DefaultMaxAttempts
	}
	legacy := "sent"
	if err != nil {
		a.Error = err.Error()
		switch {
		case errors.Is(err, ErrPermanent) || attempts >= maxAttempts:
			a.Result, legacy = store.AttemptGaveUp, "gave_up"
		default:
			a.Result, legacy = store.AttemptFailed, "retry"
			wait := Backoff(attempts)
			var ra *RetryAfter
			if errors.As(err, &ra) && ra.After > wait {
				wait = min(ra.After, MaxRetryAfter)
			}
			a.NextAt = now.Add(wait)
		}
		s.Logger.Warn("notification failed", "message", m.ID, "task", m.TaskID, "channel", name, "to", m.To,
			"attempt", attempts, "gave_up", a.Result == store.AttemptGaveUp, "err", err)
	}
	s.sent.WithLabelValues(legacy).Inc()
	s.attempts.WithLabelValues(name, a.Result).Inc()
	if err := s.Outbox.Record(ctx, m, a); err != nil {
		return fmt.Errorf("record attempt: %w", err)
	}
	return nil
}

// Run drains the outbox every interval until ctx ends.
func (s *Sender) Run(ctx context.Context, every time.Duration) {
	tk := time.NewTicker(every)
	defer tk.Stop()
	for {
		if _, err := s.Once(ctx); err != nil && ctx.Err() == nil {
			s.Logger.Error("notify", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
	}
}

// StoreOutbox records attempts straight into a store (no ladder): for tools and tests.
type StoreOutbox struct{ store.Store }

// Claim implements Outbox.
func (o StoreOutbox) Claim(ctx context.Context, m store.Message, until time.Time) (bool, error) {
	var ok bool
	err := o.InTx(ctx, func(tx store.Tx) error {
		var err error
		ok, err = tx.ClaimDelivery(ctx, m, until)
		return err
	})
	return ok, err
}

// Record implements Outbox.
func (o StoreOutbox) Record(ctx context.Context, _ store.Message, a store.Attempt) error {
	return o.InTx(ctx, func(tx store.Tx) error { return tx.RecordAttempt(ctx, a) })
}
