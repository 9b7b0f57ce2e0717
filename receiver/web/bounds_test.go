package web

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/minefarm/cgminer-stack/receiver/alert"
	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/task"
)

// alertJSON is one firing alert; extra is spliced into its labels, ann into its annotations.
func alertJSON(instance, extra, ann string) string {
	return fmt.Sprintf(`{"status":"firing","labels":{"alertname":"MinerFanFailure","category":"fan","instance":%q,"site":"site-a"%s},`+
		`"annotations":{"summary":"fan stopped"%s},"startsAt":"2026-11-22T08:00:00Z","generatorURL":"http://p/%s"}`,
		instance, extra, ann, strings.Repeat("g", 4096))
}

// One alert over a label bound is rejected (logged, counted) and the rest of the delivery stored;
// an alert with a 1 MiB description is stored with the description cut to 8 KiB.
func TestWebhookBoundsAlerts(t *testing.T) {
	f := newFixture(t, map[string]string{"alice": hash(t, "pw")})
	f.cfg.Webhook.MaxBodyBytes = 32 << 20
	var many strings.Builder
	for i := range 10000 {
		fmt.Fprintf(&many, `,"l%d":"v"`, i)
	}
	huge := strings.Repeat("x", 1<<20)
	body := `{"version":"4","groupKey":"` + strings.Repeat("k", 1<<20) + `","externalURL":"http://am:9093","alerts":[` + strings.Join([]string{
		alertJSON("10.0.0.1", "", ""),
		alertJSON("10.0.0.2", "", `,"description":"`+huge+`"`),
		alertJSON("10.0.0.3", `,"fan":"`+huge+`"`, ""),
		alertJSON("10.0.0.4", many.String(), ""),
		alertJSON("10.0.0.5", `,"bad-name":"1"`, ""),
	}, ",") + `]}`
	rejected := testutil.ToFloat64(f.srv.alerts.WithLabelValues("rejected"))
	resp, answer := f.do("POST", "/api/v1/alerts", strings.NewReader(body), bearer)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %.300s", resp.StatusCode, answer)
	}
	if len(answer) > 4096 {
		t.Fatalf("answer of %d bytes", len(answer))
	}
	var got struct {
		Created  int `json:"created"`
		Rejected []struct {
			Index  int    `json:"index"`
			Reason string `json:"reason"`
		} `json:"rejected"`
	}
	if err := json.Unmarshal([]byte(answer), &got); err != nil {
		t.Fatal(err)
	}
	if got.Created != 2 || len(got.Rejected) != 3 || got.Rejected[0].Index != 2 || got.Rejected[1].Index != 3 || got.Rejected[2].Index != 4 {
		t.Fatalf("answer %s", answer)
	}
	if d := testutil.ToFloat64(f.srv.alerts.WithLabelValues("rejected")) - rejected; d != 3 {
		t.Fatalf("%v rejections counted, want 3", d)
	}
	if d := testutil.ToFloat64(f.srv.alerts.WithLabelValues("trimmed")); d != 2 {
		t.Fatalf("%v trimmed alerts counted, want 2 (both generatorURLs dropped, one description cut)", d)
	}
	_, api := f.get("/api/v1/tasks/2", "alice:pw", 1<<20)
	var task struct {
		Problems []struct {
			Annotations  map[string]string `json:"annotations"`
			GeneratorURL string            `json:"generator_url"`
		} `json:"problems"`
	}
	if err := json.Unmarshal([]byte(api), &task); err != nil || len(task.Problems) != 1 {
		t.Fatalf("%v %.300s", err, api)
	}
	p := task.Problems[0]
	if d := p.Annotations["description"]; len(d) > alert.MaxAnnotationValue || !strings.HasSuffix(d, alert.TruncatedMarker) {
		t.Fatalf("description of %d bytes stored", len(d))
	}
	if p.GeneratorURL != "" {
		t.Fatalf("generatorURL of %d bytes stored", len(p.GeneratorURL))
	}
	if _, board := f.get("/", "alice:pw", 1<<20); len(board) > 64<<10 {
		t.Fatalf("board of %d bytes for two tasks", len(board))
	}
}

// BenchmarkTaskPageLongHistory: the task page and the API detail of a task that has flapped for a
// year (100,000 history events, 10,000 cleared occurrences and the one firing now).
func BenchmarkTaskPageLongHistory(b *testing.B) {
	f := newFixture(b, map[string]string{"alice": hash(b, "pw")})
	f.seed(1)
	ctx := context.Background()
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	err := f.st.InTx(ctx, func(tx store.Tx) error {
		evs := make([]task.Event, 100000)
		for i := range evs {
			evs[i] = task.Event{TaskID: 1, At: start, Actor: "system", Kind: task.KindProblem, From: task.Open, To: task.Open, Text: fmt.Sprintf("MinerFlapping fired again; recurrence %d", i)}
		}
		if err := tx.AddEvents(ctx, evs); err != nil {
			return err
		}
		for i := range 10000 {
			p := &task.Problem{TaskID: 1, Key: "flap", Alertname: "MinerFlapping", StartsAt: start.Add(time.Duration(i) * time.Hour),
				Labels: map[string]string{"alertname": "MinerFlapping", "instance": "10.0.0.1"}, Annotations: map[string]string{"summary": "flapping"}}
			if err := tx.AddProblem(ctx, p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	for _, path := range []string{"/tasks/1", "/api/v1/tasks/1"} {
		b.Run(strings.ReplaceAll(path, "/", "_"), func(b *testing.B) {
			var n int
			for b.Loop() {
				resp, body := f.get(path, "alice:pw", 64<<20)
				if resp.StatusCode != 200 {
					b.Fatalf("%d %.200s", resp.StatusCode, body)
				}
				n = len(body)
			}
			b.ReportMetric(float64(n), "bytes")
		})
	}
}
