package verify

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minefarm/cgminer-stack/receiver/config"
	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/task"
)

func TestRenderExpr(t *testing.T) {
	labels := map[string]string{"instance": `10.0.0.1"} or vector(1) #`, "job": "cgminer", "fan": "1", "empty": ""}
	for _, tc := range []struct {
		name, expr, want, err string
	}{
		{"quoted", "cgminer_up{instance=${instance},job=${job}} == 0", `cgminer_up{instance="10.0.0.1\"} or vector(1) #",job="cgminer"} == 0`, ""},
		{"same label twice", "a{fan=${fan}} or b{fan=${fan}}", `a{fan="1"} or b{fan="1"}`, ""},
		{"missing label", "a{board=${board}}", "", "no label board"},
		{"empty label", "a{x=${empty}}", "", "no label empty"},
		{"stray ${", "a{x=${fan}} or ${ oops", "", "not a ${label}"},
		{"bad name", "a{x=${9fan}}", "", "not a ${label}"},
		{"no placeholder", "cgminer_up == 0", "", "no ${label}"},
		{"empty", "  ", "", "empty"},
		{"too long", "a{x=${fan}}" + strings.Repeat("+0", MaxExprBytes/2), "", "longer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := RenderExpr(tc.expr, labels)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("%q %v, want %q", got, err, tc.want)
			}
		})
	}
	// Every value round-trips through PromQL's unquoting (Go's).
	for _, v := range []string{`a"b`, `back\slash`, "new\nline", "\x01\x7f", "é€😀", "\uFFFD"} {
		if u, err := strconv.Unquote(PromQLString(v)); err != nil || u != v {
			t.Errorf("%q: %q %v", v, u, err)
		}
	}
}

func TestParseFacts(t *testing.T) {
	f := ParseFacts([]map[string]string{
		{"__name__": "cgminer_probe_error_info", "reason": "connection_refused"},
		{"__name__": "cgminer_info", "model": "Antminer S19j Pro", "firmware": "braiins", "software": "bosminer", "software_version": "22.08"},
		{"__name__": "cgminer_device_info", "serial": "SN1", "mac": "aa:bb"},
	})
	if f.Model != "Antminer S19j Pro" || f.Firmware != "braiins" || f.Software != "bosminer 22.08" || f.Serial != "SN1" || f.MAC != "aa:bb" || f.ProbeError != "connection_refused" {
		t.Fatalf("%+v", f)
	}
	if f := ParseFacts(nil); f != (task.Facts{}) {
		t.Fatalf("absent metrics must leave facts unknown: %+v", f)
	}
	if q := FactsQuery(map[string]string{"instance": `10.0.0.1"`}, 0); q != `cgminer_info{instance="10.0.0.1\""} or cgminer_device_info{instance="10.0.0.1\""} or cgminer_probe_error_info{instance="10.0.0.1\""}` {
		t.Fatalf("query %s", q)
	}
}

// memSnapshots is a SnapshotStore in memory (the SQL one has its own conformance test).
type memSnapshots struct {
	mu sync.Mutex
	s  map[int64]store.Snapshot
}

func (m *memSnapshots) SnapshotsDue(_ context.Context, now time.Time, limit int) ([]store.Snapshot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.Snapshot
	for _, s := range m.s {
		if s.State == store.SnapshotPending && !s.NextAt.After(now) && len(out) < limit {
			out = append(out, s)
		}
	}
	return out, nil
}

func (m *memSnapshots) SaveSnapshot(_ context.Context, s store.Snapshot) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.s[s.TaskID] = s
	return nil
}

