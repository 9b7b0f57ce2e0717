package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minefarm/cgminer-stack/e2e/stack"
)

// The farm of TestStack: 12 miners on a free loopback /27, eight of them at site-a (team alice and
// bob, lead carol), four at site-b (the catch-all team: dave alone, lead carol), so that a site-b
// task's assignee is known in advance. bob's Telegram chat has blocked the bot.
const (
	farmMiners = 12
	siteASize  = 8
	bobChat    = "100002"
)

// The mission's loop through the real components: minersim → cgminer_exporter (discovery,
// positions) → Prometheus 3.16 (the repository's rules) → Alertmanager 0.35 (the repository's
// routing, its e-mail to mailpit and Telegram to the loopback fake) → repair_receiver (tasks, the
// escalation ladder over the fake's Telegram and mailpit's SMTP, remediation restarting simulated
// miners). Fast timing divides every `for:` by 30 and the receiver's windows and escalation
// timeouts by 60, except verification, which runs with the repository's settle (2m) and the
// receiver's default --verify.interval (30s) so that the time a failed repair takes to come back
// is measured as in production, not scaled. The cases run in parallel on different miners.
func TestStack(t *testing.T) {
	if testing.Short() {
		t.Skip("the full stack takes a few minutes")
	}
	t.Parallel()
	root, _ := filepath.Abs("..")
	bin := buildBinaries(t, root)
	work := t.TempDir()
	prometheus, alertmanager := binaries(t, root)
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	var log bytes.Buffer
	farm := freeRange(t)
	prefix := strings.TrimSuffix(farm, "0/27")
	sites := []stack.Site{
		{Name: "site-a", Ranges: []string{fmt.Sprintf("%s1-%s%d", prefix, prefix, siteASize)}},
		{Name: "site-b", Ranges: []string{fmt.Sprintf("%s%d-%s31", prefix, siteASize+1, prefix)}},
	}
	s, err := stack.Start(ctx, stack.Options{Root: root, BinDir: bin, WorkDir: work, Speed: stack.Fast, RealVerification: true,
		Prometheus: prometheus, Alertmanager: alertmanager, Mailpit: mailpitBinary(t, root),
		SimRange: farm, Sites: sites, Miners: farmMiners, Models: "s19jpro=2,m30s=1", Seed: 5,
		TelegramBlocked: []string{bobChat}, Log: &log})
	if err != nil {
		t.Fatalf("stack: %v\n%s", err, log.String())
	}
	defer s.Stop()
	defer func() {
		if t.Failed() {
			for _, n := range []string{"cgminer_exporter", "repair_receiver", "alertmanager", "prometheus", "minersim", "mailpit"} {
				b, _ := os.ReadFile(filepath.Join(work, "logs", n+".log"))
				if len(b) > 4000 {
					b = b[len(b)-4000:]
				}
				t.Logf("--- %s log (tail):\n%s", n, b)
			}
		}
	}()
	t.Logf("timing:\n  %s", strings.Join(s.Timing.Lines(), "\n  "))
	c := &client{t: t, s: s}

	// The farm is found, probed and healthy; the phantom miners targets/ used to list are gone.
	c.eventually("every simulated miner up in Prometheus", 90*time.Second, func() (bool, string) {
		v := c.query(`count(cgminer_up{job="cgminer"} == 1)`)
		return len(v) == 1 && v[0].value() == farmMiners, fmt.Sprint(v)
	})
	if v := c.query(`count(up{job="cgminer"})`); len(v) != 1 || v[0].value() != farmMiners {
		t.Errorf("cgminer targets: %v, want exactly the %d simulated miners", v, farmMiners)
	}
	f := c.farm(farmMiners)
	a, b := f.site(1, siteASize), f.site(siteASize+1, farmMiners)
	// site-a: the undeliverable drill, remediation (an S19j Pro: the cgminer models accept the
	// restart, Whatsminer refuses it), the critical alert, the offline miner.
	restartable := a.take("s19jpro")
	undeliverable, hot, dark := a.take(""), a.take(""), a.take("")
	loop := b.take("")

	// The cases run at once, each on its own miners (goroutines rather than t.Parallel, which would
	// run only GOMAXPROCS of them at a time: they wait, they do not compute).
	var wg sync.WaitGroup
	for name, run := range map[string]func(*testing.T){
		"links":          func(t *testing.T) { checkLinks(t, s) },
		"loop":           func(t *testing.T) { testLoop(&client{t: t, s: s}, loop) },
		"undeliverable":  func(t *testing.T) { testUndeliverable(&client{t: t, s: s}, undeliverable) },
		"remediation":    func(t *testing.T) { testRemediation(&client{t: t, s: s}, restartable) },
		"critical alert": func(t *testing.T) { testCritical(&client{t: t, s: s}, hot) },
		"offline":        func(t *testing.T) { testOffline(&client{t: t, s: s}, dark) },
	} {
		wg.Add(1)
		go func() { defer wg.Done(); t.Run(name, run) }()
	}
	wg.Wait()

	// Every message the fake answered is in its log, for after the run.
	b2, err := os.ReadFile(filepath.Join(work, "telegram.jsonl"))
	if n := bytes.Count(b2, []byte("\n")); err != nil || n != len(s.Telegram.Messages()) || n == 0 {
		t.Errorf("telegram.jsonl: %d lines (%v), the fake answered %d", n, err, len(s.Telegram.Messages()))
	}
}

