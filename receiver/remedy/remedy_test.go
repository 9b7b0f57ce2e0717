package remedy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/minefarm/cgminer-stack/receiver/alert"
	"github.com/minefarm/cgminer-stack/receiver/config"
	"github.com/minefarm/cgminer-stack/receiver/repair"
	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/store/sqlite"
	"github.com/minefarm/cgminer-stack/receiver/task"
	"github.com/minefarm/cgminer-stack/receiver/verify"
	"github.com/minefarm/cgminer-stack/simulator/farm"
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

// alerts is a fake Prometheus answering /api/v1/query with ALERTS series for the instances the
// test says fire (real HTTP on loopback, asked through verify.Prometheus).
type alerts struct {
	mu     sync.Mutex
	firing map[string]string // instance → alertname
	asked  int
}

func (a *alerts) set(instance, alertname string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if alertname == "" {
		delete(a.firing, instance)
		return
	}
	a.firing[instance] = alertname
}

func (a *alerts) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	q := r.Form.Get("query")
	a.mu.Lock()
	a.asked++
	type series struct {
		Metric map[string]string `json:"metric"`
		Value  []any             `json:"value"`
	}
	res := []series{}
	for inst, name := range a.firing {
		if strings.HasPrefix(q, "ALERTS{") && strings.Contains(q, `instance="`+inst+`"`) && strings.Contains(q, name) {
			res = append(res, series{Metric: map[string]string{"__name__": "ALERTS", "alertname": name, "alertstate": "firing",
				"instance": inst, "severity": "warning"}, Value: []any{1, "1"}})
		}
	}
	a.mu.Unlock()
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": map[string]any{"resultType": "vector", "result": res}})
}

type env struct {
	t     *testing.T
	ctx   context.Context
	st    store.Store
	svc   *repair.Service
	clk   *clock
	prom  *alerts
	loop  *Loop
	reg   *prometheus.Registry
	keyer alert.Keyer
	farm  *farm.Farm
}

const receiverYML = `
identity_labels: [instance]
location_labels: [site, rack]
windows: {grace: 10m, settle: 2m, verify_window: 15m}
teams:
  - name: crew
    members: [alice]
`

