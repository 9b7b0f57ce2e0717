package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minefarm/cgminer-stack/receiver/config"
	"github.com/minefarm/cgminer-stack/receiver/notify"
)

const fakeToken = "123456789:AAtest-token"

func startFake(t *testing.T, log string) *TelegramFake {
	t.Helper()
	f, err := StartTelegramFake(TelegramOptions{Addr: "127.0.0.1:0", Token: fakeToken, LogFile: log,
		Chats:   map[string]string{"100001": "alice", "100002": "bob", "-1001000000001": "ops"},
		Blocked: []string{"100002"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// post sends a request as a Bot API client would and returns the status and Telegram's answer.
func post(t *testing.T, u, contentType, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(u, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatalf("answer is not JSON: %v", err)
	}
	return resp.StatusCode, a
}

// The receiver's own Telegram channel against the fake: delivered to a known chat, 403 for a
// chat that blocked the bot and 400 for an unknown one — both permanent for the receiver, as
// from the real Bot API — and every attempt recorded.
func TestTelegramFakeWithTheReceiversClient(t *testing.T) {
	f := startFake(t, "")
	tg := &notify.Telegram{APIURL: f.URL, Token: config.Secret(fakeToken)}
	for _, c := range []struct {
		chat, wantErr string
	}{
		{"100001", ""},
		{"100002", "HTTP 403: Forbidden: bot was blocked by the user"},
		{"999", "HTTP 400: Bad Request: chat not found"},
	} {
		t.Run(c.chat, func(t *testing.T) {
			err := tg.Send(context.Background(), notify.Message{Address: c.chat, Text: "Task #3 on 127.1.0.5 <b>&"})
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("send: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) || !errors.Is(err, notify.ErrPermanent) {
				t.Fatalf("send = %v, want a permanent %q", err, c.wantErr)
			}
		})
	}
	ms := f.Messages()
	if len(ms) != 3 || ms[0].Status != 200 || ms[0].ID != 1 || ms[0].Chat != "alice" || ms[0].Text != "Task #3 on 127.1.0.5 <b>&" ||
		ms[1].Status != 403 || ms[1].ID != 0 || ms[2].Status != 400 {
		t.Fatalf("recorded %+v", ms)
	}
	// The wrong token is refused, and the bot token never shows on the page.
	wrong := &notify.Telegram{APIURL: f.URL, Token: "1:other"}
	if err := wrong.Send(context.Background(), notify.Message{Address: "100001", Text: "x"}); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong token: %v", err)
	}
	resp, err := http.Get(f.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(page, []byte("Task #3 on 127.1.0.5 &lt;b&gt;&amp;")) || bytes.Contains(page, []byte("<b>&")) ||
		!bytes.Contains(page, []byte("refused 403: Forbidden: bot was blocked by the user")) || bytes.Contains(page, []byte("AAtest-token")) {
		t.Fatalf("page:\n%s", page)
	}
}

// Alertmanager's client (telebot) sends every parameter as a JSON string and parse_mode HTML; the
// answer carries the message with its chat, which Alertmanager reads.
func TestTelegramFakeAnswers(t *testing.T) {
	f := startFake(t, "")
	send := f.URL + TelegramPath(fakeToken)
	long := strings.Repeat("é", maxTelegramText+1)
	for _, c := range []struct {
		name, ctype, body string
		status            int
		desc              string
	}{
		{"telebot JSON", "application/json", `{"chat_id":"-1001000000001","text":"<b>Alerts Firing:</b>\nLabels: a = &lt;x&gt;","parse_mode":"HTML","disable_web_page_preview":"true"}`, 200, ""},
		{"receiver JSON", "application/json", `{"chat_id":"100001","text":"hi","disable_web_page_preview":true}`, 200, ""},
		{"numeric chat id", "application/json", `{"chat_id":100001,"text":"hi"}`, 200, ""},
		{"form", "application/x-www-form-urlencoded", url.Values{"chat_id": {"100001"}, "text": {"hi"}}.Encode(), 200, ""},
		{"HTML Telegram cannot parse", "application/json", `{"chat_id":"100001","text":"a <div>b</div>","parse_mode":"HTML"}`, 400, "can't parse entities"},
		{"unclosed tag", "application/json", `{"chat_id":"100001","text":"<b>x","parse_mode":"HTML"}`, 400, "can't parse entities"},
		{"an & Telegram keeps", "application/json", `{"chat_id":"100001","text":"a & b &nbsp;","parse_mode":"HTML"}`, 200, ""},
		{"empty text", "application/json", `{"chat_id":"100001","text":" "}`, 400, "message text is empty"},
		{"too long", "application/json", `{"chat_id":"100001","text":"` + long + `"}`, 400, "message is too long"},
		{"no chat", "application/json", `{"text":"x"}`, 400, "chat_id is empty"},
		{"not JSON", "application/json", `{"chat_id":`, 400, "can't parse JSON"},
		{"over 1 MiB", "application/json", `{"chat_id":"100001","text":"` + strings.Repeat("a", maxTelegramBody) + `"}`, 400, "can't parse JSON"},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, a := post(t, send, c.ctype, c.body)
			if status != c.status {
				t.Fatalf("status %d, want %d: %v", status, c.status, a)
			}
			if c.status == 200 {
				res, _ := a["result"].(map[string]any)
				chat, _ := res["chat"].(map[string]any)
				if a["ok"] != true || res["message_id"] == nil || chat["id"] == nil {
					t.Fatalf("answer %v", a)
				}
				return
			}
			if a["ok"] != false || a["error_code"] != float64(c.status) || !strings.Contains(a["description"].(string), c.desc) {
				t.Fatalf("answer %v, want %q", a, c.desc)
			}
		})
	}
	status, a := post(t, f.URL+"/bot"+fakeToken+"/getUpdates", "application/json", `{}`)
	if status != 404 || a["ok"] != false {
		t.Fatalf("another method: %d %v", status, a)
	}
}

// The log keeps the messages for after the run; a fake started on it again lists them and goes on
// numbering after them.
func TestTelegramFakeLogSurvivesARestart(t *testing.T) {
	log := filepath.Join(t.TempDir(), "telegram.jsonl")
	f := startFake(t, log)
	tg := &notify.Telegram{APIURL: f.URL, Token: config.Secret(fakeToken)}
	for _, text := range []string{"first", "second"} {
		if err := tg.Send(context.Background(), notify.Message{Address: "100001", Text: text}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	g := startFake(t, log)
	tg.APIURL = g.URL
	if err := tg.Send(context.Background(), notify.Message{Address: "-1001000000001", Text: "third"}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range g.Messages() {
		got = append(got, m.Text+"#"+string(rune('0'+m.ID)))
	}
	if strings.Join(got, " ") != "first#1 second#2 third#3" {
		t.Fatalf("after a restart: %v", got)
	}
}

func TestTelegramFakeRefusesToListenBeyondLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:0"} {
		if f, err := StartTelegramFake(TelegramOptions{Addr: addr, Token: fakeToken}); err == nil {
			f.Close()
			t.Errorf("%s: listening", addr)
		}
	}
	if _, err := StartTelegramFake(TelegramOptions{Addr: "127.0.0.1:0", Token: "a/b"}); err == nil {
		t.Error("a token with / accepted")
	}
}

func TestTelegramHTML(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		fail bool
	}{
		{"plain", 5, false},
		{"<b>bold</b> <i>x</i>", 6, false},
		{`<a href="http://x/">l</a>`, 1, false},
		{"&lt;&gt;&amp;&quot;&#65;&#x42;", 6, false},
		{"<b><i>x</b></i>", 0, true},
		{"<a>x</a>", 0, true},
		{"<script>x</script>", 0, true},
		{"1 < 2", 0, true},
		{"a & b", 5, false},
		{"&nbsp;&#0;", 10, false},
	} {
		n, err := telegramHTML(c.in)
		if (err != nil) != c.fail || (!c.fail && n != c.n) {
			t.Errorf("telegramHTML(%q) = %d, %v", c.in, n, err)
		}
	}
}
