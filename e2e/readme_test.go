package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/minefarm/cgminer-stack/e2e/stack"
)

// TestReadmeRouting follows README.md "Routing alerts to Telegram or e-mail" on the supported
// Alertmanager (0.35): in a copy of the repository's alertmanager.yml and secrets/, Alertmanager
// started from there as the README says, its shell commands run as written (only the address of
// this Alertmanager and the path of amtool differ) and its edits made to the YAML; the test alert
// must then arrive in the operators' Telegram chat (the loopback fake of the Bot API, standing in
// for api.telegram.org, which this network does not reach: the one line the README does not ask
// for) and in their inbox (mailpit).
func TestReadmeRouting(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the route's group_wait (1m)")
	}
	t.Parallel()
	root, _ := filepath.Abs("..")
	_, alertmanager := binaries(t, root)
	amtool := filepath.Join(filepath.Dir(alertmanager), "amtool")
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	section := readmeSection(t, string(readme), "## Routing alerts to Telegram or e-mail")
	cmds := shellCommands(section)
	want := []string{`printf '%s' `, "amtool check-config alertmanager.yml", "/-/reload", "amtool alert add RoutingTest"}
	if len(cmds) != len(want) {
		t.Fatalf("the README's steps have %d commands, want %d (%q): %q", len(cmds), len(want), want, cmds)
	}
	for i, w := range want {
		if !strings.Contains(cmds[i], w) {
			t.Fatalf("command %d %q: want %q", i+1, cmds[i], w)
		}
	}
	for _, w := range []string{"`chat_id:`", "`telegram-ops`", "`global.smtp_smarthost`", "`smtp_from`", "`to:`", "`email-ops`", "secrets/telegram-bot-token"} {
		if !strings.Contains(section, w) {
			t.Errorf("the README's steps no longer name %s", w)
		}
	}

	// The deployment: the repository's files, Alertmanager started in their folder.
	dir := t.TempDir()
	for _, f := range []string{"alertmanager.yml", "secrets/telegram-bot-token", "secrets/smtp-password", "secrets/receiver-token"} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	mp := startMailpit(t)
	amAddr := freeAddr(t)
	amURL := "http://" + amAddr
	am := exec.Command(alertmanager, "--config.file=alertmanager.yml", "--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+amAddr, "--cluster.listen-address=")
	am.Dir = dir
	amLog := &syncBuf{}
	am.Stdout, am.Stderr = amLog, amLog
	if err := am.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = am.Process.Kill(); _ = am.Wait() }()
	waitReady(t, amURL+"/-/ready", amLog)
	run := func(cmd string) string {
		t.Helper()
		cmd = strings.ReplaceAll(cmd, "http://127.0.0.1:9093", amURL)
		cmd = strings.ReplaceAll(cmd, ".tools/alertmanager-v0.35.0/amtool", amtool)
		c := exec.Command("sh", "-c", cmd)
		c.Dir = dir
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s\n--- alertmanager:\n%s", cmd, err, out, amLog)
		}
		return string(out)
	}

	// 1. Telegram: the token, as written; the chats.
	run(cmds[0])
	token, _ := os.ReadFile(filepath.Join(dir, "secrets", "telegram-bot-token"))
	if len(token) == 0 || strings.ContainsAny(string(token), "\r\n") {
		t.Fatalf("token file %q", token)
	}
	const opsChat, siteChat = "-1001234567890", "-1001234567891"
	tg, err := stack.StartTelegramFake(stack.TelegramOptions{Addr: "127.0.0.1:0", Token: string(token),
		Chats: map[string]string{opsChat: "operators", siteChat: "site-a"}})
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	cfgPath := filepath.Join(dir, "alertmanager.yml")
	b, _ := os.ReadFile(cfgPath)
	cfg := string(b)
	edit := func(re, repl string) {
		t.Helper()
		r := regexp.MustCompile(re)
		if !r.MatchString(cfg) {
			t.Fatalf("alertmanager.yml has no %s: the README's steps do not fit it", re)
		}
		cfg = r.ReplaceAllString(cfg, repl)
	}
	edit(`chat_id: -1001000000001\b`, "chat_id: "+opsChat)
	edit(`chat_id: -1001000000002\b`, "chat_id: "+siteChat)
	edit(`(?m)^(\s+)(- )?bot_token_file: (\S+)$`, "${1}${2}bot_token_file: $3\n${1}  api_url: "+tg.URL)
	// 2. E-mail: the relay, the sender, the recipient.
	edit(`smtp_smarthost: '127\.0\.0\.1:25'`, "smtp_smarthost: '"+mp.smtp+"'")
	edit(`smtp_from: '[^']*'`, "smtp_from: 'alertmanager@example.net'")
	edit(`to: 'ops@farm\.example'`, "to: 'noc@example.net'")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	// 3. Check and reload, as written; Alertmanager runs the new config.
	if out := run(cmds[1]); !strings.Contains(out, "SUCCESS") {
		t.Fatalf("check-config: %s", out)
	}
	run(cmds[2])
	var status struct {
		Config struct {
			Original string `json:"original"`
		} `json:"config"`
	}
	getJSON(t, amURL+"/api/v2/status", &status)
	if !strings.Contains(status.Config.Original, opsChat) || !strings.Contains(status.Config.Original, mp.smtp) {
		t.Fatalf("after the reload Alertmanager runs:\n%s", status.Config.Original)
	}
	// 4. The test alert, as written: in the chat and in the inbox after group_wait.
	sent := time.Now()
	run(cmds[3])
	deadline := time.Now().Add(3 * time.Minute)
	var gotChat, gotMail bool
	for time.Now().Before(deadline) && !(gotChat && gotMail) {
		for _, m := range tg.Messages() {
			if m.ChatID == opsChat && m.Status == http.StatusOK && strings.Contains(m.Text, "RoutingTest") && strings.Contains(m.Text, "routing test") {
				gotChat = true
			}
			if m.ChatID == siteChat {
				t.Errorf("a test alert without a site went to site-a's chat: %+v", m)
			}
		}
		var list struct {
			Messages []mail `json:"messages"`
		}
		getJSON(t, mp.api+"/api/v1/messages", &list)
		for _, m := range list.Messages {
			if m.to("noc@example.net") && strings.Contains(m.Subject, "RoutingTest") {
				gotMail = true
			}
		}
		time.Sleep(time.Second)
	}
	if !gotChat || !gotMail {
		t.Fatalf("after %s: in the chat %v, in the inbox %v\ntelegram: %+v\n--- alertmanager:\n%s", time.Since(sent).Round(time.Second), gotChat, gotMail, tg.Messages(), amLog)
	}
	t.Logf("the README's test alert reached the chat and the inbox %s after amtool sent it (group_wait 1m)", time.Since(sent).Round(time.Second))
}

