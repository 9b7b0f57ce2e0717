package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minefarm/cgminer-stack/receiver/notify"
	"github.com/minefarm/cgminer-stack/receiver/store/postgres/pgtest"
)

// The replica tests share one throw-away PostgreSQL 15 (pgtest), started by the first test that
// asks for it, each test on a fresh database.
var (
	pgOnce sync.Once
	pgSrv  *pgtest.Server
	pgErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if pgSrv != nil {
		pgSrv.Stop()
	}
	os.Exit(code)
}

func pgDatabase(t testing.TB) string {
	t.Helper()
	pgOnce.Do(func() { pgSrv, pgErr = pgtest.Start() })
	if pgErr != nil {
		t.Fatalf("PostgreSQL 15 for the replica tests (apt-get install postgresql-15): %v", pgErr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dsn, err := pgSrv.Database(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}

// gateway is a loopback SMS gateway (notify.webhook): it counts every delivery it is handed, by
// the delivery's id, and remembers each one's task and ladder step.
type gateway struct {
	mu   sync.Mutex
	got  map[int64]int
	task map[int64]notify.WebhookPayload
}

func newGateway(t testing.TB) (*gateway, string) {
	g := &gateway{got: map[int64]int{}, task: map[int64]notify.WebhookPayload{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p notify.WebhookPayload
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		g.mu.Lock()
		g.got[p.ID]++
		g.task[p.ID] = p
		g.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return g, srv.URL
}

// steps returns, per task id, how many deliveries of each ladder step (1 = the assignee's) came,
// and the ids delivered more than once.
func (g *gateway) steps() (map[int64]map[int]int, []int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[int64]map[int]int{}
	var dup []int64
	for id, n := range g.got {
		p := g.task[id]
		if out[p.Task.ID] == nil {
			out[p.Task.ID] = map[int]int{}
		}
		out[p.Task.ID][p.Step]++
		if n > 1 {
			dup = append(dup, id)
		}
	}
	return out, dup
}

func (g *gateway) total() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.got)
}

// replicaConfig writes a receiver configuration for the replica tests: one team, a ladder of the
// assignee then the lead over the notification webhook (the gateway), a critical task escalating
// after 2 s without an acknowledgement, once (no repeat within the test), and the demo's token.
func replicaConfig(t testing.TB, gatewayURL string) string {
	t.Helper()
	dir := t.TempDir()
	tok := filepath.Join(dir, "token")
	if err := os.WriteFile(tok, []byte(demoToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`identity_labels: [instance]
location_labels: [site]
teams:
  - name: crew
    members: [alice]
    lead: carol
people:
  alice: {role: technician, phone: "+15550100"}
  carol: {role: lead, phone: "+15550101"}
notify:
  webhook: {url: %q}
escalation:
  severities:
    critical: {ack_timeout: 2s, repeat: 1h}
  ladder:
    - {to: [assignee], channels: [webhook]}
    - {to: [lead], channels: [webhook]}
webhook:
  token_file: %s
`, gatewayURL, tok)
	file := filepath.Join(dir, "receiver.yml")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// launch starts the receiver binary with args and waits until it is ready.
func launch(t testing.TB, bin, addr string, args ...string) *proc {
	t.Helper()
	p := &proc{addr: addr, log: &syncBuf{}}
	p.cmd = exec.Command(bin, withDefaults(append([]string{"--web.listen-address=" + addr}, args...), "--log.level=info")...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("receiver did not become ready:\n%s", p.log)
	return nil
}

// withDefaults adds each of the default flags (--name=value) that args does not set (a flag may not
// be repeated).
func withDefaults(args []string, defaults ...string) []string {
	for _, d := range defaults {
		name, _, _ := strings.Cut(d, "=")
		if !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, name+"=") }) {
			args = append(args, d)
		}
	}
	return args
}

// replica starts one receiver on the PostgreSQL database dsn with the test's loop periods (extra
// may set others).
func replica(t testing.TB, bin, dsn, cfg string, extra ...string) *proc {
	t.Helper()
	return launch(t, bin, freeAddr(t), withDefaults(append([]string{"--config.file=" + cfg, "--storage.postgres-dsn=" + dsn}, extra...),
		"--sweep.interval=500ms", "--notify.interval=200ms", "--verify.interval=1s", "--evidence.interval=1s")...)
}

// metric reads one sample of the receiver's /metrics (name with its labels, as exposed); -1 when
// the receiver does not answer.
func metric(addr, series string) float64 {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return -1
}

// leaderOf waits until exactly one of the replicas says it leads and returns its index.
func leaderOf(t testing.TB, ps ...*proc) int {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		lead, follow := -1, 0
		for i, p := range ps {
			switch metric(p.addr, "repair_receiver_leader") {
			case 1:
				if lead >= 0 {
					t.Fatalf("replicas %d and %d both lead", lead, i)
				}
				lead = i
			case 0:
				follow++
			}
		}
		if lead >= 0 && follow == len(ps)-1 {
			return lead
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("no single leader within a minute")
	return -1
}

// pgCounts checks the database of dsn: no machine with two open tasks, and returns the tasks, the
// problems and the distinct occurrences (key, start).
func pgCounts(t testing.TB, dsn string) (tasks, problems, occ int) {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for q, dst := range map[string]*int{
		`SELECT COUNT(*) FROM tasks`:                                            &tasks,
		`SELECT COUNT(*) FROM problems`:                                         &problems,
		`SELECT COUNT(*) FROM (SELECT DISTINCT key, starts_at FROM problems) x`: &occ,
	} {
		if err := db.QueryRow(q).Scan(dst); err != nil {
			t.Fatal(err)
		}
	}
	var dup int
	if err := db.QueryRow(`SELECT COUNT(*) FROM (SELECT machine FROM tasks GROUP BY machine HAVING COUNT(*) > 1) x`).Scan(&dup); err != nil {
		t.Fatal(err)
	}
	if dup != 0 {
		t.Fatalf("%d machines have more than one task", dup)
	}
	return
}

// waitNotified waits until the gateway has every task's step 1 and step 2 (the escalation) and
// then a little longer, for any second copy to show.
func waitNotified(t *testing.T, g *gateway, want int, logs ...*proc) map[int64]map[int]int {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for g.total() < want {
		if time.Now().After(deadline) {
			var l []string
			for _, p := range logs {
				l = append(l, p.log.String())
			}
			t.Fatalf("%d of %d notifications within a minute\n%s", g.total(), want, strings.Join(l, "\n----\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // several sender passes and sweeps of both replicas
	steps, dup := g.steps()
	if len(dup) > 0 {
		t.Fatalf("deliveries %v sent more than once", dup)
	}
	if g.total() != want {
		t.Fatalf("%d notifications, want %d: %v", g.total(), want, steps)
	}
	return steps
}

// TestReplicasRunTheLoopsOnce: two receiver processes on one PostgreSQL. Both take webhooks;
// exactly one leads (repair_receiver_leader), and the loops' work happens once: each task's
// assignee is told once and its escalation to the lead is made and sent once, wherever the
// delivery came in. SIGKILL the leader: the other takes the lease within a minute (measured), and
// its loops carry on with new tasks; the killed one, started again, follows.
func TestReplicasRunTheLoopsOnce(t *testing.T) {
	bin := buildBinary(t)
	dsn := pgDatabase(t)
	g, url := newGateway(t)
	cfg := replicaConfig(t, url)
	ps := []*proc{replica(t, bin, dsn, cfg), replica(t, bin, dsn, cfg)}
	lead := leaderOf(t, ps...)
	follower := ps[1-lead]
	for range 5 { // stays so: the follower keeps trying and keeps failing
		time.Sleep(200 * time.Millisecond)
		if l := leaderOf(t, ps...); l != lead {
			t.Fatalf("leadership moved from %d to %d with both alive", lead, l)
		}
	}

	// A follower is ready: it takes webhooks.
	if resp, err := http.Get("http://" + follower.addr + "/-/ready"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("follower /-/ready: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// Deliveries into the follower: 5 machines each.
	for i := range 2 {
		if code, err := post(follower.addr, delivery(i)); err != nil || code != 200 {
			t.Fatalf("delivery %d to the follower: %d %v", i, code, err)
		}
	}
	steps := waitNotified(t, g, 20, ps...)
	for id, s := range steps {
		if s[1] != 1 || s[2] != 1 {
			t.Fatalf("task %d: steps %v, want the assignee's and the escalation once each", id, s)
		}
	}
	if n := metric(ps[lead].addr, `repair_receiver_tasks_escalated_total`); n != 10 {
		t.Fatalf("leader escalated %v tasks, want 10", n)
	}
	if n := metric(follower.addr, `repair_receiver_tasks_escalated_total`); n != 0 {
		t.Fatalf("the follower escalated %v tasks", n)
	}
	if n := metric(follower.addr, `repair_receiver_notification_attempts_total{channel="webhook",result="sent"}`); n != 0 {
		t.Fatalf("the follower sent %v notifications", n)
	}
	if n := metric(follower.addr, `repair_receiver_lease_acquisitions_total`); n != 0 {
		t.Fatalf("follower acquisitions %v", n)
	}

	// SIGKILL the leader.
	killed := time.Now()
	if err := ps[lead].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	ps[lead].cmd.Wait()
	for metric(follower.addr, "repair_receiver_leader") != 1 {
		if time.Since(killed) > time.Minute {
			t.Fatalf("no takeover within a minute of the kill:\n%s", follower.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	handover := time.Since(killed)
	t.Logf("handover after SIGKILL of the leader: %s (lease interval 5s)", handover.Round(time.Millisecond))
	if n := metric(follower.addr, `repair_receiver_lease_acquisitions_total`); n != 1 {
		t.Fatalf("acquisitions on the new leader %v, want 1", n)
	}

	// The loops carry on, on the new leader.
	for i := 2; i < 4; i++ {
		if code, err := post(follower.addr, delivery(i)); err != nil || code != 200 {
			t.Fatalf("delivery %d: %d %v", i, code, err)
		}
	}
	restarted := replica(t, bin, dsn, cfg)
	steps = waitNotified(t, g, 40, follower, restarted)
	for id, s := range steps {
		if s[1] != 1 || s[2] != 1 {
			t.Fatalf("task %d: steps %v after the handover", id, s)
		}
	}
	if l := leaderOf(t, follower, restarted); l != 0 {
		t.Fatal("the restarted replica took the lease from a live leader")
	}
	tasks, problems, occ := pgCounts(t, dsn)
	if tasks != 20 || problems != 40 || occ != problems {
		t.Fatalf("%d tasks, %d problems, %d distinct occurrences; want 20, 40, 40", tasks, problems, occ)
	}
}

// TestReplicasSameDeliveriesFromTwoAlertmanagers: an Alertmanager HA pair sends every
// notification to the receivers, one replica each, at the same time: the same payloads race on
// two processes and every alert is stored once, one task per machine.
func TestReplicasSameDeliveriesFromTwoAlertmanagers(t *testing.T) {
	bin := buildBinary(t)
	dsn := pgDatabase(t)
	_, url := newGateway(t)
	cfg := replicaConfig(t, url)
	a, b := replica(t, bin, dsn, cfg), replica(t, bin, dsn, cfg)
	const n = 100
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for _, p := range []*proc{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var inner sync.WaitGroup
			next := make(chan int)
			for range 4 {
				inner.Add(1)
				go func() {
					defer inner.Done()
					for i := range next {
						if code, err := post(p.addr, delivery(i)); err != nil || code != 200 {
							errs <- fmt.Errorf("delivery %d to %s: %d %v", i, p.addr, code, err)
						}
					}
				}()
			}
			for i := range n {
				next <- i
			}
			close(next)
			inner.Wait()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	tasks, problems, occ := pgCounts(t, dsn)
	if tasks != n*5 || problems != n*10 || occ != problems {
		t.Fatalf("%d tasks (want %d), %d problems (want %d), %d distinct occurrences", tasks, n*5, problems, n*10, occ)
	}
}

// TestReplicaKilledMidBurst: two Alertmanagers deliver the same burst, one to each replica;
// the leader is SIGKILLed in the middle. What it answered 2xx is stored; its Alertmanager sends
// what it did not answer again, to the surviving replica (its other webhook URL), until a 2xx.
// Every alert is stored exactly once, and the survivor takes over the loops.
func TestReplicaKilledMidBurst(t *testing.T) {
	bin := buildBinary(t)
	dsn := pgDatabase(t)
	_, url := newGateway(t)
	cfg := replicaConfig(t, url)
	ps := []*proc{replica(t, bin, dsn, cfg), replica(t, bin, dsn, cfg)}
	lead := leaderOf(t, ps...)
	victim, survivor := ps[lead], ps[1-lead]

	const n = 300
	var mu sync.Mutex
	acked := map[int]bool{} // by the victim, before it died
	refused := 0            // attempts without a 2xx, retried
	var once sync.Once
	killed := make(chan struct{})
	send := func(p *proc, i int, retryTo *proc) {
		deadline := time.Now().Add(time.Minute)
		to := p
		for {
			code, err := post(to.addr, delivery(i))
			if err == nil && code == 200 {
				if to == victim {
					mu.Lock()
					acked[i] = true
					if len(acked) == n/3 {
						once.Do(func() { victim.cmd.Process.Signal(syscall.SIGKILL); close(killed) })
					}
					mu.Unlock()
				}
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("delivery %d never stored: %d %v", i, code, err)
				return
			}
			mu.Lock()
			refused++
			mu.Unlock()
			if retryTo != nil {
				to = retryTo
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	var wg sync.WaitGroup
	for _, am := range []struct {
		p, retry *proc
	}{{victim, survivor}, {survivor, nil}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var inner sync.WaitGroup
			next := make(chan int)
			for range 4 {
				inner.Add(1)
				go func() {
					defer inner.Done()
					for i := range next {
						send(am.p, i, am.retry)
					}
				}()
			}
			for i := range n {
				next <- i
			}
			close(next)
			inner.Wait()
		}()
	}
	wg.Wait()
	select {
	case <-killed:
	default:
		t.Fatal("the burst finished before the kill")
	}
	victim.cmd.Wait()
	tasks, problems, occ := pgCounts(t, dsn)
	if tasks != n*5 || problems != n*10 || occ != problems {
		t.Fatalf("%d tasks (want %d), %d problems (want %d), %d distinct occurrences", tasks, n*5, problems, n*10, occ)
	}
	if refused == 0 {
		t.Fatal("no delivery failed: the kill did not land mid-burst")
	}
	t.Logf("%d deliveries acknowledged by the killed replica before it died, %d attempts retried", len(acked), refused)
	if l := leaderOf(t, survivor); l != 0 {
		t.Fatal("the survivor does not lead")
	}
}
