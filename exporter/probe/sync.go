package probe

import (
	"context"
	"sync"
	"time"
)

// flightGroup lets concurrent callers with the same key share one run. A run has its first
// caller's deadline and runs on its own goroutine, so every caller, the first included, waits only
// until its own deadline; once no caller waits any more (they hung up, or their deadlines passed)
// the run is cancelled, so a client that hangs up cannot leave probes holding miners and slots.
type flightGroup struct {
	mu sync.Mutex
	m  map[string]*flight
}

type flight struct {
	deadline time.Time
	done     chan struct{}
	out      *Outcome
	waiters  int // callers waiting, under the group's mu
	cancel   context.CancelFunc
}

// do returns the outcome of the run in flight for key, or of fn started now under ctx's
// deadline, with the deadline that run has. With outlast, a run whose deadline is earlier than
// ctx's is not joined: a new run starts, which later callers join. The error is ctx's when it
// ended while waiting.
func (g *flightGroup) do(ctx context.Context, key string, outlast bool, fn func(context.Context) *Outcome) (*Outcome, time.Time, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		panic("flightGroup.do without a deadline")
	}
	g.mu.Lock()
	f, ok := g.m[key]
	if !ok || outlast && f.deadline.Before(deadline) {
		f = g.start(key, deadline, fn) // over a shorter run, whose callers keep waiting for it
	}
	f.waiters++
	g.mu.Unlock()
	select {
	case <-f.done:
		return f.out, f.deadline, nil
	case <-ctx.Done():
		g.leave(key, f)
		return nil, f.deadline, ctx.Err()
	}
}

// start runs fn for key on its own goroutine. g.mu is held.
func (g *flightGroup) start(key string, deadline time.Time, fn func(context.Context) *Outcome) *flight {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	f := &flight{deadline: deadline, done: make(chan struct{}), cancel: cancel}
	g.m[key] = f
	go func() {
		defer cancel()
		out := fn(ctx)
		g.mu.Lock()
		f.out = out
		if g.m[key] == f {
			delete(g.m, key)
		}
		g.mu.Unlock()
		close(f.done)
	}()
	return f
}

// leave is a caller giving up on f; the last one cancels it.
func (g *flightGroup) leave(key string, f *flight) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f.waiters--
	if f.waiters > 0 {
		return
	}
	if g.m[key] == f {
		delete(g.m, key) // a caller arriving now starts afresh rather than join a cancelled run
	}
	f.cancel()
}

// keyedSem bounds concurrent holders per key; entries live only while held or awaited.
type keyedSem struct {
	limit int
	mu    sync.Mutex
	m     map[string]*semEntry
}

type semEntry struct {
	ch   chan struct{}
	refs int
}

func (k *keyedSem) acquire(ctx context.Context, key string) (release func(), err error) {
	k.mu.Lock()
	e, ok := k.m[key]
	if !ok {
		e = &semEntry{ch: make(chan struct{}, k.limit)}
		k.m[key] = e
	}
	e.refs++
	k.mu.Unlock()
	drop := func() {
		k.mu.Lock()
		e.refs--
		if e.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
	select {
	case e.ch <- struct{}{}:
		return func() { <-e.ch; drop() }, nil
	case <-ctx.Done():
		drop()
		return nil, ctx.Err()
	}
}