// readmeSection is the text from the heading to the next heading of its level.
func readmeSection(t *testing.T, doc, heading string) string {
	t.Helper()
	i := strings.Index(doc, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("README.md has no %q", heading)
	}
	rest := doc[i+len(heading)+2:]
	if j := strings.Index(rest, "\n## "); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

// shellCommands are the commands of the section's ```sh blocks, continuation lines joined.
func shellCommands(section string) []string {
	var out []string
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(section, -1) {
		var cur string
		for _, l := range strings.Split(m[1], "\n") {
			l = strings.TrimSpace(l)
			if l == "" {
				continue
			}
			if c, ok := strings.CutSuffix(l, "\\"); ok {
				cur += c
				continue
			}
			out = append(out, cur+l)
			cur = ""
		}
	}
	return out
}

// mailpitProc is a mailpit the test started.
type mailpitProc struct{ smtp, api string }

// startMailpit runs mailpit on free loopback ports until the test ends.
func startMailpit(t *testing.T) mailpitProc {
	t.Helper()
	root, _ := filepath.Abs("..")
	dir := t.TempDir()
	m := mailpitProc{smtp: freeAddr(t)}
	httpAddr := freeAddr(t)
	m.api = "http://" + httpAddr
	cmd := exec.Command(mailpitBinary(t, root), "--smtp="+m.smtp, "--listen="+httpAddr, "--database="+filepath.Join(dir, "mailpit.db"),
		"--disable-version-check", "--smtp-disable-rdns", "--quiet")
	log := &syncBuf{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitReady(t, m.api+"/api/v1/info", log)
	return m
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitReady waits for another process to answer 200 at u.
func waitReady(t *testing.T, u string, log fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		resp, err := http.DefaultClient.Do(req)
		cancel()
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after 30s: %v\n%s", u, err, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", u, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}
