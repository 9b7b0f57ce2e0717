package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

	"github.com/minefarm/cgminer-stack/receiver/config"
	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/store/sqlite"
	"github.com/minefarm/cgminer-stack/receiver/task"
)

var t0 = time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)

// fakeTelegram is a loopback Bot API: it records sendMessage calls and answers with the codes
// it is given (200 once they run out).
type fakeTelegram struct {
	mu    sync.Mutex
	codes []int
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
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	switch code {
	case 200:
		w.Write([]byte(`{"ok":true,"result":{"message_id":1}}`))
	case 429:
		w.Write([]byte(`{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 30","parameters":{"retry_after":30}}`))
	default:
		w.Write([]byte(`{"ok":false,"description":"Bad Request: chat not found"}`))
	}
}

func (f *fakeTelegram) calls() []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]map[string]any(nil), f.got...)
}

func (f *fakeTelegram) fail(codes ...int) {
	f.mu.Lock()
	f.codes = codes
	f.mu.Unlock()
}

func TestTelegramChannel(t *testing.T) {
	tg := &fakeTelegram{}
	srv := httptest.NewServer(tg)
	defer srv.Close()
	ch := &Telegram{APIURL: srv.URL, Token: "123:SECRET"}
	msg := sampleMessage("alice", "111")
	if err := ch.Send(ctxT(t), msg); err != nil {
		t.Fatal(err)
	}
	got := tg.calls()
	if len(got) != 1 || tg.paths[0] != "/bot123:SECRET/sendMessage" || got[0]["chat_id"] != "111" {
		t.Fatalf("call %v to %v", got, tg.paths)
	}
	text, _ := got[0]["text"].(string)
	for _, want := range []string{"ESCALATED task #12", "Antminer S19j Pro at site-a › rack-2 › slot 14 (10.1.0.7)", "http://repair.example:9155/tasks/12"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	if _, ok := got[0]["parse_mode"]; ok {
		t.Fatal("parse mode set: label values with < or & could make the message undeliverable")
	}
	for _, tc := range []struct {
		code       int
		permanent  bool
		retryAfter time.Duration
	}{{429, false, 30 * time.Second}, {500, false, 0}, {502, false, 0}, {400, true, 0}, {403, true, 0}, {404, true, 0}} {
		tg.fail(tc.code)
		err := ch.Send(ctxT(t), msg)
		var ra *RetryAfter
		if err == nil || errors.Is(err, ErrPermanent) != tc.permanent || (tc.retryAfter > 0) != errors.As(err, &ra) ||
			(ra != nil && ra.After != tc.retryAfter) || strings.Contains(err.Error(), "SECRET") {
			t.Errorf("HTTP %d: %v (permanent %v, retry after %v)", tc.code, err, errors.Is(err, ErrPermanent), ra)
		}
	}
	if err := ch.Send(ctxT(t), Message{Text: "x"}); !errors.Is(err, ErrPermanent) {
		t.Fatalf("no chat: %v", err)
	}
	// An unreachable API: the error must not carry the URL (with the token) either.
	srv.Close()
	err := ch.Send(ctxT(t), msg)
	if err == nil || strings.Contains(err.Error(), "SECRET") || errors.Is(err, ErrPermanent) {
		t.Fatalf("unreachable: %v", err)
	}
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if err := ch.Send(expired, msg); err == nil || err.Error() != "telegram: timeout" {
		t.Fatalf("timeout: %v", err)
	}
}

// webhookPeer is a loopback gateway recording what it is sent.
type webhookPeer struct {
	mu      sync.Mutex
	codes   []int
	headers []http.Header
	bodies  []WebhookPayload
	extra   http.Header
}

func (p *webhookPeer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var body WebhookPayload
	json.NewDecoder(r.Body).Decode(&body)
	p.bodies = append(p.bodies, body)
	p.headers = append(p.headers, r.Header.Clone())
	code := 202
	if len(p.codes) > 0 {
		code, p.codes = p.codes[0], p.codes[1:]
	}
	for k, v := range p.extra {
		w.Header()[k] = v
	}
	if code == http.StatusFound {
		w.Header().Set("Location", "http://127.0.0.1:1/elsewhere")
	}
	w.WriteHeader(code)
	fmt.Fprintf(w, "answer %d", code)
}

func TestWebhookChannel(t *testing.T) {
	peer := &webhookPeer{}
	srv := httptest.NewServer(peer)
	defer srv.Close()
	ch := &Webhook{URL: srv.URL + "/send", Token: "gw-SECRET", Timeout: 5 * time.Second, Now: func() time.Time { return t0 }}
	msg := sampleMessage("olga", "+15550199")
	if err := ch.Send(ctxT(t), msg); err != nil {
		t.Fatal(err)
	}
	if len(peer.bodies) != 1 || peer.headers[0].Get("Authorization") != "Bearer gw-SECRET" || peer.headers[0].Get("Content-Type") != "application/json" {
		t.Fatalf("request %+v %v", peer.bodies, peer.headers)
	}
	b := peer.bodies[0]
	want := WebhookTask{ID: 12, URL: "http://repair.example:9155/tasks/12", Severity: "critical", State: "open", Machine: "10.1.0.7",
		Site: "site-a", Rack: "rack-2", Slot: "14", Model: "Antminer S19j Pro"}
	if b.Version != "1" || b.ID != 31 || b.Recipient != (WebhookRecipient{Name: "olga", Phone: "+15550199"}) || b.Step != 2 || b.Task != want ||
		!strings.Contains(b.Text, "ESCALATED task #12") || b.Fields["serial"] != "SN123" {
		t.Fatalf("payload %+v", b)
	}
	for _, tc := range []struct {
		code       int
		header     string
		permanent  bool
		retryAfter time.Duration
	}{
		{500, "", false, 0}, {503, "120", false, 2 * time.Minute}, {429, t0.Add(90 * time.Second).Format(http.TimeFormat), false, 90 * time.Second},
		{429, "", false, 0}, {400, "", true, 0}, {401, "", true, 0}, {404, "", true, 0}, {410, "", true, 0}, {302, "", true, 0},
	} {
		peer.mu.Lock()
		peer.codes, peer.extra = []int{tc.code}, http.Header{}
		if tc.header != "" {
			peer.extra.Set("Retry-After", tc.header)
		}
		peer.mu.Unlock()
		err := ch.Send(ctxT(t), msg)
		var ra *RetryAfter
		errors.As(err, &ra)
		if err == nil || errors.Is(err, ErrPermanent) != tc.permanent || (ra == nil) != (tc.retryAfter == 0) || (ra != nil && ra.After != tc.retryAfter) ||
			strings.Contains(err.Error(), "SECRET") {
			t.Errorf("HTTP %d %q: %v (permanent %v, retry after %+v)", tc.code, tc.header, err, errors.Is(err, ErrPermanent), ra)
		}
	}
	if n := len(peer.bodies); n != 10 {
		t.Fatalf("%d requests: a redirect was followed", n)
	}
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if err := ch.Send(expired, msg); err == nil || errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("timeout: %v", err)
	}
	srv.Close()
	if err := ch.Send(ctxT(t), msg); err == nil || errors.Is(err, ErrPermanent) {
		t.Fatalf("refused connection must be retried: %v", err)
	}
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type env struct {
	st   store.Store
	tg   *fakeTelegram
	hook *webhookPeer
	mp   *mailpit
	cfg  *config.Config
	clk  *clock
	s    *Sender
	logs *bytes.Buffer
}

func newEnv(t *testing.T, extra string, withMail bool) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{st: st, tg: &fakeTelegram{}, hook: &webhookPeer{}, clk: &clock{now: t0}, logs: &bytes.Buffer{}}
	tgSrv, hookSrv := httptest.NewServer(e.tg), httptest.NewServer(e.hook)
	t.Cleanup(tgSrv.Close)
	t.Cleanup(hookSrv.Close)
	smtp := "127.0.0.1:1"
	if withMail {
		e.mp = startMailpit(t)
		smtp = e.mp.SMTP
	}
	e.cfg, err = config.Parse([]byte(fmt.Sprintf(`
external_url: http://rr:9155
people:
  alice: {role: technician, telegram_chat_id: "111"}
  bob: {role: technician}
  carol: {role: lead, email: carol@farm.example}
  olga: {role: lead, phone: "+15550199"}
notify:
  telegram: {bot_token_file: x, chat_id: "-100", api_url: %q}
  email: {smarthost: %q, from: repair@farm.example}
  webhook: {url: %q}
%s`, tgSrv.URL, smtp, hookSrv.URL+"/send", extra)))
	if err != nil {
		t.Fatal(err)
	}
	e.cfg.Notify.Telegram.BotToken = "123:SECRET"
	logger := slog.New(slog.NewTextHandler(e.logs, nil))
	e.s = NewSender(StoreOutbox{st}, func() *config.Config { return e.cfg }, e.clk.Now, logger, prometheus.NewRegistry())
	e.s.Facts = st
	return e
}

