package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/minefarm/cgminer-stack/receiver/config"
)

// Telegram sends through the Bot API's sendMessage to the delivery's chat, as plain text (no
// parse mode, so label values with < or & can never make a message undeliverable). 429 (with
// its retry_after) and 5xx are retried, other answers are permanent; the bot token, which is part
// of the URL, never appears in an error.
type Telegram struct {
	APIURL string
	Token  config.Secret
	Client *http.Client
}

// maxAnswer bounds what is read of an answer.
const maxAnswer = 64 << 10

// Send implements Channel.
func (t *Telegram) Send(ctx context.Context, m Message) error {
	if m.Address == "" {
		return fmt.Errorf("telegram: no chat to send to: %w", ErrPermanent)
	}
	body, _ := json.Marshal(map[string]any{"chat_id": m.Address, "text": Truncate(m.Text, MaxRunes), "disable_web_page_preview": true})
	u := strings.TrimRight(t.APIURL, "/") + "/bot" + t.Token.Reveal() + "/sendMessage"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("telegram: bad API URL: %w", ErrPermanent)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client(t.Client, 30*time.Second).Do(req)
	if err != nil {
		// The error text carries the URL and so the token: never pass it on.
		var te interface{ Timeout() bool }
		if errors.As(err, &te) && te.Timeout() {
			return errors.New("telegram: timeout")
		}
		return errors.New("telegram: request failed")
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	var r struct {
		OK          bool   `json:"ok"`
		Description string `json:"description"`
		Parameters  struct {
			RetryAfter int `json:"retry_after"`
		} `json:"parameters"`
	}
	_ = json.Unmarshal(b, &r)
	desc := Truncate(oneLine(r.Description), 200)
	switch {
	case resp.StatusCode == http.StatusOK && r.OK:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests:
		err := fmt.Errorf("telegram: HTTP 429: %s", desc)
		if r.Parameters.RetryAfter > 0 {
			return &RetryAfter{Err: err, After: time.Duration(min(r.Parameters.RetryAfter, 3600)) * time.Second}
		}
		return err
	case resp.StatusCode >= 500:
		return fmt.Errorf("telegram: HTTP %d: %s", resp.StatusCode, desc)
	default:
		return fmt.Errorf("telegram: HTTP %d: %s: %w", resp.StatusCode, desc, ErrPermanent)
	}
}

// client is c, or a client with the timeout that follows no redirects (a redirect would take a
// token or a bearer elsewhere; the answer counts as it is).
func client(c *http.Client, timeout time.Duration) *http.Client {
	if c != nil {
		return c
	}
	return &http.Client{Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
