// Package config reads the exporter's configuration file: probe modules with their expectations,
// the address ranges the exporter may contact, and the discovery sites. The YAML is strict:
// an unknown key is an error, not a silently ignored typo.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/minefarm/cgminer-stack/exporter/cgminer"
	"github.com/minefarm/cgminer-stack/exporter/dialect"
	"github.com/minefarm/cgminer-stack/internal/cidr"
)

// DefaultModule is the module a probe without `module=` uses; it always exists.
const DefaultModule = "default"

// Config is the whole file.
type Config struct {
	Modules map[string]*Module `yaml:"modules"`
	// AllowedTargets are the ranges the exporter may contact. When the key is absent, the private
	// ranges where miners live (RFC 1918, CGNAT 100.64/10, IPv6 ULA) are allowed and nothing else;
	// loopback only when listed.
	AllowedTargets []Prefix `yaml:"allowed_targets"`
	// AllowedPorts are the ports a target may name besides its module's own `port` (none by
	// default: a probe, or a discovery site, reaches only its module's port).
	AllowedPorts []int `yaml:"allowed_ports,omitempty"`
	// AllowHostnames lets a target be a DNS name, resolved before the allowlist check. Off by
	// default: targets are IP literals, so a caller cannot make the exporter send DNS queries.
	AllowHostnames bool       `yaml:"allow_hostnames,omitempty"`
	Discovery      *Discovery `yaml:"discovery,omitempty"`
	// FeePools are the firmware fee pools by firmware (feepools.go); absent firmware keep
	// dialect.DefaultFeePools.
	FeePools map[string]*FeePool `yaml:"fee_pools,omitempty"`
}

// The protocols a module may speak (`protocol:`).
const (
	// ProtocolAuto picks the protocol per miner: what answered before (the inventory), else the
	// cgminer API on the target's port, then Whatsminer API v3 on WhatsminerV3Port when the
	// first was refused or is not the cgminer API.
	ProtocolAuto = "auto"
	// ProtocolCGMiner is the cgminer JSON API (TCP 4028) alone.
	ProtocolCGMiner = "cgminer"
	// ProtocolWhatsminerV3 is Whatsminer API v3 (TCP 4433) alone.
	ProtocolWhatsminerV3 = "whatsminer-v3"
)

// Protocols lists the protocol names a module may give.
var Protocols = []string{ProtocolAuto, ProtocolCGMiner, ProtocolWhatsminerV3}

// Default ports of the protocols.
const (
	CGMinerPort      = 4028
	WhatsminerV3Port = 4433
)

// Module is how to probe one kind of miner.
type Module struct {
	// Protocol is what the module speaks (ProtocolAuto when unset).
	Protocol string `yaml:"protocol"`
	// Port is used when the target gives none (the protocol's default port when unset: 4433 for
	// whatsminer-v3, else 4028).
	Port int `yaml:"port"`
	// Timeout caps a probe; Prometheus's scrape timeout (minus the offset) caps it further.
	Timeout time.Duration `yaml:"timeout"`
	// Commands to send; empty means the dialect's own set (the base commands plus what the family
	// needs). Only read-only commands exist in the client, so nothing else can be configured.
	Commands []cgminer.Command `yaml:"commands,omitempty"`
	// Dialect forces a firmware family ("auto" detects it).
	Dialect string `yaml:"dialect"`
	// Join sends the joinable commands as one request (falls back when the firmware refuses).
	Join *bool `yaml:"join,omitempty"`
	// MaxReplyBytes caps one reply.
	MaxReplyBytes int    `yaml:"max_reply_bytes,omitempty"`
	Expect        Expect `yaml:"expect,omitempty"`
	// Limits bound what one probe reads from the miner (see limits.go).
	Limits Limits `yaml:"limits"`
	// Web reads the vendor's HTTP API alongside the main protocol (web.go); nil: not at all.
	Web *Web `yaml:"web,omitempty"`
}

