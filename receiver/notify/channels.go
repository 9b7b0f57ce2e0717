package notify

import (
	"context"
	"log/slog"

	"github.com/minefarm/cgminer-stack/receiver/config"
)

// ForConfig makes the channels a configuration sets up, by name; the log channel always exists.
// A channel that cannot be made (an e-mail CA file without a certificate) is left out and logged:
// its deliveries are given up as not configured.
func ForConfig(c *config.Config, logger *slog.Logger) map[string]Channel {
	out := map[string]Channel{config.ChannelLog: Log{Logger: logger}}
	n := c.Notify
	if tg := n.Telegram; tg != nil {
		out[config.ChannelTelegram] = &Telegram{APIURL: tg.APIURL, Token: tg.BotToken}
	}
	if e := n.Email; e != nil {
		ch, err := NewEmail(e)
		if err != nil {
			logger.Error("notify: e-mail channel", "err", err)
		} else {
			out[config.ChannelEmail] = ch
		}
	}
	if h := n.Webhook; h != nil {
		out[config.ChannelWebhook] = &Webhook{URL: h.URL, Token: h.BearerToken, Timeout: h.Timeout}
	}
	return out
}

// Log is the channel used when none is configured: it writes the message to the log.
type Log struct{ Logger *slog.Logger }

// Send implements Channel.
func (l Log) Send(_ context.Context, m Message) error {
	l.Logger.Info("notification (no channel configured)", "task", m.TaskID, "to", m.To, "step", m.Step+1, "text", m.Text)
	return nil
}