// newEnv starts a simulated farm (restart allowed, back after 400 ms), a SQLite store, the
// repair service, a fake Prometheus and the remediation loop with cfgYML.
func newEnv(t *testing.T, cidr, mix string, miners int, cfgYML string) *env {
	t.Helper()
	mx, err := farm.ParseMix(mix)
	if err != nil {
		t.Fatal(err)
	}
	p := netip.MustParsePrefix(cidr)
	port := freePort(t, farm.Hosts(p)[0].String())
	f, err := farm.New(farm.Config{Range: p, Miners: miners, Mix: mx, Seed: 5, Port: port, AllowRestart: true,
		RestartDelay: 400 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	fctx, fcancel := context.WithCancel(context.Background())
	if err := f.Start(fctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fcancel(); f.Close() })

	rcfg, err := config.Parse([]byte(receiverYML))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	logger := slog.New(slog.DiscardHandler)
	reg := prometheus.NewRegistry()
	clk := &clock{now: t0}
	svc := repair.New(st, func() *config.Config { return rcfg }, clk, logger, repair.NewMetrics(reg, st, logger))
	prom := &alerts{firing: map[string]string{}}
	srv := httptest.NewServer(prom)
	t.Cleanup(srv.Close)
	cfg, err := ParseConfig([]byte(strings.ReplaceAll(cfgYML, "PORT", fmt.Sprint(port))))
	if err != nil {
		t.Fatal(err)
	}
	loop := &Loop{Config: cfg, Tasks: st, Svc: svc, Querier: &verify.Prometheus{URL: srv.URL}, Logger: logger,
		Metrics: NewMetrics(reg), Volatile: func() []string { return rcfg.VolatileLabels }}
	return &env{t: t, ctx: context.Background(), st: st, svc: svc, clk: clk, prom: prom, loop: loop, reg: reg,
		keyer: svc.Keyer(), farm: f}
}

func freePort(t *testing.T, addr string) int {
	t.Helper()
	ln, err := net.Listen("tcp4", addr+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// fire delivers a firing (or resolved) alert for an instance, as Alertmanager would, and tells
// the fake Prometheus.
func (e *env) fire(alertname, instance, site string, firing bool) {
	e.t.Helper()
	a := template.Alert{Status: "firing", Labels: template.KV{"alertname": alertname, "instance": instance, "site": site,
		"severity": "warning", "category": "hashrate", "job": "cgminer"},
		Annotations: template.KV{"summary": alertname + " on " + instance}, StartsAt: t0.Add(-20 * time.Minute)}
	if !firing {
		a.Status, a.EndsAt = "resolved", e.clk.Now()
		e.prom.set(instance, "")
	} else {
		e.prom.set(instance, alertname)
	}
	if _, err := e.svc.Ingest(e.ctx, e.keyer.Events(&alert.Message{Version: "4", Data: template.Data{Alerts: template.Alerts{a}}})); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) once() int {
	e.t.Helper()
	n, err := e.loop.Once(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) taskOf(instance string) store.Detail {
	e.t.Helper()
	ts, err := e.st.ListTasks(e.ctx, store.Filter{Instance: instance})
	if err != nil || len(ts) != 1 {
		e.t.Fatalf("tasks of %s: %v %v", instance, ts, err)
	}
	d, err := e.st.Detail(e.ctx, ts[0].ID, store.DetailQuery{})
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

// remediations are the task's remediation events.
func (e *env) remediations(instance string) []string {
	var out []string
	for _, ev := range e.taskOf(instance).Events {
		if ev.Kind == task.KindRemediation {
			if ev.Actor != task.Remedy || ev.From != ev.To {
				e.t.Errorf("remediation event %+v", ev)
			}
			out = append(out, ev.Text)
		}
	}
	return out
}

func (e *env) metric(result string) int {
	return int(testutil.ToFloat64(e.loop.Metrics.Remediations.WithLabelValues(result)))
}

func refused(endpoint string) bool {
	c, err := net.DialTimeout("tcp4", endpoint, time.Second)
	if err == nil {
		c.Close()
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// elapsed asks a miner's summary for Elapsed (seconds since its mining software started).
func elapsed(t *testing.T, endpoint string) float64 {
	t.Helper()
	c, err := net.DialTimeout("tcp4", endpoint, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, `{"command":"summary"}`); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(io.LimitReader(c, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		SUMMARY []struct{ Elapsed float64 }
	}
	if err := json.Unmarshal([]byte(strings.TrimRight(string(b), "\x00")), &r); err != nil || len(r.SUMMARY) == 0 {
		t.Fatalf("summary %q: %v", b, err)
	}
	return r.SUMMARY[0].Elapsed
}

const restartCfg = `
allowed_targets: [127.77.20.0/24]
allowed_ports: [PORT]
timeout: 2s
rules:
  - name: all
    mode: restart
    after_checks: 3
    per_miner_window: 30m
    per_site_per_hour: 5
    max_per_task: 2
`

// TestRestartAfterFailedChecks: three consecutive failed checks of a zero-hashrate miner make one
// restart over real TCP; the miner goes silent and comes back with its uptime reset and the fault
// cured; the task's history says so and its state is untouched; no second restart within the
// window; the resolve that follows closes the task the usual way.
func TestRestartAfterFailedChecks(t *testing.T) {
	e := newEnv(t, "127.77.20.0/29", "s19jpro=1", 2, restartCfg)
	m, other := e.farm.Miners()[0], e.farm.Miners()[1]
	if _, err := m.SetFault(farm.ZeroHashrate); err != nil {
		t.Fatal(err)
	}
	inst := m.Endpoint() // the port is not 4028: instance is IP:PORT
	e.fire("MinerNoHashrate", inst, "site-a", true)
	e.fire("MinerFanFailure", other.Endpoint(), "site-a", true) // not remediable
	before := elapsed(t, inst)

	for i := 1; i <= 2; i++ {
		if n := e.once(); n != 0 {
			t.Fatalf("check %d recorded %d decisions, want none before after_checks", i, n)
		}
	}
	if got := e.remediations(inst); len(got) != 0 || m.Restarting() {
		t.Fatalf("remediated before the third failed check: %v", got)
	}
	if n := e.once(); n != 1 {
		t.Fatalf("third check recorded %d decisions, want 1", n)
	}
	want := fmt.Sprintf(`remediation: restart sent to %s (reply: {"STATUS":"RESTART","id":1}); attempt 1 of 2 for this task`, inst)
	if got := e.remediations(inst); len(got) != 1 || got[0] != want {
		t.Fatalf("history %q, want %q", got, want)
	}
	if e.metric(ResultSent) != 1 {
		t.Errorf("sent = %d", e.metric(ResultSent))
	}
	waitFor(t, 2*time.Second, "the miner to go silent", func() bool { return refused(inst) })
	waitFor(t, 5*time.Second, "the miner to come back", func() bool { return !refused(inst) })
	if after := elapsed(t, inst); after > 5 || after >= before {
		t.Errorf("Elapsed %v after the restart (was %v), want reset", after, before)
	}
	if fs := m.Faults(); len(fs) != 0 {
		t.Errorf("faults after the restart: %v", fs)
	}
	if st := e.taskOf(inst).Task.State; st != task.Open {
		t.Errorf("state %s after the restart, want open: verification decides", st)
	}
	if got := e.remediations(other.Endpoint()); len(got) != 0 {
		t.Errorf("a fan failure was remediated: %v", got)
	}

	// Prometheus has not seen the recovery yet: the alert still fires, but the window holds.
	for range 5 {
		e.clk.Add(time.Minute)
		e.once()
	}
	if got := e.remediations(inst); len(got) != 1 || e.metric(ResultSent) != 1 {
		t.Fatalf("a second restart within the window: %v", got)
	}
	// Past the window, three more failed checks: the second (and last allowed) attempt.
	e.clk.Add(30 * time.Minute)
	for range 3 {
		e.once()
	}
	got := e.remediations(inst)
	if len(got) != 2 || !strings.HasSuffix(got[1], "attempt 2 of 2 for this task, the last") {
		t.Fatalf("history after the window: %q", got)
	}
	waitFor(t, 5*time.Second, "the second restart to end", func() bool { return !m.Restarting() && !refused(inst) })
	// max_per_task reached: nothing more, however long it fires.
	e.clk.Add(2 * time.Hour)
	for range 4 {
		e.once()
	}
	if got := e.remediations(inst); len(got) != 2 || e.metric(ResultSent) != 2 {
		t.Fatalf("past max_per_task: %q, sent %d", got, e.metric(ResultSent))
	}

	// The miner hashes again; the resolve comes; the task closes after its grace.
	e.fire("MinerNoHashrate", inst, "site-a", false)
	e.clk.Add(11 * time.Minute)
	if _, err := e.svc.Sweep(e.ctx); err != nil {
		t.Fatal(err)
	}
	if st := e.taskOf(inst).Task.State; st != task.AutoResolved {
		t.Errorf("state %s after the resolve and the grace, want auto_resolved", st)
	}
}

// TestChecksMustBeConsecutive: a check that finds the alert gone from ALERTS (or cannot ask)
// starts the count again.
func TestChecksMustBeConsecutive(t *testing.T) {
	e := newEnv(t, "127.77.20.8/29", "s19jpro=1", 1, restartCfg)
	m := e.farm.Miners()[0]
	inst := m.Endpoint()
	e.fire("MinerPoolDown", inst, "site-a", true)
	for i, firing := range []bool{true, true, false, true, true, false, true, true} {
		if firing {
			e.prom.set(inst, "MinerPoolDown")
		} else {
			e.prom.set(inst, "") // gone from ALERTS, though no resolve reached the store
		}
		if n := e.once(); n != 0 {
			t.Fatalf("check %d: %d decisions", i+1, n)
		}
	}
	if e.prom.asked < 8 {
		t.Errorf("Prometheus asked %d times, want once per check", e.prom.asked)
	}
	e.prom.set(inst, "MinerPoolDown")
	if n := e.once(); n != 1 {
		t.Fatalf("third consecutive failed check: %d decisions", n)
	}
}

// TestSiteLimitAndDryRun: at most per_site_per_hour attempts per site per hour, the others
// recorded once as rate-limited; a dry-run rule records what it would do and sends nothing.
func TestSiteLimitAndDryRun(t *testing.T) {
	e := newEnv(t, "127.77.20.16/29", "s19jpro=1", 6, `
allowed_targets: [127.77.20.0/24]
allowed_ports: [PORT]
rules:
  - name: site-b-dry
    mode: dry_run
    match: {site: site-b}
    after_checks: 1
  - name: site-a
    mode: restart
    match: {site: site-a}
    after_checks: 1
    per_site_per_hour: 2
`)
	ms := e.farm.Miners()
	for i, m := range ms {
		if _, err := m.SetFault(farm.DeviceDead); err != nil {
			t.Fatal(err)
		}
		site := "site-a"
		if i >= 4 {
			site = "site-b"
		}
		e.fire("MinerDeviceNotAlive", m.Endpoint(), site, true)
	}
	if n := e.once(); n != 6 {
		t.Fatalf("%d decisions, want 6 (2 sent, 2 rate-limited, 2 dry runs)", n)
	}
	if e.metric(ResultSent) != 2 || e.metric(ResultRateLimited) != 2 || e.metric(ResultDryRun) != 2 {
		t.Errorf("sent %d rate_limited %d dry_run %d", e.metric(ResultSent), e.metric(ResultRateLimited), e.metric(ResultDryRun))
	}
	restarted := 0
	for i, m := range ms {
		got := e.remediations(m.Endpoint())
		if len(got) != 1 {
			t.Fatalf("%s: %q", m.Endpoint(), got)
		}
		switch {
		case i >= 4:
			if want := "remediation (dry run): would restart the mining software at " + m.Endpoint() + "; attempt 1 of 3 for this task"; got[0] != want {
				t.Errorf("dry run: %q, want %q", got[0], want)
			}
			if m.Restarting() || len(m.Faults()) != 1 {
				t.Errorf("a dry run restarted %s", m.Endpoint())
			}
		case strings.HasPrefix(got[0], "remediation: restart sent to"):
			restarted++
		case !strings.HasPrefix(got[0], "remediation rate-limited: not restarting "+m.Endpoint()+`: 2 restarts at site "site-a" in the last hour (limit 2)`):
			t.Errorf("site-a miner: %q", got[0])
		}
	}
	if restarted != 2 {
		t.Errorf("%d restarted, want 2", restarted)
	}
	// The same moment again: every machine had its decision within the window: nothing new.
	if n := e.once(); n != 0 {
		t.Errorf("%d more decisions within the window", n)
	}
}

// TestRefusedBeforeDialling: a target outside the allowlist, on a port not allowed, or not an IP
// literal is refused and recorded once per window; nothing reaches the address.
func TestRefusedBeforeDialling(t *testing.T) {
	// Something listens where the refused targets point, counting connections.
	ln, err := net.Listen("tcp4", "127.77.21.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	conns := 0
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns++
			mu.Unlock()
			c.Close()
		}
	}()
	listening := netip.MustParseAddrPort(ln.Addr().String())
	e := newEnv(t, "127.77.20.24/29", "s19jpro=1", 1, `
allowed_targets: [127.77.20.0/24]
allowed_ports: [PORT]
rules:
  - {name: all, mode: restart, after_checks: 1}
`)
	tests := []struct{ instance, want string }{
		{listening.String(), "is not in the remediation allowlist"},
		{netip.AddrPortFrom(e.farm.Miners()[0].Addr(), 4029).String(), "is not in the remediation allowlist"},
		{"miner-7.example:4028", "is not an IP address (host names are never resolved)"},
		{"0.0.0.0", "is not a miner's unicast address"},
	}
	for _, tc := range tests {
		e.fire("MinerNoHashrate", tc.instance, "site-a", true)
	}
	if n := e.once(); n != len(tests) {
		t.Fatalf("%d decisions, want %d", n, len(tests))
	}
	for _, tc := range tests {
		got := e.remediations(tc.instance)
		if len(got) != 1 || !strings.HasPrefix(got[0], "remediation refused: ") || !strings.Contains(got[0], tc.want) {
			t.Errorf("%s: %q, want a refusal with %q", tc.instance, got, tc.want)
		}
	}
	for range 3 {
		e.clk.Add(time.Minute)
		e.once()
	}
	if e.metric(ResultRefused) != len(tests) {
		t.Errorf("refused %d, want %d (once per window)", e.metric(ResultRefused), len(tests))
	}
	mu.Lock()
	defer mu.Unlock()
	if conns != 0 {
		t.Errorf("%d connections reached a refused target", conns)
	}
}

// TestHostileMiner: a miner that answers the restart with 10 MiB or trickles forever costs one
// bounded attempt: failed, recorded with a short reason, counted against the limits.
func TestHostileMiner(t *testing.T) {
	huge := func(c net.Conn) {
		chunk := make([]byte, 64<<10)
		for i := range chunk {
			chunk[i] = 'x'
		}
		for range 160 {
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	}
	slow := func(c net.Conn) {
		for {
			if _, err := c.Write([]byte("{")); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for _, tc := range []struct {
		name   string
		behave func(net.Conn)
		want   string
	}{
		{"huge", huge, "reply larger than 65536 bytes"},
		{"slow", slow, "reply cut off after"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startPeer(t, tc.behave)
			e := newEnv(t, "127.77.20.32/29", "s19jpro=1", 1, strings.ReplaceAll(`
allowed_targets: [127.0.0.1/32]
allowed_ports: [PEER]
timeout: 500ms
rules:
  - {name: all, mode: restart, after_checks: 1}
`, "PEER", fmt.Sprint(p.addr().Port())))
			inst := p.addr().String()
			e.fire("MinerNoHashrate", inst, "site-a", true)
			if n := e.once(); n != 1 {
				t.Fatalf("%d decisions", n)
			}
			got := e.remediations(inst)
			if len(got) != 1 || !strings.HasPrefix(got[0], "remediation failed: restart to "+inst+": ") || !strings.Contains(got[0], tc.want) {
				t.Fatalf("history %q, want a failure with %q", got, tc.want)
			}
			if len(got[0]) > 400 {
				t.Errorf("history event of %d bytes", len(got[0]))
			}
			if e.metric(ResultFailed) != 1 {
				t.Errorf("failed = %d", e.metric(ResultFailed))
			}
			e.clk.Add(time.Minute)
			if n := e.once(); n != 0 {
				t.Errorf("tried again within the window")
			}
		})
	}
}

// TestOnlyInTheRulesStates: a task a technician has started is left alone (default states), and
// a store-only check (no Prometheus) still needs the problem firing in the store.
func TestOnlyInTheRulesStates(t *testing.T) {
	e := newEnv(t, "127.77.20.40/29", "s19jpro=1", 2, `
allowed_targets: [127.77.20.0/24]
allowed_ports: [PORT]
rules:
  - {name: all, mode: dry_run, after_checks: 1}
`)
	e.loop.Querier = nil
	a, b := e.farm.Miners()[0].Endpoint(), e.farm.Miners()[1].Endpoint()
	e.fire("MinerNoHashrate", a, "site-a", true)
	e.fire("MinerNoHashrate", b, "site-a", true)
	if _, err := e.svc.Act(e.ctx, e.taskOf(a).Task.ID, "alice", repair.Action{Kind: "start"}); err != nil {
		t.Fatal(err)
	}
	e.fire("MinerNoHashrate", b, "site-a", false)
	for range 3 {
		e.once()
	}
	if got := e.remediations(a); len(got) != 0 {
		t.Errorf("a task in progress was remediated: %q", got)
	}
	if got := e.remediations(b); len(got) != 0 {
		t.Errorf("a task whose problem cleared was remediated: %q", got)
	}
}
