package repair

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/minefarm/cgminer-stack/receiver/config"
	"github.com/minefarm/cgminer-stack/receiver/notify"
	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/store/sqldb"
	"github.com/minefarm/cgminer-stack/receiver/task"
)

// The crew of the demo teams with contacts, the three channels and a three-step ladder.
const crew = `
people:
  alice: {role: technician, telegram_chat_id: "111", email: alice@farm.example}
  bob: {role: technician, telegram_chat_id: "222"}
  carol: {role: lead, telegram_chat_id: "333", email: carol@farm.example}
  dave: {role: technician}
  erin: {role: technician}
  olga: {role: lead, phone: "+15550199"}
notify:
  telegram: {bot_token_file: x, api_url: "%s"}
  email: {smarthost: "127.0.0.1:1", from: repair@farm.example}
  webhook: {url: "http://127.0.0.1:1/send"}
external_url: http://rr:9155
escalation:
  severities:
    critical: {ack_timeout: 5m, progress_timeout: 1h}
    warning: {ack_timeout: 30m, progress_timeout: 4h}
    info: {}
  on_call: [olga]
  ladder:
    - {to: [assignee], channels: [telegram]}
    - {to: [lead], channels: [email], assign: true}
    - {to: [on_call], channels: [webhook], emails: [oncall@farm.example]}
`

func newLadderEnv(t *testing.T, telegramURL string) *env {
	t.Helper()
	if telegramURL == "" {
		telegramURL = "http://127.0.0.1:1"
	}
	return newEnv(t, fmt.Sprintf(crew, telegramURL))
}