// testLoop: fault → task with position, model and description → nobody acknowledges → escalated
// to the lead by e-mail after the warning's (fast) ack timeout → acknowledged → reported fixed
// while still broken → back with the technician within 3 minutes (real settle and verification
// interval) → the fault cleared → reported fixed → done.
func testLoop(c *client, m miner) {
	t := c.t
	c.fault(m.Address, "fan_stopped", true)
	tk := c.waitTask(m.Address, "MinerFanFailure", func(tk task) bool { return tk.State == "open" })
	if tk.Assignee != "dave" {
		t.Fatalf("site-b task assigned to %q, want dave (the catch-all team)", tk.Assignee)
	}
	// Which machine, where, what it is, and why.
	full := c.waitTaskID(tk.ID, "machine facts", 60*time.Second, func(tk task) bool { return tk.MachineInfo.Model != "" })
	slot := strconv.Itoa(m.octet()%32 + 1)
	where := "site-b › rack-0 › slot " + slot
	if full.Location["site"] != "site-b" || full.Location["rack"] != "rack-0" || full.Location["slot"] != slot {
		t.Errorf("location %v, want site-b, rack-0, slot %s", full.Location, slot)
	}
	if !strings.Contains(full.Headline, where) || !strings.HasPrefix(full.Headline, full.MachineInfo.Model) || !strings.Contains(full.Headline, "fan") {
		t.Errorf("headline %q: want the model %q, %q and the fan", full.Headline, full.MachineInfo.Model, where)
	}
	if full.MachineInfo.Model != m.Name || full.MachineInfo.IP != m.Address {
		t.Errorf("machine %+v, want model %q at %s", full.MachineInfo, m.Name, m.Address)
	}
	for _, p := range full.Problems {
		if p.Alertname == "MinerFanFailure" && (!strings.Contains(p.Annotations["description"], m.Address) || !strings.Contains(p.Annotations["description"], "rpm")) {
			t.Errorf("description %q: want the miner and the measured rpm", p.Annotations["description"])
		}
	}
	t.Logf("task #%d: %s", tk.ID, full.Headline)
	// Step 1: dave's Telegram.
	c.waitTelegram("dave's new-task message", 60*time.Second, func(tm stack.TelegramMessage) bool {
		return tm.ChatID == "100004" && tm.Status == 200 && strings.Contains(tm.Text, fmt.Sprintf("#%d", tk.ID))
	})

	// Nobody acknowledges: step 2, the lead carol by e-mail, after the ack timeout of the task's
	// severity (a Whatsminer's stopped fan is also its firmware's critical fan fault).
	mail := c.waitMail("the escalation e-mail to carol", 3*time.Minute, func(ml mail) bool {
		return ml.to("carol@farm.example") && strings.Contains(ml.Subject, fmt.Sprintf("ESCALATED task #%d ", tk.ID))
	})
	escalated := c.task(tk.ID)
	ack := c.s.Timing.Escalation[escalated.Severity][0]
	after := mail.Created.Sub(*full.CreatedAt)
	t.Logf("escalated to carol by e-mail %s after the task was made (%s: ack_timeout %s; escalation checked every %s)",
		after.Round(100*time.Millisecond), escalated.Severity, ack, c.s.Timing.SweepInterval)
	if ack == 0 || after < ack {
		t.Errorf("escalated after %s, before the %s ack timeout of a %s task", after, ack, escalated.Severity)
	}
	if after > ack+30*time.Second {
		t.Errorf("escalated only %s after the task was made (ack timeout %s)", after, ack)
	}
	body := c.mailBody(mail.ID)
	link := fmt.Sprintf("%s/tasks/%d", c.s.URLs.Receiver, tk.ID)
	for _, want := range []string{m.Address, "site-b"} {
		if !strings.Contains(mail.Subject, want) {
			t.Errorf("escalation subject %q lacks %q", mail.Subject, want)
		}
	}
	for _, want := range []string{link, m.Name, "rack-0", "slot " + slot} {
		if !strings.Contains(body, want) {
			t.Errorf("escalation e-mail lacks %q:\n%s", want, body)
		}
	}
	// The e-mail carries the runbook of the task's worst firing alert, the one its headline names:
	// a Whatsminer's stopped fan fires MinerFanFailure (warning) and MinerFirmwareFault (its
	// firmware's critical fan_failure), whichever came first, so the firmware fault's runbook.
	sent := ""
	for _, l := range strings.Split(strings.ReplaceAll(body, "\r\n", "\n"), "\n") {
		if u, ok := strings.CutPrefix(l, "Runbook: "); ok {
			sent = u
		}
	}
	if want := worstRunbooks(escalated); sent == "" || !slices.Contains(want, sent) {
		t.Errorf("escalation e-mail's runbook %q, want that of the worst firing alert (one of %q):\n%s", sent, want, body)
	}
	// The e-mail's link opens the task's page, which gives the same runbook on top and each
	// firing alert's beside it.
	resp := c.do("GET", strings.TrimPrefix(link, c.s.URLs.Receiver), "carol", nil)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(page, []byte(`id="runbook" href="`+sent+`"`)) || !bytes.Contains(page, []byte("rules/RUNBOOK.md#minerfanfailure")) {
		t.Errorf("the e-mail's link %s: HTTP %d, the page does not give the e-mail's runbook %q on top and the fan's", link, resp.StatusCode, sent)
	}
	if got := c.task(tk.ID); got.Assignee != "carol" || got.Escalations < 1 || got.State != "open" {
		t.Errorf("after the escalation: %+v, want the open task carol's", got)
	}

	// dave acknowledges (taking it back), starts, and reports it fixed while the fan still stands.
	c.act(tk.ID, "dave", "ack", nil)
	c.act(tk.ID, "dave", "start", nil)
	reported := time.Now()
	c.act(tk.ID, "dave", "fixed", map[string]string{"report": "reseated the fan connector"})
	if got := c.task(tk.ID); got.State != "verifying" {
		t.Fatalf("after fixed: state %s", got.State)
	}
	back := c.waitTaskID(tk.ID, "back with dave after a failed verification", 4*time.Minute, func(tk task) bool {
		return tk.State == "acknowledged" && tk.FailedRepairs >= 1 && tk.Assignee == "dave"
	})
	took := time.Since(reported)
	settle := c.s.Timing.Windows["settle"]
	t.Logf("failed repair back with the technician %s after the report (settle %s, verification every 30s: the production values, not scaled)",
		took.Round(100*time.Millisecond), settle)
	if took > 3*time.Minute {
		t.Errorf("a failed repair came back only after %s (issue 12: at most 3 minutes)", took)
	}
	if took < settle {
		t.Errorf("came back %s after the report, before settle (%s)", took, settle)
	}
	if !strings.Contains(back.Reason, "still broken") {
		t.Errorf("reason %q", back.Reason)
	}
	c.waitTelegram("dave told the repair did not work", 60*time.Second, func(tm stack.TelegramMessage) bool {
		return tm.ChatID == "100004" && strings.Contains(tm.Text, fmt.Sprintf("#%d", tk.ID)) && strings.Contains(tm.Text, "NOT fixed")
	})

	// The fan really is fixed: the alert clears, the report closes the task as done.
	c.fault(m.Address, "fan_stopped", false)
	c.eventually("MinerFanFailure resolved for "+m.Address, 90*time.Second, func() (bool, string) {
		v := c.query(fmt.Sprintf(`ALERTS{alertname="MinerFanFailure",instance=%q}`, m.Address))
		return len(v) == 0, fmt.Sprint(v)
	})
	c.waitTaskID(tk.ID, "every problem cleared", 90*time.Second, func(tk task) bool { return tk.Cleared })
	c.act(tk.ID, "dave", "fixed", map[string]string{"report": "replaced fan 1"})
	c.waitTaskID(tk.ID, "done", settle+90*time.Second, func(tk task) bool { return tk.State == "done" })
}

