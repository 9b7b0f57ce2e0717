package repair

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/minefarm/cgminer-stack/receiver/config"
	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/task"
	"github.com/minefarm/cgminer-stack/receiver/verify"
)

// fakeProm answers /api/v1/query like Prometheus: the ALERTS series set by the test, and the
// evidence queries of the default configuration (the Watchdog in ALERTS, cgminer_up of a miner)
// as a Prometheus that evaluates the rules and scrapes every miner would, unless told otherwise.
type fakeProm struct {
	mu       sync.Mutex
	series   []map[string]string // what ALERTS queries select
	queries  []string            // the ALERTS queries asked
	evidence []string            // the evidence queries asked, with "@time" when one was given
	fail     bool
	// failTarget: only the target evidence queries fail.
	failTarget bool
	// blind: no Watchdog and no cgminer_up at all (a new, wrong or data-less Prometheus).
	blind bool
	// unseen: miners (instance) it has no cgminer_up for.
	unseen map[string]bool
	// born: evidence asked about an earlier time is empty (a Prometheus started then).
	born time.Time
}

var instanceRe = regexp.MustCompile(`instance="([^"]*)"`)

func (f *fakeProm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Path != "/api/v1/query" {
		http.NotFound(w, r)
		return
	}
	q, at := r.FormValue("query"), r.FormValue("time")
	var res []map[string]string
	before := false
	if at != "" {
		sec, err := strconv.ParseFloat(at, 64)
		if err != nil {
			http.Error(w, "bad time", http.StatusBadRequest)
			return
		}
		before = !f.born.IsZero() && time.UnixMilli(int64(sec*1000)).Before(f.born)
	}
	switch {
	case strings.Contains(q, `alertname="Watchdog"`):
		f.evidence = append(f.evidence, q+"@"+at)
		if !f.blind && !before {
			res = []map[string]string{{"__name__": "ALERTS", "alertname": "Watchdog", "alertstate": "firing", "severity": "info"}}
		}
	case strings.HasPrefix(q, "cgminer_up"):
		f.evidence = append(f.evidence, q+"@"+at)
		m := instanceRe.FindStringSubmatch(q)
		if !f.blind && !before && (m == nil || !f.unseen[m[1]]) {
			res = []map[string]string{{"__name__": "cgminer_up", "job": "cgminer"}}
		}
	default:
		f.queries = append(f.queries, q)
		res = f.series
	}
	if f.fail || (f.failTarget && strings.HasPrefix(q, "cgminer_up")) {
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(map[string]any{"status": "error", "errorType": "unavailable", "error": "overloaded"})
		return
	}
	out := []map[string]any{}
	for _, s := range res {
		out = append(out, map[string]any{"metric": s, "value": []any{1.7e9, "1"}})
	}
	json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": map[string]any{"resultType": "vector", "result": out}})
}

// asked returns the ALERTS queries asked so far.
func (f *fakeProm) asked() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.queries)
}

func (f *fakeProm) set(fn func(f *fakeProm)) {
	f.mu.Lock()
	fn(f)
	f.mu.Unlock()
}

func (e *env) loop(q verify.Querier) *verify.Loop {
	l := &verify.Loop{Svc: e.svc, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Config: func() *config.Config { return e.cfg },
		Now: e.clk.Now, Metrics: e.vm}
	if q != nil {
		l.Querier = q
	}
	return l
}

func (e *env) verifyWith(q verify.Querier) {
	e.t.Helper()
	l := e.loop(q)
	if _, err := l.Once(e.ctx); err != nil {
		e.t.Fatal(err)
	}
}