// outbox lists the deliveries written so far as "step:to:channel:address", in order.
func (e *env) outbox(taskID int64) []string {
	e.t.Helper()
	ds, err := e.st.Deliveries(e.ctx, taskID, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for i := len(ds) - 1; i >= 0; i-- {
		d := ds[i]
		s := fmt.Sprintf("%d:%s:%s:%s", d.Step+1, d.To, d.Channel, d.Address)
		if d.GaveUp {
			s += ":gave_up"
		}
		out = append(out, s)
	}
	return out
}

func (e *env) escalations(step, reason string) float64 {
	return testutil.ToFloat64(e.m.Escalations.WithLabelValues(step, reason))
}

func TestLadderClimbsBySeverity(t *testing.T) {
	e := newLadderEnv(t, "")
	e.deliver(fan) // critical: 5 minutes per step
	d := e.only()
	id := d.Task.ID
	if got := e.outbox(id); fmt.Sprint(got) != "[1:alice:telegram:111]" {
		t.Fatalf("assignee's notification: %v", got)
	}
	if !d.Task.EscalateAt.Equal(t0.Add(5 * time.Minute)) {
		t.Fatalf("planned escalation %s", d.Task.EscalateAt)
	}
	e.clk.Add(5*time.Minute - time.Second)
	e.sweep()
	if e.only().Task.LadderStep != 0 {
		t.Fatal("escalated before the ack timeout")
	}
	e.clk.Add(time.Second)
	e.sweep()
	d = e.only()
	if d.Task.LadderStep != 1 || d.Task.Assignee != "carol" || e.escalations("2", task.EscalateUnacknowledged) != 1 {
		t.Fatalf("step 2: %+v", d.Task)
	}
	if got := e.outbox(id); fmt.Sprint(got) != "[1:alice:telegram:111 2:carol:email:carol@farm.example]" {
		t.Fatalf("lead by e-mail: %v", got)
	}
	e.clk.Add(5 * time.Minute)
	e.sweep()
	want := "[1:alice:telegram:111 2:carol:email:carol@farm.example 3:olga:webhook:+15550199 3::email:oncall@farm.example]"
	if got := e.outbox(id); fmt.Sprint(got) != want {
		t.Fatalf("on call: %v\nwant %s", got, want)
	}
	e.clk.Add(5 * time.Minute)
	e.sweep()
	if d := e.only(); d.Task.LadderStep != 2 || d.Task.Escalations != 3 || len(e.outbox(id)) != 6 || e.escalations("3", task.EscalateUnacknowledged) != 2 {
		t.Fatalf("last step repeats: %+v %v", d.Task, e.outbox(id))
	}
	// The board's reason: the history says who was told why.
	var texts []string
	for _, ev := range e.only().Events {
		if ev.Kind == task.KindEscalated {
			texts = append(texts, ev.Text)
		}
	}
	if len(texts) != 3 || !strings.Contains(texts[0], "nobody acknowledged it for 5m0s; escalation 1, step 2 of 3 (carol); reassigned to carol (was alice)") {
		t.Fatalf("history %q", texts)
	}

	// Acknowledged: the ladder starts again, now with the progress timeout.
	e.act(id, "carol", Action{Kind: "ack"})
	if d := e.only(); d.Task.LadderStep != 0 || !d.Task.EscalateAt.Equal(e.clk.Now().Add(time.Hour)) {
		t.Fatalf("after ack: %+v", d.Task)
	}
}

func TestForgottenTaskEscalates(t *testing.T) {
	e := newLadderEnv(t, "")
	e.deliver(al{name: "MinerHashrateLow", instance: "10.1.0.8", site: "site-a", firing: true, start: t0, extra: map[string]string{"severity": "warning"}})
	id := e.tasks()[0].ID
	e.act(id, "alice", Action{Kind: "start"})
	e.clk.Add(3 * time.Hour)
	e.act(id, "alice", Action{Kind: "note", Text: "waiting for a fan"}) // progress
	e.clk.Add(4*time.Hour - time.Second)
	e.sweep()
	if e.only().Task.LadderStep != 0 {
		t.Fatal("escalated though a note came 4h ago")
	}
	e.clk.Add(time.Second)
	e.sweep()
	d := e.only()
	if d.Task.LadderStep != 1 || d.Task.State != task.InProgress || d.Task.Assignee != "alice" || e.escalations("2", task.EscalateNoProgress) != 1 {
		t.Fatalf("no progress: %+v", d.Task)
	}
	got := e.outbox(id)
	if got[len(got)-1] != "2:carol:email:carol@farm.example" {
		t.Fatalf("lead not told: %v", got)
	}
	msgs, _ := e.st.Pending(e.ctx, e.clk.Now(), 100)
	last := msgs[len(msgs)-1]
	if !strings.Contains(last.Text, "in progress with alice, no progress for 4h0m0s") || last.Fields["severity"] != "warning" ||
		last.Fields["site"] != "site-a" || last.Fields["ip"] != "10.1.0.8" {
		t.Fatalf("message %+v", last)
	}
	// The next step waits the warning's ack timeout (30m), not another 4 hours.
	e.clk.Add(30 * time.Minute)
	e.sweep()
	if e.only().Task.LadderStep != 2 {
		t.Fatal("step 3 not after the ack timeout")
	}
}

func TestInfoNeverEscalates(t *testing.T) {
	e := newLadderEnv(t, "")
	e.deliver(al{name: "MinerRestarting", instance: "10.1.0.9", site: "site-a", firing: true, start: t0, extra: map[string]string{"severity": "info"}})
	e.clk.Add(1000 * time.Hour)
	e.sweep()
	if d := e.only(); d.Task.Escalations != 0 || !d.Task.EscalateAt.IsZero() {
		t.Fatalf("info escalated: %+v", d.Task)
	}
}

// A recipient with no contact for the step's channels: the delivery is stored given up at once,
// and the next sweep moves on without waiting for the timeout.
func TestUnreachableStepMovesOn(t *testing.T) {
	e := newLadderEnv(t, "")
	e.deliver(al{name: "MinerFanFailure", instance: "10.2.0.1", site: "site-b", firing: true, start: t0}) // team rest: dave, no contact
	id := e.tasks()[0].ID
	if got := e.outbox(id); fmt.Sprint(got) != "[1:dave:none::gave_up]" {
		t.Fatalf("dave cannot be reached: %v", got)
	}
	e.clk.Add(time.Second)
	e.sweep()
	d := e.only()
	// Team rest has no lead: step 2 names nobody and, without a group chat, is unreachable too.
	if d.Task.LadderStep != 1 || !d.Task.StepFailed || e.escalations("2", task.EscalateUndeliverable) != 1 {
		t.Fatalf("after the unreachable step: %+v", d.Task)
	}
	e.sweep()
	if d := e.only(); d.Task.LadderStep != 2 || e.escalations("3", task.EscalateUndeliverable) != 1 {
		t.Fatalf("step 3: %+v", d.Task)
	}
	if got := e.outbox(id); got[len(got)-2] != "3:olga:webhook:+15550199" {
		t.Fatalf("on call: %v", got)
	}
	u, _ := e.st.Undeliverable(e.ctx, []int64{id})
	if u[id] != 2 {
		t.Fatalf("undeliverable on the card: %v", u)
	}
}

// fakeBot is a loopback Telegram Bot API that answers each chat with a code.
type fakeBot struct {
	mu    sync.Mutex
	codes map[string]int // chat id → status; 200 when absent
	got   []string
}

func (f *fakeBot) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var m struct {
		ChatID string `json:"chat_id"`
		Text   string `json:"text"`
	}
	json.NewDecoder(r.Body).Decode(&m)
	f.mu.Lock()
	f.got = append(f.got, m.ChatID)
	code := f.codes[m.ChatID]
	f.mu.Unlock()
	if code == 0 {
		code = 200
	}
	w.WriteHeader(code)
	if code == 200 {
		io.WriteString(w, `{"ok":true,"result":{}}`)
		return
	}
	io.WriteString(w, `{"ok":false,"description":"Forbidden: bot was blocked by the user"}`)
}