// testUndeliverable: bob blocked the bot, so a task of his cannot reach him (step 1 is Telegram
// alone); the delivery is given up and flagged on the task, the API and the metric, and the next
// step (the lead by e-mail) is used at once instead of after the ack timeout.
func testUndeliverable(c *client, m miner) {
	t := c.t
	c.fault(m.Address, "fan_stopped", true)
	tk := c.waitTask(m.Address, "MinerFanFailure", func(tk task) bool { return tk.State == "open" })
	if tk.Assignee != "bob" {
		c.act(tk.ID, "carol", "assign", map[string]string{"assignee": "bob"})
	}
	var gaveUp delivery
	c.waitTaskID(tk.ID, "bob's Telegram delivery given up and flagged", 60*time.Second, func(tk task) bool {
		for _, d := range tk.Notifications {
			if d.To == "bob" && d.Channel == "telegram" && d.State == "gave_up" {
				gaveUp = d
			}
		}
		return gaveUp.ID != 0 && tk.Undeliverable >= 1
	})
	if !strings.Contains(gaveUp.Error, "403") || !strings.Contains(gaveUp.Error, "blocked") {
		t.Errorf("given-up delivery's error %q, want Telegram's 403", gaveUp.Error)
	}
	c.waitTelegram("the fake refused bob's message", 10*time.Second, func(tm stack.TelegramMessage) bool {
		return tm.ChatID == bobChat && tm.Status == http.StatusForbidden && strings.Contains(tm.Text, fmt.Sprintf("#%d", tk.ID))
	})
	if v := c.metric("repair_receiver_notifications_undeliverable", `channel="telegram"`); v < 1 {
		t.Errorf("repair_receiver_notifications_undeliverable{channel=\"telegram\"} = %g", v)
	}
	// The next step: carol by e-mail, because the step failed, long before the ack timeout.
	ack := c.s.Timing.Escalation["warning"][0]
	var next delivery
	got := c.waitTaskID(tk.ID, "step 2 used", 30*time.Second, func(tk task) bool {
		for _, d := range tk.Notifications {
			if d.Step == 2 && d.To == "carol" && d.Channel == "email" && d.State == "sent" {
				next = d
			}
		}
		return next.ID != 0
	})
	failedAt := gaveUp.Created
	if n := len(gaveUp.Tries); n > 0 {
		failedAt = gaveUp.Tries[n-1].At
	}
	t.Logf("bob's delivery given up %s; step 2 (carol, e-mail) made %s later (the ack timeout is %s)",
		failedAt.Format(time.TimeOnly), next.Created.Sub(failedAt).Round(100*time.Millisecond), ack)
	if next.Created.Sub(failedAt) >= ack {
		t.Errorf("step 2 came %s after the failure: not sooner than the ack timeout (%s)", next.Created.Sub(failedAt), ack)
	}
	if !hasEvent(got, "escalated", "could not be delivered") {
		t.Errorf("no escalation for an undeliverable step in the history: %+v", got.History)
	}
	if v := c.metric("repair_receiver_escalations_total", `reason="undeliverable"`); v < 1 {
		t.Errorf("repair_receiver_escalations_total{reason=\"undeliverable\"} = %g", v)
	}
	c.waitMail("the e-mail of step 2 in mailpit", 30*time.Second, func(ml mail) bool {
		return ml.to("carol@farm.example") && strings.Contains(ml.Subject, fmt.Sprintf("ESCALATED task #%d ", tk.ID))
	})
	// The board flags it.
	resp := c.do("GET", "/", "carol", nil)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(page, []byte("could not be delivered")) {
		t.Errorf("the board does not flag the undeliverable notification")
	}
	c.fault(m.Address, "fan_stopped", false)
}

