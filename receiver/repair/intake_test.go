package repair

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/store/sqlite"
	"github.com/minefarm/cgminer-stack/receiver/task"
)

// gatedStore counts the committed transactions; the first one waits for release, so that the
// deliveries sent meanwhile queue up behind it. CreateTask fails for the machine poison.
type gatedStore struct {
	store.Store
	release chan struct{}
	first   sync.Once
	commits atomic.Int32
	poison  string
}

func (g *gatedStore) InTx(ctx context.Context, fn func(store.Tx) error) error {
	g.first.Do(func() { <-g.release })
	err := g.Store.InTx(ctx, func(tx store.Tx) error { return fn(poisonTx{tx, g.poison}) })
	if err == nil {
		g.commits.Add(1)
	}
	return err
}

type poisonTx struct {
	store.Tx
	poison string
}

var errPoison = errors.New("refused by the store")

func (p poisonTx) CreateTask(ctx context.Context, t *task.Task) error {
	if p.poison != "" && t.Identity["instance"] == p.poison {
		return errPoison
	}
	return p.Tx.CreateTask(ctx, t)
}

// Deliveries that arrive while one is being stored share the next transaction (group commit);
// each Ingest returns only once its own alerts are committed: read back through a second,
// independent connection to the file the moment it returns. One delivery the store refuses fails
// alone: the others of its group are stored and succeed.
func TestGroupCommit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		poison bool
	}{{"all good", false}, {"one refused", true}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, "")
			g := &gatedStore{Store: e.st, release: make(chan struct{})}
			if tc.poison {
				g.poison = "10.9.7.2"
			}
			e.svc = New(g, e.svc.cfg, e.clk, e.svc.logger, e.m)
			other, err := sqlite.Open(e.ctx, e.file)
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()

			const n = 12
			errs := make([]error, n)
			var wg sync.WaitGroup
			queued := func(want int) {
				deadline := time.Now().Add(10 * time.Second)
				for {
					e.svc.intakes[0].mu.Lock()
					q := len(e.svc.intakes[0].queue)
					e.svc.intakes[0].mu.Unlock()
					if q == want || time.Now().After(deadline) {
						return
					}
					time.Sleep(time.Millisecond)
				}
			}
			for i := range n {
				if i == 1 {
					queued(1) // the first delivery leads, its transaction held at the gate
				}
				wg.Go(func() {
					var alerts []al
					for j := range 3 {
						alerts = append(alerts, al{name: "MinerFanFailure", instance: fmt.Sprintf("10.9.%d.%d", i, j), site: "site-a", firing: true, start: t0})
					}
					sum, err := e.svc.Ingest(e.ctx, e.keyer.Events(message(alerts)))
					errs[i] = err
					if err != nil {
						return
					}
					if sum.Created != 3 {
						t.Errorf("delivery %d: %+v", i, sum)
					}
					for _, a := range alerts {
						ts, err := other.ListTasks(e.ctx, store.Filter{Instance: a.instance})
						if err != nil || len(ts) != 1 {
							t.Errorf("delivery %d answered before %s was committed: %d tasks, %v", i, a.instance, len(ts), err)
						}
					}
				})
			}
			queued(n) // every other delivery waits behind the first transaction
			close(g.release)
			wg.Wait()
			failed := 0
			for i, err := range errs {
				switch {
				case tc.poison && i == 7:
					if !errors.Is(err, errPoison) {
						t.Errorf("the refused delivery: %v", err)
					}
					failed++
				case err != nil:
					t.Errorf("delivery %d: %v", i, err)
				}
			}
			stored, err := other.ListTasks(e.ctx, store.Filter{Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			if want := 3 * (n - failed); len(stored) != want {
				t.Fatalf("%d tasks stored, want %d", len(stored), want)
			}
			commits := int(g.commits.Load())
			// The first delivery alone, then the other eleven in one transaction; with the refused
			// one among them, that group fails and its deliveries are stored one by one.
			if want := map[bool]int{false: 2, true: n - 1}[tc.poison]; commits != want {
				t.Fatalf("%d commits for %d deliveries, want %d", commits, n, want)
			}
			t.Logf("%d deliveries, %d commits", n, commits)
		})
	}
}

