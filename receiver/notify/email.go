package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"

	"github.com/minefarm/cgminer-stack/receiver/config"
)

// Email sends a plain-text mail per delivery through an SMTP smarthost (net/smtp). STARTTLS is
// used whenever the server offers it (starttls: auto), demanded (required) or never tried (off);
// the server's certificate is verified (system CAs, or ca_file). PLAIN authentication is sent only
// over TLS or to a loopback host (net/smtp refuses otherwise). SMTP 4xx answers, timeouts and
// connection failures are retried; 5xx answers and TLS or authentication set-up errors are
// permanent.
type Email struct {
	Smarthost string
	From      string
	Hello     string
	Username  string
	Password  config.Secret
	StartTLS  string
	RootCAs   *x509.CertPool // nil: the system's
	Timeout   time.Duration
	Now       func() time.Time
}

// NewEmail makes the channel of a configuration.
func NewEmail(c *config.Email) (*Email, error) {
	e := &Email{Smarthost: c.Smarthost, From: c.From, Hello: c.Hello, Username: c.Username, Password: c.Password,
		StartTLS: c.StartTLS, Timeout: c.Timeout}
	if len(c.CAPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(c.CAPEM) {
			return nil, errors.New("notify.email.ca_file: no PEM certificate in it")
		}
		e.RootCAs = pool
	}
	return e, nil
}

// Send implements Channel.
func (e *Email) Send(ctx context.Context, m Message) error {
	if m.Address == "" {
		return fmt.Errorf("email: no address to send to: %w", ErrPermanent)
	}
	timeout := e.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	host, _, err := net.SplitHostPort(e.Smarthost)
	if err != nil {
		return fmt.Errorf("email: smarthost %q: %w", e.Smarthost, ErrPermanent)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", e.Smarthost)
	if err != nil {
		return smtpErr("connect", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	c, err := smtp.NewClient(&boundedConn{Conn: conn, left: maxSMTPRead}, host)
	if err != nil {
		conn.Close()
		return smtpErr("greeting", err)
	}
	defer c.Close()
	if err := c.Hello(e.Hello); err != nil {
		return smtpErr("EHLO", err)
	}
	offered, _ := c.Extension("STARTTLS")
	switch {
	case offered && e.StartTLS != config.StartTLSOff:
		tc := &tls.Config{ServerName: host, RootCAs: e.RootCAs, MinVersion: tls.VersionTLS12}
		if err := c.StartTLS(tc); err != nil {
			var te *textproto.Error
			if errors.As(err, &te) {
				return smtpErr("STARTTLS", err)
			}
			// A certificate that does not verify, or no common protocol: retrying will not help.
			return fmt.Errorf("email: STARTTLS: %v: %w", err, ErrPermanent)
		}
	case e.StartTLS == config.StartTLSRequired:
		return fmt.Errorf("email: %s does not offer STARTTLS (starttls: required): %w", e.Smarthost, ErrPermanent)
	}
	if e.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return fmt.Errorf("email: %s offers no AUTH (username is set): %w", e.Smarthost, ErrPermanent)
		}
		if err := c.Auth(smtp.PlainAuth("", e.Username, e.Password.Reveal(), host)); err != nil {
			var te *textproto.Error
			if errors.As(err, &te) {
				return smtpErr("AUTH", err)
			}
			// net/smtp refusing to send the password over plain text to a remote host.
			return fmt.Errorf("email: AUTH: %v: %w", err, ErrPermanent)
		}
	}
	if err := c.Mail(e.From); err != nil {
		return smtpErr("MAIL FROM", err)
	}
	if err := c.Rcpt(m.Address); err != nil {
		return smtpErr("RCPT TO", err)
	}
	w, err := c.Data()
	if err != nil {
		return smtpErr("DATA", err)
	}
	if _, err := w.Write(e.compose(m)); err != nil {
		return smtpErr("DATA", err)
	}
	if err := w.Close(); err != nil {
		return smtpErr("DATA", err)
	}
	if err := c.Quit(); err != nil {
		// The message was accepted at the end of DATA; a failed QUIT does not undo that.
		return nil
	}
	return nil
}

// smtpErr classifies a failure: an SMTP 5xx answer is permanent, 4xx and everything on the wire
// (timeouts, refused or cut connections) are retried.
func smtpErr(stage string, err error) error {
	var te *textproto.Error
	if errors.As(err, &te) {
		msg := Truncate(oneLine(te.Msg), 200)
		if te.Code >= 500 {
			return fmt.Errorf("email: %s: %d %s: %w", stage, te.Code, msg, ErrPermanent)
		}
		return fmt.Errorf("email: %s: %d %s", stage, te.Code, msg)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("email: %s: timeout", stage)
	}
	return fmt.Errorf("email: %s: %s", stage, Truncate(oneLine(err.Error()), 200))
}

// compose writes the mail: headers (the subject RFC 2047-encoded and folded, never a line break
// from an alert's text) and the text as quoted-printable UTF-8.
func (e *Email) compose(m Message) []byte {
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	var b bytes.Buffer
	h := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	h("From", e.From)
	h("To", m.Address)
	subject := mime.QEncoding.Encode("utf-8", oneLine(m.Subject))
	h("Subject", strings.ReplaceAll(subject, "?= =?", "?=\r\n =?"))
	h("Date", now().Format(time.RFC1123Z))
	h("Message-ID", fmt.Sprintf("<repair.%d.%d.%d@%s>", m.TaskID, m.ID, now().UnixNano(), e.Hello))
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=utf-8")
	h("Content-Transfer-Encoding", "quoted-printable")
	h("Auto-Submitted", "auto-generated")
	if m.TaskID > 0 {
		h("X-Repair-Task", fmt.Sprint(m.TaskID))
	}
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	_, _ = qp.Write([]byte(m.Text + "\n"))
	_ = qp.Close()
	return b.Bytes()
}

// maxSMTPRead bounds what one delivery reads from the server (net/textproto reads a reply line of
// any length): a dialogue is a few kilobytes.
const maxSMTPRead = 1 << 20

// boundedConn fails reads past its budget.
type boundedConn struct {
	net.Conn
	left int
}

var errSMTPTooLong = errors.New("the server sent more than 1 MiB")

func (b *boundedConn) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errSMTPTooLong
	}
	if len(p) > b.left {
		p = p[:b.left]
	}
	n, err := b.Conn.Read(p)
	b.left -= n
	return n, err
}