// testRemediation: zero hashrate on an S19j Pro; the demo rule restarts it through the cgminer API
// after two failed checks, once; minersim clears the fault with the restart, the alert resolves
// and the task closes by itself.
func testRemediation(c *client, m miner) {
	t := c.t
	c.fault(m.Address, "zero_hashrate", true)
	tk := c.waitTask(m.Address, "MinerNoHashrate", func(tk task) bool { return true })
	want := "remediation: restart sent to " + m.Address + ":4028"
	got := c.waitTaskID(tk.ID, "the restart", 90*time.Second, func(tk task) bool { return hasEvent(tk, "remediation", want) })
	c.eventually("minersim restarted the miner and cleared the fault", 30*time.Second, func() (bool, string) {
		mi := c.minerInfo(m.Address)
		for _, f := range mi.Faults {
			if f == "zero_hashrate" {
				return false, fmt.Sprint(mi)
			}
		}
		return true, ""
	})
	closed := c.waitTaskID(tk.ID, "closed by itself", 3*time.Minute, func(tk task) bool { return tk.State == "auto_resolved" || tk.State == "done" })
	t.Logf("task #%d %s: %s", tk.ID, closed.State, closed.History[len(closed.History)-1].Text)
	n := 0
	for _, e := range closed.History {
		if e.Kind == "remediation" && strings.Contains(e.Text, "restart sent") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d restarts recorded, want 1: %+v", n, got.History)
	}
	if v := c.metric("repair_receiver_remediations_total", `result="sent"`); v != 1 {
		t.Errorf("repair_receiver_remediations_total{result=\"sent\"} = %g, want 1", v)
	}
}

