package repair

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/minefarm/cgminer-stack/receiver/config"
	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/task"
)

// Readiness rules: the receiver is not ready while its writes fail, though the store still
// answers reads (a full disk, a database locked by another process, a read-only file).
const (
	// ReadyFailures consecutive failed commits make the receiver not ready, however old.
	ReadyFailures = 3
	// ReadyRecent: a failed commit more recent than the last good one makes it not ready for
	// this long.
	ReadyRecent = time.Minute
	// readyProbeEvery: while not ready, /-/ready tries a small write of its own at most this
	// often, so that readiness comes back once the store heals even if nothing else writes.
	readyProbeEvery = 10 * time.Second
)

// ReadyHeartbeat is the heartbeat row the readiness probe writes.
const ReadyHeartbeat = "ready_probe"

// health follows the outcome of the store's write transactions.
type health struct {
	mu          sync.Mutex
	lastOK      time.Time
	lastFail    time.Time
	lastAttempt time.Time
	consecutive int
	lastErr     error
}

func (h *health) committed(now time.Time, m *Metrics) {
	h.mu.Lock()
	h.lastOK, h.lastAttempt, h.consecutive, h.lastErr = now, now, 0, nil
	h.mu.Unlock()
	m.LastCommit.Set(float64(now.UnixNano()) / 1e9)
}

func (h *health) failed(now time.Time, err error, m *Metrics) {
	h.mu.Lock()
	h.lastFail, h.lastAttempt, h.lastErr = now, now, err
	h.consecutive++
	h.mu.Unlock()
	m.CommitFailures.Inc()
}

// failing says why writes are considered broken at now, or nil.
func (h *health) failing(now time.Time) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.consecutive >= ReadyFailures:
		return fmt.Errorf("the last %d commits failed (last at %s): %w", h.consecutive, h.lastFail.Format(time.RFC3339), h.lastErr)
	case h.lastFail.After(h.lastOK) && now.Sub(h.lastFail) < ReadyRecent:
		return fmt.Errorf("the last commit failed %s ago: %w", now.Sub(h.lastFail).Round(time.Second), h.lastErr)
	}
	return nil
}

func (h *health) sinceAttempt(now time.Time) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return now.Sub(h.lastAttempt)
}

// ErrNotReady wraps the reason Ready refuses.
var ErrNotReady = errors.New("not ready")

// Ready reports whether the receiver can store what it is sent: nil, or an error (wrapping
// ErrNotReady) when the last ReadyFailures commits failed, or the last commit failed less than
// ReadyRecent ago with no good one since. While not ready it tries a write of its own (a
// heartbeat row) at most every 10 s, so readiness returns once the store heals. /-/ready calls it
// after the store's ping.
func (s *Service) Ready(ctx context.Context) error {
	now := s.clock.Now()
	if s.health.failing(now) == nil {
		return nil
	}
	if s.health.sinceAttempt(now) >= readyProbeEvery {
		_ = s.inTx(ctx, "ready", func(tx store.Tx) error { return tx.SetHeartbeat(ctx, ReadyHeartbeat, now) })
	}
	if err := s.health.failing(s.clock.Now()); err != nil {
		return fmt.Errorf("%w: %w", ErrNotReady, err)
	}
	return nil
}

// writeTx notes whether a transaction changed anything.
type writeTx struct {
	store.Tx
	wrote bool
	cfg   *config.Config // the configuration the changes are written under (routing, ladder)
}

func (w *writeTx) did(err error) error {
	if err == nil {
		w.wrote = true
	}
	return err
}

func (w *writeTx) CreateTask(ctx context.Context, t *task.Task) error {
	return w.did(w.Tx.CreateTask(ctx, t))
}

func (w *writeTx) UpdateTask(ctx context.Context, t *task.Task) error {
	return w.did(w.Tx.UpdateTask(ctx, t))
}

func (w *writeTx) AddProblem(ctx context.Context, p *task.Problem) error {
	return w.did(w.Tx.AddProblem(ctx, p))
}

func (w *writeTx) UpdateProblem(ctx context.Context, p *task.Problem) error {
	return w.did(w.Tx.UpdateProblem(ctx, p))
}

func (w *writeTx) AddEvents(ctx context.Context, evs []task.Event) error {
	if len(evs) == 0 {
		return nil
	}
	return w.did(w.Tx.AddEvents(ctx, evs))
}

func (w *writeTx) Enqueue(ctx context.Context, msgs []store.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	return w.did(w.Tx.Enqueue(ctx, msgs))
}

func (w *writeTx) RecordAttempt(ctx context.Context, a store.Attempt) error {
	return w.did(w.Tx.RecordAttempt(ctx, a))
}

func (w *writeTx) ClaimDelivery(ctx context.Context, m store.Message, until time.Time) (bool, error) {
	ok, err := w.Tx.ClaimDelivery(ctx, m, until)
	if ok {
		w.did(err)
	}
	return ok, err
}

func (w *writeTx) SetHeartbeat(ctx context.Context, name string, at time.Time) error {
	return w.did(w.Tx.SetHeartbeat(ctx, name, at))
}

func (w *writeTx) AddEarlyResolve(ctx context.Context, e store.EarlyResolve) error {
	return w.did(w.Tx.AddEarlyResolve(ctx, e))
}

func (w *writeTx) PruneEarlyResolves(ctx context.Context, before time.Time, max int) (int, error) {
	n, err := w.Tx.PruneEarlyResolves(ctx, before, max)
	if n > 0 {
		w.did(err)
	}
	return n, err
}