func (e *env) enqueue(t *testing.T, msgs ...store.Message) {
	t.Helper()
	err := e.st.InTx(context.Background(), func(tx store.Tx) error { return tx.Enqueue(context.Background(), msgs) })
	if err != nil {
		t.Fatal(err)
	}
}

func (e *env) once(t *testing.T) int {
	t.Helper()
	n, err := e.s.Once(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *env) attempts(ch, result string) float64 {
	return testutil.ToFloat64(e.s.attempts.WithLabelValues(ch, result))
}

// One pass delivers over every channel to each recipient's own address, the legacy row to the
// group chat named, and stores every attempt.
func TestSenderAcrossChannels(t *testing.T) {
	e := newEnv(t, "", true)
	fields := map[string]string{"site": "site-a", "rack": "rack-2", "where": "site-a › rack-2", "ip": "10.1.0.7", "severity": "critical"}
	e.enqueue(t,
		store.Message{TaskID: 4, To: "alice", Channel: "telegram", Address: "111", Fields: fields, Text: "New repair task #4 on 10.1.0.7: fan", CreatedAt: t0},
		store.Message{TaskID: 4, To: "carol", Channel: "email", Address: "carol@farm.example", Step: 1, Fields: fields, Text: "ESCALATED task #4", CreatedAt: t0},
		store.Message{TaskID: 4, To: "olga", Channel: "webhook", Address: "+15550199", Step: 2, Fields: fields, Text: "ESCALATED task #4", CreatedAt: t0},
		store.Message{TaskID: 4, To: "bob", Text: "fan <b> & co", CreatedAt: t0}, // stored before channels
	)
	if n := e.once(t); n != 4 {
		t.Fatalf("handled %d", n)
	}
	tg := e.tg.calls()
	if len(tg) != 2 {
		t.Fatalf("telegram calls %v", tg)
	}
	byChat := map[string]string{}
	for _, c := range tg {
		byChat[c["chat_id"].(string)] = c["text"].(string)
	}
	if !strings.HasPrefix(byChat["111"], "New repair task #4") || !strings.Contains(byChat["111"], "Miner at site-a › rack-2 (10.1.0.7) · critical") ||
		!strings.HasSuffix(byChat["111"], "http://rr:9155/tasks/4") {
		t.Fatalf("alice's own chat: %q", byChat["111"])
	}
	if byChat["-100"] != "@bob: fan <b> & co\nhttp://rr:9155/tasks/4" {
		t.Fatalf("group chat: %q", byChat["-100"])
	}
	if mails := e.mp.messages(t); len(mails) != 1 || mails[0].To[0].Address != "carol@farm.example" || !strings.Contains(mails[0].Text, "site-a › rack-2") {
		t.Fatalf("mail %+v", mails)
	}
	if len(e.hook.bodies) != 1 || e.hook.bodies[0].Recipient.Phone != "+15550199" || e.hook.bodies[0].Step != 3 {
		t.Fatalf("webhook %+v", e.hook.bodies)
	}
	if e.attempts("telegram", "sent") != 2 || e.attempts("email", "sent") != 1 || e.attempts("webhook", "sent") != 1 {
		t.Fatal("attempts by channel not counted")
	}
	ds, _ := e.st.Deliveries(context.Background(), 4, 0)
	for _, d := range ds {
		if d.SentAt.IsZero() || len(d.Tries) != 1 || d.Tries[0].Result != store.AttemptSent {
			t.Errorf("delivery %+v", d)
		}
	}
	if e.once(t) != 0 {
		t.Fatal("sent twice")
	}
}

// Retries wait for the backoff or what the peer asked (Telegram's retry_after), on a hand-moved
// clock; a permanent answer gives up at once; max_attempts bounds the rest.
func TestSenderRetriesAndGivesUp(t *testing.T) {
	e := newEnv(t, "  max_attempts: 3\n", false)
	e.enqueue(t, store.Message{TaskID: 4, To: "alice", Channel: "telegram", Address: "111", Text: "fan", CreatedAt: t0})
	e.tg.fail(429, 502)
	e.once(t) // 429, retry_after 30 s (more than the 5 s backoff)
	e.clk.Add(29 * time.Second)
	if e.once(t) != 0 {
		t.Fatal("retried before retry_after")
	}
	e.clk.Add(time.Second)
	e.once(t) // 502: backoff 10 s
	e.clk.Add(9 * time.Second)
	if e.once(t) != 0 {
		t.Fatal("retried before the backoff")
	}
	e.clk.Add(time.Second)
	e.once(t) // 200
	if e.attempts("telegram", "failed") != 2 || e.attempts("telegram", "sent") != 1 || len(e.tg.calls()) != 3 {
		t.Fatalf("attempts: failed %v sent %v calls %d", e.attempts("telegram", "failed"), e.attempts("telegram", "sent"), len(e.tg.calls()))
	}
	ds, _ := e.st.Deliveries(context.Background(), 4, 0)
	if tr := ds[0].Tries; len(tr) != 3 || tr[0].Result != "failed" || !strings.Contains(tr[0].Error, "HTTP 429") || tr[2].Result != "sent" {
		t.Fatalf("attempt log %+v", tr)
	}

	// 400: given up at once.
	e.enqueue(t, store.Message{TaskID: 5, To: "alice", Channel: "telegram", Address: "111", Text: "x", CreatedAt: e.clk.Now()})
	e.tg.fail(400)
	e.once(t)
	if e.attempts("telegram", "gave_up") != 1 || testutil.ToFloat64(e.s.sent.WithLabelValues("gave_up")) != 1 {
		t.Fatal("permanent failure not given up")
	}
	// Always 500: given up after max_attempts (3).
	e.enqueue(t, store.Message{TaskID: 6, To: "alice", Channel: "telegram", Address: "111", Text: "y", CreatedAt: e.clk.Now()})
	e.tg.fail(500, 500, 500, 500)
	for range 5 {
		e.once(t)
		e.clk.Add(time.Hour)
	}
	ds, _ = e.st.Deliveries(context.Background(), 6, 0)
	if !ds[0].GaveUp || ds[0].Attempts != 3 || len(ds[0].Tries) != 3 || ds[0].Tries[2].Result != store.AttemptGaveUp {
		t.Fatalf("max attempts: %+v", ds[0])
	}
	if p, _ := e.st.Pending(context.Background(), e.clk.Now().Add(time.Hour), 10); len(p) != 0 {
		t.Fatalf("given-up messages still pending: %+v", p)
	}
	if strings.Contains(e.logs.String(), "SECRET") {
		t.Fatalf("token in logs: %s", e.logs.String())
	}
}

// A channel that hangs does not hold up the others: deliveries over different channels go out
// side by side.
func TestSenderChannelsDoNotWaitForEachOther(t *testing.T) {
	e := newEnv(t, "", false)
	release := make(chan struct{})
	var once sync.Once
	hang := ChannelFunc(func(ctx context.Context, m Message) error {
		once.Do(func() {})
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	tg := &Telegram{APIURL: e.cfg.Notify.Telegram.APIURL, Token: "123:SECRET"}
	e.s.Build = func(*config.Config) map[string]Channel {
		return map[string]Channel{"email": hang, "telegram": ChannelFunc(func(ctx context.Context, m Message) error {
			err := tg.Send(ctx, m)
			close(release) // the hanging e-mail goes on only once Telegram has delivered
			return err
		})}
	}
	e.enqueue(t,
		store.Message{TaskID: 4, To: "carol", Channel: "email", Address: "carol@farm.example", Text: "first", CreatedAt: t0},
		store.Message{TaskID: 4, To: "alice", Channel: "telegram", Address: "111", Text: "second", CreatedAt: t0},
	)
	if n := e.once(t); n != 2 || len(e.tg.calls()) != 1 || e.attempts("email", "sent") != 1 {
		t.Fatalf("handled %d, telegram calls %d", n, len(e.tg.calls()))
	}
}

// A delivery over a channel the configuration no longer has is given up, saying so.
func TestSenderChannelGone(t *testing.T) {
	e := newEnv(t, "", false)
	e.enqueue(t, store.Message{TaskID: 4, To: "olga", Channel: "webhook", Address: "+1555", Text: "x", CreatedAt: t0})
	e.cfg.Notify.Webhook = nil
	e.cfg = mustCopy(e.cfg) // a reload makes a new configuration
	e.once(t)
	ds, _ := e.st.Deliveries(context.Background(), 4, 0)
	if !ds[0].GaveUp || !strings.Contains(ds[0].LastError, "not configured") {
		t.Fatalf("%+v", ds[0])
	}
}

func mustCopy(c *config.Config) *config.Config { n := *c; return &n }

// ChannelFunc adapts a function (tests).
type ChannelFunc func(ctx context.Context, m Message) error

func (f ChannelFunc) Send(ctx context.Context, m Message) error { return f(ctx, m) }

func TestRender(t *testing.T) {
	cfg := &config.Config{ExternalURL: "http://rr", People: map[string]config.Person{"alice": {Contact: config.Contact{TelegramChatID: "111"}}}}
	m := store.Message{TaskID: 3, To: "alice", Channel: "telegram", Address: "-100", Text: "Task #3 on 10.1.0.9\r\nreopened",
		Fields: map[string]string{"where": "site-b › rack-1", "ip": "10.1.0.9", "fleet": ""}}
	r := Render(m, task.Facts{Model: "Whatsminer\nM30S"}, "", cfg)
	if !strings.HasPrefix(r.Text, "@alice: Task #3") || !strings.Contains(r.Text, "Whatsminer M30S at site-b › rack-1 (10.1.0.9)") || r.Link != "http://rr/tasks/3" {
		t.Fatalf("text %q", r.Text)
	}
	if strings.ContainsAny(r.Subject, "\r\n") || r.Subject != "Task #3 on 10.1.0.9 — site-b › rack-1" {
		t.Fatalf("subject %q", r.Subject)
	}
	m.Address = "111" // her own chat: not named
	if r := Render(m, task.Facts{}, "", cfg); strings.HasPrefix(r.Text, "@") {
		t.Fatalf("own chat named: %q", r.Text)
	}
	m.Text = strings.Repeat("ж", 5000)
	if r := Render(m, task.Facts{}, "", cfg); utf8.RuneCountInString(r.Text) != MaxRunes || utf8.RuneCountInString(r.Subject) > MaxSubjectRunes || !utf8.ValidString(r.Text) {
		t.Fatalf("not bounded: %d runes", utf8.RuneCountInString(r.Text))
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

// A new task's first message waits (at most FactsWait) for the machine's facts, so that it names
// the model.
func TestSenderWaitsBrieflyForTheModel(t *testing.T) {
	e := newEnv(t, "", false)
	e.s.FactsWait = 15 * time.Second
	ctx := context.Background()
	var ids []int64
	for _, m := range []string{"10.1.0.7", "10.1.0.8"} {
		tk := &task.Task{Machine: m, State: task.Open, CreatedAt: t0, UpdatedAt: t0, OpenedAt: t0}
		err := e.st.InTx(ctx, func(tx store.Tx) error {
			if err := tx.CreateTask(ctx, tk); err != nil {
				return err
			}
			return tx.WantEvidence(ctx, tk.ID, nil, t0)
		})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tk.ID)
		e.enqueue(t, store.Message{TaskID: tk.ID, To: "alice", Channel: "telegram", Address: "111", Text: "New repair task", CreatedAt: t0,
			Fields: map[string]string{"ip": m}})
	}
	if n := e.once(t); n != 0 || len(e.tg.calls()) != 0 {
		t.Fatalf("sent before the facts: %d", n)
	}
	if err := e.st.SaveFacts(ctx, ids[0], task.Facts{Model: "Antminer S19j Pro", AskedAt: t0.Add(2 * time.Second)}, t0.Add(time.Hour), ""); err != nil {
		t.Fatal(err)
	}
	e.clk.Add(3 * time.Second)
	if n := e.once(t); n != 1 || !strings.Contains(e.tg.calls()[0]["text"].(string), "Antminer S19j Pro (10.1.0.7)") {
		t.Fatalf("handled %d: %v", n, e.tg.calls())
	}
	e.clk.Add(12 * time.Second) // FactsWait over: the other goes without the model
	if n := e.once(t); n != 1 || !strings.Contains(e.tg.calls()[1]["text"].(string), "Miner (10.1.0.8)") {
		t.Fatalf("handled %d: %v", n, e.tg.calls())
	}
}

// Every channel's message carries the runbook of the task's worst firing alert, the one its
// headline names (a critical one before a newer warning one; not a cleared one), under the task's
// link (Telegram and e-mail in the text, the webhook also as task.runbook_url); an alert-supplied
// link that is not http(s) is not sent.
func TestSenderCarriesTheRunbook(t *testing.T) {
	e := newEnv(t, "", true)
	e.s.Problems = e.st
	ctx := context.Background()
	runbook := "https://github.com/minefarm/cgminer-stack/blob/main/rules/RUNBOOK.md#minerfirmwarefault"
	type prob struct {
		alert, sev, runbook string
		start               time.Duration
		firing              bool
	}
	var ids []int64
	for i, ps := range [][]prob{
		{
			{"MinerFirmwareFault", "critical", runbook, 0, true},
			{"MinerFanFailure", "warning", "https://github.com/minefarm/cgminer-stack/blob/main/rules/RUNBOOK.md#minerfanfailure", time.Minute, true},
			{"MinerOverheating", "critical", "https://github.com/minefarm/cgminer-stack/blob/main/rules/RUNBOOK.md#mineroverheating", 2 * time.Minute, false},
		},
		{{"MinerFanFailure", "critical", "javascript:alert(1)", 0, true}},
	} {
		tk := &task.Task{Machine: fmt.Sprintf("10.1.0.%d", 7+i), State: task.Open, CreatedAt: t0, UpdatedAt: t0, OpenedAt: t0}
		err := e.st.InTx(ctx, func(tx store.Tx) error {
			if err := tx.CreateTask(ctx, tk); err != nil {
				return err
			}
			for j, p := range ps {
				err := tx.AddProblem(ctx, &task.Problem{TaskID: tk.ID, Key: fmt.Sprintf("k%s-%d", tk.Machine, j), Alertname: p.alert, Severity: p.sev,
					Annotations: map[string]string{"runbook_url": p.runbook}, StartsAt: t0.Add(p.start), Firing: p.firing, ReceivedAt: t0})
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tk.ID)
	}
	e.enqueue(t,
		store.Message{TaskID: ids[0], To: "alice", Channel: "telegram", Address: "111", Text: "New repair task", CreatedAt: t0},
		store.Message{TaskID: ids[0], To: "carol", Channel: "email", Address: "carol@farm.example", Text: "ESCALATED task", CreatedAt: t0},
		store.Message{TaskID: ids[0], To: "olga", Channel: "webhook", Address: "+15550199", Text: "ESCALATED task", CreatedAt: t0},
		store.Message{TaskID: ids[1], To: "alice", Channel: "telegram", Address: "111", Text: "Other task", CreatedAt: t0},
	)
	e.once(t)
	line := "\nRunbook: " + runbook
	texts := map[string]string{}
	for _, c := range e.tg.calls() {
		texts[c["text"].(string)[:5]] = c["text"].(string)
	}
	if !strings.HasSuffix(texts["New r"], fmt.Sprintf("/tasks/%d%s", ids[0], line)) {
		t.Errorf("telegram: %q", texts["New r"])
	}
	if strings.Contains(texts["Other"], "Runbook") || texts["Other"] == "" {
		t.Errorf("telegram with a javascript: runbook: %q", texts["Other"])
	}
	if mails := e.mp.messages(t); len(mails) != 1 || !strings.Contains(mails[0].Text, strings.TrimPrefix(line, "\n")) {
		t.Errorf("mail %+v", mails)
	}
	if len(e.hook.bodies) != 1 || e.hook.bodies[0].Task.Runbook != runbook || !strings.HasSuffix(e.hook.bodies[0].Text, line) {
		t.Errorf("webhook %+v", e.hook.bodies)
	}
}