func TestVerificationAgainstPrometheus(t *testing.T) {
	e := newEnv(t, "")
	prom := &fakeProm{series: []map[string]string{{"__name__": "ALERTS", "alertname": "MinerFanFailure", "alertstate": "firing",
		"instance": "10.1.0.7", "site": "site-a", "severity": "critical", "category": "fan"}}}
	srv := httptest.NewServer(prom)
	defer srv.Close()
	q := &verify.Prometheus{URL: srv.URL}

	e.deliver(fan)
	id := e.tasks()[0].ID
	e.act(id, "alice", Action{Kind: "ack"})
	e.act(id, "alice", Action{Kind: "fixed", Text: "reseated the fan connector"})
	// Alertmanager says resolved, but Prometheus still shows it firing.
	e.deliver(fanDone)
	e.clk.Add(time.Minute)
	e.verifyWith(q)
	if len(prom.queries) != 0 {
		t.Fatal("queried before the settle time")
	}
	e.clk.Add(time.Minute)
	e.verifyWith(q)
	if d := e.only(); d.Task.State != task.Verifying {
		t.Fatalf("decided inside the verification window: %s", d.Task.State)
	}
	want := `ALERTS{alertstate="firing",instance="10.1.0.7",alertname=~"MinerFanFailure"}`
	if prom.queries[0] != want {
		t.Fatalf("query %s, want %s", prom.queries[0], want)
	}
	e.clk.Add(13 * time.Minute)
	e.verifyWith(q)
	d := e.only()
	if d.Task.State != task.Acknowledged || d.Task.FailedRepairs != 1 || d.Task.Assignee != "alice" || !strings.Contains(d.Task.Reason, "MinerFanFailure") {
		t.Fatalf("failed repair: %+v", d.Task)
	}
	msgs, _ := e.st.Pending(e.ctx, e.clk.Now(), 100)
	if last := msgs[len(msgs)-1]; last.To != "alice" || !strings.Contains(last.Text, "NOT fixed") {
		t.Fatalf("assignee not prompted again: %+v", last)
	}
	if testutil.ToFloat64(e.m.Verifications.WithLabelValues("failed")) != 1 || testutil.ToFloat64(e.m.Reopened.WithLabelValues(task.ReasonVerificationFailed)) != 1 {
		t.Fatal("failed verification not counted")
	}

	// Second attempt: Prometheus is down at first (an error, no decision), then clear.
	e.act(id, "alice", Action{Kind: "fixed", Text: "replaced the fan"})
	prom.mu.Lock()
	prom.fail = true
	prom.mu.Unlock()
	e.clk.Add(3 * time.Minute)
	e.verifyWith(q)
	if d := e.only(); d.Task.State != task.Verifying || testutil.ToFloat64(e.m.Verifications.WithLabelValues("error")) != 1 {
		t.Fatalf("prometheus error: state %s", d.Task.State)
	}
	prom.mu.Lock()
	prom.fail, prom.series = false, []map[string]string{{"alertname": "MinerFanFailure", "alertstate": "firing", "instance": "10.1.0.7", "fan": "9"}}
	prom.mu.Unlock()
	e.clk.Add(time.Minute)
	e.verifyWith(q) // a different fan firing is not this problem
	if d := e.only(); d.Task.State != task.Done {
		t.Fatalf("state %s, want done", d.Task.State)
	}
	if testutil.ToFloat64(e.m.Verifications.WithLabelValues("confirmed")) != 1 {
		t.Fatal("confirmation not counted")
	}
	if n := testutil.CollectAndCount(e.m.TimeToRepair); n != 1 {
		t.Fatalf("time to repair not observed")
	}
}

func TestVerificationConfirmsProblemWithoutResolve(t *testing.T) {
	// send_resolved false (or a silence): no resolve ever arrives; Prometheus decides.
	e := newEnv(t, "")
	srv := httptest.NewServer(&fakeProm{})
	defer srv.Close()
	e.deliver(fan)
	id := e.tasks()[0].ID
	e.act(id, "bob", Action{Kind: "start"})
	e.act(id, "bob", Action{Kind: "fixed", Text: "new PSU"})
	e.clk.Add(2 * time.Minute)
	e.verifyWith(&verify.Prometheus{URL: srv.URL})
	d := e.only()
	if d.Task.State != task.Done || d.Problems[0].Firing || d.Task.Assignee != "bob" {
		t.Fatalf("task %+v problems %+v", d.Task, d.Problems)
	}
}

