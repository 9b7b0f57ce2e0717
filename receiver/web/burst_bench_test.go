package web

import (
	"bytes"
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/minefarm/cgminer-stack/receiver/config"
	"github.com/minefarm/cgminer-stack/receiver/repair"
	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/store/postgres"
	"github.com/minefarm/cgminer-stack/receiver/store/postgres/pgtest"
	"github.com/minefarm/cgminer-stack/receiver/store/sqldb"
	"github.com/minefarm/cgminer-stack/receiver/store/sqlite"
	"github.com/minefarm/cgminer-stack/receiver/task"
)

// The burst benchmark's durable PostgreSQL (fsync on), started by the first benchmark that needs
// it and stopped by TestMain.
var (
	pgOnce sync.Once
	pgSrv  *pgtest.Server
	pgErr  error
)

func pgDSN(b *testing.B) string {
	b.Helper()
	pgOnce.Do(func() { pgSrv, pgErr = pgtest.StartWith(pgtest.Options{Durable: true}) })
	if pgErr != nil {
		b.Fatalf("PostgreSQL 15 (apt-get install postgresql-15): %v", pgErr)
	}
	dsn, err := pgSrv.Database(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return dsn
}

// Shape of one burst: like Alertmanager flushing many groups at once (group_by rack, 10 machines a
// rack, each with a new alert), sent by burstSenders connections at the same time.
const (
	burstDeliveries = 300
	burstAlerts     = 10 // per delivery
	burstSenders    = 16
	// Two technicians clicking through ack → start → fixed, one click every actionEvery each.
	actionWorkers = 2
	actionEvery   = 20 * time.Millisecond
)

// amPayload is an Alertmanager v4 notification (as 0.25–0.28 send it, testdata/am-0.25-firing.json)
// of n firing alerts on n machines never seen before.
func amPayload(n int) []byte {
	base := benchSeq.Add(int64(n)) - int64(n)
	rack := fmt.Sprintf("r%d", base/int64(n))
	alerts := make([]map[string]any, n)
	for i := range alerts {
		id := base + int64(i)
		inst := fmt.Sprintf("10.%d.%d.%d:4028", id>>16&255, id>>8&255, id&255)
		alerts[i] = map[string]any{"status": "firing", "startsAt": "2026-11-22T08:00:00.123Z", "endsAt": "0001-01-01T00:00:00Z",
			"labels": map[string]string{"alertname": "MinerFanFailure", "instance": inst, "job": "cgminer", "site": "site-a",
				"row": "1", "rack": rack, "slot": fmt.Sprint(i), "severity": "critical", "category": "fan", "fan": "2"},
			"annotations": map[string]string{"summary": "fan 2 stopped on " + inst, "description": "fan 2 reads 0 RPM for 2m",
				"runbook_url": "https://runbooks.example/fan"},
			"generatorURL": "http://prometheus:9090/graph?g0.expr=cgminer_fan_rpm+%3D%3D+0&g0.tab=1",
			"fingerprint":  fmt.Sprintf("%016x", id)}
	}
	b, _ := json.Marshal(map[string]any{"version": "4", "groupKey": `{}/{}:{rack="` + rack + `"}`, "truncatedAlerts": 0,
		"status": "firing", "receiver": "repair", "groupLabels": map[string]string{"rack": rack},
		"commonLabels":      map[string]string{"alertname": "MinerFanFailure", "site": "site-a", "rack": rack, "severity": "critical"},
		"commonAnnotations": map[string]string{}, "externalURL": "http://alertmanager:9093", "alerts": alerts})
	return b
}

// burstTarget is a server under test: the receiver, or the baseline.
type burstTarget struct {
	url string
	// tasks lists the ids of open tasks for the clickers (receiver only).
	tasks func() []int64
}

func newReceiverTarget(b *testing.B, st *sqldb.DB) burstTarget {
	cfg, err := config.Parse([]byte(fixtureConfig))
	if err != nil {
		b.Fatal(err)
	}
	cfg.Webhook.Token = token
	cfg.Webhook.MaxBodyBytes = 1 << 20
	logger := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
	reg := prometheus.NewRegistry()
	m := repair.NewMetrics(reg, st, logger)
	svc := repair.New(st, func() *config.Config { return cfg }, repair.SystemClock{}, logger, m)
	u, err := NewUsers(map[string]string{"root": hash(b, "pw")})
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(Options{Service: svc, Store: st, Config: func() *config.Config { return cfg }, Users: func() *Users { return u },
		Logger: logger, Registry: reg, Metrics: m, Reload: func() error { return nil }})
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	b.Cleanup(hs.Close)
	return burstTarget{url: hs.URL, tasks: func() []int64 {
		ts, err := st.ListTasks(context.Background(), store.Filter{States: []task.State{task.Open}, Limit: 1000})
		if err != nil {
			b.Fatal(err)
		}
		ids := make([]int64, len(ts))
		for i, t := range ts {
			ids[i] = t.ID
		}
		return ids
	}}
}

// newBaselineTarget is the floor a durable webhook can reach on the same engine: the bearer check,
// the bounded body read, and one committed INSERT of the body per delivery (no decoding, no task
// logic), answered 200 after the commit. SQLite's writers are serialised in the process, as the
// store does.
func newBaselineTarget(b *testing.B, db *sql.DB, serial bool) burstTarget {
	if _, err := db.Exec(`CREATE TABLE bench_deliveries (id BIGINT, body TEXT)`); err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	var seq int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if serial {
			mu.Lock()
			defer mu.Unlock()
		}
		tx, err := db.BeginTx(r.Context(), nil)
		if err == nil {
			seq++
			if _, err = tx.Exec(`INSERT INTO bench_deliveries (id, body) VALUES ($1, $2)`, seq, string(body)); err == nil {
				err = tx.Commit()
			} else {
				tx.Rollback()
			}
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"stored"}`+"\n")
	})
	hs := httptest.NewServer(h)
	b.Cleanup(hs.Close)
	return burstTarget{url: hs.URL}
}

func burstClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: time.Minute}
}

func post(c *http.Client, url string, body []byte, hdr map[string]string) error {
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("POST %s: %d %s", url, resp.StatusCode, msg)
	}
	return nil
}

// BenchmarkIntakeBurst: Alertmanager-shaped bursts into the receiver over real HTTP on loopback,
// on a real SQLite file (WAL, synchronous=FULL) and a real PostgreSQL 15 with fsync on, side by side
// with the baseline (one durable commit per delivery, no receiver logic) on the same engine. One
// iteration is a burst of burstDeliveries deliveries of burstAlerts new alerts each (every alert a
// new task with its problem, history, assignment and outbox rows), sent by burstSenders
// connections at once; the webhook answers each 200 only once its delivery is committed. During
// the receiver's burst, actionWorkers technicians (basic auth, admin) click ack, start, fixed on
// open tasks through POST /api/v1/tasks/{id}/{action}, one click every actionEvery each; their
// answer times are action_p50_ms and action_p99_ms. `make bench-receiver` prints the ratios.
func BenchmarkIntakeBurst(b *testing.B) {
	for _, engine := range []string{"sqlite", "postgres"} {
		for _, kind := range []string{"baseline", "receiver"} {
			b.Run("engine="+engine+"/"+kind, func(b *testing.B) {
				var st *sqldb.DB
				var err error
				if engine == "sqlite" {
					st, err = sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "r.db"))
				} else {
					st, err = postgres.Open(context.Background(), pgDSN(b))
				}
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { st.Close() })
				var tg burstTarget
				if kind == "baseline" {
					tg = newBaselineTarget(b, st.SQL(), engine == "sqlite")
				} else {
					tg = newReceiverTarget(b, st)
				}
				runBursts(b, tg)
			})
		}
	}
}

func runBursts(b *testing.B, tg burstTarget) {
	c := burstClient()
	hook := map[string]string{"Authorization": "Bearer " + token, "Content-Type": "application/json"}
	var lat []time.Duration
	var elapsed time.Duration
	alerts := 0
	for b.Loop() {
		b.StopTimer()
		var ids []int64
		if tg.tasks != nil {
			// Tasks for the clickers, stored before the burst (3 clicks each).
			for range 6 {
				if err := post(c, tg.url+"/api/v1/alerts", amPayload(burstAlerts), hook); err != nil {
					b.Fatal(err)
				}
			}
			ids = tg.tasks()
		}
		bodies := make([][]byte, burstDeliveries)
		for i := range bodies {
			bodies[i] = amPayload(burstAlerts)
		}
		b.StartTimer()
		start := time.Now()
		done := make(chan struct{})
		var clicks sync.WaitGroup
		var mu sync.Mutex
		if len(ids) > 0 {
			next := make(chan int64, len(ids))
			for _, id := range ids {
				next <- id
			}
			close(next)
			for range actionWorkers {
				clicks.Go(func() {
					wc := burstClient()
					for id := range next {
						for _, a := range []struct{ kind, body string }{{"ack", "{}"}, {"start", "{}"}, {"fixed", `{"report":"replaced fan 2"}`}} {
							select {
							case <-done:
								return
							case <-time.After(actionEvery):
							}
							req, _ := http.NewRequest("POST", fmt.Sprintf("%s/api/v1/tasks/%d/%s", tg.url, id, a.kind), strings.NewReader(a.body))
							req.Header.Set("Content-Type", "application/json")
							req.SetBasicAuth("root", "pw")
							t0 := time.Now()
							resp, err := wc.Do(req)
							if err != nil {
								b.Error(err)
								return
							}
							io.Copy(io.Discard, resp.Body)
							resp.Body.Close()
							d := time.Since(t0)
							if resp.StatusCode != 200 {
								b.Errorf("%s task %d: %d", a.kind, id, resp.StatusCode)
								return
							}
							mu.Lock()
							lat = append(lat, d)
							mu.Unlock()
						}
					}
				})
			}
		}
		work := make(chan []byte)
		var senders sync.WaitGroup
		for range burstSenders {
			senders.Go(func() {
				for body := range work {
					if err := post(c, tg.url+"/api/v1/alerts", body, hook); err != nil {
						b.Error(err)
					}
				}
			})
		}
		for _, body := range bodies {
			work <- body
		}
		close(work)
		senders.Wait()
		elapsed += time.Since(start)
		b.StopTimer()
		close(done)
		clicks.Wait()
		b.StartTimer()
		alerts += burstDeliveries * burstAlerts
	}
	b.ReportMetric(float64(alerts)/elapsed.Seconds(), "alerts/s")
	b.ReportMetric(0, "ns/op")
	if tg.tasks != nil && actionWorkers > 0 {
		if len(lat) == 0 {
			b.Fatal("no worker action completed during the bursts")
		}
		slices.Sort(lat)
		q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
		b.ReportMetric(q(0.50), "action_p50_ms")
		b.ReportMetric(q(0.99), "action_p99_ms")
		b.ReportMetric(float64(len(lat))/float64(b.N), "actions/op")
	}
}
