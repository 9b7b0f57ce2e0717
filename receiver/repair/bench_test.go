package repair

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/minefarm/cgminer-stack/receiver/alert"
	"github.com/minefarm/cgminer-stack/receiver/config"
	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/store/sqlite"
)

// bigDelivery is one notification of n firing alerts on n machines never seen before (the most
// expensive case: every alert makes a task, a problem, history, an assignment and an outbox row).
func bigDelivery(n int) *alert.Message {
	m := &alert.Message{Version: "4"}
	m.Alerts = make([]template.Alert, n)
	for i := range m.Alerts {
		m.Alerts[i] = template.Alert{Status: "firing", StartsAt: t0,
			Labels: template.KV{"alertname": "MinerFanFailure", "instance": fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255),
				"site": "site-a", "rack": fmt.Sprintf("r%d", i%40), "severity": "critical", "category": "fan", "fan": "2"},
			Annotations: template.KV{"summary": "fan stopped"}}
	}
	return m
}

// BenchmarkWorkerActionDuringBigDelivery measures how long a worker's click (one action on one
// task, its own transaction) waits while a 60,000-alert delivery is being stored on a real SQLite
// file (WAL, synchronous=FULL). In clicks=100ms a worker clicks every 100 ms (ten technicians busy
// at once) for the whole delivery; the latencies of those clicks are reported as action-p50-ms,
// action-p99-ms and action-max-ms, the delivery's own time as delivery-s. clicks=none is the
// delivery alone.
func BenchmarkWorkerActionDuringBigDelivery(b *testing.B) {
	for _, every := range []time.Duration{100 * time.Millisecond, 0} {
		name := "clicks=none"
		if every > 0 {
			name = "clicks=" + every.String()
		}
		b.Run(name, func(b *testing.B) { benchBigDelivery(b, 60000, every) })
	}
}

func benchBigDelivery(b *testing.B, n int, every time.Duration) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg, err := config.Parse([]byte(demo))
	if err != nil {
		b.Fatal(err)
	}
	var lat []time.Duration
	var deliveries []time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ctx := context.Background()
		st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), fmt.Sprintf("r%d.db", i)))
		if err != nil {
			b.Fatal(err)
		}
		svc := New(st, func() *config.Config { return cfg }, SystemClock{}, logger, NewMetrics(prometheus.NewRegistry(), st, logger))
		keyer := svc.Keyer()
		one := &alert.Message{Version: "4", Data: template.Data{Alerts: []template.Alert{{Status: "firing", StartsAt: t0,
			Labels: template.KV{"alertname": "MinerFanFailure", "instance": "192.168.0.1", "site": "site-a", "category": "fan"}}}}}
		if _, err := svc.Ingest(ctx, keyer.Events(one)); err != nil {
			b.Fatal(err)
		}
		ts, err := st.ListTasks(ctx, store.Filter{})
		if err != nil || len(ts) != 1 {
			b.Fatalf("setup: %v %d", err, len(ts))
		}
		id := ts[0].ID
		res := keyer.Events(bigDelivery(n))
		b.StartTimer()

		done := make(chan time.Duration)
		go func() {
			start := time.Now()
			if _, err := svc.Ingest(ctx, res); err != nil {
				b.Error(err)
			}
			done <- time.Since(start)
		}()
		var wg sync.WaitGroup
		stop := make(chan struct{})
		if every > 0 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tk := time.NewTicker(every)
				defer tk.Stop()
				for {
					select {
					case <-stop:
						return
					case <-tk.C:
					}
					start := time.Now()
					if _, err := svc.Act(ctx, id, "alice", Action{Kind: "note", Text: "checking"}); err != nil {
						b.Error(err)
						return
					}
					lat = append(lat, time.Since(start))
				}
			}()
		}
		deliveries = append(deliveries, <-done)
		close(stop)
		wg.Wait()
		b.StopTimer()
		st.Close()
		b.StartTimer()
	}
	var sum time.Duration
	for _, d := range deliveries {
		sum += d
	}
	b.ReportMetric(sum.Seconds()/float64(len(deliveries)), "delivery-s")
	if every == 0 {
		return
	}
	slices.Sort(lat)
	if len(lat) == 0 {
		b.Fatal("no worker action completed")
	}
	q := func(f float64) float64 { return float64(lat[int(f*float64(len(lat)-1))]) / 1e6 }
	b.ReportMetric(q(0.5), "action-p50-ms")
	b.ReportMetric(q(0.99), "action-p99-ms")
	b.ReportMetric(q(1), "action-max-ms")
	b.ReportMetric(float64(len(lat))/float64(b.N), "actions/op")
}