func TestSelectorAndFiring(t *testing.T) {
	tk := task.Task{Identity: map[string]string{"instance": `10.0.0.1"x`}}
	ps := []task.Problem{{Alertname: "A.B"}, {Alertname: "C"}}
	if got := verify.Selector(tk, ps); got != `ALERTS{alertstate="firing",instance="10.0.0.1\"x",alertname=~"A\\.B|C"}` {
		t.Fatalf("selector %s", got)
	}
	probs := []task.Problem{{Key: "k1", Alertname: "Fan", Labels: map[string]string{"fan": "1", "severity": "warning"}}}
	for _, tc := range []struct {
		series map[string]string
		want   bool
	}{
		{map[string]string{"alertname": "Fan", "fan": "1"}, true},
		{map[string]string{"alertname": "Fan", "fan": "1", "severity": "critical"}, true}, // volatile
		{map[string]string{"alertname": "Fan", "fan": "2"}, false},
		{map[string]string{"alertname": "Hot", "fan": "1"}, false},
		{map[string]string{"alertname": "Fan"}, true}, // label only on one side does not count
	} {
		if got := verify.Firing(probs, []map[string]string{tc.series}, []string{"severity"})["k1"]; got != tc.want {
			t.Errorf("%v: %v, want %v", tc.series, got, tc.want)
		}
	}
}

