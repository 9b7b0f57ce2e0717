package web

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/crypto/bcrypt"

	"github.com/minefarm/cgminer-stack/receiver/config"
	"github.com/minefarm/cgminer-stack/receiver/repair"
	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/store/sqldb"
	"github.com/minefarm/cgminer-stack/receiver/store/sqlite"
)

const token = "tok-123"

type fixture struct {
	t     testing.TB
	url   string
	st    *sqldb.DB
	srv   *Server
	cfg   *config.Config
	users map[string]string
}

func hash(t testing.TB, pw string) string {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// fixtureConfig: team b takes site-z, team a everything else; carol leads a, erin leads b.
const fixtureConfig = `teams:
  - {name: b, members: [dave], lead: erin, matchers: {site: site-z}}
  - {name: a, members: [alice, bob], lead: carol}
people:
  alice: {role: technician}
  bob: {role: technician}
  carol: {role: lead}
  dave: {role: technician}
  erin: {role: lead}
  root: {role: admin}
  vic: {role: viewer}
webhook: {max_body_bytes: 20000}
`

func newFixture(t testing.TB, users map[string]string, opts ...func(*Options)) *fixture {
	t.Helper()
	cfg, err := config.Parse([]byte(fixtureConfig))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Webhook.Token = token
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := prometheus.NewRegistry()
	m := repair.NewMetrics(reg, st, logger)
	svc := repair.New(st, func() *config.Config { return cfg }, repair.SystemClock{}, logger, m)
	u, err := NewUsers(users)
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Service: svc, Store: st, Config: func() *config.Config { return cfg }, Users: func() *Users { return u },
		Logger: logger, Registry: reg, Metrics: m, Reload: func() error { return nil }}
	for _, opt := range opts {
		opt(&o)
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	return &fixture{t: t, url: hs.URL, st: st, srv: s, users: users, cfg: cfg}
}

func (f *fixture) do(method, path string, body io.Reader, hdr map[string]string) (*http.Response, string) {
	f.t.Helper()
	req, err := http.NewRequest(method, f.url+path, body)
	if err != nil {
		f.t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "auth" {
			u, p, _ := strings.Cut(v, ":")
			req.SetBasicAuth(u, p)
			continue
		}
		req.Header.Set(k, v)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func fixtureBody(t *testing.T, name string) string {
	b, err := os.ReadFile("../testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var bearer = map[string]string{"Authorization": "Bearer " + token}

func TestWebhook(t *testing.T) {
	f := newFixture(t, map[string]string{"alice": hash(t, "pw")})
	firing := fixtureBody(t, "am-0.34-site-a.json")
	for _, tc := range []struct {
		name   string
		body   string
		hdr    map[string]string
		code   int
		result string
	}{
		{"no token", firing, nil, 401, "unauthorized"},
		{"wrong token", firing, map[string]string{"Authorization": "Bearer nope"}, 401, "unauthorized"},
		{"basic auth is not the token", firing, map[string]string{"auth": "alice:pw"}, 401, "unauthorized"},
		{"real payload", firing, bearer, 200, "rejected_alerts"},
		{"same again", firing, bearer, 200, "rejected_alerts"},
		{"real 0.25 payload", fixtureBody(t, "am-0.25-firing.json"), bearer, 200, "ok"},
		{"not json", "{", bearer, 400, "bad_request"},
		{"version 3", `{"version":"3","alerts":[]}`, bearer, 400, "bad_request"},
		{"too large", `{"version":"4","receiver":"` + strings.Repeat("x", 30000) + `"}`, bearer, 413, "too_large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := testutil.ToFloat64(f.srv.requests.WithLabelValues(tc.result))
			resp, body := f.do("POST", "/api/v1/alerts", strings.NewReader(tc.body), tc.hdr)
			if resp.StatusCode != tc.code {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.code, body)
			}
			if got := testutil.ToFloat64(f.srv.requests.WithLabelValues(tc.result)); got != before+1 {
				t.Fatalf("webhook_requests_total{result=%q} not counted", tc.result)
			}
		})
	}
	_, metrics := f.do("GET", "/metrics", nil, map[string]string{"auth": "alice:pw"})
	for _, want := range []string{`repair_receiver_tasks{site="site-a",state="open"} 1`, `repair_receiver_tasks{site="site-a",state="done"} 0`,
		`repair_receiver_tasks_created_total 3`, `repair_receiver_webhook_alerts_total{status="rejected"} 2`,
		`repair_receiver_watchdog_last_seen_timestamp_seconds 1.`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	ts, _ := f.st.ListTasks(context.Background(), storeFilter())
	if len(ts) != 3 {
		t.Fatalf("%d tasks, want 3 (two machines of the 0.34 payload and one of the 0.25 one)", len(ts))
	}
	// A store failure answers 503 so that Alertmanager retries.
	f.st.Close()
	resp, _ := f.do("POST", "/api/v1/alerts", strings.NewReader(firing), bearer)
	if resp.StatusCode != 503 {
		t.Fatalf("store down: %d, want 503", resp.StatusCode)
	}
	if resp, _ := f.do("GET", "/-/ready", nil, nil); resp.StatusCode != 503 {
		t.Fatalf("ready with the store down: %d", resp.StatusCode)
	}
	if resp, _ := f.do("GET", "/-/healthy", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("healthy: %d", resp.StatusCode)
	}
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([0-9a-f]+)"`)

func TestBoardAuthCSRFAndActions(t *testing.T) {
	f := newFixture(t, map[string]string{"alice": hash(t, "pw-a"), "bob": hash(t, "pw-b")})
	if resp, body := f.do("POST", "/api/v1/alerts", strings.NewReader(fixtureBody(t, "am-0.34-site-a.json")), bearer); resp.StatusCode != 200 {
		t.Fatal(body)
	}
	bob := map[string]string{"auth": "bob:pw-b"}
	for _, tc := range []struct {
		name, method, path string
		hdr                map[string]string
		code               int
	}{
		{"board without login", "GET", "/", nil, 401},
		{"board wrong password", "GET", "/", map[string]string{"auth": "bob:pw-a"}, 401},
		{"board unknown user", "GET", "/", map[string]string{"auth": "mallory:pw-a"}, 401},
		{"api without login", "GET", "/api/v1/tasks", nil, 401},
		{"action without login", "POST", "/api/v1/tasks/1/ack", map[string]string{"Content-Type": "application/json"}, 401},
		{"metrics without login (read-only, for Prometheus)", "GET", "/metrics", nil, 200},
		{"metrics cannot be posted to", "POST", "/metrics", nil, 405},
		{"reload without login", "POST", "/-/reload", nil, 401},
		{"board", "GET", "/", bob, 200},
		{"board filtered", "GET", "/?state=open&site=site-a&assignee=alice&category=fan", bob, 200},
		{"board bad state", "GET", "/?state=fixed", bob, 400},
		{"task page", "GET", "/tasks/1", bob, 200},
		{"missing task page", "GET", "/tasks/99", bob, 404},
		{"metrics", "GET", "/metrics", bob, 200},
		{"healthy", "GET", "/-/healthy", nil, 200},
		{"ready", "GET", "/-/ready", nil, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if resp, body := f.do(tc.method, tc.path, nil, tc.hdr); resp.StatusCode != tc.code {
				t.Fatalf("%d, want %d: %.300s", resp.StatusCode, tc.code, body)
			}
		})
	}
	_, board := f.do("GET", "/", nil, bob)
	if !strings.Contains(board, `Miner 10.1.0.7`) || !strings.Contains(board, `Site site-b`) || !strings.Contains(board, "Acknowledge") || !strings.Contains(board, "</html>") ||
		strings.Contains(board, `instance=&#34;`) {
		t.Fatalf("board lacks the task or its button:\n%.2000s", board)
	}
	m := csrfRE.FindStringSubmatch(board)
	if m == nil {
		t.Fatal("no csrf token on the board")
	}
	tok := m[1]
	form := func(v url.Values) io.Reader { return strings.NewReader(v.Encode()) }
	formHdr := func(extra map[string]string) map[string]string {
		h := map[string]string{"auth": "bob:pw-b", "Content-Type": "application/x-www-form-urlencoded"}
		for k, v := range extra {
			h[k] = v
		}
		return h
	}
	for _, tc := range []struct {
		name string
		v    url.Values
		hdr  map[string]string
		code int
	}{
		{"no token", url.Values{}, formHdr(nil), 403},
		{"wrong token", url.Values{"csrf_token": {strings.Repeat("0", 64)}}, formHdr(nil), 403},
		{"alice's token as bob", url.Values{"csrf_token": {f.srv.csrfToken("alice")}}, formHdr(nil), 403},
		{"cross-site with a valid token", url.Values{"csrf_token": {tok}}, formHdr(map[string]string{"Sec-Fetch-Site": "cross-site"}), 403},
		{"foreign origin with a valid token", url.Values{"csrf_token": {tok}}, formHdr(map[string]string{"Origin": "https://evil.example"}), 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if resp, body := f.do("POST", "/tasks/1/ack", form(tc.v), tc.hdr); resp.StatusCode != tc.code {
				t.Fatalf("%d, want %d: %.300s", resp.StatusCode, tc.code, body)
			}
		})
	}
	if d, _ := f.st.Detail(context.Background(), 1, store.DetailQuery{}); d.Task.State != "open" {
		t.Fatalf("a refused request changed the task: %s", d.Task.State)
	}
	resp, _ := f.do("POST", "/tasks/1/ack", form(url.Values{"csrf_token": {tok}, "return": {"//evil.example/"}}),
		formHdr(map[string]string{"Sec-Fetch-Site": "same-origin"}))
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/" {
		t.Fatalf("form ack: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = f.do("POST", "/tasks/1/fixed", form(url.Values{"csrf_token": {tok}, "report": {"swapped fan"}, "return": {"/tasks/1"}}), formHdr(nil))
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/tasks/1" {
		t.Fatalf("form fixed: %d", resp.StatusCode)
	}
	if resp, body := f.do("POST", "/tasks/1/ack", form(url.Values{"csrf_token": {tok}}), formHdr(nil)); resp.StatusCode != 409 || !strings.Contains(body, "verifying") {
		t.Fatalf("invalid transition from a form: %d %s", resp.StatusCode, body)
	}
	d, _ := f.st.Detail(context.Background(), 1, store.DetailQuery{})
	if d.Task.State != "verifying" || d.Task.Assignee != "bob" || d.Task.Report != "swapped fan" {
		t.Fatalf("task after the forms: %+v", d.Task)
	}
	for _, e := range d.Events[len(d.Events)-2:] {
		if e.Actor != "bob" {
			t.Fatalf("history actor %q, want the logged-in user", e.Actor)
		}
	}
	_, page := f.do("GET", "/tasks/1", nil, bob)
	for _, want := range []string{"swapped fan", "MinerFanFailure", "runbook", "http://am-1:9093", "fan=2", "History"} {
		if !strings.Contains(page, want) {
			t.Errorf("task page lacks %q", want)
		}
	}
}

// siteBResolved resolves the SiteDown of am-0.34-site-a.json.
const siteBResolved = `{"version":"4","status":"resolved","receiver":"repair","alerts":[{"status":"resolved",` +
	`"labels":{"alertname":"SiteDown","category":"fleet","severity":"critical","site":"site-b"},"annotations":{"summary":"site-b is down"},` +
	`"startsAt":"2026-11-22T08:02:00Z","endsAt":"2026-11-22T08:30:00Z","fingerprint":"3333333333333333"}]}`

func TestJSONAPI(t *testing.T) {
	f := newFixture(t, map[string]string{"alice": hash(t, "pw"), "carol": hash(t, "pw-c")})
	f.do("POST", "/api/v1/alerts", strings.NewReader(fixtureBody(t, "am-0.34-site-a.json")), bearer)
	alice := map[string]string{"auth": "alice:pw", "Content-Type": "application/json"}
	carol := map[string]string{"auth": "carol:pw-c", "Content-Type": "application/json"}
	for _, tc := range []struct {
		name, method, path, body string
		hdr                      map[string]string
		code                     int
		want                     string
	}{
		{"list", "GET", "/api/v1/tasks", "", alice, 200, `"machine":"site=\"site-b\""`},
		{"list by state", "GET", "/api/v1/tasks?state=open&site=site-b", "", alice, 200, `"fleet":true`},
		{"bad state", "GET", "/api/v1/tasks?state=fixed", "", alice, 400, "unknown state"},
		{"bad limit", "GET", "/api/v1/tasks?limit=-1", "", alice, 400, "limit"},
		{"get", "GET", "/api/v1/tasks/1", "", alice, 200, `"problems"`},
		{"get missing", "GET", "/api/v1/tasks/77", "", alice, 404, "not found"},
		{"get bad id", "GET", "/api/v1/tasks/x", "", alice, 404, "not found"},
		{"form-encoded action refused", "POST", "/api/v1/tasks/1/ack", "a=b", map[string]string{"auth": "alice:pw", "Content-Type": "application/x-www-form-urlencoded"}, 415, "application/json"},
		{"fixed before ack", "POST", "/api/v1/tasks/1/fixed", `{"report":"x"}`, alice, 409, "acknowledge or start"},
		{"ack", "POST", "/api/v1/tasks/1/ack", "", alice, 200, `"state":"acknowledged"`},
		{"ack twice", "POST", "/api/v1/tasks/1/ack", "", alice, 409, "invalid transition"},
		{"start", "POST", "/api/v1/tasks/1/start", "{}", alice, 200, `"state":"in_progress"`},
		{"note", "POST", "/api/v1/tasks/1/note", `{"text":"fan on order"}`, alice, 200, `"in_progress"`},
		{"empty note", "POST", "/api/v1/tasks/1/note", `{}`, alice, 400, "empty note"},
		{"bad json", "POST", "/api/v1/tasks/1/note", `{`, alice, 400, "invalid JSON"},
		{"fixed without report", "POST", "/api/v1/tasks/1/fixed", `{}`, alice, 400, "say what was done"},
		{"fixed", "POST", "/api/v1/tasks/1/fixed", `{"report":"new fan"}`, alice, 200, `"state":"verifying"`},
		{"assign as a technician", "POST", "/api/v1/tasks/2/assign", `{"assignee":"bob"}`, alice, 403, "lead"},
		{"assign", "POST", "/api/v1/tasks/2/assign", `{"assignee":"bob"}`, carol, 200, `"assignee":"bob"`},
		{"assign to nobody known", "POST", "/api/v1/tasks/2/assign", `{"assignee":"mallory"}`, carol, 400, "not someone tasks can be assigned to"},
		{"cancel while firing", "POST", "/api/v1/tasks/2/cancel", `{"reason":"site decommissioned"}`, carol, 409, "still fire"},
		{"site-b resolves", "POST", "/api/v1/alerts", siteBResolved, bearer, 200, `"cleared":1`},
		{"cancel as a technician", "POST", "/api/v1/tasks/2/cancel", `{}`, alice, 403, "lead"},
		{"cancel", "POST", "/api/v1/tasks/2/cancel", `{"reason":"site decommissioned"}`, carol, 200, `"state":"cancelled"`},
		{"cancel again", "POST", "/api/v1/tasks/2/cancel", `{}`, carol, 409, "already cancelled"},
		{"unknown action", "POST", "/api/v1/tasks/1/explode", `{}`, alice, 404, "unknown action"},
		{"missing task", "POST", "/api/v1/tasks/77/ack", `{}`, alice, 404, "not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			resp, out := f.do(tc.method, tc.path, body, tc.hdr)
			if resp.StatusCode != tc.code || !strings.Contains(out, tc.want) {
				t.Fatalf("%d %s; want %d containing %q", resp.StatusCode, out, tc.code, tc.want)
			}
			if resp.StatusCode >= 400 {
				var e map[string]string
				if json.Unmarshal([]byte(out), &e) != nil || e["error"] == "" {
					t.Fatalf("error is not JSON {error: ...}: %s", out)
				}
			}
		})
	}
}

func TestWithoutUsersNothingChanges(t *testing.T) {
	f := newFixture(t, map[string]string{})
	f.do("POST", "/api/v1/alerts", strings.NewReader(fixtureBody(t, "am-0.25-firing.json")), bearer)
	if resp, _ := f.do("GET", "/", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("read-only board: %d", resp.StatusCode)
	}
	if resp, _ := f.do("POST", "/api/v1/tasks/1/ack", strings.NewReader("{}"), map[string]string{"Content-Type": "application/json"}); resp.StatusCode != 403 {
		t.Fatalf("action without users: %d", resp.StatusCode)
	}
}

func TestLoadWebConfig(t *testing.T) {
	wc, err := LoadWebConfig("../web.yml")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(wc.Users.Names(), ","); got != "admin,alice,bob,carol,dave,viewer" {
		t.Fatalf("demo users: %s", got)
	}
	for _, u := range []string{"admin", "viewer"} { // the others were checked when they were added; bcrypt is slow under -race
		h, _ := wc.Users.hash(u)
		if bcrypt.CompareHashAndPassword(h, []byte(u+"-demo")) != nil {
			t.Errorf("demo user %s: password is not %s-demo (receiver/README.md)", u, u)
		}
	}
	if cost, _ := bcrypt.Cost(wc.Users.dummy); cost != 10 {
		t.Fatalf("dummy hash cost %d, want the demo users' 10", cost)
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "w.yml")
	os.WriteFile(bad, []byte("basic_auth_users: {a: notahash}\nunknown: 1\n"), 0o600)
	if _, err := LoadWebConfig(bad); err == nil {
		t.Fatal("bad web config accepted")
	}
	if wc, err := LoadWebConfig(""); err != nil || wc.Users.Len() != 0 {
		t.Fatalf("no web config: %v %v", wc, err)
	}
}

func TestAuthCacheStillChecksPasswords(t *testing.T) {
	f := newFixture(t, map[string]string{"alice": hash(t, "pw")})
	for i := range 50 {
		if resp, _ := f.do("GET", "/api/v1/tasks", nil, map[string]string{"auth": "alice:pw"}); resp.StatusCode != 200 {
			t.Fatalf("good password refused: %d", resp.StatusCode)
		}
		// 401 until the failures are throttled, then 429: never the cached good login.
		want := 401
		if i >= 10 {
			want = 429
		}
		if resp, _ := f.do("GET", "/api/v1/tasks", nil, map[string]string{"auth": "alice:wrong"}); resp.StatusCode != want {
			t.Fatalf("wrong password, attempt %d: %d, want %d", i, resp.StatusCode, want)
		}
	}
}
