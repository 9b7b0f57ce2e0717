package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/task"
)

var returnRE = regexp.MustCompile(`name="return" value="([^"]*)"`)

// seed posts n firing alerts on n new machines of site-a through the webhook.
func (f *fixture) seed(n int) {
	f.t.Helper()
	f.cfg.Webhook.MaxBodyBytes = 32 << 20
	resp, body := f.do("POST", "/api/v1/alerts", strings.NewReader(string(payload(n))), bearer)
	if resp.StatusCode != 200 {
		f.t.Fatalf("seed: %d %s", resp.StatusCode, body)
	}
}

// get fetches a path and reads at most max bytes of the answer, so that a reply that is not bounded
// fails the test instead of the machine.
func (f *fixture) get(path, auth string, max int64) (*http.Response, string) {
	f.t.Helper()
	req, err := http.NewRequest("GET", f.url+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	u, p, _ := strings.Cut(auth, ":")
	req.SetBasicAuth(u, p)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, max))
	return resp, string(b)
}

// The request: a 61 KB query string of 60 repeated state= values and a long padding
// parameter, echoed into two hidden fields per card and a section per value.
func hostileQuery(states int, pad int) string {
	q := strings.Repeat("state=open&", states)
	return q + "pad=" + strings.Repeat("x", pad)
}

func TestBoardAndListAreBounded(t *testing.T) {
	f := newFixture(t, map[string]string{"alice": hash(t, "pw")})
	f.seed(10)
	const cap = 1 << 20
	for _, tc := range []struct {
		name    string
		path    string
		code    int
		want    string
		maxBody int
	}{
		{"board: 61 KB query", "/?" + hostileQuery(60, 61<<10), 414, "query", 16 << 10},
		{"board: 60 repeated state values", "/?" + strings.Repeat("state=open&", 60), 200, "</html>", 256 << 10},
		{"board: unknown parameter", "/?pad=x", 400, "pad", 16 << 10},
		{"board: site twice", "/?site=a&site=b", 400, "site", 16 << 10},
		{"board: unknown category", "/?category=bogus", 400, "category", 16 << 10},
		{"board: too long assignee", "/?assignee=" + strings.Repeat("a", 300), 400, "assignee", 16 << 10},
		{"api: 61 KB query", "/api/v1/tasks?" + hostileQuery(60, 61<<10), 414, `"error"`, 4 << 10},
		{"api: 60 repeated state values", "/api/v1/tasks?" + strings.Repeat("state=open&", 60), 200, `"tasks"`, 256 << 10},
		{"api: limit over the cap", "/api/v1/tasks?limit=10000", 400, "limit", 4 << 10},
		{"api: limit at the cap", "/api/v1/tasks?limit=1000", 200, `"tasks"`, 256 << 10},
		{"api: limit twice", "/api/v1/tasks?limit=1&limit=2", 400, "limit", 4 << 10},
		{"api: unknown parameter", "/api/v1/tasks?pad=x", 400, "pad", 4 << 10},
		{"api: unknown category", "/api/v1/tasks?category=bogus", 400, "category", 4 << 10},
		{"task page: 61 KB query", "/tasks/1?" + hostileQuery(60, 61<<10), 414, "query", 16 << 10},
		{"task: 61 KB query", "/api/v1/tasks/1?" + hostileQuery(60, 61<<10), 414, "query", 4 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := f.get(tc.path, "alice:pw", cap)
			if resp.StatusCode != tc.code || !strings.Contains(body, tc.want) {
				t.Fatalf("%d (%d bytes), want %d containing %q: %.300s", resp.StatusCode, len(body), tc.code, tc.want, body)
			}
			if len(body) > tc.maxBody {
				t.Fatalf("answer of %d bytes, want at most %d", len(body), tc.maxBody)
			}
		})
	}
	// Repeated state values make one section, not sixty.
	_, body := f.get("/?"+strings.Repeat("state=open&", 60), "alice:pw", cap)
	if n := strings.Count(body, "<h2>open "); n != 1 {
		t.Fatalf("%d open sections, want 1", n)
	}
	// The forms' return field is the canonical filter, never the raw request.
	_, body = f.get("/?site=site-a&state=open&state=open", "alice:pw", cap)
	for _, m := range returnRE.FindAllStringSubmatch(body, -1) {
		if m[1] != "/?site=site-a&amp;state=open" {
			t.Fatalf("return field %q", m[1])
		}
	}
}

