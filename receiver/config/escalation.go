package config

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Escalation is the ladder a task climbs while nobody answers: its first step is the assignee's
// own notification; when the step's wait runs out without an acknowledgement (open tasks) or any
// progress (acknowledged or in_progress tasks), or every delivery of the step was given up, the
// next step is notified over its channels. The last step repeats.
type Escalation struct {
	// Severities holds the timeouts per alert severity (critical, warning, info); the key
	// "default" covers any other. A severity not listed (and no default) never escalates.
	Severities map[string]Timeouts `yaml:"severities"`
	// OnCall are the people the recipient on_call stands for.
	OnCall []string `yaml:"on_call"`
	Ladder []Step   `yaml:"ladder"`
}

// Timeouts of one severity. 0 means never.
type Timeouts struct {
	// Ack: how long an open task waits at each step for an acknowledgement.
	Ack time.Duration `yaml:"ack_timeout"`
	// Progress: how long an acknowledged or in_progress task may go without any action of the
	// crew (start, note, report, reassignment) before it climbs the ladder; the steps after the
	// first then wait Ack each (Progress when Ack is 0).
	Progress time.Duration `yaml:"progress_timeout"`
	// Repeat: how often the last step is notified again while nothing happens; default its wait.
	Repeat time.Duration `yaml:"repeat"`
}

// Recipients a step may name besides people.
const (
	ToAssignee = "assignee" // the task's assignee (or the crew's group chat when nobody has it)
	ToLead     = "lead"     // the team's lead; when the lead has the task already, the next member
	ToOnCall   = "on_call"  // escalation.on_call
)

// Step is one rung of the ladder.
type Step struct {
	// To: assignee, lead, on_call and/or people's names.
	To []string `yaml:"to"`
	// Channels the step's message goes over (every one the recipient can be reached on);
	// default: every configured channel.
	Channels []string `yaml:"channels"`
	// Emails are addresses (a distribution list) that get the step's message by e-mail too.
	Emails []string `yaml:"emails"`
	// Assign hands an open task to the step's first recipient person.
	Assign bool `yaml:"assign"`
}

// MaxSteps bounds the ladder.
const MaxSteps = 10

// Timeouts returns the timeouts of a severity.
func (e *Escalation) Timeouts(severity string) Timeouts {
	if e == nil {
		return Timeouts{}
	}
	if t, ok := e.Severities[severity]; ok {
		return t
	}
	return e.Severities["default"]
}

// Wait is how long a step after the first waits before the next one.
func (t Timeouts) Wait() time.Duration {
	if t.Ack > 0 {
		return t.Ack
	}
	return t.Progress
}

// RepeatEvery is how often the last step is repeated (0: never).
func (t Timeouts) RepeatEvery() time.Duration {
	if t.Repeat > 0 {
		return t.Repeat
	}
	return t.Wait()
}

// Policy returns the escalation in force: the escalation section, or, without one, the ladder
// that windows.escalate_after/escalate_repeat stand for (every severity: assignee, then the lead
// who takes the task over, repeated).
func (c *Config) Policy() *Escalation {
	if c.policy != nil {
		return c.policy
	}
	return c.legacyPolicy()
}

func (c *Config) legacyPolicy() *Escalation {
	return &Escalation{
		Severities: map[string]Timeouts{"default": {Ack: c.Windows.EscalateAfter, Repeat: c.Windows.EscalateRepeat}},
		Ladder: []Step{
			{To: []string{ToAssignee}, Channels: c.Notify.Configured()},
			{To: []string{ToLead}, Channels: c.Notify.Configured(), Assign: true},
		},
	}
}

// explicitWindows reports which of windows.escalate_after/escalate_repeat the file sets itself.
func explicitWindows(b []byte) []string {
	var doc struct {
		Windows map[string]yaml.Node `yaml:"windows"`
	}
	if err := yaml.NewDecoder(bytes.NewReader(b)).Decode(&doc); err != nil {
		return nil
	}
	var out []string
	for _, k := range []string{"escalate_after", "escalate_repeat"} {
		if _, ok := doc.Windows[k]; ok {
			out = append(out, "windows."+k)
		}
	}
	return out
}

