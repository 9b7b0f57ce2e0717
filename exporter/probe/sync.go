package probe

import (
	"context"
	"sync"
	"time"

	"github.com/minefarm/cgminer-stack/exporter/dialect"
)

// flightGroup lets concurrent callers with the same key share one run. A run has its leader's
// deadline and is detached from the leader's cancellation (a client that hangs up does not fail
// the others); each caller waits only until its own deadline.
type flightGroup struct {
	mu sync.Mutex
	m  map[string]*flight
}

type flight struct {
	deadline time.Time
	done     chan struct{}
	out      *Outcome
}

// do returns the outcome of the run in flight for key, or of fn run now under ctx's deadline,
// with the deadline that run had. With outlast, a run whose deadline is earlier than ctx's is not
// joined: the caller starts its own, which later callers join. The error is ctx's when it ended
// while waiting.
func (g *flightGroup) do(ctx context.Context, key string, outlast bool, fn func(context.Context) *Outcome) (*Outcome, time.Time, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		panic("flightGroup.do without a deadline")
	}
	g.mu.Lock()
	if f, ok := g.m[key]; ok && (!outlast || !f.deadline.Before(deadline)) {
		g.mu.Unlock()
		select {
		case <-f.done:
			return f.out, f.deadline, nil
		case <-ctx.Done():
			return nil, f.deadline, ctx.Err()
		}
	}
	f := &flight{deadline: deadline, done: make(chan struct{})}
	g.m[key] = f // over a shorter run (outlast), whose callers keep waiting for it
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		if g.m[key] == f {
			delete(g.m, key)
		}
		g.mu.Unlock()
		close(f.done)
	}()
	rctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	defer cancel()
	f.out = fn(rctx)
	return f.out, deadline, nil
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

// familyCache remembers each miner's firmware family so that later probes send every command
// the family needs in one joined request.
type familyCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]familyEntry
	now func() time.Time
}

type familyEntry struct {
	fam     *dialect.Family
	expires time.Time
}

func (c *familyCache) clock() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

func (c *familyCache) get(addr string) (*dialect.Family, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[addr]
	if !ok || c.clock().After(e.expires) {
		return nil, false
	}
	return e.fam, true
}

func (c *familyCache) put(addr string, f *dialect.Family) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock()
	c.m[addr] = familyEntry{fam: f, expires: now.Add(c.ttl)}
	if len(c.m) > 1<<20 { // far beyond any farm: drop what expired
		for k, e := range c.m {
			if now.After(e.expires) {
				delete(c.m, k)
			}
		}
	}
}
