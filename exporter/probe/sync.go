package probe

import (
	"context"
	"sync"
	"time"

	"github.com/minefarm/cgminer-stack/exporter/dialect"
)

// flightGroup lets concurrent callers with the same key share one call's outcome.
type flightGroup struct {
	mu sync.Mutex
	m  map[string]*flight
}

type flight struct {
	done chan struct{}
	out  *Outcome
}

func (g *flightGroup) do(key string, fn func() *Outcome) *Outcome {
	g.mu.Lock()
	if f, ok := g.m[key]; ok {
		g.mu.Unlock()
		<-f.done
		return f.out
	}
	f := &flight{done: make(chan struct{})}
	g.m[key] = f
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		delete(g.m, key)
		g.mu.Unlock()
		close(f.done)
	}()
	f.out = fn()
	return f.out
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
