package repair

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/minefarm/cgminer-stack/receiver/alert"
	"github.com/minefarm/cgminer-stack/receiver/config"
	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/store/sqlite"
	"github.com/minefarm/cgminer-stack/receiver/task"
	"github.com/minefarm/cgminer-stack/receiver/verify"
)

var t0 = time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type env struct {
	t     *testing.T
	svc   *Service
	st    store.Store
	clk   *clock
	cfg   *config.Config
	m     *Metrics
	vm    *verify.Metrics
	file  string
	ctx   context.Context
	keyer alert.Keyer
	busy  time.Duration // SQLite busy timeout; 0: the default
}

const demo = `
teams:
  - name: site-a
    members: [alice, bob]
    lead: carol
    matchers: {site: site-a}
  - name: rest
    members: [dave, erin]
`

func newEnv(t *testing.T, yml string) *env { t.Helper(); return newEnvBusy(t, yml, 0) }

// newEnvBusy opens the store with the given SQLite busy timeout (how long a write waits for a
// lock another connection holds).
func newEnvBusy(t *testing.T, yml string, busy time.Duration) *env {
	t.Helper()
	cfg, err := config.Parse([]byte(demo + yml))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "r.db")
	e := &env{t: t, cfg: cfg, clk: &clock{now: t0}, file: file, ctx: context.Background(), busy: busy}
	e.open()
	return e
}

func (e *env) open() {
	st, err := sqlite.OpenWith(e.ctx, e.file, sqlite.Options{BusyTimeout: e.busy})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { st.Close() })
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	e.st = st
	reg := prometheus.NewRegistry()
	e.m = NewMetrics(reg, st, logger)
	e.vm = verify.NewMetrics(reg)
	e.svc = New(st, func() *config.Config { return e.cfg }, e.clk, logger, e.m)
	e.keyer = e.svc.Keyer()
}

type al struct {
	name, instance, site string
	firing               bool
	start                time.Time
	end                  time.Time
	extra                map[string]string
}

func (a al) tmpl() template.Alert {
	l := template.KV{"alertname": a.name, "severity": "critical", "category": "fan"}
	if a.instance != "" {
		l["instance"] = a.instance
	}
	if a.site != "" {
		l["site"] = a.site
	}
	for k, v := range a.extra {
		l[k] = v
	}
	ta := template.Alert{Status: "firing", Labels: l, Annotations: template.KV{"summary": a.name + " on " + a.instance}, StartsAt: a.start}
	if !a.firing {
		ta.Status, ta.EndsAt = "resolved", a.end
	}
	return ta
}

func (e *env) ingest(alerts ...al) (Summary, error) {
	m := &alert.Message{Version: "4"}
	for _, a := range alerts {
		m.Alerts = append(m.Alerts, a.tmpl())
	}
	return e.svc.Ingest(e.ctx, e.keyer.Events(m))
}

func (e *env) deliver(alerts ...al) Summary {
	e.t.Helper()
	sum, err := e.ingest(alerts...)
	if err != nil {
		e.t.Fatal(err)
	}
	return sum
}

func (e *env) tasks() []task.Task {
	e.t.Helper()
	ts, err := e.st.ListTasks(e.ctx, store.Filter{})
	if err != nil {
		e.t.Fatal(err)
	}
	return ts
}

