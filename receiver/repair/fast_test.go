package repair

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.yaml.in/yaml/v3"

	"github.com/minefarm/cgminer-stack/receiver/alert"
	"github.com/minefarm/cgminer-stack/receiver/task"
	"github.com/minefarm/cgminer-stack/receiver/verify"
)

// ruleAnnotations reads an alert's annotations from the repository's rules, as Prometheus sends
// them for verify_expr and verify_after (Prometheus leaves their ${label} placeholders alone; a
// test in rules/ holds promtool to that).
func ruleAnnotations(t *testing.T, alertname string) map[string]string {
	t.Helper()
	b, err := os.ReadFile("../../rules/cgminer.alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert == alertname {
				if strings.Contains(r.Annotations["verify_expr"], "{{") {
					t.Fatalf("%s: verify_expr is a Prometheus template; the test sends it as written", alertname)
				}
				return map[string]string{"summary": alertname, "runbook_url": r.Annotations["runbook_url"],
					"verify_expr": r.Annotations["verify_expr"], "verify_after": r.Annotations["verify_after"]}
			}
		}
	}
	t.Fatalf("no rule for %s", alertname)
	return nil
}

// condProm speaks Prometheus's query API with exact answers: the evidence queries, ALERTS for the
// task's alert, and the alert's rendered condition. Any other question fails the test.
type condProm struct {
	t       *testing.T
	mu      sync.Mutex
	alerts  []map[string]string            // what ALERTS answers
	answers map[string][]map[string]string // rendered verify_expr → its series
	asked   []string
}

