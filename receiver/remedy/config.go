package remedy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"regexp"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/minefarm/cgminer-stack/internal/cidr"
	"github.com/minefarm/cgminer-stack/receiver/task"
)

// Config is the remediation configuration (--remedy.config.file, strict YAML). Without a file,
// or with no rules, nothing is ever sent.
type Config struct {
	// AllowedTargets are the only addresses a restart is ever sent to (required): decided
	// before dialling, from the IP literal of the task's instance label.
	AllowedTargets []Prefix `yaml:"allowed_targets"`
	// AllowedPorts are the API ports a target may name (default [4028]).
	AllowedPorts []int `yaml:"allowed_ports"`
	// Timeout bounds one restart: connect, send, read the reply (default 5s, at most 30s).
	Timeout time.Duration `yaml:"timeout"`
	// Interval is how often the tasks are checked (default 1m).
	Interval time.Duration `yaml:"interval"`
	// MaxReplyBytes caps what is read of a miner's reply (default and maximum 64 KiB).
	MaxReplyBytes int `yaml:"max_reply_bytes"`
	// MaxTasks bounds the tasks one check pass looks at (default 1000).
	MaxTasks int `yaml:"max_tasks"`
	// Rules say which tasks are remediated and how; the first whose match holds decides.
	Rules []Rule `yaml:"rules"`
}

// Rule is remediation for the tasks whose alerts carry its labels.
type Rule struct {
	Name string `yaml:"name"`
	// Mode is dry_run (log and record what would be sent) or restart (send it). Required.
	Mode Mode `yaml:"mode"`
	// Match: labels every one of which the task's remediable alert must carry with this value
	// (site, rack, a module label your relabelling keeps, …); empty matches every task.
	Match map[string]string `yaml:"match"`
	// Alerts are the problems a restart can cure (default MinerNoHashrate, MinerDeviceNotAlive,
	// MinerPoolDown).
	Alerts []string `yaml:"alerts"`
	// States are the task states remediation acts in (default open, acknowledged: not while a
	// technician works on the machine or the repair is being verified).
	States []task.State `yaml:"states"`
	// AfterChecks is how many consecutive checks must find the problem still firing (default 3).
	AfterChecks int `yaml:"after_checks"`
	// PerMinerWindow: at most one restart (or refusal, rate limit) per miner per window; then
	// the restart's effect is waited for (default 30m).
	PerMinerWindow time.Duration `yaml:"per_miner_window"`
	// PerSitePerHour: at most so many restarts per site in any hour (default 5).
	PerSitePerHour int `yaml:"per_site_per_hour"`
	// MaxPerTask: at most so many restarts for one task; then it is the crew's (default 3).
	MaxPerTask int `yaml:"max_per_task"`
}

// Mode is what a rule does.
type Mode string

// The modes.
const (
	ModeDryRun  Mode = "dry_run"
	ModeRestart Mode = "restart"
)

// Defaults and bounds.
const (
	DefaultPort        = 4028
	DefaultTimeout     = 5 * time.Second
	MaxTimeout         = 30 * time.Second
	DefaultInterval    = time.Minute
	DefaultMaxReply    = 64 << 10
	DefaultMaxTasks    = 1000
	DefaultAfterChecks = 3
	DefaultWindow      = 30 * time.Minute
	DefaultSitePerHour = 5
	DefaultMaxPerTask  = 3

	maxRules   = 100
	maxAlerts  = 32
	maxMatch   = 16
	maxTargets = 1024
	maxPorts   = 16
	maxNameLen = 128
	// maxConfigFile bounds what LoadConfig reads.
	maxConfigFile = 1 << 20
)

// DefaultAlerts are the problems a restart of the mining software can cure.
var DefaultAlerts = []string{"MinerNoHashrate", "MinerDeviceNotAlive", "MinerPoolDown"}

// Prefix is a CIDR range (or one address) in YAML.
type Prefix = cidr.Prefix

var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// LoadConfig reads and checks a remediation config file.
func LoadConfig(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("remedy config: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxConfigFile+1))
	if err != nil {
		return nil, fmt.Errorf("remedy config %s: %w", path, err)
	}
	if len(b) > maxConfigFile {
		return nil, fmt.Errorf("remedy config %s is larger than %d bytes", path, maxConfigFile)
	}
	c, err := ParseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("remedy config %s: %w", path, err)
	}
	return c, nil
}

