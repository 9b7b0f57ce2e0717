package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/minefarm/cgminer-stack/receiver/config"
	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/task"
)

// firingBody is one firing fan alert on a machine of a site.
func firingBody(instance, site string) string {
	return fmt.Sprintf(`{"version":"4","status":"firing","receiver":"repair","alerts":[{"status":"firing",`+
		`"labels":{"alertname":"MinerFanFailure","category":"fan","severity":"critical","instance":%q,"site":%q,"fan":"1"},`+
		`"annotations":{"summary":"fan stopped"},"startsAt":"2026-11-22T08:00:00Z","endsAt":"0001-01-01T00:00:00Z"}]}`, instance, site)
}

func resolvedBody(instance, site string) string {
	return strings.Replace(strings.Replace(firingBody(instance, site), `"status":"firing"`, `"status":"resolved"`, 2),
		`"endsAt":"0001-01-01T00:00:00Z"`, `"endsAt":"2026-11-22T08:10:00Z"`, 1)
}

var actionRE = regexp.MustCompile(`action="/tasks/(\d+)/(\w+)"`)

var everyone = []string{"alice", "bob", "carol", "dave", "erin", "root", "vic", "ghost"}

func usersFor(t testing.TB) map[string]string {
	m := map[string]string{}
	for _, u := range everyone {
		m[u] = hash(t, u+"-pw")
	}
	return m
}

// authzFixture: task 1 on site-a (team a: alice, bob, lead carol), task 2 on site-z (team b: dave,
// lead erin); root is an admin, vic a viewer, ghost a user with no role (a viewer).
func authzFixture(t *testing.T) *fixture {
	f := newFixture(t, usersFor(t))
	for _, b := range []string{firingBody("10.0.0.1", "site-a"), firingBody("10.9.0.1", "site-z")} {
		if resp, body := f.do("POST", "/api/v1/alerts", strings.NewReader(b), bearer); resp.StatusCode != 200 {
			t.Fatal(body)
		}
	}
	for id, team := range map[int64]string{1: "a", 2: "b"} {
		if d, err := f.st.Detail(context.Background(), id, store.DetailQuery{}); err != nil || d.Task.Team != team {
			t.Fatalf("task %d: team %q, %v", id, d.Task.Team, err)
		}
	}
	return f
}

