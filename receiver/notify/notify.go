// Package notify delivers the outbox: messages written in the same transaction as the change they
// announce are sent here, in a loop of its own, with retries. A failing channel never blocks intake.
package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/minefarm/cgminer-stack/receiver/config"
	"github.com/minefarm/cgminer-stack/receiver/store"
)

// Channel sends one message. An error wrapping ErrPermanent is not retried.
type Channel interface {
	Send(ctx context.Context, to, text string) error
}

// ErrPermanent marks a failure that retrying cannot fix.
var ErrPermanent = errors.New("permanent failure")

// Outbox is what the sender needs from the store.
type Outbox interface {
	Pending(ctx context.Context, now time.Time, limit int) ([]store.Message, error)
	MarkSent(ctx context.Context, id int64, at time.Time) error
	MarkFailed(ctx context.Context, id int64, attempts int, next time.Time, reason string, gaveUp bool) error
}

// Sender drains the outbox.
type Sender struct {
	Outbox      Outbox
	Channel     func() Channel
	Now         func() time.Time
	Logger      *slog.Logger
	MaxAttempts int
	Link        func() string // external URL, for links to tasks

	sent *prometheus.CounterVec
}

// NewSender makes a sender and registers repair_receiver_notifications_total{result}.
func NewSender(ob Outbox, ch func() Channel, now func() time.Time, link func() string, logger *slog.Logger, reg prometheus.Registerer) *Sender {
	s := &Sender{Outbox: ob, Channel: ch, Now: now, Link: link, Logger: logger, MaxAttempts: 10,
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "repair_receiver_notifications_total",
			Help: "Notification delivery attempts, by result (sent, retry, gave_up)."}, []string{"result"})}
	for _, r := range []string{"sent", "retry", "gave_up"} {
		s.sent.WithLabelValues(r)
	}
	reg.MustRegister(s.sent)
	return s
}

// Backoff is the wait before attempt n+1.
func Backoff(n int) time.Duration {
	d := 5 * time.Second
	for range n - 1 {
		d *= 2
		if d >= 10*time.Minute {
			return 10 * time.Minute
		}
	}
	return d
}

// Once sends what is due and returns how many messages it handled.
func (s *Sender) Once(ctx context.Context) (int, error) {
	now := s.Now()
	msgs, err := s.Outbox.Pending(ctx, now, 100)
	if err != nil {
		return 0, fmt.Errorf("read outbox: %w", err)
	}
	ch := s.Channel()
	for _, m := range msgs {
		text := m.Text
		if l := s.Link(); l != "" {
			text += fmt.Sprintf("\n%s/tasks/%d", l, m.TaskID)
		}
		if m.To != "" {
			text = "@" + m.To + ": " + text
		}
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := ch.Send(sctx, m.To, text)
		cancel()
		if err == nil {
			s.sent.WithLabelValues("sent").Inc()
			if err := s.Outbox.MarkSent(ctx, m.ID, s.Now()); err != nil {
				return 0, fmt.Errorf("mark sent: %w", err)
			}
			continue
		}
		attempts := m.Attempts + 1
		giveUp := errors.Is(err, ErrPermanent) || attempts >= s.MaxAttempts
		result := "retry"
		if giveUp {
			result = "gave_up"
		}
		s.sent.WithLabelValues(result).Inc()
		s.Logger.Warn("notification failed", "message", m.ID, "task", m.TaskID, "attempt", attempts, "gave_up", giveUp, "err", err)
		if err := s.Outbox.MarkFailed(ctx, m.ID, attempts, s.Now().Add(Backoff(attempts)), err.Error(), giveUp); err != nil {
			return 0, fmt.Errorf("mark failed: %w", err)
		}
	}
	return len(msgs), nil
}

// Run drains the outbox every interval until ctx ends.
func (s *Sender) Run(ctx context.Context, every time.Duration) {
	tk := time.NewTicker(every)
	defer tk.Stop()
	for {
		if _, err := s.Once(ctx); err != nil && ctx.Err() == nil {
			s.Logger.Error("notify", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
	}
}

// Log is the channel used when none is configured: it writes the message to the log.
type Log struct{ Logger *slog.Logger }

// Send implements Channel.
func (l Log) Send(_ context.Context, to, text string) error {
	l.Logger.Info("notification (no channel configured)", "to", to, "text", text)
	return nil
}

// Telegram sends through the Bot API's sendMessage, as plain text (no parse mode, so label values
// with < or & can never make a message undeliverable), truncated below Telegram's 4096 limit.
type Telegram struct {
	APIURL string
	Token  config.Secret
	ChatID string
	Client *http.Client
}

// MaxRunes is the longest text sent.
const MaxRunes = 4000

// Truncate cuts text on a rune boundary.
func Truncate(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max-1]) + "…"
}

// Send implements Channel.
func (t *Telegram) Send(ctx context.Context, _ string, text string) error {
	body, _ := json.Marshal(map[string]any{"chat_id": t.ChatID, "text": Truncate(text, MaxRunes), "disable_web_page_preview": true})
	u := strings.TrimRight(t.APIURL, "/") + "/bot" + t.Token.Reveal() + "/sendMessage"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("telegram: %w", ErrPermanent)
	}
	req.Header.Set("Content-Type", "application/json")
	c := t.Client
	if c == nil {
		c = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := c.Do(req)
	if err != nil {
		// The error text carries the URL and so the token: never pass it on.
		var ue interface{ Timeout() bool }
		if errors.As(err, &ue) && ue.Timeout() {
			return errors.New("telegram: timeout")
		}
		return errors.New("telegram: request failed")
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var r struct {
		OK          bool   `json:"ok"`
		Description string `json:"description"`
	}
	_ = json.Unmarshal(b, &r)
	switch {
	case resp.StatusCode == http.StatusOK && r.OK:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return fmt.Errorf("telegram: HTTP %d: %s", resp.StatusCode, r.Description)
	default:
		return fmt.Errorf("telegram: HTTP %d: %s: %w", resp.StatusCode, r.Description, ErrPermanent)
	}
}
