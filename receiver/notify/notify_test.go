package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/store/sqlite"
)

type fakeTelegram struct {
	mu    sync.Mutex
	codes []int // answers in order; 200 after they run out
	got   []map[string]any
	paths []string
}

func (f *fakeTelegram) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var m map[string]any
	json.NewDecoder(r.Body).Decode(&m)
	f.got = append(f.got, m)
	f.paths = append(f.paths, r.URL.Path)
	code := 200
	if len(f.codes) > 0 {
		code, f.codes = f.codes[0], f.codes[1:]
	}
	w.WriteHeader(code)
	if code == 200 {
		w.Write([]byte(`{"ok":true,"result":{}}`))
		return
	}
	w.Write([]byte(`{"ok":false,"description":"Bad Request: chat not found"}`))
}

func TestSenderRetriesAndGivesUp(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	err = st.InTx(ctx, func(tx store.Tx) error {
		return tx.Enqueue(ctx, []store.Message{{TaskID: 4, To: "alice", Text: "fan <b> & co", CreatedAt: now}})
	})
	if err != nil {
		t.Fatal(err)
	}
	tg := &fakeTelegram{codes: []int{429, 502}}
	srv := httptest.NewServer(tg)
	defer srv.Close()
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	ch := &Telegram{APIURL: srv.URL, Token: "123:SECRET", ChatID: "-100"}
	clock := now
	s := NewSender(st, func() Channel { return ch }, func() time.Time { return clock }, func() string { return "http://rr:9155" }, logger, prometheus.NewRegistry())
	for i, wantSent := range []float64{0, 0, 1, 1} {
		if _, err := s.Once(ctx); err != nil {
			t.Fatal(err)
		}
		if got := testutil.ToFloat64(s.sent.WithLabelValues("sent")); got != wantSent {
			t.Fatalf("round %d: sent %v", i, got)
		}
		clock = clock.Add(Backoff(i + 1))
	}
	if len(tg.got) != 3 {
		t.Fatalf("%d requests, want 3 (429, 502, then 200; no request before the backoff)", len(tg.got))
	}
	if tg.got[2]["text"] != "@alice: fan <b> & co\nhttp://rr:9155/tasks/4" || tg.got[2]["chat_id"] != "-100" || tg.paths[2] != "/bot123:SECRET/sendMessage" {
		t.Fatalf("request %v to %s", tg.got[2], tg.paths[2])
	}
	if _, ok := tg.got[2]["parse_mode"]; ok {
		t.Fatal("parse mode set: label values with < or & could make the message undeliverable")
	}

	// A 400 is permanent: given up at once, and the token never shows in logs.
	st.InTx(ctx, func(tx store.Tx) error {
		return tx.Enqueue(ctx, []store.Message{{TaskID: 5, Text: "x", CreatedAt: clock}})
	})
	tg.codes = []int{400}
	s.Once(ctx)
	if got := testutil.ToFloat64(s.sent.WithLabelValues("gave_up")); got != 1 {
		t.Fatalf("gave_up %v", got)
	}
	if p, _ := st.Pending(ctx, clock.Add(time.Hour), 10); len(p) != 0 {
		t.Fatalf("given-up message still pending: %+v", p)
	}
	if strings.Contains(logs.String(), "SECRET") {
		t.Fatalf("token in logs: %s", logs.String())
	}
	// An unreachable API: the error must not carry the URL (with the token) either.
	srv.Close()
	err = ch.Send(ctx, "", "x")
	if err == nil || strings.Contains(err.Error(), "SECRET") || errors.Is(err, ErrPermanent) {
		t.Fatalf("unreachable: %v", err)
	}
}

func TestTruncateAndBackoff(t *testing.T) {
	long := strings.Repeat("ж", 5000)
	got := Truncate(long, MaxRunes)
	if utf8.RuneCountInString(got) != MaxRunes || !utf8.ValidString(got) {
		t.Fatalf("truncated to %d runes, valid %v", utf8.RuneCountInString(got), utf8.ValidString(got))
	}
	if Truncate("short", MaxRunes) != "short" {
		t.Fatal("short text changed")
	}
	if Backoff(1) != 5*time.Second || Backoff(2) != 10*time.Second || Backoff(30) != 10*time.Minute {
		t.Fatalf("backoff %s %s %s", Backoff(1), Backoff(2), Backoff(30))
	}
}