func (e *env) only() store.Detail {
	e.t.Helper()
	ts := e.tasks()
	if len(ts) != 1 {
		e.t.Fatalf("%d tasks, want exactly 1: %+v", len(ts), ts)
	}
	d, err := e.st.Detail(e.ctx, ts[0].ID, store.DetailQuery{})
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

func (e *env) act(id int64, who string, a Action) task.Task {
	e.t.Helper()
	t, err := e.svc.Act(e.ctx, id, who, a)
	if err != nil {
		e.t.Fatal(err)
	}
	return t
}

func (e *env) sweep() int {
	e.t.Helper()
	n, err := e.svc.Sweep(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

var (
	fan     = al{name: "MinerFanFailure", instance: "10.1.0.7", site: "site-a", firing: true, start: t0, extra: map[string]string{"fan": "2"}}
	fanDone = al{name: "MinerFanFailure", instance: "10.1.0.7", site: "site-a", start: t0, end: t0.Add(10 * time.Minute), extra: map[string]string{"fan": "2"}}
	hot     = al{name: "MinerTemperatureHigh", instance: "10.1.0.7", site: "site-a", firing: true, start: t0.Add(time.Minute)}
	hotDone = al{name: "MinerTemperatureHigh", instance: "10.1.0.7", site: "site-a", start: t0.Add(time.Minute), end: t0.Add(11 * time.Minute)}
)

func TestIdempotentIntake(t *testing.T) {
	for _, tc := range []struct {
		name       string
		deliveries [][]al
		firing     int
		cleared    bool
	}{
		{"same delivery twice", [][]al{{fan}, {fan}}, 1, false},
		{"HA pair: both members deliver", [][]al{{fan, hot}, {fan, hot}, {hot, fan}}, 2, false},
		{"repeat notification after hours", [][]al{{fan}, {fan}, {fan}}, 1, false},
		{"resolved then a late firing copy", [][]al{{fan}, {fanDone}, {fan}}, 0, true},
		{"resolved twice", [][]al{{fan}, {fanDone}, {fanDone}}, 0, true},
		{"one of two resolves, the group is re-sent", [][]al{{fan, hot}, {fanDone, hot}, {fanDone, hot}}, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, "")
			for _, d := range tc.deliveries {
				e.deliver(d...)
				e.clk.Add(10 * time.Second)
			}
			d := e.only()
			firing := 0
			for _, p := range d.Problems {
				if p.Firing {
					firing++
				}
			}
			if firing != tc.firing || d.Task.Cleared() != tc.cleared || d.Task.State != task.Open {
				t.Fatalf("firing %d cleared %v state %s; want %d %v open", firing, d.Task.Cleared(), d.Task.State, tc.firing, tc.cleared)
			}
			if d.Task.Recurrences != 0 {
				t.Fatalf("duplicates counted as recurrences: %d", d.Task.Recurrences)
			}
			if got := testutil.ToFloat64(e.m.Created); got != 1 {
				t.Fatalf("tasks created %v", got)
			}
		})
	}
}

// A resolve that arrives before its firing copy (AM #878, an HA peer, a retry) is remembered for
// windows.out_of_order: the late firing copy makes no task (it would stay open forever, for its
// resolve has come and gone). After the window, the same occurrence firing means it is back.
func TestResolveBeforeItsFiringCopy(t *testing.T) {
	for _, tc := range []struct {
		name  string
		late  time.Duration
		tasks int
	}{
		{"firing copy 10 s after its resolve: no task", 10 * time.Second, 0},
		{"firing copy just inside the window: no task", 4*time.Minute + 59*time.Second, 0},
		{"firing copy after the window: the occurrence is back", 5*time.Minute + time.Second, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, "")
			sum := e.deliver(fanDone)
			if sum.Unknown != 1 || len(e.tasks()) != 0 {
				t.Fatalf("summary %+v, tasks %d", sum, len(e.tasks()))
			}
			e.clk.Add(tc.late)
			e.sweep() // prunes what is older than the window
			sum = e.deliver(fan)
			if n := len(e.tasks()); n != tc.tasks {
				t.Fatalf("%d tasks, want %d (summary %+v)", n, tc.tasks, sum)
			}
			if tc.tasks == 0 && (sum.EarlyResolved != 1 || sum.Duplicates != 1) {
				t.Fatalf("summary %+v", sum)
			}
			if got := testutil.ToFloat64(e.m.EarlyResolves.WithLabelValues("matched")); got != float64(1-tc.tasks) {
				t.Fatalf("matched early resolves %v", got)
			}
			// A different occurrence of the same problem is not covered by that resolve.
			e.deliver(al{name: fan.name, instance: fan.instance, site: fan.site, extra: fan.extra, firing: true, start: t0.Add(time.Hour)})
			if n := len(e.tasks()); n != 1 {
				t.Fatalf("a later occurrence made %d tasks, want 1", n)
			}
		})
	}
	t.Run("out_of_order 0 remembers nothing", func(t *testing.T) {
		e := newEnv(t, "windows: {out_of_order: 0s}\n")
		e.deliver(fanDone)
		e.deliver(fan)
		if n := len(e.tasks()); n != 1 {
			t.Fatalf("%d tasks, want 1", n)
		}
	})
}