// A silenced or inhibited alert never sends its resolved notification: a quiet task is checked
// against Prometheus, and a problem absent from ALERTS (firing or pending) for 10 minutes clears.
func TestReconcileClearsWhatAlertmanagerNeverResolved(t *testing.T) {
	e := newEnv(t, "")
	prom := &fakeProm{series: []map[string]string{{"__name__": "ALERTS", "alertname": "MinerFanFailure", "alertstate": "pending",
		"instance": "10.1.0.7", "site": "site-a", "severity": "critical", "category": "fan"}}}
	srv := httptest.NewServer(prom)
	defer srv.Close()
	l := e.loop(&verify.Prometheus{URL: srv.URL})
	reconcile := func() int {
		n, err := l.Reconcile(e.ctx, e.svc, 30*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	e.deliver(fan)
	if n := reconcile(); n != 0 || len(prom.queries) != 0 {
		t.Fatalf("a task that changed just now was reconciled (%d, %v)", n, prom.queries)
	}
	e.clk.Add(31 * time.Minute)
	// Still in ALERTS (pending counts: the alert is back): nothing clears.
	if n := reconcile(); n != 0 {
		t.Fatalf("cleared %d problems Prometheus still shows", n)
	}
	want := `last_over_time(ALERTS{instance="10.1.0.7",alertname=~"MinerFanFailure"}[10m])`
	if prom.queries[0] != want {
		t.Fatalf("query %s, want %s", prom.queries[0], want)
	}
	// Prometheus down: an error decides nothing.
	prom.set(func(f *fakeProm) { f.fail = true })
	if n, err := l.Reconcile(e.ctx, e.svc, 30*time.Minute); n != 0 || err == nil {
		t.Fatalf("Prometheus down: cleared %d, err %v; want 0 and an error", n, err)
	}
	// Gone from ALERTS: cleared as a resolved notification would have; the grace then closes it.
	prom.mu.Lock()
	prom.fail, prom.series = false, nil
	prom.mu.Unlock()
	if n := reconcile(); n != 1 {
		t.Fatalf("cleared %d problems, want 1", n)
	}
	d := e.only()
	if !d.Task.Cleared() || d.Problems[0].Firing {
		t.Fatalf("task not cleared: %+v", d.Task)
	}
	e.clk.Add(11 * time.Minute)
	e.sweep()
	if d := e.only(); d.Task.State != task.AutoResolved {
		t.Fatalf("state %s, want auto_resolved after the grace", d.Task.State)
	}
}

// An empty answer from Prometheus (new, wrong URL, lost data, a machine it does not scrape)
// is no evidence that anything cleared: reconciliation clears only when the Watchdog shows that
// this Prometheus evaluated the rules over the whole window and the machine's cgminer_up shows
// that it sees the machine, now and at the window's start.
func TestReconcileNeedsPositiveEvidence(t *testing.T) {
	other := al{name: "MinerFanFailure", instance: "10.1.0.8", site: "site-a", firing: true, start: t0, extra: map[string]string{"fan": "1"}}
	for _, tc := range []struct {
		name     string
		prom     *fakeProm
		cleared  int
		pass     string
		noTarget float64
	}{
		{"new, wrong or data-less Prometheus: empty answers clear nothing", &fakeProm{blind: true}, 0, "no_rules_evidence", 0},
		{"Prometheus started 3 minutes ago: no evidence for the whole window", &fakeProm{born: t0.Add(28 * time.Minute)}, 0, "no_rules_evidence", 0},
		{"a machine it does not scrape keeps its problems; the others clear", &fakeProm{unseen: map[string]bool{"10.1.0.7": true}}, 1, "complete", 1},
		{"evidence holds: both clear", &fakeProm{}, 2, "complete", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, "")
			prom := tc.prom
			srv := httptest.NewServer(prom)
			defer srv.Close()
			e.deliver(fan, other)
			e.clk.Add(31 * time.Minute)
			n, err := e.loop(&verify.Prometheus{URL: srv.URL}).Reconcile(e.ctx, e.svc, 30*time.Minute)
			if err != nil || n != tc.cleared {
				t.Fatalf("cleared %d (%v), want %d", n, err, tc.cleared)
			}
			if got := testutil.ToFloat64(e.vm.Passes.WithLabelValues(tc.pass)); got != 1 {
				t.Fatalf("passes{result=%q} = %v, want 1", tc.pass, got)
			}
			if got := testutil.ToFloat64(e.vm.Tasks.WithLabelValues("no_evidence")); got != tc.noTarget {
				t.Fatalf("reconciliations{no_evidence} = %v, want %v", got, tc.noTarget)
			}
			if tc.pass == "no_rules_evidence" && len(prom.queries) != 0 {
				t.Fatalf("asked ALERTS without evidence: %v", prom.queries)
			}
			for _, tk := range e.tasks() {
				d, _ := e.st.Detail(e.ctx, tk.ID, store.DetailQuery{})
				if tc.prom.unseen[tk.Identity["instance"]] && !d.Problems[0].Firing {
					t.Fatalf("cleared %s, which Prometheus does not see", tk.Machine)
				}
			}
			if tc.cleared > 0 {
				since := strconv.FormatFloat(float64(t0.Add(21*time.Minute).UnixMilli())/1000, 'f', 3, 64)
				for _, want := range []string{`ALERTS{alertname="Watchdog",alertstate="firing"}@`, `ALERTS{alertname="Watchdog",alertstate="firing"}@` + since,
					`cgminer_up{job="cgminer",instance="10.1.0.8"} == 1@`, `cgminer_up{job="cgminer",instance="10.1.0.8"} == 1@` + since} {
					if !slices.Contains(prom.evidence, want) {
						t.Fatalf("evidence query %q not asked; asked %q", want, prom.evidence)
					}
				}
			}
		})
	}
}

