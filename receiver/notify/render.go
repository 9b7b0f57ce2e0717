package notify

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/minefarm/cgminer-stack/receiver/config"
	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/task"
)

// Message is a delivery as a channel sends it: rendered text, and the facts for channels that
// carry them structured (the webhook).
type Message struct {
	ID      int64
	TaskID  int64
	To      string // the recipient's name; "" for nobody in particular
	Address string // chat id, e-mail address, phone
	Step    int    // ladder step, 0-based
	Subject string // one line
	Text    string // plain text: what happened, which machine where, the link
	Link    string // the task's page; "" without external_url
	Runbook string // the firing alert's runbook_url (a web link), or ""
	// Fields are the task's facts: machine, title, severity, state, assignee, site, row, rack,
	// slot, where, model, firmware, serial (those known).
	Fields map[string]string
}

// Bounds of rendered text.
const (
	// MaxRunes is the longest text sent (Telegram's limit is 4096).
	MaxRunes = 4000
	// MaxSubjectRunes bounds an e-mail subject.
	MaxSubjectRunes = 200
)

// Truncate cuts text on a rune boundary.
func Truncate(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max-1]) + "…"
}

// oneLine replaces control characters (line breaks included) by spaces: a subject or a header
// never carries a line break from an alert's text.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "�"))
}

// Render writes a delivery for its channel: the notice's text, then what the machine is and where
// (model, site › row › rack › slot, address) and its severity, then the link to the task and the
// runbook's (the firing alert's runbook_url, checked to be a web link). A delivery to the crew's
// group chat on behalf of a person starts with "@name:".
func Render(m store.Message, f task.Facts, runbook string, cfg *config.Config) Message {
	fields := make(map[string]string, len(m.Fields)+3)
	for k, v := range m.Fields {
		fields[k] = v
	}
	for k, v := range map[string]string{"model": f.Model, "firmware": f.Firmware, "serial": f.Serial} {
		if v != "" && fields[k] == "" {
			fields[k] = oneLine(v)
		}
	}
	out := Message{ID: m.ID, TaskID: m.TaskID, To: m.To, Address: m.Address, Step: m.Step, Fields: fields, Runbook: task.WebLink(runbook)}
	if cfg.ExternalURL != "" && m.TaskID > 0 {
		out.Link = fmt.Sprintf("%s/tasks/%d", cfg.ExternalURL, m.TaskID)
	}
	head := strings.TrimSpace(m.Text)
	var b strings.Builder
	if m.Channel == config.ChannelTelegram && m.To != "" && cfg.People[m.To].TelegramChatID != m.Address {
		b.WriteString("@" + m.To + ": ")
	}
	b.WriteString(head)
	if what := machineLine(fields); what != "" {
		b.WriteString("\n" + what)
	}
	if out.Link != "" {
		b.WriteString("\n" + out.Link)
	}
	if out.Runbook != "" {
		b.WriteString("\nRunbook: " + out.Runbook)
	}
	out.Text = Truncate(b.String(), MaxRunes)
	subject := head
	if i := strings.IndexAny(subject, "\r\n"); i >= 0 {
		subject = strings.TrimSpace(subject[:i])
	}
	if w := fields["where"]; w != "" && !strings.Contains(subject, w) {
		subject += " — " + w
	}
	out.Subject = Truncate(oneLine(subject), MaxSubjectRunes)
	return out
}

// machineLine: "Antminer S19j Pro at site-a › rack-2 › slot 14 (10.1.0.7) · critical · serial X".
func machineLine(f map[string]string) string {
	what := f["model"]
	if what == "" {
		what = "Miner"
	}
	if f["fleet"] == "true" {
		what = "Site"
	}
	line := what
	if w := f["where"]; w != "" {
		line += " at " + w
	}
	if ip := f["ip"]; ip != "" {
		line += " (" + ip + ")"
	}
	for _, k := range []string{"severity", "firmware"} {
		if v := f[k]; v != "" {
			line += " · " + v
		}
	}
	if v := f["serial"]; v != "" {
		line += " · serial " + v
	}
	if line == "Miner" {
		return ""
	}
	return oneLine(line)
}
