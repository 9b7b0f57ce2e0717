package config

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

const crew = `
teams: [{name: a, members: [alice, bob], lead: carol}]
people:
  alice: {role: technician, telegram_chat_id: "111", email: alice@farm.example, phone: "+15550101"}
  bob: {role: technician, email: bob@farm.example}
  carol: {role: lead, telegram_chat_id: "333", email: carol@farm.example}
  olga: {role: lead, phone: "+15550199"}
`

const channels = `
notify:
  telegram: {bot_token_file: bot, chat_id: "-100200"}
  email: {smarthost: "127.0.0.1:1025", from: repair@farm.example}
  webhook: {url: "http://127.0.0.1:9999/send"}
`

func TestEscalationConfig(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		err        string // substring of the error; "" = valid
	}{
		{"full ladder", crew + channels + `
escalation:
  severities:
    critical: {ack_timeout: 5m, progress_timeout: 1h}
    warning: {ack_timeout: 30m, progress_timeout: 4h, repeat: 1h}
    info: {}
  on_call: [olga]
  ladder:
    - {to: [assignee], channels: [telegram]}
    - {to: [lead], channels: [email], assign: true}
    - {to: [on_call], channels: [webhook, email], emails: [oncall@farm.example]}
`, ""},
		{"default channels", crew + channels + "escalation: {ladder: [{to: [assignee]}]}\n", ""},
		{"first step is not the assignee's", crew + channels + "escalation: {ladder: [{to: [lead]}]}\n", "first step"},
		{"no steps", crew + channels + "escalation: {ladder: []}\n", "1 to 10 steps"},
		{"unknown recipient", crew + channels + "escalation: {ladder: [{to: [assignee]}, {to: [zed]}]}\n", `"zed" is not`},
		{"on_call empty", crew + channels + "escalation: {ladder: [{to: [assignee]}, {to: [on_call]}]}\n", "lists nobody"},
		{"on_call stranger", crew + channels + "escalation: {on_call: [zed], ladder: [{to: [assignee]}]}\n", "on_call"},
		{"unknown channel", crew + channels + "escalation: {ladder: [{to: [assignee], channels: [pigeon]}]}\n", "pigeon"},
		{"log channel", crew + channels + "escalation: {ladder: [{to: [assignee], channels: [log]}]}\n", ""},
		{"channel not configured", crew + "escalation: {ladder: [{to: [assignee], channels: [email]}]}\n", "not configured"},
		{"emails without e-mail channel", crew + "escalation: {ladder: [{to: [assignee], emails: [x@y.example]}]}\n", "notify.email"},
		{"bad list address", crew + channels + "escalation: {ladder: [{to: [assignee], emails: ['x@y.example, z@w']}]}\n", "bare address"},
		{"negative timeout", crew + channels + "escalation: {severities: {critical: {ack_timeout: -1m}}, ladder: [{to: [assignee]}]}\n", "negative"},
		{"tiny timeout", crew + channels + "escalation: {severities: {critical: {ack_timeout: 1ms}}, ladder: [{to: [assignee]}]}\n", "at least 1s"},
		{"unknown key", crew + channels + "escalation: {ladder: [{to: [assignee], chanels: [email]}]}\n", "chanels"},
		{"bad chat id", "people: {x: {telegram_chat_id: 'abc'}}\n", "telegram_chat_id"},
		{"bad email", "people: {x: {email: 'Alice <alice@farm.example>'}}\n", "bare address"},
		{"email header injection", "people: {x: {email: \"a@b.example\\r\\nBcc: e@vil\"}}\n", "bare address"},
		{"bad phone", "people: {x: {phone: '555-CALL'}}\n", "phone"},
		{"telegram without token", "notify: {telegram: {chat_id: '-100'}}\n", "bot_token_file"},
		{"telegram api with credentials", "notify: {telegram: {bot_token_file: b, api_url: 'http://u:p@h'}}\n", "api_url"},
		{"email without smarthost port", "notify: {email: {smarthost: mail.example, from: a@b.example}}\n", "host:port"},
		{"email bad from", "notify: {email: {smarthost: 'mail.example:25', from: nobody}}\n", "from"},
		{"email bad starttls", "notify: {email: {smarthost: 'mail.example:25', from: a@b.example, starttls: maybe}}\n", "starttls"},
		{"email password without user", "notify: {email: {smarthost: 'mail.example:25', from: a@b.example, password_file: p}}\n", "go together"},
		{"webhook not http", "notify: {webhook: {url: 'ftp://gw'}}\n", "http(s)"},
		{"max attempts", "notify: {max_attempts: 1000}\n", "max_attempts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.err != "" && err == nil:
				t.Fatal("accepted")
			case tc.err != "" && !strings.Contains(err.Error(), tc.err):
				t.Fatalf("error %q does not say %q", err, tc.err)
			}
		})
	}
}