// Expect is what a healthy miner of this module has; set values override the model table.
type Expect struct {
	Boards          int           `yaml:"boards,omitempty"`
	ChipsPerBoard   int           `yaml:"chips_per_board,omitempty"`
	Fans            int           `yaml:"fans,omitempty"`
	NominalHashrate Hashrate      `yaml:"nominal_hashrate,omitempty"`
	Pools           []PoolPattern `yaml:"pools,omitempty"`

	fees dialect.FeePools // the config's fee_pools, set by Parse
}

// PoolPattern is one expected pool: anchored regular expressions for its URL and worker.
type PoolPattern struct {
	URL  *Regexp `yaml:"url,omitempty"`
	User *Regexp `yaml:"user,omitempty"`
}

// Ports are the ports a target of the module may name without allowed_ports: its port, under
// auto the Whatsminer API v3 port it falls back to, and its web API's port.
func (m *Module) Ports() []int {
	ports := []int{m.Port}
	if m.Protocol == ProtocolAuto && m.Port != WhatsminerV3Port {
		ports = append(ports, WhatsminerV3Port)
	}
	if m.Web != nil && !slices.Contains(ports, m.Web.Port) {
		ports = append(ports, m.Web.Port)
	}
	return ports
}

// Speaks reports whether the module may talk protocol to a miner (auto speaks every one).
func (m *Module) Speaks(protocol string) bool {
	return m.Protocol == ProtocolAuto || m.Protocol == protocol
}

// JoinCommands reports whether to join commands (default true).
func (m *Module) JoinCommands() bool { return m.Join == nil || *m.Join }

// Family is the forced dialect, or nil for auto-detection.
func (m *Module) Family() *dialect.Family {
	f, _ := dialect.ByName(m.Dialect)
	return f
}

// Expectations converts the module's expectations for the dialect package.
func (m *Module) Expectations() dialect.Expect {
	e := dialect.Expect{Boards: m.Expect.Boards, ChipsPerBoard: m.Expect.ChipsPerBoard, Fans: m.Expect.Fans, Nominal: float64(m.Expect.NominalHashrate),
		FeePools: m.Expect.fees}
	for _, p := range m.Expect.Pools {
		var pp dialect.PoolPattern
		if p.URL != nil {
			pp.URL = p.URL.Regexp
		}
		if p.User != nil {
			pp.User = p.User.Regexp
		}
		e.Pools = append(e.Pools, pp)
	}
	return e
}

func (m *Module) setDefaults() {
	if m.Protocol == "" {
		m.Protocol = ProtocolAuto
	}
	if m.Port == 0 {
		m.Port = CGMinerPort
		if m.Protocol == ProtocolWhatsminerV3 {
			m.Port = WhatsminerV3Port
		}
	}
	if m.Timeout == 0 {
		m.Timeout = 10 * time.Second
	}
	if m.Dialect == "" {
		m.Dialect = "auto"
	}
	m.Limits.setDefaults()
}