func TestAuthorizationAPI(t *testing.T) {
	type row struct {
		user   string
		action string
		task   int64
		body   string
		code   int
		want   string
	}
	f := authzFixture(t)
	for i, tc := range []row{
		// Viewers, and signed-in users without a role, only read.
		{"vic", "ack", 1, "", 403, "viewer"},
		{"vic", "note", 1, `{"text":"x"}`, 403, "viewer"},
		{"ghost", "ack", 1, "", 403, "viewer"},
		{"ghost", "cancel", 1, "", 403, "viewer"},
		// Technicians act on their teams' tasks only; they neither reassign nor cancel.
		{"dave", "ack", 1, "", 403, "belongs to team a"},
		{"dave", "start", 1, "", 403, "belongs to team a"},
		{"dave", "note", 1, `{"text":"x"}`, 403, "belongs to team a"},
		{"alice", "assign", 1, `{"assignee":"bob"}`, 403, "lead of team a"},
		{"alice", "cancel", 1, "", 403, "lead of team a"},
		{"alice", "note", 1, `{"text":"on my way"}`, 200, `"state":"open"`},
		{"bob", "ack", 1, "", 200, `"assignee":"bob"`}, // takes over within the team
		{"alice", "start", 1, "", 200, `"assignee":"alice"`},
		{"dave", "ack", 2, "", 200, `"state":"acknowledged"`},
		// Leads reassign their teams' tasks, to people of that team and to configured people only.
		{"erin", "assign", 1, `{"assignee":"dave"}`, 403, "lead of team a"},
		{"carol", "assign", 1, `{"assignee":"dave"}`, 403, "not in team a"},
		{"carol", "assign", 1, `{"assignee":"mallory"}`, 400, "not someone"},
		{"carol", "assign", 1, `{"assignee":"vic"}`, 400, "not someone"},
		{"carol", "assign", 1, `{"assignee":"root"}`, 400, "not someone"}, // an admin in no team
		{"carol", "assign", 1, `{"assignee":"` + strings.Repeat("x", 100) + `"}`, 400, "not someone"},
		{"carol", "assign", 1, `{"assignee":"bob"}`, 200, `"assignee":"bob"`},
		{"carol", "cancel", 1, "", 409, "still fire"}, // allowed, but the problem fires
		{"carol", "cancel", 2, "", 403, "lead of team b"},
		// Admins do everything, and may assign across teams.
		{"root", "assign", 1, `{"assignee":"dave"}`, 200, `"assignee":"dave"`},
		// The assignee from another team may work on the task handed to them.
		{"dave", "note", 1, `{"text":"looking"}`, 200, `"assignee":"dave"`},
		{"dave", "assign", 1, `{"assignee":"alice"}`, 403, "lead of team a"},
		{"root", "cancel", 2, "", 409, "still fire"},
		{"erin", "assign", 2, `{"assignee":"erin"}`, 200, `"assignee":"erin"`},
	} {
		t.Run(fmt.Sprintf("%02d %s %s #%d", i, tc.user, tc.action, tc.task), func(t *testing.T) {
			before, _ := f.st.Detail(context.Background(), tc.task, store.DetailQuery{})
			var body = strings.NewReader(tc.body)
			resp, out := f.do("POST", fmt.Sprintf("/api/v1/tasks/%d/%s", tc.task, tc.action), body,
				map[string]string{"auth": tc.user + ":" + tc.user + "-pw", "Content-Type": "application/json"})
			if resp.StatusCode != tc.code || !strings.Contains(out, tc.want) {
				t.Fatalf("%d %s; want %d containing %q", resp.StatusCode, out, tc.code, tc.want)
			}
			if tc.code >= 400 {
				var e map[string]string
				if json.Unmarshal([]byte(out), &e) != nil || e["error"] == "" {
					t.Fatalf("error is not JSON {error: ...}: %s", out)
				}
				after, _ := f.st.Detail(context.Background(), tc.task, store.DetailQuery{})
				if !reflect.DeepEqual(after.Task, before.Task) || len(after.Events) != len(before.Events) {
					t.Fatalf("a refused action changed the task:\n%+v\n%+v", before.Task, after.Task)
				}
			}
		})
	}
	// The history names the logged-in user, and refusals are counted, not taken for store errors.
	d, _ := f.st.Detail(context.Background(), 1, store.DetailQuery{})
	if e := d.Events[len(d.Events)-1]; e.Actor != "dave" || e.Text != "looking" {
		t.Fatalf("last event %+v", e)
	}
	if n := testutil.ToFloat64(f.srv.denied.WithLabelValues("assign")); n != 4 {
		t.Errorf("actions_denied_total{action=assign} = %v, want 4", n)
	}
	if n := testutil.ToFloat64(f.srv.o.Metrics.StoreErrors.WithLabelValues("act")); n != 0 {
		t.Errorf("refusals counted as store errors: %v", n)
	}
	// A cleared task can be cancelled by its lead.
	if resp, body := f.do("POST", "/api/v1/alerts", strings.NewReader(resolvedBody("10.9.0.1", "site-z")), bearer); resp.StatusCode != 200 {
		t.Fatal(body)
	}
	resp, out := f.do("POST", "/api/v1/tasks/2/cancel", strings.NewReader(`{"reason":"moved"}`),
		map[string]string{"auth": "erin:erin-pw", "Content-Type": "application/json"})
	if resp.StatusCode != 200 || !strings.Contains(out, `"state":"cancelled"`) {
		t.Fatalf("lead cancels a cleared task: %d %s", resp.StatusCode, out)
	}
}

func TestAuthorizationForms(t *testing.T) {
	f := authzFixture(t)
	post := func(user, path string, v url.Values) (int, string) {
		v.Set("csrf_token", f.srv.csrfToken(user))
		resp, body := f.do("POST", path, strings.NewReader(v.Encode()),
			map[string]string{"auth": user + ":" + user + "-pw", "Content-Type": "application/x-www-form-urlencoded"})
		return resp.StatusCode, body
	}
	for i, tc := range []struct {
		user, path string
		v          url.Values
		code       int
		want       string
	}{
		{"vic", "/tasks/1/ack", url.Values{}, 403, "viewer"},
		{"dave", "/tasks/1/start", url.Values{}, 403, "belongs to team a"},
		{"alice", "/tasks/1/cancel", url.Values{"reason": {"x"}}, 403, "lead of team a"},
		{"alice", "/tasks/1/assign", url.Values{"assignee": {"bob"}}, 403, "lead of team a"},
		{"carol", "/tasks/1/assign", url.Values{"assignee": {"nobody"}}, 400, "not someone"},
		{"carol", "/tasks/1/cancel", url.Values{}, 409, "still fire"},
		{"alice", "/tasks/1/ack", url.Values{"return": {"/tasks/1"}}, 303, ""},
		{"carol", "/tasks/1/assign", url.Values{"assignee": {"bob"}}, 303, ""},
	} {
		t.Run(fmt.Sprintf("%d %s %s", i, tc.user, tc.path), func(t *testing.T) {
			code, body := post(tc.user, tc.path, tc.v)
			if code != tc.code || !strings.Contains(body, tc.want) {
				t.Fatalf("%d %.300s; want %d containing %q", code, body, tc.code, tc.want)
			}
		})
	}
	if d, _ := f.st.Detail(context.Background(), 1, store.DetailQuery{}); d.Task.State != task.Acknowledged || d.Task.Assignee != "bob" {
		t.Fatalf("task 1 after the forms: %s %s", d.Task.State, d.Task.Assignee)
	}
}

