package config

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Discovery is the `discovery:` section: the farm's sites and their address ranges, scanned in
// the background to keep the inventory that /sd serves.
type Discovery struct {
	// Interval between the starts of two scans of every range (default 10m).
	Interval time.Duration `yaml:"interval"`
	// Timeout of one address's identify request (default 2s).
	Timeout time.Duration `yaml:"timeout"`
	// Rate caps new connections per second across all sites (default 500).
	Rate float64 `yaml:"rate"`
	// Concurrency caps identify requests in flight (default 256).
	Concurrency int `yaml:"concurrency"`
	// ForgetAfter drops a miner from /sd once it has not answered for this long (default 168h).
	ForgetAfter time.Duration `yaml:"forget_after"`
	// Port is the API port of every site that does not set its own (default 4028).
	Port int `yaml:"port"`
	// ModulesByModel picks the probe module for a found miner: the first entry whose pattern
	// (anchored, against the model name) matches; else the site's module, else "default".
	ModulesByModel []ModelModule `yaml:"modules_by_model,omitempty"`
	// InventoryFile is the farm's list of where each miner stands (CSV or YAML mapping IP or
	// MAC to row, rack, slot, name, asset tag; inventory.go), for every site without its own.
	// A relative path is taken from the config file's directory. Re-read with the config.
	InventoryFile string  `yaml:"inventory_file,omitempty"`
	Sites         []*Site `yaml:"sites"`

	inventory *Inventory
}

// ModelModule maps models to a module.
type ModelModule struct {
	Model  *Regexp `yaml:"model"`
	Module string  `yaml:"module"`
}

// Site is one group of ranges with its labels. Row, Rack and Slot derive position labels from
// the address; the site's inventory file (else discovery's) overrides them miner by miner.
type Site struct {
	Name          string            `yaml:"name"`
	Ranges        []Range           `yaml:"ranges"`
	Port          int               `yaml:"port,omitempty"`
	Module        string            `yaml:"module,omitempty"`
	Labels        map[string]string `yaml:"labels,omitempty"`
	Row           *PositionRule     `yaml:"row,omitempty"`
	Rack          *PositionRule     `yaml:"rack,omitempty"`
	Slot          *PositionRule     `yaml:"slot,omitempty"`
	InventoryFile string            `yaml:"inventory_file,omitempty"`

	inventory *Inventory
}

// Contains reports whether addr is in one of the site's ranges.
func (s *Site) Contains(addr netip.Addr) bool {
	for _, r := range s.Ranges {
		if r.Contains(addr) {
			return true
		}
	}
	return false
}

var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// MaxScanAddresses caps the addresses of all ranges together: a typo such as /8 must not start a
// scan of 16 million addresses.
const MaxScanAddresses = 1 << 20

// loadInventory reads an inventory file, relative paths taken from dir.
func loadInventory(path, dir string) (*Inventory, error) {
	if path == "" {
		return nil, nil
	}
	if !filepath.IsAbs(path) && dir != "" {
		path = filepath.Join(dir, path)
	}
	return LoadInventory(path)
}

