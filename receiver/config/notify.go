package config

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Channel names: how a notification travels.
const (
	ChannelTelegram = "telegram"
	ChannelEmail    = "email"
	ChannelWebhook  = "webhook"
	// ChannelLog writes the notification to the receiver's log; used when no channel is configured.
	ChannelLog = "log"
)

// Channels lists the channels a ladder step may name, in their default order.
var Channels = []string{ChannelTelegram, ChannelEmail, ChannelWebhook}

// Contact is how a person is reached. Any of them may be empty: a ladder step uses the channels
// the person can be reached on (and the task shows a notification nobody could receive).
type Contact struct {
	// TelegramChatID is the person's private chat with the bot (a number; the person must have
	// started a chat with the bot once) or a @channelusername.
	TelegramChatID string `yaml:"telegram_chat_id"`
	// Email is a bare address (alice@farm.example).
	Email string `yaml:"email"`
	// Phone is handed to the notification webhook (an SMS or voice gateway): +15550100.
	Phone string `yaml:"phone"`
}

// Notify configures the channels notifications are sent through. Alertmanager's own Telegram
// and e-mail receivers are for the operators; these reach the repair crew, person by person.
type Notify struct {
	Telegram *Telegram `yaml:"telegram"`
	Email    *Email    `yaml:"email"`
	Webhook  *Hook     `yaml:"webhook"`
	// MaxAttempts is how often a delivery is tried before it is given up (retryable failures:
	// network errors, timeouts, Telegram/webhook 429 and 5xx, SMTP 4xx); default 10.
	MaxAttempts int `yaml:"max_attempts"`
}

// Telegram sends messages through a bot (the Bot API's sendMessage).
type Telegram struct {
	BotTokenFile string `yaml:"bot_token_file"`
	// ChatID is the crew's group chat: messages for nobody in particular (a task no team took) and
	// for people without a telegram_chat_id of their own go there, addressed "@name:". Optional
	// once people have their own chats.
	ChatID string `yaml:"chat_id"`
	APIURL string `yaml:"api_url"`

	BotToken Secret `yaml:"-"`
}

// STARTTLS modes of the e-mail channel.
const (
	StartTLSAuto     = "auto"     // when the server offers it (the default)
	StartTLSRequired = "required" // refuse to send over a server that does not offer it
	StartTLSOff      = "off"      // never (a local relay on loopback)
)

// Email sends through an SMTP smarthost.
type Email struct {
	// Smarthost is host:port (587 for submission with STARTTLS, 25 for a local relay).
	Smarthost string `yaml:"smarthost"`
	From      string `yaml:"from"`
	// Hello is the name sent in EHLO; default "localhost".
	Hello string `yaml:"hello"`
	// Username and PasswordFile authenticate (PLAIN; sent only over TLS or to a loopback host).
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
	// StartTLS: auto (when offered; default), required, off.
	StartTLS string `yaml:"starttls"`
	// CAFile verifies the server's certificate with these CAs instead of the system's.
	CAFile string `yaml:"ca_file"`
	// Timeout bounds one delivery (connect, dialogue, data); default 30s.
	Timeout time.Duration `yaml:"timeout"`

	Password Secret `yaml:"-"`
	// CAPEM is the CA file's content, read with the secrets.
	CAPEM []byte `yaml:"-"`
}

// Hook is the generic notification webhook (for SMS and voice gateways): a JSON POST per
// delivery, with the person's phone and the task's facts.
type Hook struct {
	URL             string        `yaml:"url"`
	BearerTokenFile string        `yaml:"bearer_token_file"`
	Timeout         time.Duration `yaml:"timeout"`

	BearerToken Secret `yaml:"-"`
}

// Bounds of contact fields.
var (
	telegramChatRe = regexp.MustCompile(`^(-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{4,31})$`)
	phoneRe        = regexp.MustCompile(`^\+?[0-9]{3,20}$`)
)

const maxEmailLen = 254

// CheckEmail accepts a bare address: local@domain, no display name, no control characters.
func CheckEmail(s string) error {
	if s == "" || len(s) > maxEmailLen || strings.ContainsAny(s, "\x00\r\n\t <>,;\"") {
		return fmt.Errorf("e-mail %q: a bare address (name@domain), at most %d bytes", s, maxEmailLen)
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" || !strings.Contains(s, "@") {
		return fmt.Errorf("e-mail %q: a bare address (name@domain)", s)
	}
	return nil
}

func (ct Contact) validate() error {
	if ct.TelegramChatID != "" && !telegramChatRe.MatchString(ct.TelegramChatID) {
		return fmt.Errorf("telegram_chat_id %q: a chat id (digits, '-' for groups) or @channelname", ct.TelegramChatID)
	}
	if ct.Email != "" {
		if err := CheckEmail(ct.Email); err != nil {
			return err
		}
	}
	if ct.Phone != "" && !phoneRe.MatchString(ct.Phone) {
		return fmt.Errorf("phone %q: digits with an optional leading +, 3 to 20 of them", ct.Phone)
	}
	return nil
}

// Address returns where the person is reached on a channel ("" when they cannot be). Telegram
// falls back to the crew's group chat; group reports whether it did (the message then names them).
func (c *Config) Address(person, channel string) (addr string, group bool) {
	p := c.People[person]
	switch channel {
	case ChannelTelegram:
		if c.Notify.Telegram == nil {
			return "", false
		}
		if person != "" && p.TelegramChatID != "" {
			return p.TelegramChatID, false
		}
		return c.Notify.Telegram.ChatID, c.Notify.Telegram.ChatID != ""
	case ChannelEmail:
		if c.Notify.Email == nil || person == "" {
			return "", false
		}
		return p.Email, false
	case ChannelWebhook:
		if c.Notify.Webhook == nil || person == "" {
			return "", false
		}
		return p.Phone, false
	case ChannelLog:
		return "log", false
	}
	return "", false
}