// The pages show only the buttons the user may use.
func TestButtonsFollowRoles(t *testing.T) {
	f := authzFixture(t)
	page := func(user, path string) string {
		resp, body := f.do("GET", path, nil, map[string]string{"auth": user + ":" + user + "-pw"})
		if resp.StatusCode != 200 {
			t.Fatalf("%s %s: %d", user, path, resp.StatusCode)
		}
		return body
	}
	forms := func(body string) []string {
		var out []string
		for _, m := range actionRE.FindAllStringSubmatch(body, -1) {
			out = append(out, m[1]+"/"+m[2])
		}
		return out
	}
	for _, tc := range []struct {
		user, path string
		want       string
	}{
		{"vic", "/", ""},
		{"ghost", "/", ""},
		{"alice", "/", "1/ack 1/start"}, // task 2 is team b's
		{"dave", "/", "2/ack 2/start"},
		{"root", "/", "1/ack 1/start 2/ack 2/start"}, // same severity: the oldest first
		{"vic", "/tasks/1", ""},
		{"alice", "/tasks/1", "1/ack 1/start 1/note"},
		{"dave", "/tasks/1", ""},
		{"carol", "/tasks/1", "1/ack 1/start 1/note 1/assign"}, // no cancel while firing
		{"erin", "/tasks/1", ""},
		{"root", "/tasks/2", "2/ack 2/start 2/note 2/assign"},
	} {
		t.Run(tc.user+" "+tc.path, func(t *testing.T) {
			if got := strings.Join(forms(page(tc.user, tc.path)), " "); got != tc.want {
				t.Fatalf("forms %q, want %q", got, tc.want)
			}
		})
	}
	// The assign form offers the lead's team only; an admin sees every assignable person.
	if body := page("carol", "/tasks/1"); !strings.Contains(body, ">bob</option>") || strings.Contains(body, ">dave</option>") {
		t.Fatalf("carol's choices:\n%s", body)
	}
	if body := page("root", "/tasks/1"); !strings.Contains(body, ">dave</option>") || !strings.Contains(body, ">erin</option>") || strings.Contains(body, ">vic</option>") {
		t.Fatal("root's choices")
	}
	// Once the problem clears, its lead sees Cancel.
	f.do("POST", "/api/v1/alerts", strings.NewReader(resolvedBody("10.0.0.1", "site-a")), bearer)
	if got := strings.Join(forms(page("carol", "/tasks/1")), " "); !strings.HasSuffix(got, "1/assign 1/cancel") {
		t.Fatalf("carol on a cleared task: %s", got)
	}
}

func TestReloadIsForAdmins(t *testing.T) {
	f := authzFixture(t)
	for _, tc := range []struct {
		user string
		code int
	}{{"vic", 403}, {"alice", 403}, {"carol", 403}, {"root", 200}} {
		t.Run(tc.user, func(t *testing.T) {
			if resp, body := f.do("POST", "/-/reload", nil, map[string]string{"auth": tc.user + ":" + tc.user + "-pw"}); resp.StatusCode != tc.code {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
		})
	}
}

func TestAuthorizePolicy(t *testing.T) {
	cfg, err := config.Parse([]byte(fixtureConfig))
	if err != nil {
		t.Fatal(err)
	}
	a := task.Task{ID: 1, Team: "a", Assignee: "alice"}
	noTeam := task.Task{ID: 3, Team: "", Assignee: ""}
	gone := task.Task{ID: 4, Team: "old-team", Assignee: "bob"}
	for _, tc := range []struct {
		user, action string
		t            task.Task
		assignee     string
		ok           bool
	}{
		{"alice", "fixed", a, "", true},
		{"bob", "fixed", a, "", true},
		{"dave", "fixed", a, "", false},
		{"", "ack", a, "", false},
		{"nobody", "ack", a, "", false},
		{"carol", "cancel", a, "", true},
		{"erin", "cancel", a, "", false},
		{"root", "cancel", noTeam, "", true},
		{"carol", "ack", noTeam, "", false}, // a task no team took is the admins'
		{"bob", "ack", gone, "", true},      // the assignee keeps working after a team rename
		{"alice", "ack", gone, "", false},
		{"carol", "assign", gone, "bob", false},
		{"root", "assign", gone, "bob", true},
		{"root", "assign", a, "erin", true},
		{"root", "assign", a, "root", false},
		{"carol", "explode", a, "", false},
	} {
		t.Run(fmt.Sprintf("%s %s %s", tc.user, tc.action, tc.t.Team), func(t *testing.T) {
			if err := authorize(cfg, tc.user, tc.action, tc.t, tc.assignee); (err == nil) != tc.ok {
				t.Fatalf("authorize = %v, want allowed=%v", err, tc.ok)
			}
		})
	}
}