func (d *Discovery) validate(c *Config, dir string) error {
	if d.Interval == 0 {
		d.Interval = 10 * time.Minute
	}
	if d.Timeout == 0 {
		d.Timeout = 2 * time.Second
	}
	if d.Rate == 0 {
		d.Rate = 500
	}
	if d.Concurrency == 0 {
		d.Concurrency = 256
	}
	if d.ForgetAfter == 0 {
		d.ForgetAfter = 168 * time.Hour
	}
	if d.Port == 0 {
		d.Port = 4028
	}
	switch {
	case d.Interval < time.Second:
		return fmt.Errorf("interval %s is shorter than a second", d.Interval)
	case d.Timeout <= 0 || d.Timeout > time.Minute:
		return fmt.Errorf("timeout %s out of range", d.Timeout)
	case d.Rate < 0:
		return fmt.Errorf("rate must be positive")
	case d.Concurrency < 1 || d.Concurrency > 65536:
		return fmt.Errorf("concurrency %d out of range", d.Concurrency)
	case d.Port < 1 || d.Port > 65535:
		return fmt.Errorf("port %d out of range", d.Port)
	}
	inv, err := loadInventory(d.InventoryFile, dir)
	if err != nil {
		return err
	}
	d.inventory = inv
	for _, mm := range d.ModulesByModel {
		if mm.Model == nil {
			return fmt.Errorf("modules_by_model: entry without model")
		}
		if _, ok := c.Modules[mm.Module]; !ok {
			return fmt.Errorf("modules_by_model: unknown module %q", mm.Module)
		}
	}
	names := map[string]bool{}
	total := uint64(0)
	for i, s := range d.Sites {
		if s == nil || s.Name == "" {
			return fmt.Errorf("site %d has no name", i)
		}
		if names[s.Name] {
			return fmt.Errorf("site %q listed twice", s.Name)
		}
		names[s.Name] = true
		if len(s.Ranges) == 0 {
			return fmt.Errorf("site %q has no ranges", s.Name)
		}
		if s.Port == 0 {
			s.Port = d.Port
		}
		if s.Module != "" {
			if _, ok := c.Modules[s.Module]; !ok {
				return fmt.Errorf("site %q: unknown module %q", s.Name, s.Module)
			}
		}
		// /sd names the site's port with whichever module a found miner gets: each must allow it,
		// or /probe would refuse the target (the same port rule as a probe's).
		for _, name := range SiteModules(d, s) {
			if m := c.Modules[name]; !c.PortAllowed(m, s.Port) {
				return fmt.Errorf("site %q: port %d is not allowed for module %q (its port is %d; allowed_ports lists others)", s.Name, s.Port, name, m.Port)
			}
		}
		for k := range s.Labels {
			if !labelName.MatchString(k) || strings.HasPrefix(k, "__") {
				return fmt.Errorf("site %q: bad label name %q", s.Name, k)
			}
			if k == "site" || k == "instance" || k == "job" || slices.Contains(PositionLabels, k) {
				return fmt.Errorf("site %q: label %q is set by discovery itself", s.Name, k)
			}
		}
		for _, r := range [...]struct {
			what string
			rule *PositionRule
		}{{"row", s.Row}, {"rack", s.Rack}, {"slot", s.Slot}} {
			if r.rule == nil {
				continue
			}
			if err := r.rule.validate(); err != nil {
				return fmt.Errorf("site %q: %s: %w", s.Name, r.what, err)
			}
		}
		for _, r := range s.Ranges {
			if !c.Allowed(r.First) || !c.Allowed(r.Last) || !sameAllowedPrefix(c, r) {
				return fmt.Errorf("site %q: range %s is outside allowed_targets", s.Name, r)
			}
			total += r.Size()
		}
	}
	if total > MaxScanAddresses {
		return fmt.Errorf("the ranges hold %d addresses, more than the %d a scan may cover", total, MaxScanAddresses)
	}
	// A site's own inventory lists its own miners: an address outside its ranges is a typo.
	for _, s := range d.Sites {
		inv, err := loadInventory(s.InventoryFile, dir)
		if err != nil {
			return fmt.Errorf("site %q: %w", s.Name, err)
		}
		for a := range inv.addresses() {
			if !s.Contains(a) {
				return fmt.Errorf("site %q: inventory %s lists %s, which is in none of the site's ranges", s.Name, inv.file, a)
			}
		}
		s.inventory = inv
	}
	return nil
}

// SiteModules are the modules a miner found at site s may get: the site's (or the default) and
// every modules_by_model entry's.
func SiteModules(d *Discovery, s *Site) []string {
	first := s.Module
	if first == "" {
		first = DefaultModule
	}
	out := []string{first}
	for _, mm := range d.ModulesByModel {
		if !slices.Contains(out, mm.Module) {
			out = append(out, mm.Module)
		}
	}
	return out
}

// sameAllowedPrefix checks that one allowed prefix holds the whole range.
func sameAllowedPrefix(c *Config, r Range) bool {
	for _, p := range c.AllowedTargets {
		if p.Contains(r.First) && p.Contains(r.Last) {
			return true
		}
	}
	return false
}

// Range is an IPv4 range: CIDR ("10.1.0.0/22") or first-last ("10.1.0.10-10.1.3.250").
type Range struct {
	First, Last netip.Addr
	text        string
}

// ParseRange reads a range.
func ParseRange(s string) (Range, error) {
	s = strings.TrimSpace(s)
	if a, b, ok := strings.Cut(s, "-"); ok {
		first, err1 := netip.ParseAddr(strings.TrimSpace(a))
		last, err2 := netip.ParseAddr(strings.TrimSpace(b))
		if err1 != nil || err2 != nil || !first.Is4() || !last.Is4() {
			return Range{}, fmt.Errorf("%q is not an IPv4 range a.b.c.d-e.f.g.h", s)
		}
		if last.Less(first) {
			return Range{}, fmt.Errorf("range %q ends before it starts", s)
		}
		return Range{First: first, Last: last, text: s}, nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return Range{}, fmt.Errorf("%q is not an IPv4 CIDR range or a.b.c.d-e.f.g.h", s)
	}
	p = p.Masked()
	first := p.Addr()
	n := uint32(1) << (32 - p.Bits())
	last := u32addr(addrU32(first) + n - 1)
	return Range{First: first, Last: last, text: s}, nil
}

// Size is the number of addresses.
func (r Range) Size() uint64 { return uint64(addrU32(r.Last)-addrU32(r.First)) + 1 }

// Contains reports whether a is in the range.
func (r Range) Contains(a netip.Addr) bool {
	return a.Is4() && !a.Less(r.First) && !r.Last.Less(a)
}

// Each calls fn for every address in order until fn returns false.
func (r Range) Each(fn func(netip.Addr) bool) {
	for v := addrU32(r.First); ; v++ {
		if !fn(u32addr(v)) || v == addrU32(r.Last) {
			return
		}
	}
}

func (r Range) String() string {
	if r.text != "" {
		return r.text
	}
	return r.First.String() + "-" + r.Last.String()
}

// UnmarshalYAML reads a range.
func (r *Range) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := ParseRange(s)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*r = v
	return nil
}

// MarshalYAML writes the range as written.
func (r Range) MarshalYAML() (any, error) { return r.String(), nil }

func addrU32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func u32addr(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
