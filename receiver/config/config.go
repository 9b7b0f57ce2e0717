// Package config holds repair_receiver's configuration: which labels identify a machine and its
// location, the time windows of the task rules, the teams and how tasks are assigned to them, the
// webhook token and the notification channel. It is read once into typed structs (strict YAML).
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"
)

// Secret is a string that never shows itself in logs, debug output or marshalled config.
type Secret string

const redacted = "<secret>"

func (s Secret) String() string                { return redacted }
func (s Secret) GoString() string              { return redacted }
func (s Secret) LogValue() slog.Value          { return slog.StringValue(redacted) }
func (s Secret) MarshalYAML() (any, error)     { return redacted, nil }
func (s Secret) MarshalJSON() ([]byte, error)  { return []byte(`"` + redacted + `"`), nil }
func (s Secret) MarshalText() ([]byte, error)  { return []byte(redacted), nil }
func (s Secret) Reveal() string                { return string(s) }
func (s Secret) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(redacted)) }

// Assignment strategies.
const (
	LeastLoaded = "least_loaded"
	RoundRobin  = "round_robin"
)

// Config is the whole file.
type Config struct {
	IdentityLabels []string `yaml:"identity_labels"`
	LocationLabels []string `yaml:"location_labels"`
	// VolatileLabels are left out of a problem's identity: they change without the problem changing
	// (a firmware upgrade, a pool URL, a new severity of the same alert).
	VolatileLabels []string `yaml:"volatile_labels"`
	Windows        Windows  `yaml:"windows"`
	Teams          []Team   `yaml:"teams"`
	// People are who may sign in to the board and what they may do there: user name (as in the web
	// config's basic_auth_users) → role. A user not listed is a viewer.
	People     map[string]Person `yaml:"people"`
	Assignment string            `yaml:"assignment"`
	Webhook    Webhook           `yaml:"webhook"`
	Notify     Notify            `yaml:"notify"`
	// Escalation is the ladder of notifications for tasks nobody answers (escalation.go); without
	// it, windows.escalate_after/escalate_repeat make a two-step one.
	Escalation *Escalation `yaml:"escalation"`
	// ExternalURL is where technicians reach this receiver; used for links in notifications.
	ExternalURL string `yaml:"external_url"`
	// Reconcile and Evidence: see evidence.go.
	Reconcile Reconcile `yaml:"reconcile"`
	Evidence  Evidence  `yaml:"evidence"`
	// Display, Snapshot and Verification: see display.go and snapshot.go.
	Display      Display      `yaml:"display"`
	Snapshot     Snapshot     `yaml:"snapshot"`
	Verification Verification `yaml:"verification"`

	policy     *Escalation // the escalation in force (Policy)
	legacyKeys []string    // windows.escalate_* the file sets (deprecated)
}

// Windows are the time rules of a task.
type Windows struct {
	// Grace: how long every problem of a task must stay cleared before a task nobody reported on
	// closes auto_resolved.
	Grace time.Duration `yaml:"grace"`
	// ReopenWindow: a problem firing again within this time after its task closed reopens that task.
	ReopenWindow time.Duration `yaml:"reopen_window"`
	// Settle: how long after a repair report the verification first asks Prometheus.
	Settle time.Duration `yaml:"settle"`
	// VerifyWindow: how long after the report a still-firing problem is tolerated before the repair
	// counts as failed and the task goes back to the worker.
	VerifyWindow time.Duration `yaml:"verify_window"`
	// EscalateAfter: a task still open (not acknowledged) this long is escalated. Deprecated:
	// without an escalation section it is every severity's escalation.severities.*.ack_timeout.
	EscalateAfter time.Duration `yaml:"escalate_after"`
	// EscalateRepeat: escalation repeats at this interval while the task stays open. Deprecated
	// like EscalateAfter (escalation.severities.*.repeat).
	EscalateRepeat time.Duration `yaml:"escalate_repeat"`
	// OutOfOrder: a firing copy of an occurrence that arrives within this time after the occurrence
	// was resolved is a late duplicate (HA peer, retry) and ignored; later, it means the alert fires
	// again with the same start.
	OutOfOrder time.Duration `yaml:"out_of_order"`
	// ReconcileAfter: a task whose problems still fire but that has not changed for this long is
	// checked against Prometheus's ALERTS; problems absent there for 10 minutes are cleared.
	// Alertmanager sends no resolved notification for a silenced or inhibited alert. 0 disables.
	ReconcileAfter time.Duration `yaml:"reconcile_after"`
}

