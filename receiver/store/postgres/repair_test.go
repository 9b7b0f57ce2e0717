package postgres

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/minefarm/cgminer-stack/receiver/alert"
	"github.com/minefarm/cgminer-stack/receiver/config"
	"github.com/minefarm/cgminer-stack/receiver/repair"
	"github.com/minefarm/cgminer-stack/receiver/store"
)

// TestParallelDeliveries: without SQLite's single writer, concurrent deliveries of the same alerts
// (HA pair, retries) and of overlapping ones still leave one task per machine and one problem per
// occurrence.
func TestParallelDeliveries(t *testing.T) {
	st := open(t)
	cfg, _ := config.Parse([]byte("teams: [{name: a, members: [alice, bob]}]\n"))
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := repair.New(st, func() *config.Config { return cfg }, repair.SystemClock{}, logger, repair.NewMetrics(prometheus.NewRegistry(), st, logger))
	k := svc.Keyer()
	start := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	delivery := func(machines ...int) alert.Result {
		var as template.Alerts
		for _, m := range machines {
			for _, name := range []string{"MinerFanFailure", "MinerTemperatureHigh"} {
				as = append(as, template.Alert{Status: "firing", StartsAt: start,
					Labels: template.KV{"alertname": name, "instance": fmt.Sprintf("10.0.0.%d", m), "site": "s"}})
			}
		}
		return k.Events(&alert.Message{Version: "4", Data: template.Data{Alerts: as}})
	}
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each delivery overlaps the next one by a machine, in a different order.
			ms := []int{i % 8, (i + 1) % 8}
			if i%2 == 1 {
				ms[0], ms[1] = ms[1], ms[0]
			}
			if _, err := svc.Ingest(context.Background(), delivery(ms...)); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	ts, err := st.ListTasks(context.Background(), store.Filter{})
	if err != nil || len(ts) != 8 {
		t.Fatalf("%d tasks, want 8 (%v)", len(ts), err)
	}
	for _, tk := range ts {
		d, _ := st.Detail(context.Background(), tk.ID, store.DetailQuery{})
		if len(d.Problems) != 2 {
			t.Fatalf("task %s has %d problems, want 2", tk.Machine, len(d.Problems))
		}
	}
}
