package stack

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// TelegramFake is a loopback stand-in for the Telegram Bot API, as much of it as Alertmanager's
// telegram_configs (telebot: JSON with string values) and the receiver's notify.telegram (JSON
// with a string chat_id and a boolean) use: POST /bot<token>/sendMessage. It answers as Telegram
// does — 401 for another token, 400 "chat not found" for a chat it was not told about, 403 "bot
// was blocked by the user" for a blocked chat, 400 for an empty or too long text or HTML that
// Telegram could not parse — and records every request, delivered or refused: GET / is a page of
// them (newest first), GET /api/messages the JSON, and the log file (JSON lines, appended) keeps
// them for after the run; a fake started again on the same log lists the earlier ones too.
type TelegramFake struct {
	URL string // http://127.0.0.1:port, what api_url is set to

	token   string
	chats   map[string]string // chat id → whom it reaches (for the page)
	blocked map[string]bool

	mu     sync.Mutex
	msgs   []TelegramMessage
	nextID int64
	log    *os.File

	srv *http.Server
}

// TelegramMessage is one sendMessage request the fake answered.
type TelegramMessage struct {
	ID        int64     `json:"message_id,omitempty"` // set when delivered
	At        time.Time `json:"at"`
	ChatID    string    `json:"chat_id"`
	Chat      string    `json:"chat,omitempty"` // whom the chat reaches
	Text      string    `json:"text"`
	ParseMode string    `json:"parse_mode,omitempty"`
	Status    int       `json:"status"`          // the HTTP status answered
	Error     string    `json:"error,omitempty"` // Telegram's description of a refusal
}

// Bounds: what one request may send, and how many messages the fake keeps in memory (the log
// file keeps all of them).
const (
	maxTelegramBody     = 1 << 20
	maxTelegramText     = 4096 // runes after entity parsing (Telegram's own limit)
	maxTelegramMessages = 10000
)

// TelegramOptions configure the fake.
type TelegramOptions struct {
	Addr    string            // listen address, e.g. 127.0.0.1:9157 or 127.0.0.1:0; loopback only
	Token   string            // the bot token it accepts
	Chats   map[string]string // the chats it knows: id → whom it reaches
	Blocked []string          // chats whose user blocked the bot (403)
	LogFile string            // JSON lines, appended; "" for none
}

// StartTelegramFake listens and serves until Close.
func StartTelegramFake(o TelegramOptions) (*TelegramFake, error) {
	host, _, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return nil, fmt.Errorf("telegram fake: %w", err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("telegram fake: %s is not a loopback address", o.Addr)
	}
	if o.Token == "" || strings.ContainsAny(o.Token, "/?#% \r\n") {
		return nil, errors.New("telegram fake: a bot token without /, ?, #, %, spaces is required")
	}
	f := &TelegramFake{token: o.Token, chats: map[string]string{}, blocked: map[string]bool{}}
	for id, who := range o.Chats {
		f.chats[id] = who
	}
	for _, id := range o.Blocked {
		f.blocked[id] = true
	}
	if o.LogFile != "" {
		if err := f.load(o.LogFile); err != nil {
			return nil, err
		}
		if f.log, err = os.OpenFile(o.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
			return nil, fmt.Errorf("telegram fake: %w", err)
		}
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		if f.log != nil {
			f.log.Close()
		}
		return nil, fmt.Errorf("telegram fake: %w", err)
	}
	f.URL = "http://" + ln.Addr().String()
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", f.page)
	mux.HandleFunc("GET /api/messages", f.api)
	mux.HandleFunc("/{bot}/{method}", f.method)
	f.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second}
	go func() { _ = f.srv.Serve(ln) }()
	return f, nil
}

// load reads the messages an earlier run wrote to the log (the last maxTelegramMessages).
func (f *TelegramFake) load(path string) error {
	file, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("telegram fake: %w", err)
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	sc.Buffer(make([]byte, 64<<10), 4*maxTelegramBody)
	for sc.Scan() {
		var m TelegramMessage
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue // a line cut by a crash
		}
		f.keep(m)
		f.nextID = max(f.nextID, m.ID)
	}
	return nil
}

// Close stops serving.
func (f *TelegramFake) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := f.srv.Shutdown(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.log != nil {
		f.log.Close()
		f.log = nil
	}
	return err
}

// Messages returns what the fake recorded, oldest first.
func (f *TelegramFake) Messages() []TelegramMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.msgs)
}

func (f *TelegramFake) keep(m TelegramMessage) {
	f.msgs = append(f.msgs, m)
	if n := len(f.msgs); n > maxTelegramMessages {
		f.msgs = slices.Delete(f.msgs, 0, n-maxTelegramMessages)
	}
}

// answer writes a Bot API reply: {"ok":true,"result":…} or {"ok":false,"error_code":…,"description":…}.
func answer(w http.ResponseWriter, status int, result any, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if status == http.StatusOK {
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "result": result})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error_code": status, "description": desc})
}

