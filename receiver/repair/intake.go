package repair

import (
	"context"
	"hash/fnv"
	"maps"
	"sync"
	"time"

	"github.com/minefarm/cgminer-stack/receiver/alert"
	"github.com/minefarm/cgminer-stack/receiver/config"
	"github.com/minefarm/cgminer-stack/receiver/store"
)

// Group commit. Deliveries that arrive while another one is being stored wait in a queue; the
// next transaction takes as many of them as fit in IngestChunk alerts and stores them together,
// and each delivery's Ingest returns (the webhook answers) only once the transaction holding its
// last alert is committed. A burst of small deliveries then costs one commit (one fsync), one
// set of prepared statements and one count of the assignees' open tasks per group instead of per
// delivery, and a worker's action waits behind one transaction, not behind every delivery in the
// burst.
//
// No goroutine of its own: the first delivery to find the queue idle leads, storing groups from
// the head of the queue until its own delivery is through, then hands the lead to the delivery
// now at the head. A group that fails is not retried as a group: each of its deliveries is then
// stored alone, so that one bad delivery (or one that breaks a rule of the store) fails only
// itself, with its own 503.
//
// On a store with one writer (SQLite) there is one queue. Where writers run side by side
// (PostgreSQL), Groups queues do, each with its own leader, so that one group's commit (its
// WAL flush) overlaps the next group's statements; a delivery goes to the queue of its first
// alert's machine, so that the deliveries about one machine do not race each other.
type intake struct {
	mu    sync.Mutex
	queue []*delivery
	busy  bool // a leader is storing groups
}

// delivery is one webhook delivery on its way into the store.
type delivery struct {
	ctx      context.Context
	cfg      *config.Config
	now      time.Time
	events   []alert.Event
	watchdog bool

	next int  // events committed
	beat bool // the watchdog heartbeat is committed
	solo bool // stored alone from now on (its group failed)
	sum  Summary
	err  error
	end  bool          // finished: sum and err are final
	done chan struct{} // closed when finished
	lead chan struct{} // the delivery leads from now on
}

func (d *delivery) finish(err error) {
	d.err, d.end = err, true
	close(d.done)
}

// Ingest applies every event of one delivery, in transactions of at most IngestChunk alerts shared
// with the deliveries that arrived meanwhile (group commit, above). It returns once every event
// is committed, or with the error that stopped it; what was committed before an error stays.
func (s *Service) Ingest(ctx context.Context, res alert.Result) (Summary, error) {
	d := &delivery{ctx: ctx, cfg: s.cfg(), now: s.clock.Now(), events: res.Events, watchdog: res.Watchdog,
		done: make(chan struct{}), lead: make(chan struct{}, 1)}
	in := &s.intakes[0]
	if len(s.intakes) > 1 && len(res.Events) > 0 {
		h := fnv.New32a()
		h.Write([]byte(res.Events[0].Machine))
		in = &s.intakes[h.Sum32()%uint32(len(s.intakes))]
	}
	in.mu.Lock()
	in.queue = append(in.queue, d)
	lead := !in.busy
	in.busy = true
	in.mu.Unlock()
	if !lead {
		select {
		case <-d.done:
			return d.sum, d.err
		case <-d.lead:
		}
	}
	for i := 0; !d.end; i++ {
		s.storeGroup(in)
		if s.chunkHook != nil {
			s.chunkHook(i)
		}
		if !d.end {
			s.standAside(ctx)
		}
	}
	// Hand the lead on (the delivery at the head of the queue), or leave the queue idle.
	in.mu.Lock()
	if len(in.queue) > 0 {
		in.queue[0].lead <- struct{}{}
	} else {
		in.busy = false
	}
	in.mu.Unlock()
	return d.sum, d.err
}

