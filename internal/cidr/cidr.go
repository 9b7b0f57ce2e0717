// Package cidr is an address range as the configuration files write it: a CIDR range
// ("10.0.0.0/8") or a bare address meaning that address alone. The exporter's allowlists and the
// remediation component's allowlist read it the same way.
package cidr

import (
	"fmt"
	"net/netip"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Prefix is a CIDR range in YAML; a bare address is the range of that address alone. IPv4-mapped
// IPv6 addresses are read as IPv4, and a range is stored masked.
type Prefix struct{ netip.Prefix }

// Parse reads a CIDR range or an address.
func Parse(s string) (Prefix, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return Prefix{}, fmt.Errorf("%q is not a CIDR range or an address", s)
		}
		a = a.Unmap()
		return Prefix{netip.PrefixFrom(a, a.BitLen())}, nil
	}
	pr, err := netip.ParsePrefix(s)
	if err != nil {
		return Prefix{}, fmt.Errorf("%q is not a CIDR range: %w", s, err)
	}
	return Prefix{pr.Masked()}, nil
}

// UnmarshalYAML reads a CIDR or an address.
func (p *Prefix) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	pr, err := Parse(s)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*p = pr
	return nil
}

// MarshalYAML writes the CIDR.
func (p Prefix) MarshalYAML() (any, error) { return p.String(), nil }