// testCritical: a critical alert reaches the operators through Alertmanager's own receivers — an
// e-mail in mailpit (subject, site, miner, runbook link) and a message in site-a's Telegram chat —
// and the repair board; it clears by itself before anyone works on it: auto_resolved.
func testCritical(c *client, m miner) {
	t := c.t
	c.fault(m.Address, "overheat_critical", true)
	ht := c.waitTask(m.Address, "MinerTemperatureCritical", func(tk task) bool { return tk.State == "open" })
	runbook := "rules/RUNBOOK.md#minertemperaturecritical"
	ml := c.waitMail("Alertmanager's e-mail", 60*time.Second, func(ml mail) bool {
		return ml.to("ops@farm.example") && strings.HasPrefix(ml.Subject, "[FIRING") && strings.Contains(ml.Subject, "MinerTemperatureCritical")
	})
	for _, want := range []string{"site-a", m.Address} {
		if !strings.Contains(ml.Subject, want) {
			t.Errorf("Alertmanager's subject %q lacks %q", ml.Subject, want)
		}
	}
	if body := c.mailBody(ml.ID); !strings.Contains(body, runbook) || !strings.Contains(body, m.Address) {
		t.Errorf("Alertmanager's e-mail lacks the runbook link or the miner:\n%.3000s", body)
	}
	tg := c.waitTelegram("Alertmanager's Telegram message to site-a's chat", 60*time.Second, func(tm stack.TelegramMessage) bool {
		return tm.ChatID == "-1001000000002" && strings.Contains(tm.Text, "MinerTemperatureCritical") && strings.Contains(tm.Text, m.Address)
	})
	if tg.Status != 200 || tg.ParseMode != "HTML" || !strings.Contains(tg.Text, runbook) {
		t.Errorf("Alertmanager's Telegram message: %+v", tg)
	}
	c.fault(m.Address, "overheat_critical", false)
	c.waitTaskID(ht.ID, "auto_resolved", 2*time.Minute, func(tk task) bool { return tk.State == "auto_resolved" })
	c.waitMail("Alertmanager's resolved e-mail", 60*time.Second, func(ml mail) bool {
		return ml.to("ops@farm.example") && strings.HasPrefix(ml.Subject, "[RESOLVED]") && strings.Contains(ml.Subject, "MinerTemperatureCritical")
	})
}

