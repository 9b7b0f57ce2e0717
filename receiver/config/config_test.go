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
	if strings.Join(c.IdentityLabels, ",") != "instance" || strings.Join(c.LocationLabels, ",") != "site,row,rack,slot" || c.Assignment != LeastLoaded {
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
		"telegram no token":    "notify: {telegram: {chat_id: '-100'}}",
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

func TestPeopleAndRoles(t *testing.T) {
	const teams = "teams: [{name: a, members: [alice, bob], lead: carol}, {name: b, members: [dave], lead: carol}]\n"
	for _, tc := range []struct {
		name, yaml string
		err        string // substring of the error; "" = valid
	}{
		{"legacy: no people", teams, ""},
		{"every role", teams + "people: {alice: {role: technician}, bob: {role: lead}, carol: {role: lead}, dave: {role: admin}, eve: {role: viewer}, fred: {}}\n", ""},
		{"unknown role", teams + "people: {alice: {role: owner}, bob: {role: technician}, carol: {role: lead}, dave: {role: technician}}\n", "owner"},
		{"unknown key in a person", teams + "people: {alice: {role: technician, telegram: 1}}\n", "telegram"},
		{"member without a role", teams + "people: {alice: {role: technician}, carol: {role: lead}, dave: {role: technician}}\n", `member "bob"`},
		{"member who is a viewer", teams + "people: {alice: {role: technician}, bob: {role: viewer}, carol: {role: lead}, dave: {role: technician}}\n", `member "bob"`},
		{"lead who is a technician", teams + "people: {alice: {role: technician}, bob: {role: technician}, carol: {role: technician}, dave: {role: technician}}\n", `lead "carol"`},
		{"admin as lead", teams + "people: {alice: {role: technician}, bob: {role: technician}, carol: {role: admin}, dave: {role: technician}}\n", ""},
		{"name with a newline", "people: {\"a\\nb\": {role: viewer}}\n", "name"},
		{"name too long", "people: {" + strings.Repeat("x", 65) + ": {role: viewer}}\n", "name"},
		{"member name with spaces", "teams: [{name: a, members: [' alice']}]\n", "name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.err != "" && err == nil:
				t.Fatal("accepted")
			case tc.err != "" && !strings.Contains(err.Error(), tc.err):
				t.Fatalf("error %q lacks %q", err, tc.err)
			}
		})
	}
}

func TestRoleLookups(t *testing.T) {
	c, err := Load("../receiver.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user       string
		role       Role
		teams      string
		assignable bool
	}{
		{"alice", Technician, "site-a", true},
		{"bob", Technician, "site-a", true},
		{"carol", Lead, "site-a,everyone-else", true},
		{"dave", Technician, "everyone-else", true},
		{"admin", Admin, "", false},
		{"viewer", Viewer, "", false},
		{"mallory", Viewer, "", false}, // not listed: least privilege
		{"", Viewer, "", false},
	} {
		t.Run(tc.user, func(t *testing.T) {
			if r := c.RoleOf(tc.user); r != tc.role {
				t.Errorf("role %q, want %q", r, tc.role)
			}
			if ts := strings.Join(c.TeamsOf(tc.user), ","); ts != tc.teams {
				t.Errorf("teams %q, want %q", ts, tc.teams)
			}
			if a := c.Assignable(tc.user); a != tc.assignable {
				t.Errorf("assignable %v, want %v", a, tc.assignable)
			}
		})
	}
	if got := strings.Join(c.Assignees(), ","); got != "alice,bob,carol,dave" {
		t.Fatalf("assignees %q", got)
	}
	if w := c.Warnings(); len(w) != 0 {
		t.Fatalf("demo config warns: %v", w)
	}
	legacy, _ := Parse([]byte("teams: [{name: a, members: [x]}]\n"))
	if w := legacy.Warnings(); len(w) != 1 || !strings.Contains(w[0], "viewer") {
		t.Fatalf("no warning for a config without people: %v", w)
	}
}
