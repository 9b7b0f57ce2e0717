package notify

import (
	"crypto/x509"
	"errors"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minefarm/cgminer-stack/receiver/config"
	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/task"
)

// A task's notification as the repair side writes it (repair.taskFields), rendered as the
// sender does.
func sampleMessage(to, addr string) Message {
	cfg := &config.Config{ExternalURL: "http://repair.example:9155"}
	m := store.Message{ID: 31, TaskID: 12, To: to, Channel: config.ChannelEmail, Address: addr, Step: 1,
		Text: "ESCALATED task #12 on 10.1.0.7 (Fan 1 stopped): nobody acknowledged it for 5m0s",
		Fields: map[string]string{"site": "site-a", "rack": "rack-2", "slot": "14", "where": "site-a › rack-2 › slot 14",
			"ip": "10.1.0.7", "severity": "critical", "state": "open", "title": "Fan 1 stopped"}}
	return Render(m, task.Facts{Model: "Antminer S19j Pro", Serial: "SN123"}, "", cfg)
}

func TestEmailThroughMailpit(t *testing.T) {
	mp := startMailpit(t)
	e := &Email{Smarthost: mp.SMTP, From: "repair@farm.example", Hello: "localhost", StartTLS: config.StartTLSAuto, Timeout: 10 * time.Second}
	msg := sampleMessage("carol", "carol@farm.example")
	if err := e.Send(ctxT(t), msg); err != nil {
		t.Fatalf("send: %v", err)
	}
	got := mp.messages(t)
	if len(got) != 1 {
		t.Fatalf("%d messages in mailpit, want 1", len(got))
	}
	m := got[0]
	if m.From.Address != "repair@farm.example" || len(m.To) != 1 || m.To[0].Address != "carol@farm.example" {
		t.Fatalf("envelope %+v", m)
	}
	wantSubject := "ESCALATED task #12 on 10.1.0.7 (Fan 1 stopped): nobody acknowledged it for 5m0s — site-a › rack-2 › slot 14"
	if m.Subject != wantSubject {
		t.Fatalf("subject %q\nwant    %q", m.Subject, wantSubject)
	}
	for _, want := range []string{"site-a", "rack-2", "slot 14", "Antminer S19j Pro", "10.1.0.7", "critical", "serial SN123",
		"http://repair.example:9155/tasks/12"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("body lacks %q:\n%s", want, m.Text)
		}
	}
}

// An alert's text can carry line breaks, non-ASCII and very long lines: the subject stays one
// header (no injected Bcc), the body arrives whole.
func TestEmailHostileTextThroughMailpit(t *testing.T) {
	mp := startMailpit(t)
	e := &Email{Smarthost: mp.SMTP, From: "repair@farm.example", Hello: "localhost", StartTLS: config.StartTLSAuto, Timeout: 10 * time.Second}
	msg := sampleMessage("carol", "carol@farm.example")
	msg.Subject = "Перегрев платы 2\r\nBcc: victim@evil.example\r\n" + strings.Repeat("ж", 150)
	msg.Text = "line one\n.\nline with a lone dot above\n" + strings.Repeat("x", 3000)
	if err := e.Send(ctxT(t), msg); err != nil {
		t.Fatalf("send: %v", err)
	}
	got := mp.messages(t)
	if len(got) != 1 || len(got[0].To) != 1 {
		t.Fatalf("messages %+v", got)
	}
	m := got[0]
	if !strings.HasPrefix(m.Subject, "Перегрев платы 2  Bcc: victim@evil.example") || strings.ContainsAny(m.Subject, "\r\n") {
		t.Fatalf("subject %q", m.Subject)
	}
	if !strings.Contains(m.Text, "\n.\nline with a lone dot above") || !strings.Contains(m.Text, strings.Repeat("x", 3000)) {
		t.Fatalf("body cut or dot not restored: %q…", m.Text[:min(len(m.Text), 80)])
	}
}