// testOffline: an offline miner raises MinerOffline and none of its other alerts.
func testOffline(c *client, m miner) {
	t := c.t
	c.fault(m.Address, "offline", true)
	dt := c.waitTask(m.Address, "MinerOffline", func(tk task) bool { return true })
	for _, a := range c.query(fmt.Sprintf(`ALERTS{instance=%q,alertstate="firing"}`, m.Address)) {
		if a.Metric["alertname"] != "MinerOffline" {
			t.Errorf("offline miner also fires %s", a.Metric["alertname"])
		}
	}
	for _, p := range c.task(dt.ID).Problems {
		if p.Alertname != "MinerOffline" {
			t.Errorf("offline miner's task has problem %s", p.Alertname)
		}
	}
}

func hasEvent(tk task, kind, text string) bool {
	for _, e := range tk.History {
		if e.Kind == kind && strings.Contains(e.Text, text) {
			return true
		}
	}
	return false
}

// freeRange picks a loopback /27 whose port 4028 is free, so that two runs of the test (two
// checkouts, or `go test ./...` beside `make test`) never share a farm.
func freeRange(t *testing.T) string {
	t.Helper()
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(os.Getpid())))
	for i := 0; i < 50; i++ {
		a := fmt.Sprintf("127.%d.%d.", 200+r.IntN(50), r.IntN(256))
		free := true
		for h := 1; h <= farmMiners; h++ {
			ln, err := net.Listen("tcp", fmt.Sprintf("%s%d:4028", a, h))
			if err != nil {
				free = false
				break
			}
			ln.Close()
		}
		if free {
			return a + "0/27"
		}
	}
	t.Fatal("no free loopback range for the farm")
	return ""
}

type client struct {
	t *testing.T
	s *stack.Stack
}

type sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func (s sample) value() float64 {
	var f float64
	fmt.Sscan(fmt.Sprint(s.Value[1]), &f)
	return f
}

func (c *client) query(q string) []sample {
	c.t.Helper()
	resp, err := http.Get(c.s.URLs.Prometheus + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result []sample `json:"result"`
		} `json:"data"`
		Error string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Status != "success" {
		c.t.Fatalf("query %s: %v %s", q, err, r.Error)
	}
	return r.Data.Result
}