func (f *TelegramFake) method(w http.ResponseWriter, r *http.Request) {
	tok, ok := strings.CutPrefix(r.PathValue("bot"), "bot")
	if !ok {
		answer(w, http.StatusNotFound, nil, "Not Found")
		return
	}
	if tok != f.token {
		answer(w, http.StatusUnauthorized, nil, "Unauthorized")
		return
	}
	if r.PathValue("method") != "sendMessage" {
		answer(w, http.StatusNotFound, nil, "Not Found: method not found")
		return
	}
	params, err := sendParams(w, r)
	if err != nil {
		answer(w, http.StatusBadRequest, nil, "Bad Request: "+err.Error())
		return
	}
	m := TelegramMessage{At: time.Now().UTC(), ChatID: params["chat_id"], Text: params["text"], ParseMode: params["parse_mode"]}
	if len(m.ChatID) > 64 || !utf8.ValidString(m.ChatID) {
		m.ChatID = "(invalid)"
	}
	var result map[string]any
	m.Status, m.Error, result = f.decide(&m)
	f.record(m)
	answer(w, m.Status, result, m.Error)
}

// decide answers a sendMessage as Telegram would.
func (f *TelegramFake) decide(m *TelegramMessage) (int, string, map[string]any) {
	who, known := f.chats[m.ChatID]
	m.Chat = who
	switch {
	case m.ChatID == "":
		return http.StatusBadRequest, "Bad Request: chat_id is empty", nil
	case m.Text == "" || strings.TrimSpace(m.Text) == "":
		return http.StatusBadRequest, "Bad Request: message text is empty", nil
	case !known:
		return http.StatusBadRequest, "Bad Request: chat not found", nil
	case f.blocked[m.ChatID]:
		return http.StatusForbidden, "Forbidden: bot was blocked by the user", nil
	}
	visible := utf8.RuneCountInString(m.Text)
	switch strings.ToLower(m.ParseMode) {
	case "":
	case "html":
		n, err := telegramHTML(m.Text)
		if err != nil {
			return http.StatusBadRequest, "Bad Request: can't parse entities: " + err.Error(), nil
		}
		visible = n
	case "markdown", "markdownv2":
		// Not checked: neither Alertmanager's config here nor the receiver uses them.
	default:
		return http.StatusBadRequest, "Bad Request: unsupported parse_mode", nil
	}
	if visible > maxTelegramText {
		return http.StatusBadRequest, "Bad Request: message is too long", nil
	}
	f.mu.Lock()
	f.nextID++
	m.ID = f.nextID
	f.mu.Unlock()
	chat := map[string]any{"type": "private"}
	if id, err := strconv.ParseInt(m.ChatID, 10, 64); err == nil {
		chat["id"] = id
		if id < 0 {
			chat["type"] = "supergroup"
		}
	} else {
		chat["id"], chat["type"], chat["username"] = int64(-1), "channel", strings.TrimPrefix(m.ChatID, "@")
	}
	return http.StatusOK, "", map[string]any{"message_id": m.ID, "date": m.At.Unix(), "chat": chat, "text": m.Text}
}

func (f *TelegramFake) record(m TelegramMessage) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keep(m)
	if f.log != nil {
		b, _ := json.Marshal(m)
		_, _ = f.log.Write(append(b, '\n'))
	}
}

// sendParams reads sendMessage's parameters as the Bot API takes them: a JSON object (strings,
// numbers or booleans), a form (urlencoded or multipart), or the query string.
func sendParams(w http.ResponseWriter, r *http.Request) (map[string]string, error) {
	out := map[string]string{}
	for k, v := range r.URL.Query() {
		out[k] = v[0]
	}
	if r.Method != http.MethodPost {
		return out, nil
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxTelegramBody)
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "application/json":
		var obj map[string]json.RawMessage
		if err := json.NewDecoder(r.Body).Decode(&obj); err != nil {
			return nil, errors.New("can't parse JSON object")
		}
		for k, raw := range obj {
			var s string
			if json.Unmarshal(raw, &s) == nil {
				out[k] = s
				continue
			}
			var n json.Number
			if json.Unmarshal(raw, &n) == nil {
				out[k] = n.String()
				continue
			}
			out[k] = string(raw) // true, false, objects: as written
		}
	case "application/x-www-form-urlencoded", "multipart/form-data":
		if err := r.ParseMultipartForm(maxTelegramBody); err != nil && !errors.Is(err, http.ErrNotMultipart) {
			return nil, errors.New("can't parse the form")
		}
		for k, v := range r.PostForm {
			out[k] = v[0]
		}
	default:
		_, _ = io.Copy(io.Discard, r.Body)
	}
	return out, nil
}