func (c *Config) validateEscalation() error {
	e := c.Escalation
	if e == nil {
		c.policy = c.legacyPolicy()
		return nil
	}
	for sev, t := range e.Severities {
		if sev == "" {
			return errors.New("escalation.severities: empty severity name")
		}
		if t.Ack < 0 || t.Progress < 0 || t.Repeat < 0 {
			return fmt.Errorf("escalation.severities.%s: timeouts must not be negative", sev)
		}
		if (t.Ack > 0 && t.Ack < time.Second) || (t.Progress > 0 && t.Progress < time.Second) || (t.Repeat > 0 && t.Repeat < time.Second) {
			return fmt.Errorf("escalation.severities.%s: timeouts are 0 (never) or at least 1s", sev)
		}
	}
	for _, p := range e.OnCall {
		if _, ok := c.People[p]; !ok {
			return fmt.Errorf("escalation.on_call: %q is not in people", p)
		}
	}
	if len(e.Ladder) == 0 || len(e.Ladder) > MaxSteps {
		return fmt.Errorf("escalation.ladder: 1 to %d steps", MaxSteps)
	}
	if !slices.Contains(e.Ladder[0].To, ToAssignee) {
		return errors.New("escalation.ladder: the first step is the assignee's (to: [assignee]); later steps escalate")
	}
	for i := range e.Ladder {
		s := &e.Ladder[i]
		where := fmt.Sprintf("escalation.ladder[%d]", i)
		if len(s.To) == 0 && len(s.Emails) == 0 {
			return fmt.Errorf("%s: to or emails is required", where)
		}
		for _, r := range s.To {
			switch r {
			case ToAssignee, ToLead:
			case ToOnCall:
				if len(e.OnCall) == 0 {
					return fmt.Errorf("%s: on_call, but escalation.on_call lists nobody", where)
				}
			default:
				if _, ok := c.People[r]; !ok {
					return fmt.Errorf("%s: %q is not assignee, lead, on_call or a person in people", where, r)
				}
			}
		}
		if len(s.Channels) == 0 {
			s.Channels = c.Notify.Configured()
		}
		for _, ch := range s.Channels {
			if ch != ChannelLog && !slices.Contains(Channels, ch) {
				return fmt.Errorf("%s: channel %q is not one of %s, %s", where, ch, strings.Join(Channels, ", "), ChannelLog)
			}
			if !c.Notify.Has(ch) {
				return fmt.Errorf("%s: channel %s is not configured under notify", where, ch)
			}
		}
		if len(s.Emails) > 0 && !c.Notify.Has(ChannelEmail) {
			return fmt.Errorf("%s: emails need notify.email", where)
		}
		for _, a := range s.Emails {
			if err := CheckEmail(a); err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
		}
	}
	c.policy = e
	return nil
}

// escalationWarnings says what is valid but probably not meant.
func (c *Config) escalationWarnings() []string {
	var w []string
	if len(c.legacyKeys) > 0 {
		if c.Escalation != nil {
			w = append(w, fmt.Sprintf("%s ignored: the escalation section sets the timeouts (escalation.severities)", strings.Join(c.legacyKeys, " and ")))
		} else {
			w = append(w, fmt.Sprintf("%s are deprecated: they stand for escalation: {severities: {default: {ack_timeout: %s, repeat: %s}}, "+
				"ladder: [{to: [assignee]}, {to: [lead], assign: true}]}; move them there (receiver/README.md, Escalation)",
				strings.Join(c.legacyKeys, " and "), c.Windows.EscalateAfter, c.Windows.EscalateRepeat))
		}
	}
	if len(c.People) == 0 {
		return w
	}
	pol := c.Policy()
	for i, s := range pol.Ladder {
		names := c.stepPeople(s)
		for _, r := range s.To {
			for _, t := range c.Teams {
				switch {
				case r == ToAssignee:
					names = append(names, t.Members...)
				case r == ToLead && t.Lead != "":
					names = append(names, t.Lead)
				}
			}
		}
		slices.Sort(names)
		for _, name := range slices.Compact(names) {
			reach := false
			for _, ch := range s.Channels {
				if a, _ := c.Address(name, ch); a != "" {
					reach = true
				}
			}
			if !reach && !slices.Contains(s.Channels, ChannelLog) {
				w = append(w, fmt.Sprintf("escalation step %d: %s cannot be reached over %s (no contact in people)", i+1, name, strings.Join(s.Channels, ", ")))
			}
		}
	}
	return w
}

// stepPeople lists the people a step names directly or through on_call (not the assignee or
// lead, which depend on the task).
func (c *Config) stepPeople(s Step) []string {
	var out []string
	for _, r := range s.To {
		switch r {
		case ToAssignee, ToLead:
		case ToOnCall:
			out = append(out, c.Policy().OnCall...)
		default:
			out = append(out, r)
		}
	}
	return out
}

// Summary says the escalation in force in one line, for the log at start and on reload:
// "critical: ack 5m0s, progress 1h0m0s; …; ladder: 1 assignee (telegram) → 2 lead (email) → …".
func (e *Escalation) Summary() string {
	var sev []string
	for name := range e.Severities {
		sev = append(sev, name)
	}
	slices.Sort(sev)
	var parts []string
	for _, name := range sev {
		t := e.Severities[name]
		p := name + ":"
		if t.Ack == 0 && t.Progress == 0 {
			p += " never"
		}
		if t.Ack > 0 {
			p += " ack " + t.Ack.String()
		}
		if t.Progress > 0 {
			p += " progress " + t.Progress.String()
		}
		if t.Repeat > 0 {
			p += " repeat " + t.Repeat.String()
		}
		parts = append(parts, p)
	}
	var steps []string
	for i, s := range e.Ladder {
		to := append(slices.Clone(s.To), s.Emails...)
		steps = append(steps, fmt.Sprintf("%d %s (%s)", i+1, strings.Join(to, "+"), strings.Join(s.Channels, ",")))
	}
	return strings.Join(parts, "; ") + "; ladder: " + strings.Join(steps, " → ")
}
