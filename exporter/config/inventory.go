package config

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The bounds of an inventory file: a farm of 100,000 miners needs about 6 MiB of CSV (parsed in
// 0.2 s) or 12 MiB of YAML. YAML costs some 40 bytes of memory per byte while it is parsed, CSV
// 16, so a YAML file is held to 4 MiB (about 35,000 miners): a larger farm writes CSV.
const (
	MaxInventoryBytes     = 16 << 20
	MaxInventoryYAMLBytes = 4 << 20
	MaxInventoryRows      = 1 << 18
	// MaxInventoryValue bounds one value (row, rack, slot, name, asset tag): the default
	// label_length, and far below Prometheus's label_value_length_limit in prometheus.yml.
	MaxInventoryValue = 128
)

// inventoryColumns are the columns (CSV) and keys (YAML) of an inventory row.
var inventoryColumns = []string{"ip", "mac", "row", "rack", "slot", "name", "asset_tag"}

// Inventory maps miners, by IP address or by the MAC address they report, to their positions:
// the farm's own list of where each machine stands, from `inventory_file`.
type Inventory struct {
	file  string
	byIP  map[netip.Addr]Position
	byMAC map[string]Position
}

// ByAddr returns the row that lists addr.
func (inv *Inventory) ByAddr(addr netip.Addr) (Position, bool) {
	if inv == nil {
		return Position{}, false
	}
	p, ok := inv.byIP[addr.Unmap()]
	return p, ok
}

// ByMAC returns the row that lists mac (lower-case with colons, as discovery records it).
func (inv *Inventory) ByMAC(mac string) (Position, bool) {
	if inv == nil || mac == "" {
		return Position{}, false
	}
	p, ok := inv.byMAC[mac]
	return p, ok
}

// Len is the number of rows.
func (inv *Inventory) Len() int {
	if inv == nil {
		return 0
	}
	return len(inv.byIP) + len(inv.byMAC)
}

// addresses lists the rows' IP addresses (for the range check of a site's own file).
func (inv *Inventory) addresses() map[netip.Addr]bool {
	if inv == nil {
		return nil
	}
	out := make(map[netip.Addr]bool, len(inv.byIP))
	for a := range inv.byIP {
		out[a] = true
	}
	return out
}

// LoadInventory reads an inventory file, CSV (.csv) or YAML (.yml, .yaml), of at most
// MaxInventoryBytes and MaxInventoryRows. Errors name the file and the line.
func LoadInventory(path string) (*Inventory, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxInventoryBytes+1))
	if err != nil {
		return nil, fmt.Errorf("inventory %s: %w", path, err)
	}
	if len(data) > MaxInventoryBytes {
		return nil, fmt.Errorf("inventory %s: larger than %d bytes", path, MaxInventoryBytes)
	}
	return ParseInventory(path, data)
}

// ParseInventory reads an inventory; the name's extension says the format.
func ParseInventory(name string, data []byte) (*Inventory, error) {
	if len(data) > MaxInventoryBytes {
		return nil, fmt.Errorf("inventory %s: larger than %d bytes", name, MaxInventoryBytes)
	}
	inv := &Inventory{file: name, byIP: map[netip.Addr]Position{}, byMAC: map[string]Position{}}
	b := &inventoryBuilder{inv: inv, ipLine: map[netip.Addr]int{}, macLine: map[string]int{}}
	var err error
	switch strings.ToLower(filepath.Ext(name)) {
	case ".csv":
		err = b.csv(data)
	case ".yml", ".yaml":
		if len(data) > MaxInventoryYAMLBytes {
			return nil, fmt.Errorf("inventory %s: a YAML inventory may have %d bytes (write a larger one as CSV)", name, MaxInventoryYAMLBytes)
		}
		err = b.yaml(data)
	default:
		return nil, fmt.Errorf("inventory %s: name it .csv, .yml or .yaml (its format)", name)
	}
	if err != nil {
		return nil, fmt.Errorf("inventory %s: %w", name, err)
	}
	return inv, nil
}

type inventoryBuilder struct {
	inv     *Inventory
	rows    int
	ipLine  map[netip.Addr]int
	macLine map[string]int
}

