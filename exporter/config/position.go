package config

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Position is where a miner stands and what the crew calls it: the /sd target labels row, rack,
// slot, name and asset_tag. A field is empty when nothing says it.
type Position struct {
	Row      string `yaml:"row,omitempty"`
	Rack     string `yaml:"rack,omitempty"`
	Slot     string `yaml:"slot,omitempty"`
	Name     string `yaml:"name,omitempty"`
	AssetTag string `yaml:"asset_tag,omitempty"`
}

// Labels returns the position's fields as target labels, the empty ones left out.
func (p Position) Labels() map[string]string {
	out := map[string]string{}
	for _, kv := range [...][2]string{{"row", p.Row}, {"rack", p.Rack}, {"slot", p.Slot}, {"name", p.Name}, {"asset_tag", p.AssetTag}} {
		if kv[1] != "" {
			out[kv[0]] = kv[1]
		}
	}
	return out
}

// over returns p with every field that o sets taken from o.
func (p Position) over(o Position) Position {
	for _, f := range [...]struct {
		dst *string
		src string
	}{
		{&p.Row, o.Row}, {&p.Rack, o.Rack}, {&p.Slot, o.Slot}, {&p.Name, o.Name}, {&p.AssetTag, o.AssetTag},
	} {
		if f.src != "" {
			*f.dst = f.src
		}
	}
	return p
}

// PositionLabels are the target labels discovery sets from positions; a site's own labels may
// not use them.
var PositionLabels = []string{"row", "rack", "slot", "name", "asset_tag"}

// PositionRule derives a row, rack or slot label from a miner's IPv4 address: the value of one
// octet, minus Offset, divided by Per (addresses per step, default 1), modulo Modulo (when set),
// plus Base, written through Format (default "%d"). An address whose octet is below Offset gets
// no label. Example: slot 1–40 from the last octet of .11–.250, 40 miners a rack:
// {octet: 4, offset: 11, modulo: 40, base: 1}; the rack of the same: {octet: 4, offset: 11, per: 40, base: 1}.
type PositionRule struct {
	Octet  int    `yaml:"octet"`
	Offset int    `yaml:"offset,omitempty"`
	Per    int    `yaml:"per,omitempty"`
	Modulo int    `yaml:"modulo,omitempty"`
	Base   int    `yaml:"base,omitempty"`
	Format string `yaml:"format,omitempty"`
}

// Value returns the label for addr ("" when the rule is nil, addr is not IPv4 or its octet is
// below Offset).
func (r *PositionRule) Value(addr netip.Addr) string {
	addr = addr.Unmap()
	if r == nil || !addr.Is4() {
		return ""
	}
	b := addr.As4()
	v := int(b[r.Octet-1]) - r.Offset
	if v < 0 {
		return ""
	}
	if r.Per > 1 {
		v /= r.Per
	}
	if r.Modulo > 0 {
		v %= r.Modulo
	}
	f := r.Format
	if f == "" {
		f = "%d"
	}
	return fmt.Sprintf(f, v+r.Base)
}

// maxFormat bounds a rule's format: a label value stays short.
const maxFormat = 64

func (r *PositionRule) validate() error {
	switch {
	case r.Octet < 1 || r.Octet > 4:
		return fmt.Errorf("octet must be 1 to 4")
	case r.Offset < 0 || r.Offset > 255:
		return fmt.Errorf("offset must be 0 to 255")
	case r.Per < 0 || r.Per > 256:
		return fmt.Errorf("per must be 0 to 256")
	case r.Modulo < 0 || r.Modulo > 256:
		return fmt.Errorf("modulo must be 0 to 256")
	case r.Base < 0 || r.Base > 1000000:
		return fmt.Errorf("base must be 0 to 1000000")
	}
	return checkFormat(r.Format)
}

// checkFormat accepts a format with exactly one integer verb (%d, with an optional 0 or - flag
// and a width up to 99) and otherwise printable text and %%: what a position label may look like.
func checkFormat(f string) error {
	if f == "" {
		return nil
	}
	if len(f) > maxFormat || !utf8.ValidString(f) {
		return fmt.Errorf("format %q: at most %d bytes of UTF-8", f, maxFormat)
	}
	verbs := 0
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			continue
		}
		j := i + 1
		if j < len(f) && f[j] == '%' {
			i = j
			continue
		}
		if j < len(f) && (f[j] == '0' || f[j] == '-') {
			j++
		}
		for k := 0; k < 2 && j < len(f) && f[j] >= '0' && f[j] <= '9'; k++ {
			j++
		}
		if j >= len(f) || f[j] != 'd' {
			return fmt.Errorf("format %q: the only verb allowed is %%d (e.g. \"r%%02d\")", f)
		}
		verbs++
		i = j
	}
	if verbs != 1 {
		return fmt.Errorf("format %q must hold exactly one %%d", f)
	}
	for _, c := range f {
		if !unicode.IsPrint(c) {
			return fmt.Errorf("format %q: not printable", f)
		}
	}
	return nil
}

// validLabelValue reports whether v may be a position label: UTF-8, printable, at most max bytes.
func validLabelValue(v string, max int) error {
	if len(v) > max {
		return fmt.Errorf("longer than %d bytes", max)
	}
	if !utf8.ValidString(v) {
		return fmt.Errorf("not UTF-8")
	}
	if strings.IndexFunc(v, func(c rune) bool { return !unicode.IsPrint(c) }) >= 0 {
		return fmt.Errorf("not printable")
	}
	return nil
}

// Locate returns the position of the miner at addr, found at site s: the site's rules, each field
// that an inventory row sets taken from it instead. The row is looked up by address in the
// site's inventory file, else discovery's, then by mac (give "" when the miner reports none, or
// when more than one miner reports the same).
func (d *Discovery) Locate(s *Site, addr netip.Addr, mac string) Position {
	p := Position{Row: s.Row.Value(addr), Rack: s.Rack.Value(addr), Slot: s.Slot.Value(addr)}
	for _, inv := range []*Inventory{s.inventory, d.inventory} {
		if row, ok := inv.ByAddr(addr); ok {
			return p.over(row)
		}
	}
	if mac == "" {
		return p
	}
	for _, inv := range []*Inventory{s.inventory, d.inventory} {
		if row, ok := inv.ByMAC(mac); ok {
			return p.over(row)
		}
	}
	return p
}
