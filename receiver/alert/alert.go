// Package alert turns an Alertmanager webhook (version 4) payload into validated per-alert events:
// which machine an alert is about, which problem it is and which occurrence of it.
package alert

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/template"
)

// Message is the webhook body: template.Data plus the fields the webhook notifier adds on top.
// Unknown fields are accepted so that newer Alertmanagers never break intake.
type Message struct {
	template.Data
	Version         string `json:"version"`
	GroupKey        string `json:"groupKey"`
	TruncatedAlerts uint64 `json:"truncatedAlerts"`
}

// ErrInvalid marks a payload that can never be accepted (answer 400).
var ErrInvalid = errors.New("invalid payload")

// Decode reads one webhook body.
func Decode(r io.Reader) (*Message, error) {
	var m Message
	dec := json.NewDecoder(r)
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: decode json: %w", ErrInvalid, err)
	}
	if m.Version != "4" {
		return nil, fmt.Errorf("%w: version %q is not 4", ErrInvalid, m.Version)
	}
	return &m, nil
}

// Well-known label names.
const (
	LabelAlertname = "alertname"
	LabelCategory  = "category"
	LabelSeverity  = "severity"
	LabelSite      = "site"
	WatchdogName   = "Watchdog"
)

// Event is one alert's state, validated and keyed.
type Event struct {
	Firing    bool
	Alertname string
	Category  string
	Severity  string
	// Machine is the canonical identity of the machine (or site, for a fleet alert), e.g.
	// `instance="10.0.0.1"`.
	Machine  string
	Fleet    bool
	Identity map[string]string
	Location map[string]string
	// ProblemKey identifies the problem across occurrences: machine, alertname and the alert's
	// labels minus volatile ones. The fingerprint is not used because any label change alters it.
	ProblemKey   string
	Labels       map[string]string
	Annotations  map[string]string
	StartsAt     time.Time
	EndsAt       time.Time
	Fingerprint  string
	GeneratorURL string
	SourceURL    string
}

// Rejection is one alert that could not be taken (the rest of the delivery still is).
type Rejection struct {
	Index  int
	Reason string
}

// Trim is an alert (Index; -1: the message itself) taken with something cut or dropped.
type Trim struct {
	Index int
	What  string
}

// Result is what a delivery carries.
type Result struct {
	Events   []Event
	Rejected []Rejection
	// Trimmed lists the alerts taken with an annotation cut or a field dropped (bounds.go).
	Trimmed []Trim
	// Watchdog is true when the delivery carried a firing Watchdog heartbeat.
	Watchdog bool
}

// Keyer knows which labels identify a machine and its location and which are volatile.
type Keyer struct {
	Identity []string
	Location []string
	Volatile []string
}

// Events validates every alert of the message.
func (k Keyer) Events(m *Message) Result {
	var res Result
	skip := map[string]bool{LabelAlertname: true, LabelCategory: true}
	for _, l := range k.Identity {
		skip[l] = true
	}
	for _, l := range k.Location {
		skip[l] = true
	}
	for _, l := range k.Volatile {
		skip[l] = true
	}
	source := m.ExternalURL
	if len(source) > MaxURL {
		source = ""
		res.Trimmed = append(res.Trimmed, Trim{Index: -1, What: fmt.Sprintf("externalURL of %d bytes dropped (at most %d)", len(m.ExternalURL), MaxURL)})
	}
	for i, a := range m.Alerts {
		ev, trims, err := k.event(a, skip)
		if err != nil {
			res.Rejected = append(res.Rejected, Rejection{Index: i, Reason: err.Error()})
			continue
		}
		if len(trims) > 0 {
			res.Trimmed = append(res.Trimmed, Trim{Index: i, What: clip(strings.Join(trims, "; "), maxNote)})
		}
		if ev.Alertname == WatchdogName {
			if ev.Firing {
				res.Watchdog = true
			}
			continue
		}
		ev.SourceURL = source
		res.Events = append(res.Events, ev)
	}
	return res
}

// event validates and keys one alert; trims says what was cut or dropped on the way.
func (k Keyer) event(a template.Alert, skip map[string]bool) (ev Event, trims []string, err error) {
	// Labels first: everything below formats or hashes them.
	if err := checkLabels(a.Labels); err != nil {
		return ev, nil, err
	}
	ann, trims := boundAnnotations(a.Annotations)
	ev = Event{
		Alertname:    a.Labels[LabelAlertname],
		Category:     a.Labels[LabelCategory],
		Severity:     a.Labels[LabelSeverity],
		Labels:       copyKV(a.Labels),
		Annotations:  ann,
		StartsAt:     a.StartsAt.UTC(),
		Fingerprint:  a.Fingerprint,
		GeneratorURL: a.GeneratorURL,
	}
	if len(ev.GeneratorURL) > MaxURL {
		trims = append(trims, fmt.Sprintf("generatorURL of %d bytes dropped (at most %d)", len(ev.GeneratorURL), MaxURL))
		ev.GeneratorURL = ""
	}
	if len(ev.Fingerprint) > MaxFingerprint {
		trims = append(trims, fmt.Sprintf("fingerprint of %d bytes dropped (at most %d)", len(ev.Fingerprint), MaxFingerprint))
		ev.Fingerprint = ""
	}
	switch a.Status {
	case "firing":
		ev.Firing = true
	case "resolved":
		ev.EndsAt = a.EndsAt.UTC()
		if a.EndsAt.IsZero() || a.EndsAt.Year() <= 1 {
			return ev, nil, errors.New("resolved alert without endsAt")
		}
	default:
		return ev, nil, fmt.Errorf("status %q is neither firing nor resolved", clip(a.Status, 32))
	}
	if ev.Alertname == "" {
		return ev, nil, errors.New("alert without alertname label")
	}
	if ev.Alertname == WatchdogName {
		return ev, trims, nil
	}
	if a.StartsAt.IsZero() || a.StartsAt.Year() <= 1 {
		return ev, nil, fmt.Errorf("%s: alert without startsAt", clip(ev.Alertname, 128))
	}
	ev.Identity = map[string]string{}
	for _, l := range k.Identity {
		if v := a.Labels[l]; v != "" {
			ev.Identity[l] = v
		}
	}
	if len(ev.Identity) != len(k.Identity) {
		// No machine: a fleet alert is about a site.
		site := a.Labels[LabelSite]
		if site == "" {
			return ev, nil, fmt.Errorf("%s: neither identity labels %v nor %s", clip(ev.Alertname, 128), k.Identity, LabelSite)
		}
		ev.Fleet = true
		ev.Identity = map[string]string{LabelSite: site}
	}
	ev.Machine = canonical(ev.Identity)
	ev.Location = map[string]string{}
	for _, l := range k.Location {
		if v := a.Labels[l]; v != "" {
			ev.Location[l] = v
		}
	}
	rest := map[string]string{}
	for n, v := range a.Labels {
		if !skip[n] {
			rest[n] = v
		}
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s", ev.Machine, ev.Alertname, canonical(rest))
	ev.ProblemKey = hex.EncodeToString(h.Sum(nil))[:32]
	return ev, trims, nil
}

// canonical renders labels as `a="1",b="2"` in name order.
func canonical(m map[string]string) string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", n, m[n])
	}
	return b.String()
}

func copyKV(kv template.KV) map[string]string {
	m := make(map[string]string, len(kv))
	for k, v := range kv {
		m[k] = v
	}
	return m
}