// ParseConfig reads a remediation config strictly (unknown keys are errors), fills the defaults
// and checks every value.
func ParseConfig(b []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty file")
		}
		return nil, err
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *Config) check() error {
	if len(c.AllowedTargets) == 0 {
		return errors.New("allowed_targets is required: the ranges a restart may ever be sent to (loopback only if listed)")
	}
	if len(c.AllowedTargets) > maxTargets {
		return fmt.Errorf("allowed_targets: %d ranges, at most %d", len(c.AllowedTargets), maxTargets)
	}
	if c.AllowedPorts == nil {
		c.AllowedPorts = []int{DefaultPort}
	}
	if len(c.AllowedPorts) == 0 || len(c.AllowedPorts) > maxPorts {
		return fmt.Errorf("allowed_ports: between 1 and %d ports", maxPorts)
	}
	for _, p := range c.AllowedPorts {
		if p < 1 || p > 65535 {
			return fmt.Errorf("allowed_ports: %d is not a port", p)
		}
	}
	switch {
	case c.Timeout == 0:
		c.Timeout = DefaultTimeout
	case c.Timeout < 100*time.Millisecond || c.Timeout > MaxTimeout:
		return fmt.Errorf("timeout %s: between 100ms and %s", c.Timeout, MaxTimeout)
	}
	switch {
	case c.Interval == 0:
		c.Interval = DefaultInterval
	case c.Interval < time.Second || c.Interval > time.Hour:
		return fmt.Errorf("interval %s: between 1s and 1h", c.Interval)
	}
	switch {
	case c.MaxReplyBytes == 0:
		c.MaxReplyBytes = DefaultMaxReply
	case c.MaxReplyBytes < 64 || c.MaxReplyBytes > DefaultMaxReply:
		return fmt.Errorf("max_reply_bytes %d: between 64 and %d", c.MaxReplyBytes, DefaultMaxReply)
	}
	switch {
	case c.MaxTasks == 0:
		c.MaxTasks = DefaultMaxTasks
	case c.MaxTasks < 1 || c.MaxTasks > 100000:
		return fmt.Errorf("max_tasks %d: between 1 and 100000", c.MaxTasks)
	}
	if len(c.Rules) > maxRules {
		return fmt.Errorf("rules: %d, at most %d", len(c.Rules), maxRules)
	}
	names := map[string]bool{}
	for i := range c.Rules {
		r := &c.Rules[i]
		if err := r.check(); err != nil {
			return fmt.Errorf("rule %d (%s): %w", i+1, r.Name, err)
		}
		if names[r.Name] {
			return fmt.Errorf("rule %d: name %q used twice", i+1, r.Name)
		}
		names[r.Name] = true
	}
	return nil
}

func (r *Rule) check() error {
	if r.Name == "" || len(r.Name) > maxNameLen {
		return fmt.Errorf("name is required (at most %d bytes)", maxNameLen)
	}
	switch r.Mode {
	case ModeDryRun, ModeRestart:
	case "":
		return errors.New("mode is required: dry_run (record what would be sent) or restart")
	default:
		return fmt.Errorf("mode %q: dry_run or restart", r.Mode)
	}
	if len(r.Match) > maxMatch {
		return fmt.Errorf("match: %d labels, at most %d", len(r.Match), maxMatch)
	}
	for k, v := range r.Match {
		if !labelName.MatchString(k) || len(k) > maxNameLen || len(v) > 1024 {
			return fmt.Errorf("match: %q is not a label name (or its value is over 1 KiB)", k)
		}
	}
	if r.Alerts == nil {
		r.Alerts = append([]string(nil), DefaultAlerts...)
	}
	if len(r.Alerts) == 0 || len(r.Alerts) > maxAlerts {
		return fmt.Errorf("alerts: between 1 and %d alert names", maxAlerts)
	}
	for _, a := range r.Alerts {
		if !labelName.MatchString(a) || len(a) > maxNameLen {
			return fmt.Errorf("alerts: %q is not an alert name", a)
		}
	}
	if r.States == nil {
		r.States = []task.State{task.Open, task.Acknowledged}
	}
	if len(r.States) == 0 {
		return errors.New("states: at least one")
	}
	for _, s := range r.States {
		if _, err := task.ParseState(string(s)); err != nil {
			return fmt.Errorf("states: %w", err)
		}
		if s.Closed() {
			return fmt.Errorf("states: %s is closed: nothing to remediate", s)
		}
	}
	switch {
	case r.AfterChecks == 0:
		r.AfterChecks = DefaultAfterChecks
	case r.AfterChecks < 1 || r.AfterChecks > 100:
		return fmt.Errorf("after_checks %d: between 1 and 100", r.AfterChecks)
	}
	switch {
	case r.PerMinerWindow == 0:
		r.PerMinerWindow = DefaultWindow
	case r.PerMinerWindow < time.Second || r.PerMinerWindow > 7*24*time.Hour:
		return fmt.Errorf("per_miner_window %s: between 1s and 7d", r.PerMinerWindow)
	}
	switch {
	case r.PerSitePerHour == 0:
		r.PerSitePerHour = DefaultSitePerHour
	case r.PerSitePerHour < 1 || r.PerSitePerHour > 10000:
		return fmt.Errorf("per_site_per_hour %d: between 1 and 10000", r.PerSitePerHour)
	}
	switch {
	case r.MaxPerTask == 0:
		r.MaxPerTask = DefaultMaxPerTask
	case r.MaxPerTask < 1 || r.MaxPerTask > 100:
		return fmt.Errorf("max_per_task %d: between 1 and 100", r.MaxPerTask)
	}
	return nil
}

// states lists every state some rule acts in.
func (c *Config) states() []task.State {
	seen := map[task.State]bool{}
	var out []task.State
	for _, r := range c.Rules {
		for _, s := range r.States {
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	return out
}

// allowed reports whether a restart may go to target.
func (c *Config) allowed(target netip.AddrPort) bool {
	port := int(target.Port())
	okPort := false
	for _, p := range c.AllowedPorts {
		if p == port {
			okPort = true
			break
		}
	}
	if !okPort {
		return false
	}
	for _, p := range c.AllowedTargets {
		if p.Contains(target.Addr()) {
			return true
		}
	}
	return false
}