func TestPolicyAndTimeouts(t *testing.T) {
	c, err := Parse([]byte(crew + channels + `
escalation:
  severities:
    critical: {ack_timeout: 5m, progress_timeout: 1h}
    info: {progress_timeout: 2h}
    default: {ack_timeout: 30m}
  ladder: [{to: [assignee], channels: [telegram]}, {to: [lead]}]
`))
	if err != nil {
		t.Fatal(err)
	}
	p := c.Policy()
	for _, tc := range []struct {
		sev               string
		ack, wait, repeat time.Duration
	}{
		{"critical", 5 * time.Minute, 5 * time.Minute, 5 * time.Minute},
		{"info", 0, 2 * time.Hour, 2 * time.Hour},
		{"warning", 30 * time.Minute, 30 * time.Minute, 30 * time.Minute}, // default
	} {
		tm := p.Timeouts(tc.sev)
		if tm.Ack != tc.ack || tm.Wait() != tc.wait || tm.RepeatEvery() != tc.repeat {
			t.Errorf("%s: %+v wait %s repeat %s", tc.sev, tm, tm.Wait(), tm.RepeatEvery())
		}
	}
	if got := fmt.Sprint(p.Ladder[1].Channels); got != "[telegram email webhook]" {
		t.Errorf("default channels of a step: %s", got)
	}
	for _, tc := range []struct{ who, ch, addr string }{
		{"alice", ChannelTelegram, "111"}, {"bob", ChannelTelegram, "-100200"}, {"", ChannelTelegram, "-100200"},
		{"alice", ChannelEmail, "alice@farm.example"}, {"olga", ChannelEmail, ""}, {"olga", ChannelWebhook, "+15550199"},
		{"", ChannelEmail, ""}, {"bob", ChannelWebhook, ""},
	} {
		if a, _ := c.Address(tc.who, tc.ch); a != tc.addr {
			t.Errorf("Address(%q, %s) = %q, want %q", tc.who, tc.ch, a, tc.addr)
		}
	}
	if _, group := c.Address("bob", ChannelTelegram); !group {
		t.Error("bob has no chat of his own: the group chat, named")
	}
}

