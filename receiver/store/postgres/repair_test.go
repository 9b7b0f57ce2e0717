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
	"github.com/minefarm/cgminer-stack/receiver/notify"
	"github.com/minefarm/cgminer-stack/receiver/repair"
	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/task"
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

// countingChannel records every message it is asked to send, taking a little while over each so
// that two senders' passes overlap.
type countingChannel struct {
	mu   sync.Mutex
	sent map[int64]int
}

func (c *countingChannel) Send(ctx context.Context, m notify.Message) error {
	time.Sleep(2 * time.Millisecond)
	c.mu.Lock()
	c.sent[m.ID]++
	c.mu.Unlock()
	return nil
}

// TestTwoSendersSendEachMessageOnce: two receivers' senders draining one outbox at the same time
// (a lease handed over while the old leader's pass is still running) deliver every message
// exactly once: a delivery is claimed in the store before it is sent.
func TestTwoSendersSendEachMessageOnce(t *testing.T) {
	st := open(t)
	ctx := context.Background()
	cfg, _ := config.Parse([]byte("teams: [{name: a, members: [alice]}]\n"))
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	tk := &task.Task{Machine: "m1", Identity: map[string]string{"instance": "m1"}, State: task.Open, CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC(), OpenedAt: time.Now().UTC()}
	const n = 60
	err := st.InTx(ctx, func(tx store.Tx) error {
		if err := tx.CreateTask(ctx, tk); err != nil {
			return err
		}
		var msgs []store.Message
		for i := range n {
			msgs = append(msgs, store.Message{TaskID: tk.ID, To: "alice", Channel: config.ChannelLog, Address: "log",
				Text: fmt.Sprint("message ", i), CreatedAt: time.Now().UTC().Add(-time.Minute)})
		}
		return tx.Enqueue(ctx, msgs)
	})
	if err != nil {
		t.Fatal(err)
	}
	ch := &countingChannel{sent: map[int64]int{}}
	var senders []*notify.Sender
	for range 2 {
		svc := repair.New(st, func() *config.Config { return cfg }, repair.SystemClock{}, logger, repair.NewMetrics(prometheus.NewRegistry(), st, logger))
		s := notify.NewSender(svc, func() *config.Config { return cfg }, func() time.Time { return time.Now().UTC() }, logger, prometheus.NewRegistry())
		s.Build = func(*config.Config) map[string]notify.Channel {
			return map[string]notify.Channel{config.ChannelLog: ch}
		}
		s.Batch = 20
		senders = append(senders, s)
	}
	var wg sync.WaitGroup
	for _, s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				if _, err := s.Once(ctx); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if len(ch.sent) != n {
		t.Fatalf("%d of %d messages sent", len(ch.sent), n)
	}
	for id, k := range ch.sent {
		if k != 1 {
			t.Errorf("message %d sent %d times", id, k)
		}
	}
	if p, err := st.Pending(ctx, time.Now().UTC().Add(time.Hour), 100); err != nil || len(p) != 0 {
		t.Fatalf("still pending after both senders: %d %v", len(p), err)
	}
}