func (c *client) eventually(what string, within time.Duration, cond func() (bool, string)) {
	c.t.Helper()
	deadline := time.Now().Add(within)
	var last string
	for time.Now().Before(deadline) {
		ok, detail := cond()
		if ok {
			return
		}
		last = detail
		if name := c.s.Exited(); name != "" {
			c.t.Fatalf("%s exited while waiting for %s", name, what)
		}
		time.Sleep(time.Second)
	}
	c.t.Fatalf("timed out after %s waiting for %s (last: %s)", within, what, last)
}

// miner is a simulated miner as minersim's control API lists it.
type miner struct {
	Address    string   `json:"address"`
	Model      string   `json:"model"`
	Name       string   `json:"name"`
	Faults     []string `json:"faults"`
	Restarting bool     `json:"restarting"`
	// Protocols: the ports of the APIs it serves, by protocol (cgminer, whatsminer-v3, antminer-http).
	Protocols map[string]int `json:"protocols"`
}

func (m miner) octet() int {
	i := strings.LastIndexByte(m.Address, '.')
	n, _ := strconv.Atoi(m.Address[i+1:])
	return n
}

type miners []miner

// site is the miners whose last octet is in [from, to].
func (ms miners) site(from, to int) *miners {
	var out miners
	for _, m := range ms {
		if o := m.octet(); o >= from && o <= to {
			out = append(out, m)
		}
	}
	return &out
}

// take removes and returns the first miner of the model ("" for any); the test stops when none is
// left.
func (ms *miners) take(model string) miner {
	for i, m := range *ms {
		if model == "" || m.Model == model {
			*ms = append((*ms)[:i:i], (*ms)[i+1:]...)
			return m
		}
	}
	panic(fmt.Sprintf("no %q miner left in %v", model, *ms))
}