// add checks one row (values by column name) and records it.
func (b *inventoryBuilder) add(line int, row map[string]string) error {
	if b.rows++; b.rows > MaxInventoryRows {
		return fmt.Errorf("line %d: more than %d rows", line, MaxInventoryRows)
	}
	var p Position
	for _, f := range [...]struct {
		col string
		dst *string
	}{{"row", &p.Row}, {"rack", &p.Rack}, {"slot", &p.Slot}, {"name", &p.Name}, {"asset_tag", &p.AssetTag}} {
		v := strings.TrimSpace(row[f.col])
		if err := validLabelValue(v, MaxInventoryValue); err != nil {
			return fmt.Errorf("line %d: %s %.40q: %w", line, f.col, v, err)
		}
		*f.dst = v
	}
	if p == (Position{}) {
		return fmt.Errorf("line %d: neither row, rack, slot, name nor asset_tag", line)
	}
	ipText, macText := strings.TrimSpace(row["ip"]), strings.TrimSpace(row["mac"])
	if ipText == "" && macText == "" {
		return fmt.Errorf("line %d: neither ip nor mac", line)
	}
	if ipText != "" {
		a, err := netip.ParseAddr(ipText)
		if err != nil || !a.Unmap().Is4() {
			return fmt.Errorf("line %d: ip %.40q is not an IPv4 address", line, ipText)
		}
		a = a.Unmap()
		if first, dup := b.ipLine[a]; dup {
			return fmt.Errorf("line %d: ip %s is already on line %d", line, a, first)
		}
		b.ipLine[a] = line
		b.inv.byIP[a] = p
	}
	if macText != "" {
		mac := ParseMAC(macText)
		if mac == "" {
			return fmt.Errorf("line %d: mac %.40q is not a MAC address (aa:bb:cc:dd:ee:ff)", line, macText)
		}
		if first, dup := b.macLine[mac]; dup {
			return fmt.Errorf("line %d: mac %s is already on line %d", line, mac, first)
		}
		b.macLine[mac] = line
		b.inv.byMAC[mac] = p
	}
	return nil
}

// csv reads a header line naming the columns (any of inventoryColumns, in any order), then one
// miner a line; '#' starts a comment line.
func (b *inventoryBuilder) csv(data []byte) error {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a spreadsheet's byte order mark
	r := csv.NewReader(bytes.NewReader(data))
	r.Comment = '#'
	r.TrimLeadingSpace = true
	r.ReuseRecord = true
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("empty: the first line names the columns (%s)", strings.Join(inventoryColumns, ","))
	}
	if err != nil {
		return err
	}
	line, _ := r.FieldPos(0)
	cols := make([]string, len(header))
	seen := map[string]bool{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		if !contains(inventoryColumns, h) {
			return fmt.Errorf("line %d: unknown column %.40q (columns: %s)", line, h, strings.Join(inventoryColumns, ", "))
		}
		if seen[h] {
			return fmt.Errorf("line %d: column %s twice", line, h)
		}
		seen[h] = true
		cols[i] = h
	}
	if !seen["ip"] && !seen["mac"] {
		return fmt.Errorf("line %d: no ip or mac column", line)
	}
	row := make(map[string]string, len(cols))
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err // a csv.ParseError names its line
		}
		line, _ := r.FieldPos(0)
		for i, c := range cols {
			row[c] = rec[i]
		}
		if err := b.add(line, row); err != nil {
			return err
		}
	}
}

// yaml reads `miners:`, a list of mappings with the keys of inventoryColumns. Anchors and aliases
// are refused; every value is a scalar.
func (b *inventoryBuilder) yaml(data []byte) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return err
	}
	if doc.Kind == 0 {
		return fmt.Errorf("empty: write miners: [{ip: …, rack: …, slot: …}]")
	}
	top := &doc
	if top.Kind == yaml.DocumentNode && len(top.Content) == 1 {
		top = top.Content[0]
	}
	if top.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: want a mapping with the key miners", top.Line)
	}
	var miners *yaml.Node
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		if k.Value != "miners" || miners != nil {
			return fmt.Errorf("line %d: unexpected key %.40q (the only key is miners, once)", k.Line, k.Value)
		}
		miners = v
	}
	if miners == nil || miners.Kind != yaml.SequenceNode {
		return fmt.Errorf("line %d: miners must be a list", top.Line)
	}
	row := map[string]string{}
	for _, m := range miners.Content {
		if m.Kind != yaml.MappingNode || m.Anchor != "" {
			return fmt.Errorf("line %d: a miner is a mapping of %s", m.Line, strings.Join(inventoryColumns, ", "))
		}
		clear(row)
		for i := 0; i+1 < len(m.Content); i += 2 {
			k, v := m.Content[i], m.Content[i+1]
			if !contains(inventoryColumns, k.Value) {
				return fmt.Errorf("line %d: unknown key %.40q (keys: %s)", k.Line, k.Value, strings.Join(inventoryColumns, ", "))
			}
			if _, dup := row[k.Value]; dup {
				return fmt.Errorf("line %d: %s twice", k.Line, k.Value)
			}
			if v.Kind != yaml.ScalarNode || v.Anchor != "" || v.Tag == "!!null" {
				return fmt.Errorf("line %d: %s must be a plain value", v.Line, k.Value)
			}
			row[k.Value] = v.Value
		}
		if err := b.add(m.Line, row); err != nil {
			return err
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ParseMAC reads a MAC address in colon, hyphen or dot notation or as twelve bare hex digits and
// writes it lower-case with colons; "" when it is none (or not 6 bytes).
func ParseMAC(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 17 {
		return ""
	}
	if len(s) == 12 && !strings.ContainsAny(s, ":-.") {
		s = s[0:2] + ":" + s[2:4] + ":" + s[4:6] + ":" + s[6:8] + ":" + s[8:10] + ":" + s[10:12]
	}
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return ""
	}
	return hw.String()
}