// Team is a group of technicians who take the tasks whose labels match.
type Team struct {
	Name     string            `yaml:"name"`
	Members  []string          `yaml:"members"`
	Lead     string            `yaml:"lead"`
	Matchers map[string]string `yaml:"matchers"`

	compiled map[string]*regexp.Regexp
}

// Role is what a person may do on the board and through the API.
type Role string

// Roles, from least to most privileged.
const (
	// Viewer reads the board, the task pages and the API; changes nothing.
	Viewer Role = "viewer"
	// Technician acknowledges, starts, reports fixed and adds notes on the tasks of their teams
	// (and on tasks assigned to them).
	Technician Role = "technician"
	// Lead does what a technician does and also reassigns and cancels their teams' tasks.
	Lead Role = "lead"
	// Admin does everything on every task and reloads the configuration.
	Admin Role = "admin"
)

// Roles lists the valid roles.
var Roles = []Role{Viewer, Technician, Lead, Admin}

// Person is someone who signs in, and how notifications reach them (notify.go).
type Person struct {
	// Role; empty means viewer.
	Role    Role `yaml:"role"`
	Contact `yaml:",inline"`
}

// maxNameLen bounds people's and teams' names (they are matched against basic-auth user names and
// shown on every card).
const maxNameLen = 64

// Webhook configures the Alertmanager intake.
type Webhook struct {
	// TokenFile holds the bearer token Alertmanager sends (http_config.authorization.credentials_file).
	TokenFile    string `yaml:"token_file"`
	MaxBodyBytes int64  `yaml:"max_body_bytes"`

	Token Secret `yaml:"-"`
}

// Default returns the configuration used when a field is left out.
func Default() *Config {
	return &Config{
		IdentityLabels: []string{"instance"},
		LocationLabels: []string{"site", "row", "rack", "slot"},
		VolatileLabels: []string{"severity", "job", "prometheus", "replica", "firmware", "model", "software_version", "url", "user"},
		Windows: Windows{
			Grace:         10 * time.Minute,
			ReopenWindow:  24 * time.Hour,
			Settle:        2 * time.Minute,
			VerifyWindow:  15 * time.Minute,
			EscalateAfter: 30 * time.Minute,
			OutOfOrder:    5 * time.Minute,
			// Longer than Alertmanager's repeat_interval would be safer still, but a silenced alert
			// sends nothing at all: half an hour without news is the signal.
			ReconcileAfter: 30 * time.Minute,
		},
		Assignment: LeastLoaded,
		Webhook:    Webhook{MaxBodyBytes: 32 << 20},
		Reconcile:  defaultReconcile(),
		Evidence:   defaultEvidence(),

		Display:      defaultDisplay(),
		Snapshot:     defaultSnapshot(),
		Verification: defaultVerification(),
	}
}