// Telegram's HTML parse mode: these tags (a needs href), properly nested; the entities &lt; &gt;
// &amp; &quot; and numeric ones count as one character, any other & as itself; a < that starts
// anything but one of these tags is an error, as Telegram answers "can't parse entities". Returns
// the visible length in runes.
var telegramTags = map[string]bool{"b": true, "strong": true, "i": true, "em": true, "u": true, "ins": true,
	"s": true, "strike": true, "del": true, "span": true, "tg-spoiler": true, "a": true, "code": true,
	"pre": true, "blockquote": true, "tg-emoji": true}

func telegramHTML(s string) (int, error) {
	var open []string
	n := 0
	for i := 0; i < len(s); {
		switch s[i] {
		case '<':
			end := strings.IndexByte(s[i:], '>')
			if end < 0 {
				return 0, fmt.Errorf("unclosed start tag at byte offset %d", i)
			}
			tag := s[i+1 : i+end]
			closing := strings.HasPrefix(tag, "/")
			name := strings.ToLower(strings.TrimPrefix(tag, "/"))
			if sp := strings.IndexAny(name, " \t\n"); sp >= 0 {
				name = name[:sp]
			}
			if !telegramTags[name] {
				return 0, fmt.Errorf("unsupported start tag %q at byte offset %d", name, i)
			}
			if closing {
				if len(open) == 0 || open[len(open)-1] != name {
					return 0, fmt.Errorf("unmatched end tag at byte offset %d, expected \"</%s>\"", i, last(open))
				}
				open = open[:len(open)-1]
			} else {
				if name == "a" && !strings.Contains(tag, "href=") {
					return 0, fmt.Errorf("a tag without href at byte offset %d", i)
				}
				open = append(open, name)
			}
			i += end + 1
		case '&':
			semi := strings.IndexByte(s[i:], ';')
			ent := ""
			if semi > 0 {
				ent = s[i+1 : i+semi]
			}
			n++
			if !knownEntity(ent) {
				i++ // Telegram keeps an & that starts no entity it knows as it is
				continue
			}
			i += semi + 1
		default:
			_, size := utf8.DecodeRuneInString(s[i:])
			n++
			i += size
		}
	}
	if len(open) > 0 {
		return 0, fmt.Errorf("can't find end tag corresponding to start tag \"%s\"", last(open))
	}
	return n, nil
}

func last(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}

func knownEntity(e string) bool {
	switch e {
	case "lt", "gt", "amp", "quot":
		return true
	}
	if d, ok := strings.CutPrefix(e, "#"); ok && d != "" && len(d) <= 8 {
		base := 10
		if h, ok := strings.CutPrefix(d, "x"); ok {
			d, base = h, 16
		}
		v, err := strconv.ParseUint(d, base, 32)
		return err == nil && v > 0 && v < utf8.MaxRune
	}
	return false
}

func (f *TelegramFake) api(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"messages": f.Messages()})
}

var telegramPage = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="30">
<title>Telegram (loopback fake)</title>
<style>body{font:15px/1.4 system-ui,sans-serif;margin:1em;max-width:60em}li{margin:0 0 1em;list-style:none;border-left:4px solid #2a9;padding-left:.6em}
li.refused{border-color:#c33}.meta{color:#555;font-size:13px}pre{white-space:pre-wrap;word-break:break-word;margin:.3em 0}</style></head>
<body><h1>Telegram messages</h1>
<p class="meta">What Alertmanager and the repair receiver sent to the Telegram Bot API, received by the stack's loopback fake (nothing leaves this machine). Newest first; {{.Count}} in all{{if .Cut}}, the latest {{len .Messages}} shown{{end}}. Chats: {{range $i, $c := .Chats}}{{if $i}}, {{end}}{{$c}}{{end}}.</p>
<ul>{{range .Messages}}<li{{if ne .Status 200}} class="refused"{{end}}><span class="meta">{{.At.Format "2006-01-02 15:04:05 MST"}} · chat {{.ChatID}}{{with .Chat}} ({{.}}){{end}}{{with .ParseMode}} · {{.}}{{end}} · {{if eq .Status 200}}delivered #{{.ID}}{{else}}refused {{.Status}}: {{.Error}}{{end}}</span><pre>{{.Text}}</pre></li>
{{else}}<li class="meta">No messages yet.</li>{{end}}</ul></body></html>
`))

// maxPage bounds the messages the page lists.
const maxPage = 500

func (f *TelegramFake) page(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "GET only", http.StatusMethodNotAllowed)
		return
	}
	msgs := f.Messages()
	slices.Reverse(msgs)
	count := len(msgs)
	cut := count > maxPage
	if cut {
		msgs = msgs[:maxPage]
	}
	var chats []string
	for id, who := range f.chats {
		c := id + " " + who
		if f.blocked[id] {
			c += " (blocked the bot)"
		}
		chats = append(chats, c)
	}
	slices.Sort(chats)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = telegramPage.Execute(w, map[string]any{"Messages": msgs, "Count": count, "Cut": cut, "Chats": chats})
}

// TelegramPath is where a client of api_url sends a message (for tests).
func TelegramPath(token string) string { return "/bot" + url.PathEscape(token) + "/sendMessage" }
