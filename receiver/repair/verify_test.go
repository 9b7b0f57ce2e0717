package repair

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/minefarm/cgminer-stack/receiver/task"
	"github.com/minefarm/cgminer-stack/receiver/verify"
)

// fakeProm answers /api/v1/query like Prometheus, with the ALERTS series set by the test.
type fakeProm struct {
	mu      sync.Mutex
	series  []map[string]string
	queries []string
	fail    bool
}

func (f *fakeProm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Path != "/api/v1/query" {
		http.NotFound(w, r)
		return
	}
	f.queries = append(f.queries, r.FormValue("query"))
	if f.fail {
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(map[string]any{"status": "error", "errorType": "unavailable", "error": "overloaded"})
		return
	}
	res := []map[string]any{}
	for _, s := range f.series {
		res = append(res, map[string]any{"metric": s, "value": []any{1.7e9, "1"}})
	}
	json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": map[string]any{"resultType": "vector", "result": res}})
}

func (e *env) verifyWith(q verify.Querier) {
	e.t.Helper()
	l := &verify.Loop{Svc: e.svc, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Volatile: func() []string { return e.cfg.VolatileLabels }}
	if q != nil {
		l.Querier = q
	}
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
	l := &verify.Loop{Svc: e.svc, Querier: &verify.Prometheus{URL: srv.URL}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Volatile: func() []string { return e.cfg.VolatileLabels }}
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
	prom.mu.Lock()
	prom.fail = true
	prom.mu.Unlock()
	if n := reconcile(); n != 0 {
		t.Fatal("cleared on a Prometheus error")
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
