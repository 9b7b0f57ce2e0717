package web

import (
	"context"
	"fmt"
	"time"

	"github.com/minefarm/cgminer-stack/receiver/store"
)

// What the board and the task page show of a task's notifications (the outbox, notify/): a flag on
// the card when some could not be delivered, and on the task page the last deliveries with their
// outcome. Addresses (chat ids, e-mail addresses, phones) are not shown, only who and how.

// pageDeliveries bounds the deliveries a task page lists.
const pageDeliveries = 20

// deliveryView is one delivery on the task page.
type deliveryView struct {
	Step    int    // 1 = the assignee's
	To      string // "" for a distribution list or the crew's group chat
	Channel string
	State   string // sent, pending, given up
	When    string // sent at, next attempt, or given up at
	Tries   int
	Error   string
	GaveUp  bool
}

// deliveryJSON is a delivery in GET /api/v1/tasks/{id}.
type deliveryJSON struct {
	ID       int64      `json:"id"`
	Step     int        `json:"step"` // 1 = the assignee's
	To       string     `json:"to"`
	Channel  string     `json:"channel"`
	State    string     `json:"state"` // sent, pending, gave_up
	Text     string     `json:"text"`
	Created  time.Time  `json:"created_at"`
	SentAt   *time.Time `json:"sent_at,omitempty"`
	NextAt   *time.Time `json:"next_attempt_at,omitempty"`
	Attempts int        `json:"attempts"`
	Error    string     `json:"last_error,omitempty"`
	Tries    []tryJSON  `json:"tries,omitempty"`
}

type tryJSON struct {
	At     time.Time `json:"at"`
	Result string    `json:"result"`
	Error  string    `json:"error,omitempty"`
}

func deliveryState(d store.Delivery) string {
	switch {
	case !d.SentAt.IsZero():
		return store.AttemptSent
	case d.GaveUp:
		return store.AttemptGaveUp
	}
	return "pending"
}

// deliveries reads a task's last deliveries for its page.
func (s *Server) deliveries(ctx context.Context, id int64) ([]deliveryView, error) {
	ds, err := s.o.Store.Deliveries(ctx, id, pageDeliveries)
	if err != nil {
		return nil, err
	}
	loc := s.o.Config().Display.Location()
	out := make([]deliveryView, len(ds))
	for i, d := range ds {
		v := deliveryView{Step: d.Step + 1, To: truncate(d.To, pageValue), Channel: d.Channel, Tries: d.Attempts, Error: truncate(d.LastError, pageValue), GaveUp: d.GaveUp}
		switch deliveryState(d) {
		case store.AttemptSent:
			v.State, v.When = "sent", local(d.SentAt, loc)
		case store.AttemptGaveUp:
			v.State = "given up"
			if n := len(d.Tries); n > 0 {
				v.When = local(d.Tries[n-1].At, loc)
			}
		default:
			v.State, v.When = "pending", "next try "+local(d.NextAt, loc)
		}
		out[i] = v
	}
	return out, nil
}

func deliveriesJSON(ds []store.Delivery) []deliveryJSON {
	out := make([]deliveryJSON, len(ds))
	for i, d := range ds {
		j := deliveryJSON{ID: d.ID, Step: d.Step + 1, To: d.To, Channel: d.Channel, State: deliveryState(d), Created: d.CreatedAt,
			SentAt: tp(d.SentAt), Attempts: d.Attempts, Error: d.LastError, Text: d.Text}
		if j.State == "pending" {
			j.NextAt = tp(d.NextAt)
		}
		for _, t := range d.Tries {
			j.Tries = append(j.Tries, tryJSON{At: t.At, Result: t.Result, Error: t.Error})
		}
		out[i] = j
	}
	return out
}

// undeliverableText: "2 notifications could not be delivered".
func undeliverableText(n int) string {
	if n == 1 {
		return "1 notification could not be delivered"
	}
	return fmt.Sprintf("%d notifications could not be delivered", n)
}
