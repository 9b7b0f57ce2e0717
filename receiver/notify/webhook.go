package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/minefarm/cgminer-stack/receiver/config"
)

// Webhook POSTs each delivery as JSON to a gateway (SMS, voice call, a pager): the recipient's
// name and phone, the text, and the task's facts. Like jiralert: 5xx, 429 (Retry-After honoured),
// timeouts and connection failures are retried; any other answer outside 2xx is permanent
// (redirects are not followed). The bearer token never appears in an error.
type Webhook struct {
	URL     string
	Token   config.Secret
	Timeout time.Duration
	Client  *http.Client
	// Now reads the clock for an HTTP-date Retry-After; default time.Now.
	Now func() time.Time
}

// WebhookPayload is the JSON body of a webhook delivery.
type WebhookPayload struct {
	Version   string            `json:"version"` // "1"
	ID        int64             `json:"id"`      // the delivery's id: a gateway may drop repeats
	Recipient WebhookRecipient  `json:"recipient"`
	Step      int               `json:"step"` // the ladder step, 1 = the assignee's
	Subject   string            `json:"subject"`
	Text      string            `json:"text"`
	Task      WebhookTask       `json:"task"`
	Fields    map[string]string `json:"fields"`
}

// WebhookRecipient is who the gateway is to reach.
type WebhookRecipient struct {
	Name  string `json:"name"`
	Phone string `json:"phone"`
}

// WebhookTask is the task a delivery is about.
type WebhookTask struct {
	ID       int64  `json:"id"`
	URL      string `json:"url,omitempty"`
	Severity string `json:"severity,omitempty"`
	State    string `json:"state,omitempty"`
	Machine  string `json:"machine,omitempty"`
	Site     string `json:"site,omitempty"`
	Row      string `json:"row,omitempty"`
	Rack     string `json:"rack,omitempty"`
	Slot     string `json:"slot,omitempty"`
	Model    string `json:"model,omitempty"`
	Runbook  string `json:"runbook_url,omitempty"`
}

// Send implements Channel.
func (w *Webhook) Send(ctx context.Context, m Message) error {
	f := m.Fields
	p := WebhookPayload{Version: "1", ID: m.ID, Recipient: WebhookRecipient{Name: m.To, Phone: m.Address}, Step: m.Step + 1,
		Subject: m.Subject, Text: m.Text, Fields: f,
		Task: WebhookTask{ID: m.TaskID, URL: m.Link, Severity: f["severity"], State: f["state"], Machine: f["ip"], Site: f["site"],
			Row: f["row"], Rack: f["rack"], Slot: f["slot"], Model: f["model"], Runbook: m.Runbook}}
	body, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("webhook: %w: %w", err, ErrPermanent)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook: bad URL: %w", ErrPermanent)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "repair_receiver")
	if tok := w.Token.Reveal(); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	timeout := w.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	resp, err := client(w.Client, timeout).Do(req)
	if err != nil {
		var te interface{ Timeout() bool }
		if errors.As(err, &te) && te.Timeout() {
			return errors.New("webhook: timeout")
		}
		return errors.New("webhook: request failed (connection)")
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	text := Truncate(oneLine(string(b)), 200)
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return nil
	case c == http.StatusTooManyRequests || c >= 500:
		err := fmt.Errorf("webhook: HTTP %d: %s", c, text)
		if d := w.retryAfter(resp.Header.Get("Retry-After")); d > 0 {
			return &RetryAfter{Err: err, After: d}
		}
		return err
	default:
		return fmt.Errorf("webhook: HTTP %d: %s: %w", c, text, ErrPermanent)
	}
}

// retryAfter reads a Retry-After header: seconds, or an HTTP date.
func (w *Webhook) retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return min(time.Duration(n)*time.Second, MaxRetryAfter)
	}
	if t, err := http.ParseTime(v); err == nil {
		now := time.Now
		if w.Now != nil {
			now = w.Now
		}
		if d := t.Sub(now()); d > 0 {
			return min(d, MaxRetryAfter)
		}
	}
	return 0
}