// farm lists the simulated miners, n of them.
func (c *client) farm(n int) miners {
	c.t.Helper()
	resp, err := http.Get(c.s.URLs.SimControl + "/miners")
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Miners miners `json:"miners"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		c.t.Fatal(err)
	}
	if len(r.Miners) != n {
		c.t.Fatalf("%d miners, want %d", len(r.Miners), n)
	}
	return r.Miners
}

func (c *client) minerInfo(addr string) miner {
	c.t.Helper()
	resp, err := http.Get(c.s.URLs.SimControl + "/miners/" + addr)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m miner
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		c.t.Fatal(err)
	}
	return m
}

func (c *client) fault(addr, fault string, set bool) {
	c.t.Helper()
	method, u, body := "POST", c.s.URLs.SimControl+"/miners/"+addr+"/faults", `{"fault":"`+fault+`"}`
	if !set {
		method, u, body = "DELETE", u+"/"+fault, ""
	}
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+c.s.SimToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		c.t.Fatalf("%s %s: %d", method, u, resp.StatusCode)
	}
}

type task struct {
	ID            int64             `json:"id"`
	State         string            `json:"state"`
	Severity      string            `json:"severity"`
	Assignee      string            `json:"assignee"`
	Cleared       bool              `json:"cleared"`
	Reason        string            `json:"reason"`
	FailedRepairs int               `json:"failed_repairs"`
	Escalations   int               `json:"escalations"`
	Identity      map[string]string `json:"identity"`
	Location      map[string]string `json:"location"`
	CreatedAt     *time.Time        `json:"created_at"`
	Headline      string            `json:"headline"`
	MachineInfo   struct {
		Model  string `json:"model"`
		Serial string `json:"serial"`
		MAC    string `json:"mac"`
		IP     string `json:"ip"`
		Where  string `json:"where"`
		// ProbeError: the reason of the machine's last failed probe (cgminer_probe_error_info).
		ProbeError string `json:"probe_error"`
	} `json:"machine_info"`
	// Snapshot is the evidence the receiver took from the exporter's debug probe at creation.
	Snapshot *struct {
		State  string `json:"state"`
		Target string `json:"target"`
		Status int    `json:"http_status"`
		Body   string `json:"body"`
	} `json:"snapshot"`
	Undeliverable int        `json:"undeliverable_notifications"`
	Notifications []delivery `json:"notifications"`
	Problems      []struct {
		Alertname   string            `json:"alertname"`
		Severity    string            `json:"severity"`
		Firing      bool              `json:"firing"`
		Annotations map[string]string `json:"annotations"`
	} `json:"problems"`
	History []struct {
		Kind string `json:"kind"`
		Text string `json:"text"`
	} `json:"history"`
}

// worstRunbooks are the runbook links of a task's firing problems of its worst severity.
func worstRunbooks(tk task) []string {
	rank := map[string]int{"critical": 3, "warning": 2, "info": 1}
	worst := -1
	var out []string
	for _, p := range tk.Problems {
		if !p.Firing || p.Annotations["runbook_url"] == "" {
			continue
		}
		switch r := rank[p.Severity]; {
		case r > worst:
			worst, out = r, []string{p.Annotations["runbook_url"]}
		case r == worst:
			out = append(out, p.Annotations["runbook_url"])
		}
	}
	return out
}

type delivery struct {
	ID      int64     `json:"id"`
	Step    int       `json:"step"`
	To      string    `json:"to"`
	Channel string    `json:"channel"`
	State   string    `json:"state"`
	Created time.Time `json:"created_at"`
	Error   string    `json:"last_error"`
	Tries   []struct {
		At     time.Time `json:"at"`
		Result string    `json:"result"`
	} `json:"tries"`
}

// Demo users: the password is the name with "-demo" (receiver/README.md).
func (c *client) do(method, path, user string, body any) *http.Response {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else if method == "POST" {
		rd = strings.NewReader("{}")
	}
	req, _ := http.NewRequest(method, c.s.URLs.Receiver+path, rd)
	req.SetBasicAuth(user, user+"-demo")
	if method == "POST" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp
}

func (c *client) task(id int64) task {
	c.t.Helper()
	resp := c.do("GET", fmt.Sprintf("/api/v1/tasks/%d", id), "carol", nil)
	defer resp.Body.Close()
	var tk task
	if err := json.NewDecoder(resp.Body).Decode(&tk); err != nil {
		c.t.Fatal(err)
	}
	return tk
}

func (c *client) act(id int64, user, action string, body any) {
	c.t.Helper()
	resp := c.do("POST", fmt.Sprintf("/api/v1/tasks/%d/%s", id, action), user, body)
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		c.t.Fatalf("%s on task %d as %s: %d %s", action, id, user, resp.StatusCode, b)
	}
}

// waitTask waits for the task of a machine that holds a firing problem with this alertname.
func (c *client) waitTask(instance, alertname string, cond func(task) bool) task {
	c.t.Helper()
	var found task
	c.eventually(alertname+" task for "+instance, 120*time.Second, func() (bool, string) {
		resp := c.do("GET", "/api/v1/tasks?limit=1000", "carol", nil)
		defer resp.Body.Close()
		var r struct {
			Tasks []task `json:"tasks"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			return false, err.Error()
		}
		for _, tk := range r.Tasks {
			if tk.Identity["instance"] != instance {
				continue
			}
			full := c.task(tk.ID)
			for _, p := range full.Problems {
				if p.Alertname == alertname && p.Firing && cond(full) {
					found = full
					return true, ""
				}
			}
		}
		return false, fmt.Sprintf("%d tasks; firing: %v", len(r.Tasks), c.query(fmt.Sprintf(`ALERTS{instance=%q}`, instance)))
	})
	return found
}

func (c *client) waitTaskID(id int64, what string, within time.Duration, cond func(task) bool) task {
	c.t.Helper()
	var got task
	c.eventually(fmt.Sprintf("task %d %s", id, what), within, func() (bool, string) {
		got = c.task(id)
		return cond(got), fmt.Sprintf("%+v", got)
	})
	return got
}