// STARTTLS with a certificate the client trusts and a password from a secret file; a wrong
// password and an unknown certificate are permanent failures.
func TestEmailStartTLSAndAuthThroughMailpit(t *testing.T) {
	dir := t.TempDir()
	cert, key, caPEM := selfSigned(t, dir, "mailpit")
	auth := filepath.Join(dir, "auth")
	if err := os.WriteFile(auth, []byte("repair:s3cret-pass\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mp := startMailpit(t, "--smtp-tls-cert", cert, "--smtp-tls-key", key, "--smtp-require-starttls", "--smtp-auth-file", auth)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	e := &Email{Smarthost: mp.SMTP, From: "repair@farm.example", Hello: "localhost", Username: "repair", Password: "s3cret-pass",
		StartTLS: config.StartTLSAuto, RootCAs: pool, Timeout: 10 * time.Second}
	if err := e.Send(ctxT(t), sampleMessage("carol", "carol@farm.example")); err != nil {
		t.Fatalf("send over STARTTLS with auth: %v", err)
	}
	if got := mp.messages(t); len(got) != 1 {
		t.Fatalf("%d messages", len(got))
	}

	wrong := *e
	wrong.Password = "nope"
	err := wrong.Send(ctxT(t), sampleMessage("carol", "carol@farm.example"))
	if !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), "AUTH") || strings.Contains(err.Error(), "nope") {
		t.Fatalf("wrong password: %v", err)
	}
	_, _, otherCA := selfSigned(t, dir, "other")
	untrusted := *e
	untrusted.RootCAs = x509.NewCertPool()
	untrusted.RootCAs.AppendCertsFromPEM(otherCA)
	if err := untrusted.Send(ctxT(t), sampleMessage("carol", "carol@farm.example")); !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("untrusted certificate: %v", err)
	}
	if got := mp.messages(t); len(got) != 1 {
		t.Fatalf("a failed attempt delivered: %d messages", len(got))
	}
}

func TestEmailFailuresThroughMailpit(t *testing.T) {
	mp := startMailpit(t, "--smtp-allowed-recipients", `@farm\.example$`)
	base := Email{Smarthost: mp.SMTP, From: "repair@farm.example", Hello: "localhost", StartTLS: config.StartTLSAuto, Timeout: 10 * time.Second}
	for _, tc := range []struct {
		name      string
		mod       func(*Email)
		to        string
		permanent bool
		says      string
	}{
		{"recipient refused (5xx)", nil, "someone@elsewhere.example", true, "RCPT TO"},
		{"STARTTLS required, not offered", func(e *Email) { e.StartTLS = config.StartTLSRequired }, "carol@farm.example", true, "does not offer STARTTLS"},
		{"username but no AUTH offered", func(e *Email) { e.Username, e.Password = "repair", "pw" }, "carol@farm.example", true, "offers no AUTH"},
		{"connection refused: retried", func(e *Email) { e.Smarthost = freePort(t) }, "carol@farm.example", false, "connect"},
		{"no address", nil, "", true, "no address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := base
			if tc.mod != nil {
				tc.mod(&e)
			}
			err := e.Send(ctxT(t), sampleMessage("x", tc.to))
			if err == nil || errors.Is(err, ErrPermanent) != tc.permanent || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("err %v, permanent %v (want %v), want it to say %q", err, errors.Is(err, ErrPermanent), tc.permanent, tc.says)
			}
		})
	}
	if got := mp.messages(t); len(got) != 0 {
		t.Fatalf("refused mail delivered: %+v", got)
	}
}

func TestSMTPErrorClasses(t *testing.T) {
	for _, tc := range []struct {
		code      int
		permanent bool
	}{{421, false}, {450, false}, {451, false}, {452, false}, {550, true}, {552, true}, {554, true}} {
		err := smtpErr("RCPT TO", &textproto.Error{Code: tc.code, Msg: "x"})
		if errors.Is(err, ErrPermanent) != tc.permanent {
			t.Errorf("%d: permanent %v, want %v", tc.code, errors.Is(err, ErrPermanent), tc.permanent)
		}
	}
}

// A server that greets with an endless line is cut off at the read budget, not read into memory.
func TestEmailEndlessReplyIsBounded(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write([]byte("220 "))
		chunk := []byte(strings.Repeat("x", 64<<10))
		for range 64 { // 4 MiB without a line end
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	}()
	e := &Email{Smarthost: l.Addr().String(), From: "repair@farm.example", Hello: "localhost", Timeout: 10 * time.Second}
	err = e.Send(ctxT(t), sampleMessage("carol", "carol@farm.example"))
	if err == nil || !strings.Contains(err.Error(), "more than 1 MiB") {
		t.Fatalf("endless greeting: %v", err)
	}
}
