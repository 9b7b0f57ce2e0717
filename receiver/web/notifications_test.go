package web

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/minefarm/cgminer-stack/receiver/store"
)

// A notification that could not be delivered is flagged on the board card, on the task page (with
// the outcome of each delivery) and in the API.
func TestUndeliverableNotificationsAreFlagged(t *testing.T) {
	f := newFixture(t, map[string]string{"vic": hash(t, "pw")})
	if resp, body := f.do("POST", "/api/v1/alerts", strings.NewReader(fixtureBody(t, "am-0.34-site-a.json")), bearer); resp.StatusCode != 200 {
		t.Fatalf("webhook %d %s", resp.StatusCode, body)
	}
	ts, _ := f.st.ListTasks(context.Background(), store.Filter{})
	flagged, other := ts[0], ts[1]
	now := time.Now().UTC()
	err := f.st.InTx(context.Background(), func(tx store.Tx) error {
		return tx.Enqueue(context.Background(), []store.Message{
			{TaskID: flagged.ID, To: "carol", Channel: "email", Step: 1, Text: "ESCALATED <b>", CreatedAt: now, GaveUp: true, LastError: "carol cannot be reached over [email]: no contact in people"},
			{TaskID: flagged.ID, To: "alice", Channel: "telegram", Address: "111", Text: "New repair task", CreatedAt: now},
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	vic := map[string]string{"auth": "vic:pw"}
	_, board := f.do("GET", "/", nil, vic)
	card := func(id int64) string {
		i := strings.Index(board, fmt.Sprintf(`id="task-%d"`, id))
		if i < 0 {
			t.Fatalf("no card for task %d", id)
		}
		end := strings.Index(board[i:], `class="card" id="task-`)
		if end < 0 {
			end = len(board) - i
		}
		return board[i : i+end]
	}
	if c := card(flagged.ID); !strings.Contains(c, fmt.Sprintf(`href="/tasks/%d#notifications">⚠ 1 notification could not be delivered`, flagged.ID)) {
		t.Fatalf("card not flagged:\n%s", c)
	}
	if strings.Contains(card(other.ID), "could not be delivered") {
		t.Fatal("the other card is flagged")
	}
	_, page := f.do("GET", fmt.Sprintf("/tasks/%d", flagged.ID), nil, vic)
	for _, want := range []string{`⚠ 1 notification could not be delivered`, `<h2 id="notifications">Notifications</h2>`,
		`<li class="undeliverable"><span class="meta">step 2 · carol · email`, `<b>given up</b> after 1 attempt: carol cannot be reached over [email]: no contact in people`,
		`step 1 · alice · telegram · next try`} {
		if !strings.Contains(page, want) {
			t.Errorf("task page lacks %q", want)
		}
	}
	if strings.Contains(page, "111") && strings.Contains(page, "telegram · 111") {
		t.Error("the page shows the chat id")
	}
	_, body := f.do("GET", fmt.Sprintf("/api/v1/tasks/%d", flagged.ID), nil, vic)
	var d struct {
		Undeliverable int            `json:"undeliverable_notifications"`
		Notifications []deliveryJSON `json:"notifications"`
	}
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatal(err)
	}
	by := map[string]deliveryJSON{}
	for _, n := range d.Notifications {
		by[n.To] = n
	}
	if c, a := by["carol"], by["alice"]; d.Undeliverable != 1 || c.State != "gave_up" || c.Step != 2 || c.Text != "ESCALATED <b>" || c.Attempts != 1 ||
		len(c.Tries) != 1 || a.State != "pending" || a.NextAt == nil {
		t.Fatalf("API detail %s", body)
	}
	_, body = f.do("GET", "/api/v1/tasks", nil, vic)
	if !strings.Contains(body, `"undeliverable_notifications":1`) || !strings.Contains(body, `"undeliverable_notifications":0`) {
		t.Fatalf("API list %s", body)
	}
}