func (p *condProm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	q := r.FormValue("query")
	p.asked = append(p.asked, q)
	var res []map[string]string
	switch {
	case q == `ALERTS{alertname="Watchdog",alertstate="firing"}`:
		res = []map[string]string{{"__name__": "ALERTS", "alertname": "Watchdog"}}
	case q == `cgminer_up{job="cgminer",instance="10.1.0.7"} == 1`:
		res = []map[string]string{{"__name__": "cgminer_up", "instance": "10.1.0.7", "job": "cgminer"}}
	case strings.HasPrefix(q, "ALERTS{"):
		res = p.alerts
	default:
		a, ok := p.answers[q]
		if !ok {
			p.t.Errorf("unexpected query %s", q)
		}
		res = a
	}
	out := []map[string]any{}
	for _, s := range res {
		out = append(out, map[string]any{"metric": s, "value": []any{1.7e9, "0"}})
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": map[string]any{"resultType": "vector", "result": out}})
}

// TestFailedRepairBackWithinThreeMinutes: for every instant-condition alert (offline, fan, board
// dead, temperature, pool), a repair reported while the fault persists goes back to the
// technician at the first verification pass after settle (2m), well within 3 minutes, though the
// verification window is 15 minutes: the alert still fires and its condition (the rule's own
// verify_expr, rendered with the alert's labels) still selects the machine's part. The same task
// stays verifying when the condition no longer holds (the alert is about to clear) or holds
// only for another part, and closes done once ALERTS is empty.
func TestFailedRepairBackWithinThreeMinutes(t *testing.T) {
	base := map[string]string{"instance": "10.1.0.7", "job": "cgminer", "site": "site-a", "rack": "rack-2"}
	for _, tc := range []struct {
		alertname, category, severity string
		labels                        map[string]string // besides base
		other                         map[string]string // the same alert on another part
		phrase                        string
	}{
		{"MinerOffline", "offline", "warning", nil, nil, "offline"},
		{"MinerFanFailure", "fan", "warning", map[string]string{"fan": "1", "reason": "stopped"}, map[string]string{"fan": "2", "reason": "stopped"}, "fan 1 stopped"},
		{"MinerHashboardFailed", "hashboard", "warning", map[string]string{"board": "2", "reason": "no_hashrate"}, map[string]string{"board": "2", "reason": "chips_failed"}, "board 2 dead"},
		{"MinerTemperatureHigh", "temperature", "warning", map[string]string{"board": "1", "sensor": "chip"}, map[string]string{"board": "0", "sensor": "chip"}, "board 1 chip hot"},
		{"MinerTemperatureCritical", "temperature", "critical", map[string]string{"board": "1", "sensor": "pcb"}, map[string]string{"board": "1", "sensor": "chip"}, "board 1 pcb dangerously hot"},
		{"MinerPoolDown", "pool", "warning", nil, nil, "no pool alive"},
		{"MinerPoolMisconfigured", "pool", "critical", map[string]string{"pool": "0", "url": "stratum+tcp://evil.example:3333", "user": "devfee.thief"},
			map[string]string{"pool": "1", "url": "stratum+tcp://evil.example:3333", "user": "devfee.thief"}, "mining on a foreign pool"},
	} {
		t.Run(tc.alertname, func(t *testing.T) {
			e := newEnv(t, "")
			labels := map[string]string{"alertname": tc.alertname, "category": tc.category, "severity": tc.severity}
			for k, v := range base {
				labels[k] = v
			}
			for k, v := range tc.labels {
				labels[k] = v
			}
			ann := ruleAnnotations(t, tc.alertname)
			if ann["verify_after"] != "" {
				t.Fatalf("%s is an instant-condition alert but has verify_after %q", tc.alertname, ann["verify_after"])
			}
			cond, err := verify.RenderExpr(ann["verify_expr"], labels)
			if err != nil {
				t.Fatal(err)
			}
			// What the condition selects: the metric's series (no alertname, severity, category).
			series := func(part map[string]string) []map[string]string {
				s := map[string]string{"__name__": "x"}
				for k, v := range base {
					s[k] = v
				}
				for k, v := range part {
					s[k] = v
				}
				return []map[string]string{s}
			}
			alertsSeries := map[string]string{"__name__": "ALERTS", "alertstate": "firing"}
			for k, v := range labels {
				alertsSeries[k] = v
			}
			prom := &condProm{t: t, alerts: []map[string]string{alertsSeries}, answers: map[string][]map[string]string{cond: series(tc.labels)}}
			srv := httptest.NewServer(prom)
			defer srv.Close()
			q := &verify.Prometheus{URL: srv.URL}

			deliver := func() {
				m := &alert.Message{Version: "4", Data: template.Data{Alerts: template.Alerts{{Status: "firing", Labels: template.KV(labels),
					Annotations: template.KV(ann), StartsAt: e.clk.Now().Add(-10 * time.Minute)}}}}
				if _, err := e.svc.Ingest(e.ctx, e.keyer.Events(m)); err != nil {
					t.Fatal(err)
				}
			}
			deliver()
			id := e.tasks()[0].ID
			e.act(id, "alice", Action{Kind: "ack"})
			reported := e.clk.Now()
			e.act(id, "alice", Action{Kind: "fixed", Text: "swapped it"})

			// The verification loop runs every 30 s (--verify.interval's default).
			var back time.Duration
			for back = 0; back <= 3*time.Minute; back += 30 * time.Second {
				e.verifyWith(q)
				if e.only().Task.State != task.Verifying {
					break
				}
				e.clk.Add(30 * time.Second)
			}
			back = e.clk.Now().Sub(reported)
			d := e.only()
			if d.Task.State != task.Acknowledged || back > 3*time.Minute || back < e.cfg.Windows.Settle {
				t.Fatalf("state %s %s after the report; want acknowledged after settle and within 3 minutes", d.Task.State, back)
			}
			if d.Task.FailedRepairs != 1 || d.Task.Assignee != "alice" || !strings.Contains(d.Task.Reason, tc.phrase) || !strings.Contains(d.Task.Reason, "still holds") {
				t.Fatalf("failed repair: %+v", d.Task)
			}
			t.Logf("%s: back with the technician %s after the report (reason %q)", tc.alertname, back, d.Task.Reason)
			if testutil.ToFloat64(e.vm.Exprs.WithLabelValues("holds")) != 1 {
				t.Fatal("holds not counted")
			}
			msgs, _ := e.st.Pending(e.ctx, e.clk.Now(), 100)
			if last := msgs[len(msgs)-1]; last.To != "alice" || !strings.Contains(last.Text, "NOT fixed") {
				t.Fatalf("assignee not prompted: %+v", last)
			}

			// Second report: the condition holds for another part only, then not at all.
			e.act(id, "alice", Action{Kind: "fixed", Text: "swapped it again"})
			prom.mu.Lock()
			prom.answers[cond] = nil
			if tc.other != nil {
				prom.answers[cond] = series(tc.other)
			}
			prom.mu.Unlock()
			e.clk.Add(3 * time.Minute)
			e.verifyWith(q)
			if d := e.only(); d.Task.State != task.Verifying {
				t.Fatalf("condition no longer holds for this part: state %s (%s)", d.Task.State, d.Task.Reason)
			}
			prom.mu.Lock()
			prom.alerts = nil
			prom.mu.Unlock()
			e.clk.Add(30 * time.Second)
			e.verifyWith(q)
			if d := e.only(); d.Task.State != task.Done {
				t.Fatalf("ALERTS empty with evidence: state %s", d.Task.State)
			}
		})
	}
}

// TestLongRangeAlertWaitsForItsRange: MinerHashrateLow (a 15-minute average) is not asked before
// its verify_after (15m) and, still firing, not failed before verify_after + settle.
func TestLongRangeAlertWaitsForItsRange(t *testing.T) {
	e := newEnv(t, "")
	labels := map[string]string{"alertname": "MinerHashrateLow", "category": "hashrate", "severity": "warning", "instance": "10.1.0.7", "job": "cgminer", "site": "site-a"}
	ann := ruleAnnotations(t, "MinerHashrateLow")
	cond, err := verify.RenderExpr(ann["verify_expr"], labels)
	if err != nil {
		t.Fatal(err)
	}
	alertsSeries := map[string]string{"alertstate": "firing"}
	for k, v := range labels {
		alertsSeries[k] = v
	}
	prom := &condProm{t: t, alerts: []map[string]string{alertsSeries}, answers: map[string][]map[string]string{cond: nil}}
	srv := httptest.NewServer(prom)
	defer srv.Close()
	q := &verify.Prometheus{URL: srv.URL}
	m := &alert.Message{Version: "4", Data: template.Data{Alerts: template.Alerts{{Status: "firing", Labels: template.KV(labels),
		Annotations: template.KV(ann), StartsAt: t0}}}}
	if _, err := e.svc.Ingest(e.ctx, e.keyer.Events(m)); err != nil {
		t.Fatal(err)
	}
	id := e.tasks()[0].ID
	e.act(id, "alice", Action{Kind: "start"})
	e.act(id, "alice", Action{Kind: "fixed", Text: "cleaned the boards"})
	for i := 0; i < 33; i++ { // 16.5 minutes in 30 s steps
		e.clk.Add(30 * time.Second)
		e.verifyWith(q)
		if st := e.only().Task.State; st != task.Verifying {
			t.Fatalf("decided %s after %s, before verify_after + settle (17m)", st, time.Duration(i+1)*30*time.Second)
		}
	}
	prom.mu.Lock()
	for _, a := range prom.asked {
		if a == cond && e.clk.Now().Sub(t0) < 15*time.Minute {
			t.Fatal("condition asked before verify_after")
		}
	}
	prom.mu.Unlock()
	e.clk.Add(30 * time.Second)
	e.verifyWith(q)
	if d := e.only(); d.Task.State != task.Acknowledged || !strings.Contains(d.Task.Reason, "MinerHashrateLow") {
		t.Fatalf("at verify_after + settle: %s %q", d.Task.State, d.Task.Reason)
	}
}