func (m *Module) validate(name string) error {
	if !slices.Contains(Protocols, m.Protocol) {
		return fmt.Errorf("module %q: unknown protocol %q (one of %s)", name, m.Protocol, strings.Join(Protocols, ", "))
	}
	if m.Protocol == ProtocolWhatsminerV3 {
		if len(m.Commands) > 0 {
			return fmt.Errorf("module %q: commands are cgminer API commands; protocol %s reads what the Whatsminer API v3 client asks", name, m.Protocol)
		}
		if f := m.Family(); f != nil && f != dialect.Whatsminer {
			return fmt.Errorf("module %q: dialect %s cannot read Whatsminer API v3 (protocol %s)", name, f.Name, m.Protocol)
		}
	}
	if m.Port < 1 || m.Port > 65535 {
		return fmt.Errorf("module %q: port %d out of range", name, m.Port)
	}
	if m.Timeout < 0 || m.Timeout > 5*time.Minute {
		return fmt.Errorf("module %q: timeout %s out of range (0 to 5m)", name, m.Timeout)
	}
	if _, ok := dialect.ByName(m.Dialect); !ok {
		names := []string{"auto"}
		for _, f := range dialect.Families {
			names = append(names, f.Name)
		}
		return fmt.Errorf("module %q: unknown dialect %q (one of %s)", name, m.Dialect, strings.Join(names, ", "))
	}
	if m.MaxReplyBytes < 0 {
		return fmt.Errorf("module %q: max_reply_bytes must not be negative", name)
	}
	if m.Expect.Boards < 0 || m.Expect.ChipsPerBoard < 0 || m.Expect.Fans < 0 || m.Expect.NominalHashrate < 0 {
		return fmt.Errorf("module %q: expectations must not be negative", name)
	}
	for i, p := range m.Expect.Pools {
		if p.URL == nil && p.User == nil {
			return fmt.Errorf("module %q: expected pool %d has neither url nor user", name, i)
		}
	}
	if err := m.Limits.validate(m.Expect); err != nil {
		return fmt.Errorf("module %q: limits: %w", name, err)
	}
	return nil
}

// DefaultAllowed are the ranges allowed when the config names none: where miners live. Loopback
// is not among them (a probe of the exporter's own host would reach its local services); a
// config that needs it (the simulated farm) lists it.
var DefaultAllowed = []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"}

// PortAllowed reports whether a target of module m may name port, and whether a probe of m may
// dial it: one of m's Ports (its port, and under auto the Whatsminer API v3 port), or one that
// allowed_ports lists.
func (c *Config) PortAllowed(m *Module, port int) bool {
	return (m != nil && slices.Contains(m.Ports(), port)) || slices.Contains(c.AllowedPorts, port)
}