func TestLegacyEscalationWindows(t *testing.T) {
	// Without an escalation section the deprecated windows still escalate, now as a ladder.
	c, err := Parse([]byte("windows: {escalate_after: 20m, escalate_repeat: 10m}\n"))
	if err != nil {
		t.Fatal(err)
	}
	p := c.Policy()
	if tm := p.Timeouts("critical"); tm.Ack != 20*time.Minute || tm.RepeatEvery() != 10*time.Minute || tm.Progress != 0 {
		t.Fatalf("legacy timeouts %+v", tm)
	}
	if len(p.Ladder) != 2 || p.Ladder[1].To[0] != ToLead || !p.Ladder[1].Assign || fmt.Sprint(p.Ladder[0].Channels) != "[log]" {
		t.Fatalf("legacy ladder %+v", p.Ladder)
	}
	if w := strings.Join(c.Warnings(), "\n"); !strings.Contains(w, "windows.escalate_after and windows.escalate_repeat are deprecated") {
		t.Fatalf("no deprecation warning: %q", w)
	}
	// Defaults alone: no warning, the same ladder at 30m.
	c, _ = Parse([]byte(""))
	if w := c.Warnings(); len(w) != 0 || c.Policy().Timeouts("x").Ack != 30*time.Minute {
		t.Fatalf("defaults: %q %+v", w, c.Policy().Timeouts("x"))
	}
	// Both: the section wins and the log says the windows are ignored.
	c, err = Parse([]byte(crew + "windows: {escalate_after: 1m}\nescalation: {severities: {critical: {ack_timeout: 5m}}, ladder: [{to: [assignee]}]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Policy().Timeouts("warning").Ack != 0 || !strings.Contains(strings.Join(c.Warnings(), "\n"), "windows.escalate_after ignored") {
		t.Fatalf("both: %+v %q", c.Policy().Timeouts("warning"), c.Warnings())
	}
	// escalate_after: 0 still disables.
	c, err = Parse([]byte("windows: {escalate_after: 0s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Policy().Timeouts("critical").Wait() != 0 {
		t.Fatal("escalate_after 0 escalates")
	}
}

func TestUnreachableStepWarns(t *testing.T) {
	c, err := Parse([]byte(crew + channels + "escalation: {on_call: [olga], ladder: [{to: [assignee]}, {to: [on_call], channels: [email]}]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(c.Warnings(), "\n"); !strings.Contains(w, "olga cannot be reached over email") {
		t.Fatalf("warnings %q", w)
	}
}

func TestNotifySecretsNeverShow(t *testing.T) {
	dir := t.TempDir()
	for name, v := range map[string]string{"bot": "123:bot-s3cr3t", "smtp": "smtp-s3cr3t\n", "gw": "gw-s3cr3t", "ca.pem": "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n"} {
		os.WriteFile(filepath.Join(dir, name), []byte(v), 0o600)
	}
	os.WriteFile(filepath.Join(dir, "c.yml"), []byte(`
notify:
  telegram: {bot_token_file: bot}
  email: {smarthost: "mail.example:587", from: r@farm.example, username: r, password_file: smtp, ca_file: ca.pem}
  webhook: {url: "https://gw.example/send", bearer_token_file: gw}
`), 0o600)
	c, err := Load(filepath.Join(dir, "c.yml"))
	if err != nil {
		t.Fatal(err)
	}
	n := c.Notify
	if n.Telegram.BotToken.Reveal() != "123:bot-s3cr3t" || n.Email.Password.Reveal() != "smtp-s3cr3t" || n.Webhook.BearerToken.Reveal() != "gw-s3cr3t" ||
		!strings.Contains(string(n.Email.CAPEM), "BEGIN CERTIFICATE") || n.Email.StartTLS != StartTLSAuto || n.Email.Timeout != 30*time.Second {
		t.Fatalf("secrets/defaults not read: %+v", n.Email)
	}
	y, _ := yaml.Marshal(c)
	j, _ := json.Marshal(c)
	for name, out := range map[string]string{"yaml": string(y), "json": string(j), "fmt": fmt.Sprintf("%v %+v %+v %+v", c, *n.Email, *n.Webhook, *n.Telegram)} {
		if strings.Contains(out, "s3cr3t") {
			t.Errorf("%s shows a secret: %s", name, out)
		}
	}
	os.WriteFile(filepath.Join(dir, "d.yml"), []byte("notify: {webhook: {url: 'https://gw.example', bearer_token_file: nope}}\n"), 0o600)
	if _, err := Load(filepath.Join(dir, "d.yml")); err == nil || !strings.Contains(err.Error(), "bearer_token_file") {
		t.Fatalf("missing token file: %v", err)
	}
}

func TestUnreachableCrewWarns(t *testing.T) {
	c, err := Parse([]byte(crew + channels + "escalation: {ladder: [{to: [assignee], channels: [webhook]}, {to: [lead], channels: [telegram]}]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	w := strings.Join(c.Warnings(), "\n")
	// alice has a phone, bob has none; the lead carol has a chat of her own.
	if !strings.Contains(w, "step 1: bob cannot be reached over webhook") || strings.Contains(w, "alice cannot") || strings.Contains(w, "carol cannot") {
		t.Fatalf("warnings %q", w)
	}
}

func TestPolicySummary(t *testing.T) {
	c, err := Load("../receiver.yml")
	if err != nil {
		t.Fatal(err)
	}
	want := "critical: ack 5m0s progress 1h0m0s; info: never; warning: ack 30m0s progress 4h0m0s; " +
		"ladder: 1 assignee (telegram) → 2 lead (email) → 3 on_call+oncall@farm.example (telegram,email)"
	if got := c.Policy().Summary(); got != want {
		t.Fatalf("summary\n got %s\nwant %s", got, want)
	}
}
