package repair

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/minefarm/cgminer-stack/receiver/alert"
	"github.com/minefarm/cgminer-stack/receiver/config"
	"github.com/minefarm/cgminer-stack/receiver/store/sqlite"
)

// oneMachine is one delivery of n alerts about the same machine, each a problem of its own (a
// fan label per alert), firing or resolved.
func oneMachine(n int, status string) *alert.Message {
	m := &alert.Message{Version: "4"}
	m.Alerts = make([]template.Alert, n)
	for i := range m.Alerts {
		a := template.Alert{Status: status, StartsAt: t0,
			Labels: template.KV{"alertname": "MinerFanFailure", "instance": "10.0.0.1", "site": "site-a", "category": "fan", "fan": fmt.Sprint(i)}}
		if status == "resolved" {
			a.EndsAt = t0.Add(time.Minute)
		}
		m.Alerts[i] = a
	}
	return m
}

// BenchmarkOneMachineDelivery: n alerts on one machine join one task. Each joining alert and each
// resolve looks the task's problems up; if that reads every problem of the task, a delivery costs
// n² rows (us/alert grows with n). Reported per alert, for the firing delivery and its resolve.
func BenchmarkOneMachineDelivery(b *testing.B) {
	for _, n := range []int{1000, 4000, 16000} {
		b.Run(fmt.Sprintf("alerts=%d", n), func(b *testing.B) {
			logger := slog.New(slog.NewTextHandler(io.Discard, nil))
			cfg, err := config.Parse([]byte(demo))
			if err != nil {
				b.Fatal(err)
			}
			var fire, resolve time.Duration
			for i := 0; i < b.N; i++ {
				ctx := context.Background()
				st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), fmt.Sprintf("r%d.db", i)))
				if err != nil {
					b.Fatal(err)
				}
				svc := New(st, func() *config.Config { return cfg }, SystemClock{}, logger, NewMetrics(prometheus.NewRegistry(), st, logger))
				f, r := svc.Keyer().Events(oneMachine(n, "firing")), svc.Keyer().Events(oneMachine(n, "resolved"))
				start := time.Now()
				sum, err := svc.Ingest(ctx, f)
				if err != nil || sum.Created != 1 || sum.Joined != n-1 {
					b.Fatalf("%+v %v", sum, err)
				}
				fire += time.Since(start)
				start = time.Now()
				if sum, err = svc.Ingest(ctx, r); err != nil || sum.Cleared != n {
					b.Fatalf("%+v %v", sum, err)
				}
				resolve += time.Since(start)
				st.Close()
			}
			b.ReportMetric(float64(fire.Microseconds())/float64(b.N*n), "firing-us/alert")
			b.ReportMetric(float64(resolve.Microseconds())/float64(b.N*n), "resolved-us/alert")
		})
	}
}
