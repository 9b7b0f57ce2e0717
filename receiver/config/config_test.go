package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestDefaults(t *testing.T) {
	c, err := Parse([]byte(""))
	if err != nil {
		t.Fatal(err)
	}
	w := c.Windows
	if w.Grace != 10*time.Minute || w.ReopenWindow != 24*time.Hour || w.Settle != 2*time.Minute || w.VerifyWindow != 15*time.Minute ||
		w.EscalateAfter != 30*time.Minute || w.EscalateRepeat != 30*time.Minute {
		t.Fatalf("windows %+v", w)
	}
	if strings.Join(c.IdentityLabels, ",") != "instance" || strings.Join(c.LocationLabels, ",") != "site,rack" || c.Assignment != LeastLoaded {
		t.Fatalf("defaults %+v", c)
	}
}

func TestDemoConfigLoads(t *testing.T) {
	c, err := Load("../receiver.yml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Webhook.Token.Reveal() == "" {
		t.Fatal("token not read")
	}
	if tm := c.TeamFor(map[string]string{"site": "site-a"}); tm == nil || tm.Name != "site-a" {
		t.Fatalf("site-a team: %+v", tm)
	}
	if tm := c.TeamFor(map[string]string{"site": "site-b"}); tm == nil || tm.Name != "everyone-else" {
		t.Fatalf("catch-all: %+v", tm)
	}
	if tm := c.TeamFor(map[string]string{"site": "site-ab"}); tm.Name != "everyone-else" {
		t.Fatal("matchers must be anchored")
	}
}

func TestInvalid(t *testing.T) {
	for name, y := range map[string]string{
		"unknown field":        "identiy_labels: [instance]",
		"unknown window":       "windows: {grase: 1m}",
		"bad duration":         "windows: {grace: soon}",
		"negative":             "windows: {grace: -1m}",
		"verify before settle": "windows: {settle: 10m, verify_window: 5m}",
		"bad assignment":       "assignment: random",
		"no identity":          "identity_labels: []",
		"bad regex":            "teams: [{name: a, members: [x], matchers: {site: '('}}]",
		"duplicate team":       "teams: [{name: a, members: [x]}, {name: a, members: [y]}]",
		"team without people":  "teams: [{name: a}]",
		"telegram no chat":     "notify: {telegram: {bot_token_file: x}}",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse([]byte(y)); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestSecretsNeverShow(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "tok"), []byte("s3cr3t-token\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "bot"), []byte("123:bot-s3cr3t"), 0o600)
	os.WriteFile(filepath.Join(dir, "c.yml"), []byte("webhook: {token_file: tok}\nnotify: {telegram: {bot_token_file: bot, chat_id: '-100'}}\n"), 0o600)
	c, err := Load(filepath.Join(dir, "c.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Webhook.Token.Reveal() != "s3cr3t-token" || c.Notify.Telegram.APIURL != "https://api.telegram.org" {
		t.Fatalf("token %q api %q", c.Webhook.Token.Reveal(), c.Notify.Telegram.APIURL)
	}
	y, _ := Marshal(c)
	j, _ := json.Marshal(c)
	var sb strings.Builder
	slog.New(slog.NewTextHandler(&sb, nil)).Info("x", "token", c.Webhook.Token, "cfg", c)
	y2, _ := yaml.Marshal(c.Notify)
	for name, out := range map[string]string{"yaml": string(y), "json": string(j), "log": sb.String(), "fmt": fmt.Sprintf("%v %+v %#v %s", c, c.Webhook, c.Webhook.Token, c.Notify.Telegram.BotToken), "yaml2": string(y2)} {
		if strings.Contains(out, "s3cr3t") {
			t.Errorf("%s output shows a secret: %s", name, out)
		}
	}
	if _, err := Load(filepath.Join(dir, "missing.yml")); err == nil {
		t.Fatal("missing file accepted")
	}
	os.WriteFile(filepath.Join(dir, "d.yml"), []byte("webhook: {token_file: nope}\n"), 0o600)
	if _, err := Load(filepath.Join(dir, "d.yml")); err == nil {
		t.Fatal("missing token file accepted")
	}
}
