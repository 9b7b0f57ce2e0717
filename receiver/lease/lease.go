// Package lease runs the receiver's periodic loops (sweep and escalation, verification,
// reconciliation, the notification outbox, machine facts, evidence snapshots, remediation) on one
// replica at a time. Every replica takes webhooks; only the one holding the lease runs the loops.
//
// On PostgreSQL the lease is a session-level advisory lock held on a connection of its own
// (Postgres): PostgreSQL releases it the moment that session ends, so a replica that dies hands
// the loops over within one retry interval, and one cut off from the database fences itself
// (stops its loops) before PostgreSQL can notice the dead peer and free the lock for another.
// SQLite has one process by construction: its lease (Single) is always held.
package lease

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Locker takes the lease.
type Locker interface {
	// TryAcquire tries once, without waiting: a Held when this replica got the lease, nil (and no
	// error) when another one holds it.
	TryAcquire(ctx context.Context) (Held, error)
}

// Held is the lease while this replica holds it.
type Held interface {
	// Hold keeps the lease and returns when it is lost (an error saying why) or when ctx ends
	// (nil: still held, to be released).
	Hold(ctx context.Context) error
	// Release gives the lease up and frees what held it.
	Release(ctx context.Context)
}

// Metrics of the lease: repair_receiver_leader, repair_receiver_lease_acquisitions_total,
// repair_receiver_lease_losses_total.
type Metrics struct {
	Leader       prometheus.Gauge
	Acquisitions prometheus.Counter
	Losses       prometheus.Counter
}

// NewMetrics registers the lease's metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Leader: prometheus.NewGauge(prometheus.GaugeOpts{Name: "repair_receiver_leader",
			Help: "1 while this replica holds the lease and runs the sweep, verification, reconciliation, notification, evidence and remediation loops; 0 while another one does (it still takes webhooks)."}),
		Acquisitions: prometheus.NewCounter(prometheus.CounterOpts{Name: "repair_receiver_lease_acquisitions_total",
			Help: "Times this replica took the lease."}),
		Losses: prometheus.NewCounter(prometheus.CounterOpts{Name: "repair_receiver_lease_losses_total",
			Help: "Times this replica lost the lease while running (its database session ended or stopped answering); a release at shutdown is not counted."}),
	}
	reg.MustRegister(m.Leader, m.Acquisitions, m.Losses)
	return m
}

// releaseTimeout bounds giving the lease up (an unlock on a connection that may be gone).
const releaseTimeout = 5 * time.Second

// Elector runs the loops while this replica holds the lease.
type Elector struct {
	Locker Locker
	// Retry is how often a replica that does not hold the lease tries to take it, and how long
	// one try may take.
	Retry   time.Duration
	Logger  *slog.Logger
	Metrics *Metrics

	mu     sync.Mutex
	leader bool
}

// Leader reports whether this replica holds the lease now.
func (e *Elector) Leader() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leader
}

func (e *Elector) set(leader bool) {
	e.mu.Lock()
	e.leader = leader
	e.mu.Unlock()
	v := 0.0
	if leader {
		v = 1
	}
	e.Metrics.Leader.Set(v)
}

// Run tries to take the lease until ctx ends; while it holds it, lead runs with a context that
// ends as soon as the lease is lost. lead must return once its context ends: the lease is tried
// again, or released at shutdown, only after it has, so this replica's loops have stopped before
// it lets another replica start its own.
func (e *Elector) Run(ctx context.Context, lead func(context.Context)) {
	failing := false
	for ctx.Err() == nil {
		actx, cancel := context.WithTimeout(ctx, e.Retry)
		h, err := e.Locker.TryAcquire(actx)
		cancel()
		switch {
		case err != nil && ctx.Err() == nil:
			// Logged when it starts failing, not every retry while the database is away.
			if !failing {
				e.Logger.Warn("cannot try the lease; retrying", "every", e.Retry, "err", err)
			}
			failing = true
		case h != nil:
			failing = false
			e.term(ctx, h, lead)
			if ctx.Err() != nil {
				return
			}
		default:
			if failing {
				e.Logger.Info("lease reachable again; another replica holds it")
			}
			failing = false
		}
		select {
		case <-ctx.Done():
		case <-time.After(e.Retry):
		}
	}
}

// term is one tenure: the loops run until the lease is lost or ctx ends, then stop, and only
// then is the lease given up.
func (e *Elector) term(ctx context.Context, h Held, lead func(context.Context)) {
	e.Metrics.Acquisitions.Inc()
	e.set(true)
	e.Logger.Info("lease taken: this replica runs the sweep, verification, reconciliation, notification, evidence and remediation loops")
	lctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		lead(lctx)
	}()
	err := h.Hold(lctx)
	stop()
	<-done
	e.set(false)
	if err != nil && ctx.Err() == nil {
		e.Metrics.Losses.Inc()
		e.Logger.Warn("lease lost: loops stopped; another replica takes over", "err", err)
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	h.Release(rctx)
	cancel()
	if ctx.Err() != nil {
		e.Logger.Info("lease released")
	}
}

// Single is the lease of a store only one process opens (SQLite): always held at once.
type Single struct{}

// TryAcquire implements Locker.
func (Single) TryAcquire(context.Context) (Held, error) { return single{}, nil }

type single struct{}

func (single) Hold(ctx context.Context) error { <-ctx.Done(); return nil }
func (single) Release(context.Context)        {}

// ErrLost is wrapped by the errors Hold returns for a lease that was taken away.
var ErrLost = errors.New("lease lost")
