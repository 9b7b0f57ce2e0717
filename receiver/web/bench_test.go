package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/task"
)

var benchSeq atomic.Int64

// payload makes a delivery of n firing alerts on n distinct, never-seen machines.
func payload(n int) []byte {
	base := benchSeq.Add(int64(n)) - int64(n)
	alerts := make([]map[string]any, n)
	for i := range alerts {
		id := base + int64(i)
		alerts[i] = map[string]any{"status": "firing", "startsAt": "2026-11-22T08:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
			"labels": map[string]string{"alertname": "MinerFanFailure", "instance": fmt.Sprintf("10.%d.%d.%d", id>>16&255, id>>8&255, id&255),
				"site": "site-a", "rack": fmt.Sprintf("r%d", id%40), "severity": "critical", "category": "fan", "fan": "2"},
			"annotations": map[string]string{"summary": "fan stopped"}}
	}
	b, _ := json.Marshal(map[string]any{"version": "4", "status": "firing", "receiver": "repair", "alerts": alerts})
	return b
}

func (f *fixture) postBody(b testing.TB, body []byte) {
	req, _ := http.NewRequest("POST", f.url+"/api/v1/alerts", strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("status %d", resp.StatusCode)
	}
}

func benchFixture(b *testing.B) *fixture {
	f := newFixture(b, map[string]string{"alice": hash(b, "pw")})
	f.cfg.Webhook.MaxBodyBytes = 32 << 20
	return f
}

// BenchmarkWebhookIntake: deliveries of 10 new alerts each over real HTTP into SQLite with a
// durable (synchronous=FULL, WAL) commit per delivery.
func BenchmarkWebhookIntake(b *testing.B) {
	for _, par := range []int{1, 8} {
		b.Run(fmt.Sprintf("alerts=10/clients=%d", par), func(b *testing.B) {
			f := benchFixture(b)
			bodies := make(chan []byte, 64)
			go func() {
				for {
					bodies <- payload(10)
				}
			}()
			b.SetParallelism(par)
			start := time.Now()
			b.ResetTimer()
			if par == 1 {
				for b.Loop() {
					f.postBody(b, <-bodies)
				}
			} else {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						f.postBody(b, <-bodies)
					}
				})
			}
			b.ReportMetric(float64(b.N*10)/time.Since(start).Seconds(), "alerts/s")
		})
	}
}

// BenchmarkWebhook5000: one notification carrying 5,000 alerts (new machines), one transaction.
func BenchmarkWebhook5000(b *testing.B) {
	f := benchFixture(b)
	for b.Loop() {
		b.StopTimer()
		body := payload(5000)
		b.StartTimer()
		f.postBody(b, body)
	}
	b.ReportMetric(5000*float64(b.N)/b.Elapsed().Seconds(), "alerts/s")
}

// BenchmarkWebhook5000Repeat: the same 5,000-alert notification again (repeat_interval): all no-ops.
func BenchmarkWebhook5000Repeat(b *testing.B) {
	f := benchFixture(b)
	body := payload(5000)
	f.postBody(b, body)
	for b.Loop() {
		f.postBody(b, body)
	}
}

// BenchmarkBoard100k: the board page with 100,000 tasks in the store (10,000 of them open).
func BenchmarkBoard100k(b *testing.B) {
	f := benchFixture(b)
	ctx := context.Background()
	now := time.Now().UTC()
	err := f.st.InTx(ctx, func(tx store.Tx) error {
		for i := range 100000 {
			st := []task.State{task.Done, task.AutoResolved, task.Done, task.Cancelled, task.Done, task.Done, task.AutoResolved, task.Done, task.Done}[i%9]
			if i%10 == 0 {
				st = []task.State{task.Open, task.Acknowledged, task.InProgress, task.Verifying}[i/10%4]
			}
			t := &task.Task{Machine: fmt.Sprintf("m%d", i), Identity: map[string]string{"instance": fmt.Sprintf("m%d", i)},
				Location: map[string]string{"site": fmt.Sprintf("site-%d", i%5), "rack": fmt.Sprintf("r%d", i%40)}, Site: fmt.Sprintf("site-%d", i%5),
				Category: "fan", Severity: "critical", Title: "fan stopped", State: st, Assignee: []string{"alice", "bob", "dave"}[i%3],
				Team: "a", CreatedAt: now, UpdatedAt: now, OpenedAt: now}
			if err := tx.CreateTask(ctx, t); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	for _, q := range []string{"/", "/?site=site-3&assignee=bob", "/?state=done"} {
		b.Run("page="+q, func(b *testing.B) {
			for b.Loop() {
				req, _ := http.NewRequest("GET", f.url+q, nil)
				req.SetBasicAuth("alice", "pw")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("status %d", resp.StatusCode)
				}
				b.SetBytes(n)
			}
		})
	}
}