// Allowed reports whether the exporter may contact addr.
func (c *Config) Allowed(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range c.AllowedTargets {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// ModuleNames lists the modules, sorted.
func (c *Config) ModuleNames() []string {
	names := make([]string, 0, len(c.Modules))
	for n := range c.Modules {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Parse reads a config strictly and fills in defaults. Relative inventory_file paths are taken
// from the working directory (Load takes them from the config file's).
func Parse(data []byte) (*Config, error) { return parse(data, "") }

func parse(data []byte, dir string) (*Config, error) {
	c := &Config{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("parse config: %w", err)
	}
	if c.Modules == nil {
		c.Modules = map[string]*Module{}
	}
	if _, ok := c.Modules[DefaultModule]; !ok {
		c.Modules[DefaultModule] = &Module{}
	}
	for name, m := range c.Modules {
		if m == nil {
			m = &Module{}
			c.Modules[name] = m
		}
		m.setDefaults()
		if err := m.validate(name); err != nil {
			return nil, err
		}
		if m.Web != nil {
			if err := m.Web.load(dir, m.Timeout); err != nil {
				return nil, fmt.Errorf("module %q: web: %w", name, err)
			}
		}
	}
	for _, p := range c.AllowedPorts {
		if p < 1 || p > 65535 {
			return nil, fmt.Errorf("allowed_ports: port %d out of range", p)
		}
	}
	if c.AllowedTargets == nil {
		for _, s := range DefaultAllowed {
			c.AllowedTargets = append(c.AllowedTargets, Prefix{Prefix: netip.MustParsePrefix(s)})
		}
	}
	if c.Discovery != nil {
		if err := c.Discovery.validate(c, dir); err != nil {
			return nil, fmt.Errorf("discovery: %w", err)
		}
	}
	if err := c.setFeePools(); err != nil {
		return nil, err
	}
	return c, nil
}

// Load reads a config file.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return parse(data, filepath.Dir(path))
}

// Prefix is a CIDR range in YAML ("10.0.0.0/8"); a bare address means that address alone.
type Prefix = cidr.Prefix

// Regexp is an anchored regular expression in YAML.
type Regexp struct {
	*regexp.Regexp
	original string
}

// UnmarshalYAML compiles the expression, anchored at both ends.
func (r *Regexp) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	re, err := regexp.Compile("^(?:" + s + ")$")
	if err != nil {
		return fmt.Errorf("line %d: bad regular expression %q: %w", n.Line, s, err)
	}
	r.Regexp, r.original = re, s
	return nil
}

// MarshalYAML writes the expression as it was written.
func (r Regexp) MarshalYAML() (any, error) { return r.original, nil }

// Hashrate is a hashrate in H/s, written as a number or with a unit: 104T, "104 TH/s", 504M.
type Hashrate float64

// UnmarshalYAML reads a hashrate.
func (h *Hashrate) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseHashrate(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*h = Hashrate(v)
	return nil
}

// MarshalYAML writes the hashrate in H/s.
func (h Hashrate) MarshalYAML() (any, error) { return float64(h), nil }

// ParseHashrate reads "104T", "104 TH/s", "504MH/s", "1.2e14".
func ParseHashrate(s string) (float64, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimSuffix(strings.TrimSuffix(t, "/s"), "/S")
	t = strings.TrimSuffix(strings.TrimSuffix(t, "H"), "h")
	t = strings.TrimSpace(t)
	mult := 1.0
	if t != "" {
		switch t[len(t)-1] {
		case 'k', 'K':
			mult = 1e3
		case 'M':
			mult = 1e6
		case 'G', 'g':
			mult = 1e9
		case 'T', 't':
			mult = 1e12
		case 'P', 'p':
			mult = 1e15
		case 'E':
			mult = 1e18
		}
		if mult != 1 {
			t = strings.TrimSpace(t[:len(t)-1])
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("bad hashrate %q (write e.g. 104T or \"104 TH/s\")", s)
	}
	return f * mult, nil
}

// SafeConfig holds the current config and replaces it atomically on reload.
type SafeConfig struct {
	mu  sync.RWMutex
	cfg *Config

	reloadSuccess   prometheus.Gauge
	reloadTimestamp prometheus.Gauge
}

// NewSafeConfig registers the reload metrics on reg.
func NewSafeConfig(reg prometheus.Registerer) *SafeConfig {
	sc := &SafeConfig{
		reloadSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cgminer_exporter_config_last_reload_successful",
			Help: "1 when the last configuration reload succeeded.",
		}),
		reloadTimestamp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cgminer_exporter_config_last_reload_success_timestamp_seconds",
			Help: "When the configuration was last loaded successfully.",
		}),
	}
	if reg != nil {
		reg.MustRegister(sc.reloadSuccess, sc.reloadTimestamp)
	}
	return sc
}

// Get returns the current config.
func (sc *SafeConfig) Get() *Config {
	sc.mu.RLock()
	defer sc.mu.RUnlock()
	return sc.cfg
}

// Set installs a config (tests and the first load).
func (sc *SafeConfig) Set(c *Config) {
	sc.mu.Lock()
	sc.cfg = c
	sc.mu.Unlock()
}

// Reload reads path; on error the old config stays in force.
func (sc *SafeConfig) Reload(path string, logger *slog.Logger) error {
	c, err := Load(path)
	if err != nil {
		sc.reloadSuccess.Set(0)
		return err
	}
	sc.Set(c)
	sc.reloadSuccess.Set(1)
	sc.reloadTimestamp.SetToCurrentTime()
	logger.Info("loaded config", "file", path, "modules", len(c.Modules))
	return nil
}

// Marshal writes the config in force as YAML, defaults filled in (for GET /config). Its one
// kind of secret, the web passwords, is a Secret and marshals as "<secret>".
func Marshal(c *Config) ([]byte, error) {
	return yaml.Marshal(c)
}