// A pass looks at reconcile.max_tasks tasks at most, a page at a time, and the next pass goes on
// after the last one; at the end it starts again from the first.
func TestReconcilePagesThroughTasks(t *testing.T) {
	e := newEnv(t, "reconcile: {max_tasks: 10}\n")
	var alerts []al
	for i := range 25 {
		alerts = append(alerts, al{name: "MinerFanFailure", instance: fmt.Sprintf("10.2.0.%d", i), site: "site-a", firing: true, start: t0})
	}
	e.deliver(alerts...)
	// Everything still firing in ALERTS: nothing clears, every task is looked at.
	prom := &fakeProm{series: []map[string]string{{"alertname": "MinerFanFailure", "alertstate": "firing"}}}
	srv := httptest.NewServer(prom)
	defer srv.Close()
	l := e.loop(&verify.Prometheus{URL: srv.URL})
	e.clk.Add(31 * time.Minute)
	var passes [][]string
	for range 4 {
		prom.set(func(f *fakeProm) { f.queries = nil })
		if _, err := l.Reconcile(e.ctx, e.svc, 30*time.Minute); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, q := range prom.queries {
			got = append(got, instanceRe.FindStringSubmatch(q)[1])
		}
		passes = append(passes, got)
	}
	for i, want := range []struct {
		n           int
		first, last string
	}{{10, "10.2.0.0", "10.2.0.9"}, {10, "10.2.0.10", "10.2.0.19"}, {5, "10.2.0.20", "10.2.0.24"}, {10, "10.2.0.0", "10.2.0.9"}} {
		p := passes[i]
		if len(p) != want.n || p[0] != want.first || p[len(p)-1] != want.last {
			t.Fatalf("pass %d looked at %v; want %d tasks %s … %s", i+1, p, want.n, want.first, want.last)
		}
	}
	if p, c := testutil.ToFloat64(e.vm.Passes.WithLabelValues("partial")), testutil.ToFloat64(e.vm.Passes.WithLabelValues("complete")); p != 3 || c != 1 {
		t.Fatalf("passes: %v partial, %v complete; want 3 and 1", p, c)
	}
	if got := testutil.ToFloat64(e.vm.Tasks.WithLabelValues("still_firing")); got != 35 {
		t.Fatalf("still_firing %v, want 35", got)
	}
}

// slowProm makes every answer take a while, so that the pass's time budget runs out.
type slowProm struct {
	*fakeProm
	delay time.Duration
}

func (s slowProm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	time.Sleep(s.delay)
	s.fakeProm.ServeHTTP(w, r)
}

func TestReconcileStopsAtItsBudget(t *testing.T) {
	e := newEnv(t, "reconcile: {budget: 400ms}\n")
	var alerts []al
	for i := range 25 {
		alerts = append(alerts, al{name: "MinerFanFailure", instance: fmt.Sprintf("10.3.0.%d", i), site: "site-a", firing: true, start: t0})
	}
	e.deliver(alerts...)
	prom := &fakeProm{series: []map[string]string{{"alertname": "MinerFanFailure", "alertstate": "firing"}}}
	srv := httptest.NewServer(slowProm{prom, 40 * time.Millisecond})
	defer srv.Close()
	l := e.loop(&verify.Prometheus{URL: srv.URL})
	e.clk.Add(31 * time.Minute)
	if _, err := l.Reconcile(e.ctx, e.svc, 30*time.Minute); err != nil {
		t.Fatal(err)
	}
	first := len(prom.asked())
	if first >= 25 || testutil.ToFloat64(e.vm.Passes.WithLabelValues("partial")) != 1 {
		t.Fatalf("a pass of 400 ms with 40 ms answers looked at %d of 25 tasks; want a partial pass", first)
	}
	if _, err := l.Reconcile(e.ctx, e.svc, 30*time.Minute); err != nil {
		t.Fatal(err)
	}
	if q := prom.asked(); len(q) > first {
		// It goes on after the last task the first pass finished (the one whose answer the
		// budget cut, if any, is looked at again), never from the start.
		next := instanceRe.FindStringSubmatch(q[first])[1]
		if a, b := fmt.Sprintf("10.3.0.%d", first), fmt.Sprintf("10.3.0.%d", first-1); next != a && next != b {
			t.Fatalf("the second pass started at %s, want %s or %s (where the first pass stopped)", next, b, a)
		}
	}
}