// A delivery whose sender hung up while it waited in the queue is not stored and fails; the
// others are.
func TestGroupCommitSenderGone(t *testing.T) {
	e := newEnv(t, "")
	g := &gatedStore{Store: e.st, release: make(chan struct{})}
	e.svc = New(g, e.svc.cfg, e.clk, e.svc.logger, e.m)
	first := make(chan error, 1)
	go func() {
		_, err := e.svc.Ingest(e.ctx, e.keyer.Events(message([]al{{name: "MinerFanFailure", instance: "10.8.0.1", site: "site-a", firing: true, start: t0}})))
		first <- err
	}()
	for {
		e.svc.intakes[0].mu.Lock()
		q := len(e.svc.intakes[0].queue)
		e.svc.intakes[0].mu.Unlock()
		if q == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	gone := make(chan error, 1)
	go func() {
		_, err := e.svc.Ingest(ctx, e.keyer.Events(message([]al{{name: "MinerFanFailure", instance: "10.8.0.2", site: "site-a", firing: true, start: t0}})))
		gone <- err
	}()
	for {
		e.svc.intakes[0].mu.Lock()
		q := len(e.svc.intakes[0].queue)
		e.svc.intakes[0].mu.Unlock()
		if q == 2 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	close(g.release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-gone; !errors.Is(err, context.Canceled) {
		t.Fatalf("the delivery whose sender left: %v", err)
	}
	if ts := e.tasks(); len(ts) != 1 || ts[0].Identity["instance"] != "10.8.0.1" {
		t.Fatalf("%d tasks, want the one of 10.8.0.1", len(ts))
	}
}

// The open-task counts the intake keeps between groups follow every change that moves them: a
// worker's reassignment between two deliveries (well within loadsTTL) decides the next pick as
// if the counts were read from the store again.
func TestLoadsKeptBetweenGroupsFollowChanges(t *testing.T) {
	e := newEnv(t, "")
	newAlert := func(inst string) al {
		return al{name: "MinerFanFailure", instance: inst, site: "site-a", firing: true, start: t0}
	}
	for _, inst := range []string{"10.7.0.1", "10.7.0.2", "10.7.0.3"} {
		e.deliver(newAlert(inst)) // alice, bob, alice: the kept counts are {alice: 2, bob: 1}
	}
	var first task.Task
	for _, tk := range e.tasks() {
		if tk.Identity["instance"] == "10.7.0.1" {
			first = tk
		}
	}
	// alice's first task goes to bob: alice 1, bob 2 in the store, so the next one is alice's
	// (with the counts kept from before the change it would be bob's).
	e.act(first.ID, "carol", Action{Kind: "assign", Assignee: "bob"})
	e.deliver(newAlert("10.7.0.4"))
	got := map[string]string{}
	for _, tk := range e.tasks() {
		got[tk.Identity["instance"]] = tk.Assignee
	}
	want := map[string]string{"10.7.0.1": "bob", "10.7.0.2": "bob", "10.7.0.3": "alice", "10.7.0.4": "alice"}
	for inst, who := range want {
		if got[inst] != who {
			t.Errorf("%s assigned to %q, want %q (all: %v)", inst, got[inst], who, got)
		}
	}
}

// Groups in flight and workers' actions change the kept open-task counts by deltas, so that none
// undoes another: two groups that started from the same counts both count their assignments, an
// action committed meanwhile stays counted, and a group that started before a drop adds nothing.
func TestLoadCacheMergesDeltas(t *testing.T) {
	seed := func(c *loadCache) {
		as, ep := c.get()
		as["crew"] = &teamLoad{loads: map[string]int{"alice": 2, "bob": 1}, last: "alice",
			base: map[string]int{"alice": 2, "bob": 1}, baseLast: "alice"}
		c.put(as, ep)
	}
	assign := func(as assignments, who string) {
		as["crew"].loads[who]++
		as["crew"].last = who
	}
	for _, tc := range []struct {
		name string
		run  func(c *loadCache)
		want map[string]int
		last string
	}{
		{"two groups from the same counts", func(c *loadCache) {
			a, ea := c.get()
			b, eb := c.get()
			assign(a, "bob")
			assign(b, "bob")
			assign(b, "alice")
			c.put(a, ea)
			c.put(b, eb)
		}, map[string]int{"alice": 3, "bob": 3}, "alice"},
		{"an action while a group is in flight", func(c *loadCache) {
			a, ea := c.get()
			c.move("alice", true, "bob", true) // alice's task taken over by bob
			assign(a, "bob")
			c.put(a, ea)
		}, map[string]int{"alice": 1, "bob": 3}, "bob"},
		{"a task closed", func(c *loadCache) {
			c.move("bob", true, "bob", false)
		}, map[string]int{"alice": 2, "bob": 0}, "alice"},
		{"a drop while a group is in flight", func(c *loadCache) {
			a, ea := c.get()
			c.drop()
			assign(a, "bob")
			c.put(a, ea)
		}, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c loadCache
			seed(&c)
			tc.run(&c)
			got, _ := c.get()
			if tc.want == nil {
				if len(got) != 0 {
					t.Fatalf("counts kept after a drop: %v", got["crew"].loads)
				}
				return
			}
			tl := got["crew"]
			if tl == nil || fmt.Sprint(tl.loads) != fmt.Sprint(tc.want) || tl.last != tc.last {
				t.Fatalf("kept %+v, want %v last %q", tl, tc.want, tc.last)
			}
		})
	}
}
