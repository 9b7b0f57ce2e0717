package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minefarm/cgminer-stack/receiver/config"
	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/store/sqlite"
)

// demoToken is the webhook token of the demo configuration (webhook.token_file of receiver.yml).
var demoToken = func() string {
	cfg, err := config.Load("receiver.yml")
	if err != nil {
		panic(err)
	}
	return cfg.Webhook.Token.Reveal()
}()

func buildBinary(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "repair_receiver")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// syncBuf collects a subprocess's output; the test reads it while the process writes.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

type proc struct {
	cmd  *exec.Cmd
	addr string
	log  *syncBuf
}

func start(t *testing.T, bin, addr, db string, extra ...string) *proc {
	t.Helper()
	p := &proc{addr: addr, log: &syncBuf{}}
	args := append([]string{"--config.file=receiver.yml", "--web.config.file=web.yml", "--storage.path=" + db,
		"--web.listen-address=" + addr, "--log.level=warn", "--notify.interval=1h"}, extra...)
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
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

// delivery i carries two alerts for each of 5 machines.
func delivery(i int) []byte {
	type a struct {
		Status      string            `json:"status"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
		StartsAt    string            `json:"startsAt"`
		EndsAt      string            `json:"endsAt"`
	}
	var alerts []a
	for m := range 5 {
		inst := fmt.Sprintf("10.%d.%d.%d", i/250, i%250, m)
		for _, name := range []string{"MinerFanFailure", "MinerTemperatureHigh"} {
			alerts = append(alerts, a{Status: "firing", StartsAt: "2026-11-22T08:00:00Z", EndsAt: "0001-01-01T00:00:00Z",
				Labels: map[string]string{"alertname": name, "instance": inst, "site": "site-a", "severity": "critical", "category": "fan"}})
		}
	}
	b, _ := json.Marshal(map[string]any{"version": "4", "status": "firing", "receiver": "repair", "groupKey": fmt.Sprint(i), "alerts": alerts})
	return b
}

func post(addr string, body []byte) (int, error) {
	req, _ := http.NewRequest("POST", "http://"+addr+"/api/v1/alerts", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+demoToken)
	req.Header.Set("Content-Type", "application/json")
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func counts(t *testing.T, db string) (tasks, problems, distinctOcc int) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	q := st.SQL()
	q.QueryRow(`SELECT COUNT(*) FROM tasks`).Scan(&tasks)
	q.QueryRow(`SELECT COUNT(*) FROM problems`).Scan(&problems)
	q.QueryRow(`SELECT COUNT(*) FROM (SELECT DISTINCT key, starts_at FROM problems) x`).Scan(&distinctOcc)
	var dup int
	q.QueryRow(`SELECT COUNT(*) FROM (SELECT machine FROM tasks GROUP BY machine HAVING COUNT(*) > 1) x`).Scan(&dup)
	if dup != 0 {
		t.Fatalf("%d machines have more than one task", dup)
	}
	return
}

// unstored returns the deliveries (of delivery(i)) not all of whose alerts are in the database.
func unstored(t *testing.T, db string, deliveries []int) []int {
	t.Helper()
	st, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var lost []int
	for _, i := range deliveries {
		var n int
		err := st.SQL().QueryRow(`SELECT COUNT(*) FROM problems p JOIN tasks k ON k.id = p.task_id WHERE k.machine IN ($1, $2, $3, $4, $5)`,
			fmt.Sprintf(`instance="10.%d.%d.0"`, i/250, i%250), fmt.Sprintf(`instance="10.%d.%d.1"`, i/250, i%250),
			fmt.Sprintf(`instance="10.%d.%d.2"`, i/250, i%250), fmt.Sprintf(`instance="10.%d.%d.3"`, i/250, i%250),
			fmt.Sprintf(`instance="10.%d.%d.4"`, i/250, i%250)).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n != 10 {
			lost = append(lost, i)
		}
	}
	return lost
}

// TestKillDuringBurstLosesNothing: SIGKILL the receiver in the middle of a burst of deliveries,
// restart it, retry what did not get a 2xx (as Alertmanager does), and find every alert exactly
// once. Every delivery answered 2xx before the kill must already be there before any retry.
func TestKillDuringBurstLosesNothing(t *testing.T) {
	bin := buildBinary(t)
	db := filepath.Join(t.TempDir(), "r.db")
	addr := freeAddr(t)
	p := start(t, bin, addr, db)

	const n = 400
	status := make([]int, n)
	var mu sync.Mutex
	okCount, done := 0, 0
	killed := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	next := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				code, _ := post(addr, delivery(i))
				mu.Lock()
				status[i] = code
				done++
				if code == 200 {
					okCount++
				}
				// Kill once a third has been accepted, or half has been tried on a loaded machine
				// where fewer got through: either way mid-burst, with some stored and some not.
				if okCount == n/3 || (done == n/2 && okCount > 0) {
					once.Do(func() { p.cmd.Process.Signal(syscall.SIGKILL); close(killed) })
				}
				mu.Unlock()
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	select {
	case <-killed:
	default:
		t.Fatalf("the burst finished before the kill: statuses %v\n%s", status[:20], p.log)
	}
	p.cmd.Wait()

	var stored, retry []int
	for i, c := range status {
		if c == 200 {
			stored = append(stored, i)
		} else {
			retry = append(retry, i)
		}
	}
	if len(retry) == 0 {
		t.Fatal("every delivery succeeded: the kill did not land mid-burst")
	}
	t.Logf("%d deliveries stored before the kill, %d to retry", len(stored), len(retry))
	tasks, problems, occ := counts(t, db)
	if tasks < len(stored)*5 || problems != occ {
		t.Fatalf("after the kill: %d tasks for %d acknowledged deliveries (want >= %d); %d problems, %d distinct", tasks, len(stored), len(stored)*5, problems, occ)
	}
	// Each acknowledged delivery by itself, all ten of its alerts: deliveries share transactions
	// (group commit), and none may be answered before the one holding it is committed.
	if lost := unstored(t, db, stored); len(lost) > 0 {
		t.Fatalf("deliveries answered 200 but not stored before the kill: %v", lost)
	}

	p2 := start(t, bin, freeAddr(t), db)
	// Alertmanager retries what failed; the HA peer re-sends some that succeeded.
	for _, i := range append(retry, stored[:20]...) {
		deadline := time.Now().Add(30 * time.Second)
		for {
			code, err := post(p2.addr, delivery(i))
			if err == nil && code == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("delivery %d never stored: %d %v", i, code, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	tasks, problems, occ = counts(t, db)
	if tasks != n*5 || problems != n*10 || occ != problems {
		t.Fatalf("after retries: %d tasks (want %d), %d problems (want %d), %d distinct occurrences", tasks, n*5, problems, n*10, occ)
	}

	// The demo users can read the API and act; the actor is recorded.
	req, _ := http.NewRequest("POST", "http://"+p2.addr+"/api/v1/tasks/1/ack", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth("alice", "alice-demo")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("ack as alice: %v %v\n%s", resp, err, p2.log)
	}
	resp.Body.Close()
	st, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	d, err := st.Detail(context.Background(), 1, store.DetailQuery{})
	if err != nil || d.Task.State != "acknowledged" || d.Events[len(d.Events)-1].Actor != "alice" {
		t.Fatalf("task 1 after ack: %+v %v", d.Task, err)
	}
	if ts, _ := st.ListTasks(context.Background(), store.Filter{Assignee: "carol"}); len(ts) != 0 {
		t.Fatal("site-a tasks assigned to the lead instead of members")
	}
	if err := p2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p2.cmd.Wait(); err != nil {
		t.Fatalf("graceful stop: %v\n%s", err, p2.log)
	}
	if strings.Contains(p2.log.String(), demoToken) {
		t.Fatal("webhook token in the log")
	}
}

func TestReloadUsersAndConfig(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	cfgFile, webFile := filepath.Join(dir, "r.yml"), filepath.Join(dir, "w.yml")
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	aliceHash := "$2a$10$pEP5kMxKLxN14G00rgL0TOmTZismGLgKmbpHgTw5BQM1JRbfPMqYK"              // alice-demo
	bobHash := "$2a$10$Ge1Q04VwkTiTBZEvRWKMZ.1.hZF6tqwOMxKMHK/GABNA1n26B/bvW"                // bob-demo
	write(cfgFile, "teams: [{name: a, members: [alice]}]\npeople: {alice: {role: admin}}\n") // reload is for admins
	write(webFile, "basic_auth_users: {alice: "+aliceHash+"}\n")
	addr := freeAddr(t)
	cmd := exec.Command(bin, "--config.file="+cfgFile, "--web.config.file="+webFile, "--storage.path="+filepath.Join(dir, "db"), "--web.listen-address="+addr)
	log := &syncBuf{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	get := func(method, path, user string) int {
		for range 100 {
			req, _ := http.NewRequest(method, "http://"+addr+path, nil)
			req.SetBasicAuth(user, user+"-demo")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		t.Fatalf("no answer:\n%s", log.String())
		return 0
	}
	if c := get("GET", "/api/v1/tasks", "alice"); c != 200 {
		t.Fatalf("alice: %d", c)
	}
	if c := get("GET", "/api/v1/tasks", "bob"); c != 401 {
		t.Fatalf("bob before reload: %d", c)
	}
	write(webFile, "basic_auth_users: {alice: "+aliceHash+", bob: "+bobHash+"}\n")
	if c := get("POST", "/-/reload", "bob"); c != 401 {
		t.Fatalf("reload by an unknown user: %d", c)
	}
	write(cfgFile, "teams: [{name: a, members: [alice]}]\npeople: {alice: {role: admin}, bob: {role: viewer}}\n")
	if c := get("POST", "/-/reload", "alice"); c != 200 {
		t.Fatalf("reload: %d\n%s", c, log.String())
	}
	if c := get("GET", "/api/v1/tasks", "bob"); c != 200 {
		t.Fatalf("bob after reload: %d", c)
	}
	if c := get("POST", "/-/reload", "bob"); c != 403 {
		t.Fatalf("reload by a viewer: %d", c)
	}
	write(cfgFile, "teams: [{name: a}]\n") // invalid: a team without people
	if c := get("POST", "/-/reload", "alice"); c != 500 {
		t.Fatalf("reload of a broken config: %d", c)
	}
	if c := get("GET", "/-/ready", "alice"); c != 200 {
		t.Fatal("not ready after a failed reload")
	}
	if !strings.Contains(log.String(), "keeping the old config") {
		t.Fatalf("failed reload not logged:\n%s", log.String())
	}
}

// The server bounds header sizes and has every timeout set.
func TestHTTPServerLimits(t *testing.T) {
	srv := newHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 {
		t.Fatalf("a timeout is unset: %+v", srv)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	for _, tc := range []struct {
		name string
		size int
		code int
	}{
		{"small header", 1 << 10, 200},
		{"header of 40 KiB", 40 << 10, 431},
		{"query string of 61 KiB", -(61 << 10), 431},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := "http://" + l.Addr().String() + "/"
			if tc.size < 0 {
				u += "?pad=" + strings.Repeat("x", -tc.size)
			}
			req, _ := http.NewRequest("GET", u, nil)
			if tc.size > 0 {
				req.Header.Set("X-Pad", strings.Repeat("x", tc.size))
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.code {
				t.Fatalf("%d, want %d", resp.StatusCode, tc.code)
			}
		})
	}
}

// TestNotReadyWhileWritesFail: another process holds the SQLite file's write lock (a second
// receiver, a backup tool): reads still answer, but deliveries get 503, and so must /-/ready, with
// the failure in the metrics; once the lock goes, the next delivery is stored and it is ready again.
func TestNotReadyWhileWritesFail(t *testing.T) {
	bin := buildBinary(t)
	db := filepath.Join(t.TempDir(), "r.db")
	addr := freeAddr(t)
	p := start(t, bin, addr, db, "--storage.busy-timeout=200ms")

	lock, err := sql.Open("sqlite", "file:"+db+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	tx, err := lock.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`INSERT INTO heartbeats (name, last_seen) VALUES ('other-writer', 1)`); err != nil {
		t.Fatal(err)
	}
	if code, err := post(addr, delivery(0)); err != nil || code != 503 {
		t.Fatalf("delivery into a locked database: %d %v", code, err)
	}
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/-/ready"); code != 503 || !strings.Contains(body, "writes fail") {
		t.Fatalf("/-/ready with every write failing: %d %q\n%s", code, body, p.log)
	}
	if code, _ := get("/-/healthy"); code != 200 {
		t.Fatalf("/-/healthy: %d", code)
	}
	_, metrics := get("/metrics")
	if !regexp.MustCompile(`(?m)^repair_receiver_store_commit_failures_total [1-9]`).MatchString(metrics) {
		t.Fatalf("commit failures not counted:\n%s", grepLines(metrics, "repair_receiver_store_"))
	}

	tx.Rollback()
	if code, err := post(addr, delivery(0)); err != nil || code != 200 {
		t.Fatalf("delivery once the lock is gone: %d %v", code, err)
	}
	if code, body := get("/-/ready"); code != 200 {
		t.Fatalf("/-/ready after a good commit: %d %q", code, body)
	}
	_, metrics = get("/metrics")
	if regexp.MustCompile(`(?m)^repair_receiver_store_last_commit_success_timestamp_seconds 0$`).MatchString(metrics) {
		t.Fatalf("last commit success not set:\n%s", grepLines(metrics, "repair_receiver_store_"))
	}
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