// Configured lists the channels that are set up, in the default order; [log] when none is.
func (n Notify) Configured() []string {
	var out []string
	if n.Telegram != nil {
		out = append(out, ChannelTelegram)
	}
	if n.Email != nil {
		out = append(out, ChannelEmail)
	}
	if n.Webhook != nil {
		out = append(out, ChannelWebhook)
	}
	if len(out) == 0 {
		out = []string{ChannelLog}
	}
	return out
}

// Has reports whether a channel is set up (log always is).
func (n Notify) Has(ch string) bool {
	switch ch {
	case ChannelTelegram:
		return n.Telegram != nil
	case ChannelEmail:
		return n.Email != nil
	case ChannelWebhook:
		return n.Webhook != nil
	case ChannelLog:
		return true
	}
	return false
}

// DefaultMaxAttempts is how often a delivery is tried by default.
const DefaultMaxAttempts = 10

func httpURL(name, s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return fmt.Errorf("%s: %q is not an http(s) URL without credentials", name, s)
	}
	return nil
}

func (c *Config) validateNotify() error {
	n := &c.Notify
	if n.MaxAttempts == 0 {
		n.MaxAttempts = DefaultMaxAttempts
	}
	if n.MaxAttempts < 1 || n.MaxAttempts > 100 {
		return fmt.Errorf("notify.max_attempts: %d is not between 1 and 100", n.MaxAttempts)
	}
	if tg := n.Telegram; tg != nil {
		if tg.BotTokenFile == "" {
			return errors.New("notify.telegram: bot_token_file is required")
		}
		if tg.ChatID != "" && !telegramChatRe.MatchString(tg.ChatID) {
			return fmt.Errorf("notify.telegram.chat_id %q: a chat id (digits, '-' for groups) or @channelname", tg.ChatID)
		}
		if tg.APIURL == "" {
			tg.APIURL = "https://api.telegram.org"
		}
		if err := httpURL("notify.telegram.api_url", tg.APIURL); err != nil {
			return err
		}
		tg.APIURL = strings.TrimRight(tg.APIURL, "/")
	}
	if e := n.Email; e != nil {
		host, port, err := net.SplitHostPort(e.Smarthost)
		if err != nil || host == "" || port == "" {
			return fmt.Errorf("notify.email.smarthost %q: host:port is required", e.Smarthost)
		}
		if err := CheckEmail(e.From); err != nil {
			return fmt.Errorf("notify.email.from: %w", err)
		}
		if e.Hello == "" {
			e.Hello = "localhost"
		}
		if strings.ContainsAny(e.Hello, " \r\n\t\x00") || len(e.Hello) > 255 {
			return fmt.Errorf("notify.email.hello %q: a host name", e.Hello)
		}
		switch e.StartTLS {
		case "":
			e.StartTLS = StartTLSAuto
		case StartTLSAuto, StartTLSRequired, StartTLSOff:
		default:
			return fmt.Errorf("notify.email.starttls %q: %s, %s or %s", e.StartTLS, StartTLSAuto, StartTLSRequired, StartTLSOff)
		}
		if (e.Username == "") != (e.PasswordFile == "") {
			return errors.New("notify.email: username and password_file go together")
		}
		if strings.ContainsAny(e.Username, "\x00\r\n") {
			return errors.New("notify.email.username: no control characters")
		}
		if e.Timeout == 0 {
			e.Timeout = 30 * time.Second
		}
		if e.Timeout < time.Second || e.Timeout > 5*time.Minute {
			return fmt.Errorf("notify.email.timeout %s: between 1s and 5m", e.Timeout)
		}
	}
	if h := n.Webhook; h != nil {
		if err := httpURL("notify.webhook.url", h.URL); err != nil {
			return err
		}
		if h.Timeout == 0 {
			h.Timeout = 10 * time.Second
		}
		if h.Timeout < time.Second || h.Timeout > time.Minute {
			return fmt.Errorf("notify.webhook.timeout %s: between 1s and 1m", h.Timeout)
		}
	}
	for name, p := range c.People {
		if err := p.Contact.validate(); err != nil {
			return fmt.Errorf("people.%s: %w", name, err)
		}
	}
	return nil
}

// readNotifySecrets reads the channels' token, password and CA files.
func (c *Config) readNotifySecrets(read func(name, path string) (Secret, error)) error {
	var err error
	n := c.Notify
	if tg := n.Telegram; tg != nil {
		if tg.BotToken, err = read("notify.telegram.bot_token_file", tg.BotTokenFile); err != nil {
			return err
		}
	}
	if e := n.Email; e != nil {
		if e.PasswordFile != "" {
			if e.Password, err = read("notify.email.password_file", e.PasswordFile); err != nil {
				return err
			}
		}
		if e.CAFile != "" {
			ca, err := read("notify.email.ca_file", e.CAFile)
			if err != nil {
				return err
			}
			e.CAPEM = []byte(ca.Reveal())
		}
	}
	if h := n.Webhook; h != nil && h.BearerTokenFile != "" {
		if h.BearerToken, err = read("notify.webhook.bearer_token_file", h.BearerTokenFile); err != nil {
			return err
		}
	}
	return nil
}