// storeGroup stores the next group from the head of the queue in one transaction and finishes
// the deliveries it completed.
func (s *Service) storeGroup(in *intake) {
	chunk := s.chunk
	if chunk <= 0 {
		chunk = IngestChunk
	}
	in.mu.Lock()
	var group []*delivery
	alerts := 0
	for _, d := range in.queue {
		if d.ctx.Err() != nil {
			continue // finished below, never stored: its client is gone
		}
		left := len(d.events) - d.next
		if len(group) > 0 && (d.solo || group[0].solo || alerts+left > chunk) {
			break
		}
		group = append(group, d)
		alerts += left
		if alerts >= chunk {
			break
		}
	}
	var gone []*delivery
	kept := in.queue[:0]
	for _, d := range in.queue {
		if d.ctx.Err() != nil {
			gone = append(gone, d)
			continue
		}
		kept = append(kept, d)
	}
	in.queue = kept
	in.mu.Unlock()
	for _, d := range gone {
		d.finish(d.ctx.Err())
	}
	if len(group) == 0 {
		return
	}

	type part struct {
		n       int
		reached bool
		sum     Summary
		changes pending
	}
	parts := make([]part, len(group))
	var as assignments
	var epoch uint64
	// What the group's alerts will look up, read in a few queries (store.Tx.Prefetch).
	var pq store.PrefetchQuery
	for _, d := range group {
		for i := d.next; i < len(d.events) && len(pq.Alerts) < chunk; i++ {
			ev := &d.events[i]
			pq.Alerts = append(pq.Alerts, store.PrefetchAlert{Machine: ev.Machine, Key: ev.ProblemKey, StartsAt: ev.StartsAt, Firing: ev.Firing})
		}
		if w := d.cfg.Windows.ReopenWindow; w > 0 {
			if since := d.now.Add(-w); pq.ClosedSince.IsZero() || since.Before(pq.ClosedSince) {
				pq.ClosedSince = since
			}
		}
	}
	// The transaction is the group's, not one client's: a client that hangs up while its group is
	// being stored does not roll back the others (its delivery is stored; a retry is a no-op).
	ctx := context.WithoutCancel(group[0].ctx)
	err := s.inTx(ctx, "ingest", func(tx store.Tx) error {
		clear(parts)
		if err := tx.Prefetch(ctx, pq); err != nil {
			return err
		}
		// Open-task counts for least_loaded: from the last group's, or read once per team.
		as, epoch = s.loads.get()
		applied, early := 0, false
		for gi, d := range group {
			if s.yield(applied) {
				break // a worker waits: commit what is done, the rest goes in the next group
			}
			p := &parts[gi]
			p.reached = true
			if d.watchdog && !d.beat {
				if err := tx.SetHeartbeat(ctx, WatchdogHeartbeat, d.now); err != nil {
					return err
				}
			}
			for i := d.next; i < len(d.events) && applied < chunk; i++ {
				if s.yield(applied) {
					break
				}
				c, err := s.apply(ctx, tx, d.cfg, as, &d.events[i], d.now, &p.sum)
				if err != nil {
					return err
				}
				p.changes = append(p.changes, c...)
				p.n++
				applied++
			}
			if p.sum.early > 0 {
				early = true
			}
			if d.next+p.n < len(d.events) {
				break // the rest of this delivery goes first in the next group
			}
		}
		if early {
			return pruneEarly(ctx, tx, group[0].cfg, group[0].now)
		}
		return nil
	})
	if err != nil {
		if len(group) > 1 {
			// Which delivery broke it is not known: each is stored alone from now on.
			for _, d := range group {
				d.solo = true
			}
			return
		}
		in.remove(group[0])
		group[0].finish(err)
		return
	}
	reopened := false
	for gi := range parts {
		reopened = reopened || parts[gi].sum.Reopened > 0
	}
	if reopened {
		s.loads.drop() // a reopened task counts for its assignee again: read the counts anew
	} else {
		s.loads.put(as, epoch)
	}
	var finished []*delivery
	for gi, d := range group {
		p := &parts[gi]
		if !p.reached {
			break
		}
		d.next += p.n
		d.beat = d.beat || d.watchdog
		d.sum.add(p.sum)
		s.commit(p.changes)
		s.metrics.EarlyResolves.WithLabelValues("stored").Add(float64(p.sum.early))
		s.metrics.EarlyResolves.WithLabelValues("matched").Add(float64(p.sum.EarlyResolved))
		if d.next >= len(d.events) {
			if d.watchdog {
				s.metrics.Watchdog.Set(float64(d.now.Unix()))
			}
			finished = append(finished, d)
		}
	}
	for _, d := range finished {
		in.remove(d)
		d.finish(nil)
	}
}