// The early resolves are pruned by age and capped.
func TestEarlyResolvesAreBounded(t *testing.T) {
	e := newEnv(t, "")
	var old []al
	for i := range 30 {
		old = append(old, al{name: "MinerFanFailure", instance: fmt.Sprintf("10.9.0.%d", i), site: "site-a", start: t0, end: t0.Add(time.Minute)})
	}
	e.deliver(old...)
	count := func() int {
		var n int
		if err := e.st.(interface{ SQL() *sql.DB }).SQL().QueryRow(`SELECT COUNT(*) FROM early_resolves`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 30 {
		t.Fatalf("%d early resolves stored, want 30", n)
	}
	e.clk.Add(6 * time.Minute)
	e.deliver(al{name: "MinerFanFailure", instance: "10.9.1.1", site: "site-a", start: t0, end: t0.Add(time.Minute)})
	if n := count(); n != 1 {
		t.Fatalf("%d early resolves after the window, want only the new one", n)
	}
	e.clk.Add(6 * time.Minute)
	e.sweep()
	if n := count(); n != 0 {
		t.Fatalf("%d early resolves after the sweep, want 0", n)
	}
}

func TestResolvedForAnOlderOccurrenceIsANoop(t *testing.T) {
	e := newEnv(t, "")
	e.deliver(fan)
	e.deliver(al{name: fan.name, instance: fan.instance, site: fan.site, extra: fan.extra, start: t0.Add(-time.Hour), end: t0.Add(-time.Minute)})
	d := e.only()
	if d.Task.Cleared() || !d.Problems[0].Firing {
		t.Fatal("a resolve for an older occurrence cleared the current one")
	}
}

func TestNewAlertJoinsTheMachinesTask(t *testing.T) {
	e := newEnv(t, "")
	e.deliver(fan)
	e.deliver(hot)
	e.deliver(al{name: "MinerFanFailure", instance: "10.1.0.8", site: "site-a", firing: true, start: t0})
	ts := e.tasks()
	if len(ts) != 2 {
		t.Fatalf("%d tasks, want one per machine", len(ts))
	}
	d, _ := e.st.Detail(e.ctx, ts[1].ID, store.DetailQuery{})
	if d.Task.Machine != `instance="10.1.0.7"` || len(d.Problems) != 2 || d.Task.Location["site"] != "site-a" {
		t.Fatalf("task %+v problems %d", d.Task, len(d.Problems))
	}
}

func TestFleetAlertsAndAssignment(t *testing.T) {
	e := newEnv(t, "")
	e.deliver(al{name: "SiteDown", site: "site-b", firing: true, start: t0})
	d := e.only()
	if !d.Task.Fleet || d.Task.Machine != `site="site-b"` || d.Task.Team != "rest" || d.Task.Assignee != "dave" {
		t.Fatalf("fleet task %+v", d.Task)
	}
	// least loaded: alice then bob then (alice 1, bob 1) alice.
	var got []string
	for i := range 3 {
		e.deliver(al{name: "MinerFanFailure", instance: fmt.Sprintf("10.1.0.%d", i), site: "site-a", firing: true, start: t0})
	}
	ts := e.tasks()
	for i := len(ts) - 1; i >= 0; i-- {
		if ts[i].Team == "site-a" {
			got = append(got, ts[i].Assignee)
		}
	}
	if fmt.Sprint(got) != "[alice bob alice]" {
		t.Fatalf("least-loaded assignment %v", got)
	}
	outbox, _ := e.st.Pending(e.ctx, e.clk.Now(), 100)
	if len(outbox) != 4 || outbox[1].To != "alice" {
		t.Fatalf("assignees not prompted: %+v", outbox)
	}
}

func TestRoundRobin(t *testing.T) {
	e := newEnv(t, "assignment: round_robin\n")
	var got []string
	for i := range 4 {
		e.deliver(al{name: "MinerFanFailure", instance: fmt.Sprintf("10.1.0.%d", i), site: "site-a", firing: true, start: t0})
		got = append(got, e.tasks()[0].Assignee)
	}
	if fmt.Sprint(got) != "[alice bob alice bob]" {
		t.Fatalf("round robin %v", got)
	}
}

func TestAutoResolveAfterGrace(t *testing.T) {
	e := newEnv(t, "")
	e.deliver(fan, hot)
	e.clk.Add(10 * time.Minute)
	e.deliver(fanDone, hot)
	e.sweep()
	if d := e.only(); d.Task.Cleared() || d.Task.State != task.Open {
		t.Fatal("cleared with one problem firing")
	}
	e.deliver(fanDone, hotDone)
	e.clk.Add(9 * time.Minute)
	if n := e.sweep(); n != 0 {
		t.Fatal("closed before the grace window")
	}
	e.clk.Add(time.Minute)
	if n := e.sweep(); n != 1 {
		t.Fatal("not closed after the grace window")
	}
	if d := e.only(); d.Task.State != task.AutoResolved {
		t.Fatalf("state %s", d.Task.State)
	}
}

func TestClearedWhileWorkedOn(t *testing.T) {
	e := newEnv(t, "")
	e.deliver(fan)
	id := e.tasks()[0].ID
	e.act(id, "alice", Action{Kind: "start"})
	e.deliver(fanDone)
	e.sweep()
	d := e.only()
	if d.Task.State != task.InProgress || !d.Task.Cleared() {
		t.Fatalf("in_progress task must stay, marked cleared: %s %v", d.Task.State, d.Task.Cleared())
	}
	// The report closes it done through verification.
	e.act(id, "alice", Action{Kind: "fixed", Text: "replaced fan 2"})
	e.clk.Add(2 * time.Minute)
	e.verifyWith(nil)
	if d := e.only(); d.Task.State != task.Done {
		t.Fatalf("state %s, want done", d.Task.State)
	}
	// Without a report, the grace window closes it auto_resolved.
	e2 := newEnv(t, "")
	e2.deliver(fan)
	id2 := e2.tasks()[0].ID
	e2.act(id2, "alice", Action{Kind: "ack"})
	e2.deliver(fanDone)
	e2.clk.Add(10 * time.Minute)
	e2.sweep()
	if d := e2.only(); d.Task.State != task.AutoResolved {
		t.Fatalf("state %s, want auto_resolved", d.Task.State)
	}
}

func TestReopenWithinWindowCountsRecurrences(t *testing.T) {
	e := newEnv(t, "")
	e.deliver(fan)
	e.deliver(fanDone)
	e.clk.Add(10 * time.Minute)
	e.sweep()
	for i := 1; i <= 3; i++ {
		e.clk.Add(time.Hour)
		start := e.clk.Now()
		e.deliver(al{name: fan.name, instance: fan.instance, site: fan.site, extra: fan.extra, firing: true, start: start})
		d := e.only()
		if d.Task.State != task.Open || d.Task.Recurrences != i {
			t.Fatalf("round %d: state %s recurrences %d", i, d.Task.State, d.Task.Recurrences)
		}
		e.deliver(al{name: fan.name, instance: fan.instance, site: fan.site, extra: fan.extra, start: start, end: start.Add(time.Minute)})
		e.clk.Add(10 * time.Minute)
		e.sweep()
	}
	if got := testutil.ToFloat64(e.m.Reopened.WithLabelValues(task.ReasonRecurred)); got != 3 {
		t.Fatalf("reopened_total{recurred} = %v", got)
	}
	// Outside the reopen window: a new task.
	e.clk.Add(25 * time.Hour)
	e.deliver(al{name: fan.name, instance: fan.instance, site: fan.site, extra: fan.extra, firing: true, start: e.clk.Now()})
	if len(e.tasks()) != 2 {
		t.Fatalf("%d tasks, want a new one after the reopen window", len(e.tasks()))
	}
	// A firing copy of the same occurrence long after it resolved is the alert back again.
	e3 := newEnv(t, "")
	e3.deliver(fan)
	e3.deliver(fanDone)
	e3.clk.Add(20 * time.Minute)
	e3.sweep()
	e3.deliver(fan)
	if d := e3.only(); d.Task.State != task.Open || d.Task.Recurrences != 1 || !d.Problems[0].Firing {
		t.Fatalf("same occurrence back: %+v", d.Task)
	}
}

func TestCancelledTaskIsNotReopened(t *testing.T) {
	e := newEnv(t, "")
	e.deliver(fan)
	e.deliver(fanDone) // a task whose problems still fire cannot be cancelled
	e.act(e.tasks()[0].ID, "carol", Action{Kind: "cancel", Text: "moved"})
	e.clk.Add(time.Hour)
	e.deliver(al{name: fan.name, instance: fan.instance, site: fan.site, extra: fan.extra, firing: true, start: e.clk.Now()})
	if ts := e.tasks(); len(ts) != 2 || ts[0].State != task.Open || ts[1].State != task.Cancelled {
		t.Fatalf("tasks %+v", ts)
	}
}

func TestEscalation(t *testing.T) {
	e := newEnv(t, "windows: {escalate_after: 30m, escalate_repeat: 15m}\n")
	e.deliver(fan)
	id := e.tasks()[0].ID
	e.clk.Add(29 * time.Minute)
	e.sweep()
	if d := e.only(); d.Task.Escalations != 0 {
		t.Fatal("escalated early")
	}
	e.clk.Add(time.Minute)
	e.sweep()
	d := e.only()
	if d.Task.Escalations != 1 || d.Task.Assignee != "carol" {
		t.Fatalf("escalation: %+v", d.Task)
	}
	e.clk.Add(15 * time.Minute)
	e.sweep()
	if d := e.only(); d.Task.Escalations != 2 || d.Task.Assignee != "alice" {
		t.Fatalf("repeat escalation: %+v", d.Task)
	}
	if got := testutil.ToFloat64(e.m.Escalated); got != 2 {
		t.Fatalf("escalated_total %v", got)
	}
	e.act(id, "alice", Action{Kind: "ack"})
	e.clk.Add(time.Hour)
	e.sweep()
	if d := e.only(); d.Task.Escalations != 2 {
		t.Fatal("acknowledged task escalated")
	}
	escalated := 0
	for _, ev := range e.only().Events {
		if ev.Kind == task.KindEscalated {
			escalated++
		}
	}
	if escalated != 2 {
		t.Fatalf("%d escalated events in the history, want 2", escalated)
	}
	msgs, _ := e.st.Pending(e.ctx, e.clk.Now(), 100)
	if len(msgs) != 3 || msgs[1].To != "carol" {
		t.Fatalf("escalation notifications %+v", msgs)
	}
}

func TestInvalidActions(t *testing.T) {
	e := newEnv(t, "")
	e.deliver(fan)
	id := e.tasks()[0].ID
	for _, tc := range []struct {
		a    Action
		want error
	}{
		{Action{Kind: "fixed", Text: "x"}, task.ErrInvalidTransition},
		{Action{Kind: "bogus"}, task.ErrInvalidInput},
		{Action{Kind: "assign"}, task.ErrInvalidInput},
	} {
		if _, err := e.svc.Act(e.ctx, id, "alice", tc.a); !errorsIs(err, tc.want) {
			t.Errorf("%+v: %v, want %v", tc.a, err, tc.want)
		}
	}
	if _, err := e.svc.Act(e.ctx, 9999, "alice", Action{Kind: "ack"}); !errorsIs(err, task.ErrNotFound) {
		t.Errorf("missing task: %v", err)
	}
	if got := testutil.ToFloat64(e.m.StoreErrors.WithLabelValues("act")); got != 0 {
		t.Fatalf("refused actions counted as store errors: %v", got)
	}
}

func TestParallelDuplicateDeliveriesMakeOneTask(t *testing.T) {
	e := newEnv(t, "")
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := &alert.Message{Version: "4", Data: template.Data{Alerts: template.Alerts{fan.tmpl(), hot.tmpl()}}}
			if _, err := e.svc.Ingest(e.ctx, e.keyer.Events(m)); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if d := e.only(); len(d.Problems) != 2 {
		t.Fatalf("%d problems", len(d.Problems))
	}
}

func TestRestartKeepsEverything(t *testing.T) {
	e := newEnv(t, "")
	e.deliver(fan, hot)
	m := &alert.Message{Version: "4", Data: template.Data{Alerts: template.Alerts{{Status: "firing", Labels: template.KV{"alertname": "Watchdog"}, StartsAt: t0}}}}
	if _, err := e.svc.Ingest(e.ctx, e.keyer.Events(m)); err != nil {
		t.Fatal(err)
	}
	id := e.tasks()[0].ID
	e.act(id, "alice", Action{Kind: "start"})
	e.act(id, "alice", Action{Kind: "note", Text: "fan ordered"})
	before := e.only()
	e.st.Close()
	e.open()
	after := e.only()
	if fmt.Sprintf("%+v", before) != fmt.Sprintf("%+v", after) {
		t.Fatalf("state changed across restart:\n%+v\n%+v", before, after)
	}
	if err := e.svc.LoadWatchdog(e.ctx); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(e.m.Watchdog); got != float64(t0.Unix()) {
		t.Fatalf("watchdog after restart %v", got)
	}
	// Duplicates after the restart are still duplicates.
	if sum := e.deliver(fan, hot); sum.Duplicates != 2 {
		t.Fatalf("summary after restart %+v", sum)
	}
}

// A big delivery is stored in chunks, each its own transaction, so that a worker's action gets
// the writer between two of them; the delivery succeeds only once every chunk is committed, and
// one that failed half-way is safe to send again: what was stored is a no-op the second time.
func TestBigDeliveryInChunksIsSafeToRetry(t *testing.T) {
	e := newEnv(t, "")
	e.svc.chunk = 100
	var alerts []al
	for i := range 250 {
		alerts = append(alerts, al{name: "MinerFanFailure", instance: fmt.Sprintf("10.4.%d.%d", i/200, i%200), site: "site-a", firing: true, start: t0})
	}
	alerts = append(alerts, al{name: "MinerFanFailure", instance: "10.4.0.0", site: "site-a", start: t0, end: t0.Add(time.Minute)})
	first := e.deliver(al{name: "MinerFanFailure", instance: "10.4.9.9", site: "site-a", firing: true, start: t0})
	worker := e.tasks()[0].ID
	if first.Created != 1 {
		t.Fatal(first)
	}

	// Between the first and the second chunk a worker acknowledges a task (it does not wait for
	// the whole delivery), then the delivery's context ends (Alertmanager gave up, the process
	// died): the first chunk stays stored, the rest is not, and the webhook got no 2xx.
	ctx, cancel := context.WithCancel(e.ctx)
	e.svc.chunkHook = func(i int) {
		if i == 0 {
			if _, err := e.svc.Act(e.ctx, worker, "alice", Action{Kind: "ack"}); err != nil {
				t.Error(err)
			}
			cancel()
		}
	}
	_, err := e.svc.Ingest(ctx, e.keyer.Events(message(alerts)))
	if err == nil {
		t.Fatal("a delivery cut after its first chunk reported success")
	}
	if n := len(e.tasks()); n != 101 {
		t.Fatalf("%d tasks after the first chunk, want 101", n)
	}
	if d, _ := e.st.Detail(e.ctx, worker, store.DetailQuery{}); d.Task.State != task.Acknowledged {
		t.Fatalf("the worker's action between chunks: %s", d.Task.State)
	}
	// Alertmanager sends it again.
	e.svc.chunkHook = nil
	e.clk.Add(10 * time.Second)
	sum := e.deliver(alerts...)
	if sum.Created != 150 || sum.Duplicates != 100 || sum.Cleared != 1 {
		t.Fatalf("retry: %+v; want 150 created, 100 duplicates, 1 cleared", sum)
	}
	ts := e.tasks()
	if len(ts) != 251 {
		t.Fatalf("%d tasks, want 251", len(ts))
	}
	cleared := 0
	for _, tk := range ts {
		ps, _ := e.st.Problems(e.ctx, tk.ID)
		if len(ps) != 1 {
			t.Fatalf("task %d has %d problems", tk.ID, len(ps))
		}
		if tk.Cleared() {
			cleared++
		}
	}
	if cleared != 1 || testutil.ToFloat64(e.m.Created) != 251 {
		t.Fatalf("%d cleared, created counter %v", cleared, testutil.ToFloat64(e.m.Created))
	}
}

func message(alerts []al) *alert.Message {
	m := &alert.Message{Version: "4"}
	for _, a := range alerts {
		m.Alerts = append(m.Alerts, a.tmpl())
	}
	return m
}

// While a worker's action waits, the intake commits after IngestYield alerts instead of filling
// its chunk, and stands aside.
func TestIntakeYieldsToAWaitingAction(t *testing.T) {
	e := newEnv(t, "")
	var alerts []al
	for i := range 4 * IngestYield {
		alerts = append(alerts, al{name: "MinerFanFailure", instance: fmt.Sprintf("10.5.0.%d", i), site: "site-a", firing: true, start: t0})
	}
	chunks := 0
	e.svc.chunkHook = func(int) { chunks++ }
	e.svc.acting.Add(1) // as Act does while it waits for the store
	sum := e.deliver(alerts...)
	e.svc.acting.Add(-1)
	if chunks != 4 || sum.Created != 4*IngestYield {
		t.Fatalf("%d chunks, %d created; want 4 chunks of %d", chunks, sum.Created, IngestYield)
	}
	chunks = 0
	for i := range alerts {
		alerts[i].instance = fmt.Sprintf("10.5.1.%d", i)
	}
	e.deliver(alerts...)
	if chunks != 1 {
		t.Fatalf("%d chunks with nobody waiting, want 1", chunks)
	}
}

// TestWatchdogSeenByEveryReplica: replicas share one store, and Alertmanager's Watchdog reaches
// only the replica it is sent to; every replica's gauge shows the last arrival the store holds, so
// that RepairPipelineBroken does not fire for the replicas the Watchdog did not go through.
func TestWatchdogSeenByEveryReplica(t *testing.T) {
	a := newEnv(t, "")
	b := &env{t: t, cfg: a.cfg, clk: a.clk, file: a.file, ctx: a.ctx}
	b.open() // a second receiver on the same database
	reg := prometheus.NewRegistry()
	b.m = NewMetrics(reg, b.st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	m := &alert.Message{Version: "4", Data: template.Data{Alerts: template.Alerts{{Status: "firing", Labels: template.KV{"alertname": "Watchdog"}, StartsAt: t0}}}}
	if _, err := a.svc.Ingest(a.ctx, a.keyer.Events(m)); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`
# HELP repair_receiver_watchdog_last_seen_timestamp_seconds When the Watchdog alert last arrived (unix seconds; 0 = never).
# TYPE repair_receiver_watchdog_last_seen_timestamp_seconds gauge
repair_receiver_watchdog_last_seen_timestamp_seconds %d
`, t0.Unix())
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "repair_receiver_watchdog_last_seen_timestamp_seconds"); err != nil {
		t.Fatalf("the replica the Watchdog did not reach: %v", err)
	}
}