// The assignee's Telegram delivery fails for good: the task's history says so, the board and
// the gauge flag it, and the lead is told by e-mail at the next sweep, not after the 5 minutes.
func TestFailedDeliveryMovesToTheNextStep(t *testing.T) {
	bot := &fakeBot{codes: map[string]int{"111": http.StatusForbidden}}
	srv := httptest.NewServer(bot)
	defer srv.Close()
	e := newLadderEnv(t, srv.URL)
	e.cfg.Notify.Telegram.BotToken = "1:tok"
	reg := prometheus.NewRegistry()
	sender := notify.NewSender(e.svc, func() *config.Config { return e.cfg }, e.clk.Now, slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
	sender.Build = func(c *config.Config) map[string]notify.Channel {
		// E-mail and the webhook go nowhere in this test: the log stands in for them.
		ch := notify.ForConfig(c, slog.New(slog.NewTextHandler(io.Discard, nil)))
		ch[config.ChannelEmail], ch[config.ChannelWebhook] = ch[config.ChannelLog], ch[config.ChannelLog]
		return ch
	}
	e.deliver(fan)
	id := e.tasks()[0].ID
	if _, err := sender.Once(e.ctx); err != nil {
		t.Fatal(err)
	}
	d := e.only()
	if !d.Task.StepFailed || !d.Task.EscalateAt.Equal(e.clk.Now()) {
		t.Fatalf("step not failed: %+v", d.Task)
	}
	var note string
	for _, ev := range d.Events {
		if ev.Kind == task.KindNotification {
			note = ev.Text
		}
	}
	if !strings.Contains(note, "notification not delivered (step 1): alice over telegram: telegram: HTTP 403") || !strings.Contains(note, "nobody was reached") {
		t.Fatalf("history: %q", note)
	}
	if got := undeliverable(t, e.m); got != "telegram=1" {
		t.Fatalf("undeliverable gauge %q", got)
	}
	e.clk.Add(30 * time.Second) // the next sweep, well inside the 5-minute ack timeout
	e.sweep()
	d = e.only()
	if d.Task.LadderStep != 1 || d.Task.Assignee != "carol" || e.escalations("2", task.EscalateUndeliverable) != 1 {
		t.Fatalf("not moved on: %+v", d.Task)
	}
	if _, err := sender.Once(e.ctx); err != nil {
		t.Fatal(err)
	}
	ds, _ := e.st.Deliveries(e.ctx, id, 0)
	if ds[0].To != "carol" || ds[0].Channel != "email" || ds[0].SentAt.IsZero() || !ds[1].GaveUp || ds[1].Tries[0].Result != store.AttemptGaveUp {
		t.Fatalf("deliveries %+v", ds)
	}
	// Closing the task takes its undeliverable notification off the gauge.
	e.deliver(fanDone)
	e.act(id, "carol", Action{Kind: "cancel", Text: "moved"})
	if got := undeliverable(t, e.m); got != "" {
		t.Fatalf("closed task still counted: %q", got)
	}
}

// undeliverable is what /metrics says in repair_receiver_notifications_undeliverable.
func undeliverable(t *testing.T, m *Metrics) string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m.undeliverable)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mf := range mfs {
		for _, s := range mf.GetMetric() {
			if v := s.GetGauge().GetValue(); v != 0 {
				out = append(out, fmt.Sprintf("%s=%g", s.GetLabel()[0].GetValue(), v))
			}
		}
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// After a reload with shorter timeouts the sweep plans every open task's escalation again, and
// a task stored before the ladder existed (no escalate_at, as migration 0004 leaves it) gets one
// when the receiver starts.
func TestReplanAfterRestartAndReload(t *testing.T) {
	e := newLadderEnv(t, "")
	e.deliver(fan)
	if _, err := e.st.(*sqldb.DB).SQL().ExecContext(e.ctx, `UPDATE tasks SET escalate_at = 0, step_at = 0`); err != nil {
		t.Fatal(err)
	}
	e.open() // a restart: a new service
	e.sweep()
	if d := e.only(); !d.Task.EscalateAt.Equal(t0.Add(5 * time.Minute)) {
		t.Fatalf("not planned at start: %s", d.Task.EscalateAt)
	}
	next, err := config.Parse([]byte(demo + strings.Replace(fmt.Sprintf(crew, "http://127.0.0.1:1"), "critical: {ack_timeout: 5m", "critical: {ack_timeout: 1m", 1)))
	if err != nil {
		t.Fatal(err)
	}
	e.clk.Add(time.Minute)
	e.cfg = next // reload
	e.sweep()
	if d := e.only(); d.Task.LadderStep != 1 || d.Task.Escalations != 1 {
		t.Fatalf("not escalated after the reload shortened the timeout: %+v", d.Task)
	}
}

// A task whose stored escalate_at is stale (due by it, not by the rules) is planned again rather
// than left on the due list, where it would take a place on every sweep's page.
func TestStaleEscalationPlanIsRenewed(t *testing.T) {
	e := newLadderEnv(t, "")
	e.deliver(fan)
	e.sweep() // plans under this configuration
	if _, err := e.st.(*sqldb.DB).SQL().ExecContext(e.ctx, `UPDATE tasks SET escalate_at = $1`, t0.Add(-time.Hour).UnixMicro()); err != nil {
		t.Fatal(err)
	}
	if n := e.sweep(); n != 1 {
		t.Fatalf("sweep changed %d tasks, want the one planned again", n)
	}
	d := e.only()
	if d.Task.Escalations != 0 || !d.Task.EscalateAt.Equal(t0.Add(5*time.Minute)) {
		t.Fatalf("%+v", d.Task)
	}
	if n := e.sweep(); n != 0 {
		t.Fatalf("still due: %d", n)
	}
}