// Load reads and validates a configuration file. Relative token file paths are taken from the
// configuration file's directory.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	if err := c.readSecrets(dir); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes and validates configuration text (secrets are not read).
func Parse(b []byte) (*Config, error) {
	c := Default()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("parse: %w", err)
	}
	c.legacyKeys = explicitWindows(b)
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Config) validate() error {
	if len(c.IdentityLabels) == 0 {
		return errors.New("identity_labels: at least one label is needed")
	}
	w := &c.Windows
	for name, d := range map[string]time.Duration{"grace": w.Grace, "reopen_window": w.ReopenWindow, "settle": w.Settle,
		"verify_window": w.VerifyWindow, "escalate_after": w.EscalateAfter, "escalate_repeat": w.EscalateRepeat, "out_of_order": w.OutOfOrder, "reconcile_after": w.ReconcileAfter} {
		if d < 0 {
			return fmt.Errorf("windows.%s: must not be negative", name)
		}
	}
	if w.EscalateRepeat == 0 {
		w.EscalateRepeat = w.EscalateAfter
	}
	if w.VerifyWindow < w.Settle {
		return fmt.Errorf("windows.verify_window (%s) must not be shorter than windows.settle (%s)", w.VerifyWindow, w.Settle)
	}
	switch c.Assignment {
	case LeastLoaded, RoundRobin:
	case "":
		c.Assignment = LeastLoaded
	default:
		return fmt.Errorf("assignment: %q is not %s or %s", c.Assignment, LeastLoaded, RoundRobin)
	}
	seen := map[string]bool{}
	for i := range c.Teams {
		t := &c.Teams[i]
		if t.Name == "" {
			return fmt.Errorf("teams[%d]: name is required", i)
		}
		if seen[t.Name] {
			return fmt.Errorf("teams[%d]: duplicate team %q", i, t.Name)
		}
		seen[t.Name] = true
		if len(t.Members) == 0 && t.Lead == "" {
			return fmt.Errorf("team %q: needs members or a lead", t.Name)
		}
		t.compiled = map[string]*regexp.Regexp{}
		for label, re := range t.Matchers {
			r, err := regexp.Compile("^(?:" + re + ")$")
			if err != nil {
				return fmt.Errorf("team %q: matcher %s: %w", t.Name, label, err)
			}
			t.compiled[label] = r
		}
	}
	if err := c.validateEvidence(); err != nil {
		return err
	}
	if err := errors.Join(c.validateDisplay(), c.validateSnapshot()); err != nil {
		return err
	}
	if err := c.validatePeople(); err != nil {
		return err
	}
	if c.Webhook.MaxBodyBytes <= 0 {
		return errors.New("webhook.max_body_bytes: must be positive")
	}
	if err := c.validateNotify(); err != nil {
		return err
	}
	if err := c.validateEscalation(); err != nil {
		return err
	}
	c.ExternalURL = strings.TrimRight(c.ExternalURL, "/")
	return nil
}

// validatePeople checks roles, and, once a people section exists, that everyone a task can be
// assigned to may act on it: team members are technicians (or more), team leads are leads or admins.
func (c *Config) validatePeople() error {
	for name, p := range c.People {
		if err := checkName(name); err != nil {
			return fmt.Errorf("people: %w", err)
		}
		switch p.Role {
		case "":
			p.Role = Viewer
			c.People[name] = p
		case Viewer, Technician, Lead, Admin:
		default:
			return fmt.Errorf("people.%s: role %q is not one of %s, %s, %s, %s", name, p.Role, Viewer, Technician, Lead, Admin)
		}
	}
	for _, t := range c.Teams {
		for _, m := range append(slices.Clone(t.Members), t.Lead) {
			if m == "" {
				continue
			}
			if err := checkName(m); err != nil {
				return fmt.Errorf("team %q: %w", t.Name, err)
			}
		}
	}
	if len(c.People) == 0 {
		return nil // legacy configuration: every user is a viewer (Warnings says so)
	}
	for _, t := range c.Teams {
		for _, m := range t.Members {
			if r := c.RoleOf(m); r == Viewer {
				return fmt.Errorf("team %q: member %q needs role %s, %s or %s in people (tasks are assigned to them)", t.Name, m, Technician, Lead, Admin)
			}
		}
		if t.Lead != "" {
			if r := c.RoleOf(t.Lead); r != Lead && r != Admin {
				return fmt.Errorf("team %q: lead %q needs role %s or %s in people (escalations are assigned to them), not %s", t.Name, t.Lead, Lead, Admin, r)
			}
		}
	}
	return nil
}

func checkName(n string) error {
	if n == "" || len(n) > maxNameLen || strings.TrimSpace(n) != n || strings.ContainsAny(n, "\x00\r\n\t") {
		return fmt.Errorf("name %q: 1 to %d characters without surrounding spaces or control characters", n, maxNameLen)
	}
	return nil
}