// yield reports that the group, with applied alerts in it, commits now because a worker's action
// waits for the store's one writer (IngestYield).
func (s *Service) yield(applied int) bool {
	return s.serial && applied >= IngestYield && s.acting.Load() > 0
}

// remove takes a delivery out of the queue.
func (in *intake) remove(d *delivery) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for i, q := range in.queue {
		if q == d {
			in.queue = append(in.queue[:i], in.queue[i+1:]...)
			return
		}
	}
}

// loadsTTL bounds how long the intake keeps the assignees' open-task counts before it reads them
// from the store again: the bound on any drift (another replica's changes, a race below).
const loadsTTL = time.Second

// loadCache keeps the open-task counts (and last assignees) between groups: counting a team's
// open tasks reads all of them, and a burst paid that once per group, then once per worker action
// (a technician who acknowledges another's task takes it over and moves two counts).
//
// The counts follow changes by deltas, so that groups in flight and actions do not undo each
// other: a group starts from a copy (teamLoad.base) and, once committed, adds what it assigned
// (loads − base) to the counts kept now; an action that moved a count (Act) moves it in the kept
// counts. Changes whose effect on the counts is not worked out here (the sweep, verification,
// reconciliation, a reopened task) drop them: the next group reads them from the store, and a
// group that started before the drop adds nothing. What can drift (an action committed while a
// group was reading the counts from the store, another replica's changes) is corrected within
// loadsTTL.
type loadCache struct {
	mu    sync.Mutex
	epoch uint64 // bumped by drop
	at    time.Time
	as    assignments
}

// get returns a copy of the kept counts (each team's base set to them) and the epoch to hand
// back to put; empty ones when there are none or they are older than loadsTTL.
func (c *loadCache) get() (assignments, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.as == nil || time.Since(c.at) > loadsTTL {
		return assignments{}, c.epoch
	}
	out := make(assignments, len(c.as))
	for k, v := range c.as {
		out[k] = &teamLoad{loads: maps.Clone(v.loads), last: v.last, base: maps.Clone(v.loads), baseLast: v.last}
	}
	return out, c.epoch
}

// put adds a committed group's assignments to the kept counts; or keeps the group's counts, read
// from the store, when there are none (or they are stale). A group that started before a drop
// adds nothing.
func (c *loadCache) put(as assignments, epoch uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if epoch != c.epoch || len(as) == 0 {
		return
	}
	if c.as == nil || time.Since(c.at) > loadsTTL {
		c.as, c.at = assignments{}, time.Now() // read from the store now (or just now)
	}
	for team, tl := range as {
		cur, ok := c.as[team]
		if !ok {
			c.as[team] = &teamLoad{loads: maps.Clone(tl.loads), last: tl.last}
			continue
		}
		assigned := false
		for p, n := range tl.loads {
			if d := n - tl.base[p]; d != 0 {
				cur.loads[p] += d
				assigned = true
			}
		}
		if assigned { // an assignment is all that moves last
			cur.last = tl.last
		}
	}
}

// move follows one task's change in the kept counts: it counted for from (when fromOpen) and now
// counts for to (when toOpen).
func (c *loadCache) move(from string, fromOpen bool, to string, toOpen bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, tl := range c.as {
		if _, ok := tl.loads[from]; ok && fromOpen && tl.loads[from] > 0 {
			tl.loads[from]--
		}
		if _, ok := tl.loads[to]; ok && toOpen {
			tl.loads[to]++
		}
	}
}

// drop forgets the counts: a change other than the intake's and Act's committed.
func (c *loadCache) drop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	c.as = nil
}