// TestSnapshotter against an exporter on loopback: the debug probe's query, a 429 retried after
// its Retry-After, a 500 retried with backoff until snapshot.attempts, a 400 given up at once, and
// an answer over max_bytes cut on a rune boundary.
func TestSnapshotter(t *testing.T) {
	var mu sync.Mutex
	var asked []string
	answers := map[string][]int{} // target → status codes to answer in turn (then 200)
	big := strings.Repeat("é", 1000)
	exp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		q := r.URL.Query()
		asked = append(asked, r.URL.Path+"?"+r.URL.RawQuery)
		if r.URL.Path != "/probe" || q.Get("debug") != "true" {
			http.NotFound(w, r)
			return
		}
		tg := q.Get("target")
		if codes := answers[tg]; len(codes) > 0 {
			answers[tg] = codes[1:]
			if codes[0] == 429 {
				w.Header().Set("Retry-After", "2")
			}
			http.Error(w, "no\x00thanks", codes[0])
			return
		}
		if tg == "10.0.0.4" {
			_, _ = io.WriteString(w, big)
			return
		}
		_, _ = io.WriteString(w, "Probe of "+tg+" with module "+q.Get("module")+"\n")
	}))
	defer exp.Close()
	now := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	cfg := config.Default()
	cfg.Snapshot.ExporterURL, cfg.Snapshot.Rate, cfg.Snapshot.Burst, cfg.Snapshot.MaxBytes, cfg.Snapshot.Attempts = exp.URL+"/", 100, 10, 1024, 3
	mem := &memSnapshots{s: map[int64]store.Snapshot{}}
	for i, tg := range []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5:4029"} {
		mem.s[int64(i+1)] = store.Snapshot{TaskID: int64(i + 1), Target: tg, Module: "antminer_s19jpro", State: store.SnapshotPending, NextAt: now}
	}
	answers["10.0.0.2"] = []int{429, 429}
	answers["10.0.0.3"] = []int{500, 500, 500}
	answers["10.0.0.5:4029"] = []int{400}
	m := &Metrics{}
	m.evidenceMetrics()
	sn := &Snapshotter{Store: mem, Config: func() *config.Config { return cfg }, Now: func() time.Time { return now },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: m}
	ctx := context.Background()
	for range 6 { // passes 10 s apart
		if _, err := sn.Once(ctx); err != nil {
			t.Fatal(err)
		}
		now = now.Add(10 * time.Second)
	}
	for _, tc := range []struct {
		id       int64
		state    string
		attempts int
		body     string
	}{
		{1, store.SnapshotTaken, 1, "Probe of 10.0.0.1 with module antminer_s19jpro\n"},
		{2, store.SnapshotTaken, 3, "Probe of 10.0.0.2"},
		{3, store.SnapshotFailed, 3, ""},
		{5, store.SnapshotFailed, 1, ""},
	} {
		s := mem.s[tc.id]
		if s.State != tc.state || s.Attempts != tc.attempts || !strings.HasPrefix(s.Body, tc.body) {
			t.Errorf("task %d: %+v; want %s after %d attempts", tc.id, s, tc.state, tc.attempts)
		}
	}
	if s := mem.s[5]; s.Status != 400 || !strings.Contains(s.LastError, "no thanks") {
		t.Errorf("400: %+v", s)
	}
	if s := mem.s[4]; s.State != store.SnapshotTaken || !s.Truncated || len(s.Body) > 1024 || len(s.Body) < 1020 || strings.ContainsRune(s.Body, '\uFFFD') {
		t.Errorf("cut: truncated %v, %d bytes, replacement char %v", s.Truncated, len(s.Body), strings.ContainsRune(s.Body, '\uFFFD'))
	}
	mu.Lock()
	defer mu.Unlock()
	if asked[0] != "/probe?debug=true&module=antminer_s19jpro&target=10.0.0.1" && !strings.Contains(strings.Join(asked, " "), "/probe?debug=true&module=antminer_s19jpro&target=10.0.0.1") {
		t.Errorf("asked %v", asked)
	}
	// 10.0.0.3: 500 at 0 s, retried after 10 s and then 20 s: exactly 3 attempts in the 50 s.
	n := 0
	for _, a := range asked {
		if strings.HasSuffix(a, "target=10.0.0.3") {
			n++
		}
	}
	if n != 3 {
		t.Errorf("10.0.0.3 asked %d times, want 3", n)
	}
}