func TestLoginFailuresAreThrottled(t *testing.T) {
	f := newFixture(t, map[string]string{"alice": hash(t, "pw"), "bob": hash(t, "pw-b")})
	for i := range 10 {
		if resp, _ := f.get("/api/v1/tasks", "alice:wrong"+fmt.Sprint(i), 4<<10); resp.StatusCode != 401 {
			t.Fatalf("wrong password %d: %d", i, resp.StatusCode)
		}
	}
	resp, body := f.get("/api/v1/tasks", "alice:wrong-again", 4<<10)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("11th wrong password: %d Retry-After=%q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	// The right password, not yet cached, from the throttled source: refused too (no bcrypt run).
	if resp, _ := f.get("/api/v1/tasks", "bob:pw-b", 4<<10); resp.StatusCode != 429 {
		t.Fatalf("login from a throttled source: %d", resp.StatusCode)
	}
	_, metrics := f.get("/metrics", "", 1<<20)
	for _, want := range []string{"repair_receiver_login_failures_total 10", `repair_receiver_logins_throttled_total{by="source"} 2`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestRequestBodiesAreBounded(t *testing.T) {
	f := newFixture(t, map[string]string{"alice": hash(t, "pw")})
	f.seed(2)
	alice := map[string]string{"auth": "alice:pw", "Content-Type": "application/json"}
	big := `{"text":"` + strings.Repeat("x", 100<<10) + `"}`
	if resp, body := f.do("POST", "/api/v1/tasks/1/note", strings.NewReader(big), alice); resp.StatusCode != 413 {
		t.Fatalf("100 KiB JSON body: %d %.200s", resp.StatusCode, body)
	}
	long := `{"text":"` + strings.Repeat("x", 4097) + `"}`
	if resp, body := f.do("POST", "/api/v1/tasks/1/note", strings.NewReader(long), alice); resp.StatusCode != 400 || !strings.Contains(body, "4096") {
		t.Fatalf("4097-byte note: %d %.200s", resp.StatusCode, body)
	}
	ok := `{"text":"` + strings.Repeat("x", 4096) + `"}`
	if resp, body := f.do("POST", "/api/v1/tasks/1/note", strings.NewReader(ok), alice); resp.StatusCode != 200 {
		t.Fatalf("4096-byte note: %d %.200s", resp.StatusCode, body)
	}
	v := url.Values{"csrf_token": {f.srv.csrfToken("alice")}, "note": {strings.Repeat("x", 100<<10)}}
	if resp, body := f.do("POST", "/tasks/1/note", strings.NewReader(v.Encode()),
		map[string]string{"auth": "alice:pw", "Content-Type": "application/x-www-form-urlencoded"}); resp.StatusCode != 413 {
		t.Fatalf("100 KiB form: %d %.200s", resp.StatusCode, body)
	}
}

// A page or JSON answer larger than MaxPageBytes is refused, not built.
func TestAnswersAreCapped(t *testing.T) {
	f := newFixture(t, map[string]string{"alice": hash(t, "pw")}, func(o *Options) { o.MaxPageBytes = 20 << 10 })
	f.seed(100)
	for _, tc := range []struct {
		path string
		code int
		want string
	}{
		{"/", 500, "narrow the filter"},
		{"/api/v1/tasks", 500, "limit"},
		{"/api/v1/tasks?limit=5", 200, `"tasks"`},
		{"/?state=done", 200, "</html>"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, body := f.get(tc.path, "alice:pw", 1<<20)
			if resp.StatusCode != tc.code || !strings.Contains(body, tc.want) || len(body) > 20<<10 {
				t.Fatalf("%d (%d bytes) %.200s", resp.StatusCode, len(body), body)
			}
		})
	}
}

// The task page shows the last events and the first problems (firing first) with how many there
// are; the API returns the last events and pages back through the rest with events_before.
func TestTaskPageIsBounded(t *testing.T) {
	f := newFixture(t, map[string]string{"alice": hash(t, "pw")})
	f.seed(1)
	ctx := context.Background()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	err := f.st.InTx(ctx, func(tx store.Tx) error {
		evs := make([]task.Event, 3000)
		for i := range evs {
			evs[i] = task.Event{TaskID: 1, At: time.Now().UTC(), Actor: "alice", Kind: task.KindNote, From: task.Open, To: task.Open, Text: fmt.Sprintf("note %d", i)}
		}
		if err := tx.AddEvents(ctx, evs); err != nil {
			return err
		}
		// A year of flapping: 300 cleared occurrences, older than the one that fires now.
		for i := range 300 {
			p := &task.Problem{TaskID: 1, Key: "flap", Alertname: "MinerFlapping", StartsAt: start.Add(time.Duration(i) * time.Hour),
				Annotations: map[string]string{"summary": fmt.Sprintf("flap %d", i)}}
			if err := tx.AddProblem(ctx, p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_, page := f.get("/tasks/1", "alice:pw", 4<<20)
	if n := strings.Count(page, "<tr><td>"); n > pageEvents+pageProblems+1 {
		t.Fatalf("%d rows on the task page", n)
	}
	for _, want := range []string{"note 2999<", "Showing the last 200 of 3,002 events", "Showing 100 of 301 problems (1 firing, shown first)"} {
		if !strings.Contains(page, want) {
			t.Fatalf("task page lacks %q:\n%.3000s", want, page)
		}
	}
	if strings.Contains(page, "note 2799<") || strings.Contains(page, "flap 99<") {
		t.Fatal("the task page shows more than its bounds")
	}
	if i, j := strings.Index(page, `<span class="tag critical">firing</span>`), strings.Index(page, "flap 0<"); i < 0 || j < 0 || i > j {
		t.Fatal("the firing problem is not shown before the cleared ones")
	}

	type detail struct {
		History []struct {
			ID   int64  `json:"id"`
			Text string `json:"text"`
		} `json:"history"`
		Problems         []struct{ Key string } `json:"problems"`
		ProblemCount     int                    `json:"problem_count"`
		FiringCount      int                    `json:"firing_count"`
		EventCount       int                    `json:"event_count"`
		NextEventsBefore int64                  `json:"next_events_before"`
		NextProblems     int                    `json:"next_problems_offset"`
	}
	getJSON := func(path string) (d detail) {
		t.Helper()
		resp, body := f.get(path, "alice:pw", 8<<20)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %.300s", path, resp.StatusCode, body)
		}
		if err := json.Unmarshal([]byte(body), &d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	d := getJSON("/api/v1/tasks/1")
	if len(d.History) != 200 || d.History[199].Text != "note 2999" || d.EventCount != 3002 || d.ProblemCount != 301 || d.FiringCount != 1 ||
		len(d.Problems) != 100 || d.NextProblems != 100 || d.NextEventsBefore != d.History[0].ID {
		t.Fatalf("API detail: %d events (last %+v), counts %d/%d/%d, %d problems, next %d/%d", len(d.History), d.History[len(d.History)-1],
			d.EventCount, d.ProblemCount, d.FiringCount, len(d.Problems), d.NextEventsBefore, d.NextProblems)
	}
	// Paging back through the history finds every event once.
	seen := map[string]bool{}
	path := "/api/v1/tasks/1?events_limit=1000&problems_limit=1"
	for page := 0; ; page++ {
		if page > 5 {
			t.Fatal("paging does not end")
		}
		d := getJSON(path)
		for _, e := range d.History {
			if seen[e.Text] {
				t.Fatalf("%q twice", e.Text)
			}
			seen[e.Text] = true
		}
		if d.NextEventsBefore == 0 {
			break
		}
		path = fmt.Sprintf("/api/v1/tasks/1?events_limit=1000&events_before=%d", d.NextEventsBefore)
	}
	if len(seen) != 3002 || !seen["note 0"] {
		t.Fatalf("%d events paged", len(seen))
	}
	if d := getJSON("/api/v1/tasks/1?problems_offset=300&problems_limit=10"); len(d.Problems) != 1 || d.NextProblems != 0 {
		t.Fatalf("last problem page: %d problems, next %d", len(d.Problems), d.NextProblems)
	}
	for _, q := range []string{"events_limit=0", "events_limit=1001", "events_limit=x", "events_before=-1", "problems_limit=5000",
		"problems_offset=-1", "events_limit=1&events_limit=2", "state=open", "foo=1"} {
		if resp, body := f.get("/api/v1/tasks/1?"+q, "alice:pw", 1<<20); resp.StatusCode != 400 || !strings.Contains(body, `"error"`) {
			t.Errorf("?%s: %d %.200s", q, resp.StatusCode, body)
		}
	}
}