// RoleOf returns a person's role; Viewer for anyone not in people.
func (c *Config) RoleOf(name string) Role {
	if p, ok := c.People[name]; ok && p.Role != "" {
		return p.Role
	}
	return Viewer
}

// TeamsOf lists the names of the teams that have the person as a member or as their lead.
func (c *Config) TeamsOf(name string) []string {
	var out []string
	for _, t := range c.Teams {
		if t.Has(name) {
			out = append(out, t.Name)
		}
	}
	return out
}

// Has reports whether the person is a member or the lead of the team.
func (t *Team) Has(name string) bool {
	if name == "" {
		return false
	}
	return t.Lead == name || slices.Contains(t.Members, name)
}

// Assignable reports whether tasks may be assigned to the person: a member or lead of some team
// who is allowed to act on tasks.
func (c *Config) Assignable(name string) bool {
	return len(c.TeamsOf(name)) > 0 && (len(c.People) == 0 || c.RoleOf(name) != Viewer)
}

// Assignees lists everyone tasks may be assigned to, sorted.
func (c *Config) Assignees() []string {
	seen := map[string]bool{}
	var out []string
	for _, t := range c.Teams {
		for _, m := range append(slices.Clone(t.Members), t.Lead) {
			if m != "" && !seen[m] && c.Assignable(m) {
				seen[m] = true
				out = append(out, m)
			}
		}
	}
	sort.Strings(out)
	return out
}

// Warnings lists what is valid but probably not meant, for the log at start and on reload.
func (c *Config) Warnings() []string {
	var w []string
	if len(c.People) == 0 && len(c.Teams) > 0 {
		w = append(w, "no people section: every user is a viewer and nobody can act on tasks; give team members a role (technician, lead, admin)")
	}
	return append(w, c.escalationWarnings()...)
}

func (c *Config) readSecrets(dir string) error {
	read := func(name, p string) (Secret, error) {
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return "", fmt.Errorf("%s: %w", name, err)
		}
		s := strings.TrimSpace(string(b))
		if s == "" {
			return "", fmt.Errorf("%s: file %s is empty", name, p)
		}
		return Secret(s), nil
	}
	var err error
	if c.Webhook.TokenFile != "" {
		if c.Webhook.Token, err = read("webhook.token_file", c.Webhook.TokenFile); err != nil {
			return err
		}
	}
	return c.readNotifySecrets(read)
}

// Matches reports whether every matcher of the team matches the labels (a team with no matchers
// takes everything).
func (t *Team) Matches(labels map[string]string) bool {
	for label, re := range t.compiled {
		if !re.MatchString(labels[label]) {
			return false
		}
	}
	return true
}

// TeamFor returns the first team whose matchers match, or nil.
func (c *Config) TeamFor(labels map[string]string) *Team {
	for i := range c.Teams {
		if c.Teams[i].Matches(labels) {
			return &c.Teams[i]
		}
	}
	return nil
}

// Team returns the team by name, or nil.
func (c *Config) Team(name string) *Team {
	for i := range c.Teams {
		if c.Teams[i].Name == name {
			return &c.Teams[i]
		}
	}
	return nil
}

// Marshal renders the configuration with secrets hidden.
func Marshal(c *Config) ([]byte, error) { return yaml.Marshal(c) }

// SafeConfig holds the current configuration and swaps it on reload.
type SafeConfig struct {
	mu  sync.RWMutex
	cfg *Config
}

// NewSafeConfig wraps an initial configuration.
func NewSafeConfig(c *Config) *SafeConfig { return &SafeConfig{cfg: c} }

// Get returns the current configuration; callers must not modify it.
func (s *SafeConfig) Get() *Config {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cfg
}

// Reload reads the file again; on error the old configuration stays.
func (s *SafeConfig) Reload(path string) error {
	c, err := Load(path)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.cfg = c
	s.mu.Unlock()
	return nil
}