// Verification confirms a repair only with positive evidence that Prometheus sees the machine
// now; without it nothing is decided, and when the window ends the task goes back to its worker
// as unconfirmed (not as a failed repair).
func TestVerificationNeedsPositiveEvidence(t *testing.T) {
	for _, tc := range []struct {
		name string
		prom *fakeProm
		want task.State
	}{
		{"new, wrong or data-less Prometheus", &fakeProm{blind: true}, task.Acknowledged},
		{"Prometheus does not scrape the machine", &fakeProm{unseen: map[string]bool{"10.1.0.7": true}}, task.Acknowledged},
		{"Prometheus sees the machine: confirmed", &fakeProm{}, task.Done},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, "")
			srv := httptest.NewServer(tc.prom)
			defer srv.Close()
			q := &verify.Prometheus{URL: srv.URL}
			e.deliver(fan)
			id := e.tasks()[0].ID
			e.act(id, "bob", Action{Kind: "start"})
			e.act(id, "bob", Action{Kind: "fixed", Text: "new fan"})
			e.clk.Add(3 * time.Minute)
			e.verifyWith(q)
			if tc.want == task.Done {
				if d := e.only(); d.Task.State != task.Done {
					t.Fatalf("state %s, want done", d.Task.State)
				}
				return
			}
			if d := e.only(); d.Task.State != task.Verifying || !d.Problems[0].Firing {
				t.Fatalf("decided on an empty answer without evidence: %s", d.Task.State)
			}
			if got := testutil.ToFloat64(e.m.Verifications.WithLabelValues("no_evidence")); got != 1 {
				t.Fatalf("no_evidence %v", got)
			}
			e.clk.Add(12 * time.Minute)
			e.verifyWith(q)
			d := e.only()
			if d.Task.State != tc.want || d.Task.FailedRepairs != 0 || d.Task.Assignee != "bob" || !strings.Contains(d.Task.Reason, "does not see") {
				t.Fatalf("after the window: %+v", d.Task)
			}
			if got := testutil.ToFloat64(e.m.Verifications.WithLabelValues("unconfirmed")); got != 1 {
				t.Fatalf("unconfirmed %v", got)
			}
			msgs, _ := e.st.Pending(e.ctx, e.clk.Now(), 100)
			if last := msgs[len(msgs)-1]; last.To != "bob" || !strings.Contains(last.Text, "cannot be confirmed") {
				t.Fatalf("worker not told: %+v", last)
			}
		})
	}
}

// A Prometheus that fails every task's query ends the pass after a few, not one error per task.
func TestReconcileGivesUpAfterFailuresInARow(t *testing.T) {
	e := newEnv(t, "")
	var alerts []al
	for i := range 20 {
		alerts = append(alerts, al{name: "MinerFanFailure", instance: fmt.Sprintf("10.6.0.%d", i), site: "site-a", firing: true, start: t0})
	}
	e.deliver(alerts...)
	prom := &fakeProm{failTarget: true}
	srv := httptest.NewServer(prom)
	defer srv.Close()
	e.clk.Add(31 * time.Minute)
	n, err := e.loop(&verify.Prometheus{URL: srv.URL}).Reconcile(e.ctx, e.svc, 30*time.Minute)
	if n != 0 || err == nil {
		t.Fatalf("cleared %d, err %v", n, err)
	}
	if got := testutil.ToFloat64(e.vm.Tasks.WithLabelValues("error")); got != 5 {
		t.Fatalf("%v task errors, want the pass to stop after 5", got)
	}
	if got := testutil.ToFloat64(e.vm.Passes.WithLabelValues("error")); got != 1 {
		t.Fatalf("passes{error} = %v", got)
	}
}
