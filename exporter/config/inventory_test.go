package config

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/promslog"
)

func TestPositionRule(t *testing.T) {
	for _, tc := range []struct {
		rule PositionRule
		addr string
		want string
	}{
		{PositionRule{Octet: 3, Format: "r%02d"}, "10.20.7.1", "r07"},
		{PositionRule{Octet: 4, Per: 32, Format: "rack-%d"}, "127.1.0.70", "rack-2"},
		// 40 miners a rack from .11: slot 1–40 and rack 1–6 of the same addresses.
		{PositionRule{Octet: 4, Offset: 11, Modulo: 40, Base: 1}, "10.0.0.11", "1"},
		{PositionRule{Octet: 4, Offset: 11, Modulo: 40, Base: 1}, "10.0.0.50", "40"},
		{PositionRule{Octet: 4, Offset: 11, Modulo: 40, Base: 1}, "10.0.0.51", "1"},
		{PositionRule{Octet: 4, Offset: 11, Per: 40, Base: 1}, "10.0.0.51", "2"},
		{PositionRule{Octet: 4, Offset: 11, Modulo: 40, Base: 1}, "10.0.0.10", ""}, // below the offset: no label
		{PositionRule{Octet: 4}, "::ffff:10.0.0.9", "9"},
		{PositionRule{Octet: 4}, "fd00::9", ""},
		{PositionRule{Octet: 2, Format: "row %d%%"}, "10.3.0.1", "row 3%"},
	} {
		if got := tc.rule.Value(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("%+v of %s = %q, want %q", tc.rule, tc.addr, got, tc.want)
		}
	}
	var none *PositionRule
	if got := none.Value(netip.MustParseAddr("10.0.0.1")); got != "" {
		t.Errorf("no rule gave %q", got)
	}
}

func TestPositionRuleErrors(t *testing.T) {
	for name, rule := range map[string]string{
		"octet 0":           "{octet: 0}",
		"octet 5":           "{octet: 5}",
		"negative offset":   "{octet: 4, offset: -1}",
		"offset 256":        "{octet: 4, offset: 256}",
		"per 1000":          "{octet: 4, per: 1000}",
		"modulo -2":         "{octet: 4, modulo: -2}",
		"base -1":           "{octet: 4, base: -1}",
		"string verb":       `{octet: 4, format: "r%s"}`,
		"two verbs":         `{octet: 4, format: "%d-%d"}`,
		"no verb":           `{octet: 4, format: "rack"}`,
		"escaped only":      `{octet: 4, format: "%%d"}`,
		"hex verb":          `{octet: 4, format: "%x"}`,
		"width 3 digits":    `{octet: 4, format: "%100d"}`,
		"control character": `{octet: 4, format: "r\n%d"}`,
		"too long":          `{octet: 4, format: "` + strings.Repeat("r", 70) + `%d"}`,
		"unknown key":       `{octet: 4, modulus: 4}`,
	} {
		for _, key := range []string{"row", "rack", "slot"} {
			t.Run(name+"/"+key, func(t *testing.T) {
				yml := fmt.Sprintf("discovery: {sites: [{name: a, ranges: [10.0.0.0/24], %s: %s}]}", key, rule)
				if _, err := Parse([]byte(yml)); err == nil {
					t.Errorf("accepted %s", yml)
				}
			})
		}
	}
	for _, ok := range []string{`{octet: 4, format: "r%02d"}`, `{octet: 4, format: "%-3d|"}`, `{octet: 1, offset: 255, per: 256, modulo: 256, base: 1000000}`} {
		if _, err := Parse([]byte("discovery: {sites: [{name: a, ranges: [10.0.0.0/24], slot: " + ok + "}]}")); err != nil {
			t.Errorf("refused %s: %v", ok, err)
		}
	}
}

func TestInventoryCSV(t *testing.T) {
	data := "\xef\xbb\xbf" + `# exported from the asset sheet
MAC, ip ,rack,slot,name,asset_tag,row
,10.20.0.11,r01,1,S19-0011,AT-0011,A
aa-bb-cc-dd-ee-01,10.20.0.12,r01,2,,,A
AABB.CCDD.EE02,,r02,"7",,,"B, east"
c40828 00a419,,,,,,
`
	// The last line's MAC is malformed: the whole file is refused, with its line.
	if _, err := ParseInventory("farm.csv", []byte(data)); err == nil || !strings.Contains(err.Error(), "line 6") {
		t.Fatalf("malformed MAC on line 6: %v", err)
	}
	data = strings.Replace(data, "c40828 00a419,,,,,,", "c4082800a419,,,,miner-x,,", 1)
	inv, err := ParseInventory("farm.csv", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		addr, mac string
		want      Position
		ok        bool
	}{
		{addr: "10.20.0.11", want: Position{Row: "A", Rack: "r01", Slot: "1", Name: "S19-0011", AssetTag: "AT-0011"}, ok: true},
		{addr: "10.20.0.12", want: Position{Row: "A", Rack: "r01", Slot: "2"}, ok: true},
		{mac: "aa:bb:cc:dd:ee:01", want: Position{Row: "A", Rack: "r01", Slot: "2"}, ok: true},
		{mac: "aa:bb:cc:dd:ee:02", want: Position{Row: "B, east", Rack: "r02", Slot: "7"}, ok: true},
		{mac: "c4:08:28:00:a4:19", want: Position{Name: "miner-x"}, ok: true},
		{addr: "10.20.0.13"},
		{mac: "aa:bb:cc:dd:ee:03"},
	} {
		var got Position
		var ok bool
		if tc.addr != "" {
			got, ok = inv.ByAddr(netip.MustParseAddr(tc.addr))
		} else {
			got, ok = inv.ByMAC(tc.mac)
		}
		if ok != tc.ok || got != tc.want {
			t.Errorf("%s%s: %+v %v, want %+v %v", tc.addr, tc.mac, got, ok, tc.want, tc.ok)
		}
	}
}

func TestInventoryYAML(t *testing.T) {
	inv, err := ParseInventory("farm.yml", []byte(`
miners:
  - {ip: 10.20.0.11, row: A, rack: r01, slot: 1, name: S19-0011, asset_tag: AT-0011}
  - ip: 10.20.0.12
    rack: r01
    slot: 02
  - {mac: "AA:BB:CC:DD:EE:02", rack: r02}
`))
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := inv.ByAddr(netip.MustParseAddr("10.20.0.11")); !ok || p != (Position{Row: "A", Rack: "r01", Slot: "1", Name: "S19-0011", AssetTag: "AT-0011"}) {
		t.Errorf("10.20.0.11: %+v %v", p, ok)
	}
	if p, _ := inv.ByAddr(netip.MustParseAddr("10.20.0.12")); p.Slot != "02" {
		t.Errorf("a slot is kept as written: %+v", p)
	}
	if p, ok := inv.ByMAC("aa:bb:cc:dd:ee:02"); !ok || p.Rack != "r02" {
		t.Errorf("by MAC: %+v %v", p, ok)
	}
}

// An inventory is refused whole, with its line, when anything in it is wrong: a half-read file
// would place miners by a list nobody wrote.
func TestInventoryErrors(t *testing.T) {
	for _, tc := range []struct {
		name, file, data, want string
	}{
		{"unknown column", "a.csv", "ip,rack,shelf\n10.0.0.1,r1,3\n", `line 1: unknown column "shelf"`},
		{"column twice", "a.csv", "ip,rack,rack\n", "line 1: column rack twice"},
		{"no address column", "a.csv", "rack,slot\nr1,1\n", "line 1: no ip or mac column"},
		{"empty", "a.csv", "", "empty"},
		{"only comments", "a.csv", "# nothing\n", "empty"},
		{"bad ip", "a.csv", "ip,rack\n10.0.0.300,r1\n", `line 2: ip "10.0.0.300"`},
		{"ipv6", "a.csv", "ip,rack\nfd00::1,r1\n", "line 2: ip"},
		{"bad mac", "a.csv", "mac,rack\naa:bb:cc,r1\n", `line 2: mac "aa:bb:cc"`},
		{"duplicate ip", "a.csv", "ip,rack\n10.0.0.1,r1\n10.0.0.2,r1\n10.0.0.1,r2\n", "line 4: ip 10.0.0.1 is already on line 2"},
		{"duplicate mac, other spelling", "a.csv", "mac,rack\naa:bb:cc:dd:ee:ff,r1\nAABBCCDDEEFF,r2\n", "line 3: mac aa:bb:cc:dd:ee:ff is already on line 2"},
		{"missing field", "a.csv", "ip,rack,slot\n10.0.0.1,r1\n", "line 2"},
		{"extra field", "a.csv", "ip,rack\n10.0.0.1,r1,7\n", "line 2"},
		{"bare quote", "a.csv", "ip,rack\n10.0.0.1,r\"1\n", "line 2"},
		{"nothing to say", "a.csv", "ip,rack\n10.0.0.1,\n", "line 2: neither row, rack, slot, name nor asset_tag"},
		{"no address", "a.csv", "ip,mac,rack\n,,r1\n", "line 2: neither ip nor mac"},
		{"value too long", "a.csv", "ip,name\n10.0.0.1," + strings.Repeat("n", 129) + "\n", "line 2: name"},
		{"control character", "a.csv", "ip,name\n10.0.0.1,\"a\x07b\"\n", "not printable"},
		{"not UTF-8", "a.csv", "ip,name\n10.0.0.1,a\xffb\n", "not UTF-8"},
		{"unknown extension", "a.txt", "ip,rack\n", "name it .csv, .yml or .yaml"},
		{"yaml unknown key", "a.yml", "miners:\n  - {ip: 10.0.0.1, shelf: 3}\n", `line 2: unknown key "shelf"`},
		{"yaml unknown top key", "a.yml", "hosts: []\n", `line 1: unexpected key "hosts"`},
		{"yaml key twice", "a.yaml", "miners:\n  - ip: 10.0.0.1\n    rack: r1\n    rack: r2\n", "line 4: rack twice"},
		{"yaml not a list", "a.yml", "miners: {ip: 10.0.0.1}\n", "miners must be a list"},
		{"yaml nested value", "a.yml", "miners:\n  - {ip: 10.0.0.1, rack: [r1]}\n", "line 2: rack must be a plain value"},
		{"yaml null value", "a.yml", "miners:\n  - {ip: 10.0.0.1, rack: ~}\n", "line 2: rack must be a plain value"},
		{"yaml alias", "a.yml", "miners:\n  - &m {ip: 10.0.0.1, rack: r1}\n  - *m\n", "line 2: a miner is a mapping"},
		{"yaml duplicate ip", "a.yml", "miners:\n  - {ip: 10.0.0.1, rack: r1}\n  - {ip: 10.0.0.1, rack: r2}\n", "line 3: ip 10.0.0.1 is already on line 2"},
		{"yaml empty", "a.yml", "", "empty"},
		{"yaml syntax", "a.yml", "miners: [\n", "line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseInventory(tc.file, []byte(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.file) {
				t.Errorf("error %v, want one naming %s and saying %q", err, tc.file, tc.want)
			}
		})
	}
}

// A huge file is refused after reading at most one byte past the limit; one with too many rows
// at the first row past it.
func TestInventoryBounds(t *testing.T) {
	dir := t.TempDir()
	huge := filepath.Join(dir, "huge.csv")
	if err := os.WriteFile(huge, []byte("ip,rack\n"+strings.Repeat("10.0.0.1,r1\n", MaxInventoryBytes/12+1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadInventory(huge); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("a file over %d bytes: %v", MaxInventoryBytes, err)
	}
	var b strings.Builder
	b.WriteString("ip,rack\n")
	for i := 0; i <= MaxInventoryRows; i++ {
		fmt.Fprintf(&b, "10.%d.%d.%d,r\n", i>>16, (i>>8)&255, i&255)
	}
	_, err := ParseInventory("many.csv", []byte(b.String()))
	if want := fmt.Sprintf("line %d: more than %d rows", MaxInventoryRows+2, MaxInventoryRows); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("%d rows: %v, want %q", MaxInventoryRows+1, err, want)
	}
	if _, err := ParseInventory("big.yml", []byte("miners:\n"+strings.Repeat("  - {ip: 10.0.0.1, rack: r1}\n", MaxInventoryYAMLBytes/20))); err == nil ||
		!strings.Contains(err.Error(), "as CSV") {
		t.Errorf("a YAML file over %d bytes: %v", MaxInventoryYAMLBytes, err)
	}
	if _, err := LoadInventory(filepath.Join(dir, "missing.csv")); err == nil {
		t.Error("a missing inventory file was accepted")
	}
}

// Locate: the rules give row, rack and slot; an inventory row takes precedence field by field;
// the site's own file before discovery's, the address before the MAC.
func TestLocate(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("farm.csv", "ip,mac,rack,name\n10.0.0.12,,R-farm,farm-12\n10.0.1.5,,R-b,b-5\n,aa:bb:cc:dd:ee:01,R-mac,mac-1\n10.0.0.14,aa:bb:cc:dd:ee:02,R-ip,ip-14\n")
	write("a.yml", "miners:\n  - {ip: 10.0.0.13, slot: S-a}\n")
	cfgPath := filepath.Join(dir, "cgminer.yml")
	write("cgminer.yml", `
discovery:
  inventory_file: farm.csv
  sites:
    - name: a
      ranges: [10.0.0.0/24]
      inventory_file: a.yml
      row: {octet: 3, format: "row-%d"}
      rack: {octet: 4, offset: 10, per: 10, base: 1, format: "r%02d"}
      slot: {octet: 4, offset: 10, modulo: 10, base: 1}
    - name: b
      ranges: [10.0.1.0/24]
`)
	c, err := Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	a, b := c.Discovery.Sites[0], c.Discovery.Sites[1]
	for _, tc := range []struct {
		site *Site
		addr string
		mac  string
		want Position
	}{
		{a, "10.0.0.11", "", Position{Row: "row-0", Rack: "r01", Slot: "2"}},                     // rules only
		{a, "10.0.0.12", "", Position{Row: "row-0", Rack: "R-farm", Slot: "3", Name: "farm-12"}}, // discovery's file over the rule, field by field
		{a, "10.0.0.13", "", Position{Row: "row-0", Rack: "r01", Slot: "S-a"}},                   // the site's own file
		{a, "10.0.0.15", "aa:bb:cc:dd:ee:01", Position{Row: "row-0", Rack: "R-mac", Slot: "6", Name: "mac-1"}},
		{a, "10.0.0.14", "aa:bb:cc:dd:ee:01", Position{Row: "row-0", Rack: "R-ip", Slot: "5", Name: "ip-14"}}, // the address before the MAC
		{a, "10.0.0.9", "", Position{Row: "row-0"}},                                                           // below the offset
		{b, "10.0.1.5", "", Position{Rack: "R-b", Name: "b-5"}},
		{b, "10.0.1.6", "", Position{}},
	} {
		if got := c.Discovery.Locate(tc.site, netip.MustParseAddr(tc.addr), tc.mac); got != tc.want {
			t.Errorf("%s %s %s: %+v, want %+v", tc.site.Name, tc.addr, tc.mac, got, tc.want)
		}
	}

	// The inventory is read again with the config: a reload sees the new file, a broken one
	// fails the reload and keeps the old config.
	sc := NewSafeConfig(prometheus.NewRegistry())
	logger := promslog.NewNopLogger()
	if err := sc.Reload(cfgPath, logger); err != nil {
		t.Fatal(err)
	}
	write("farm.csv", "ip,rack\n10.0.0.12,R-new\n")
	if err := sc.Reload(cfgPath, logger); err != nil {
		t.Fatal(err)
	}
	if got := sc.Get().Discovery.Locate(sc.Get().Discovery.Sites[0], netip.MustParseAddr("10.0.0.12"), ""); got.Rack != "R-new" {
		t.Errorf("after reload: %+v", got)
	}
	write("farm.csv", "ip,rack\n10.0.0.12,R-new\n10.0.0.12,R-dup\n")
	before := sc.Get()
	if err := sc.Reload(cfgPath, logger); err == nil || !strings.Contains(err.Error(), "farm.csv") || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("reload with a duplicate address: %v", err)
	}
	if sc.Get() != before {
		t.Error("a failed reload replaced the config")
	}
}

func TestInventoryConfigErrors(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.csv"), []byte("ip,rack\n10.0.0.7,r1\n10.0.9.7,r9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, yml := range map[string]string{
		"site file lists an address outside the site": "discovery: {sites: [{name: a, ranges: [10.0.0.0/24], inventory_file: a.csv}]}",
		"missing file":             "discovery: {inventory_file: nope.csv, sites: [{name: a, ranges: [10.0.0.0/24]}]}",
		"site label row":           "discovery: {sites: [{name: a, ranges: [10.0.0.0/24], labels: {row: x}}]}",
		"site label slot":          "discovery: {sites: [{name: a, ranges: [10.0.0.0/24], labels: {slot: x}}]}",
		"site label name":          "discovery: {sites: [{name: a, ranges: [10.0.0.0/24], labels: {name: x}}]}",
		"site label asset_tag":     "discovery: {sites: [{name: a, ranges: [10.0.0.0/24], labels: {asset_tag: x}}]}",
		"unknown key in discovery": "discovery: {inventory: a.csv, sites: [{name: a, ranges: [10.0.0.0/24]}]}",
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, "cgminer.yml")
			if err := os.WriteFile(path, []byte(yml), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := Load(path); err == nil {
				t.Errorf("accepted: %s", yml)
			}
		})
	}
	// The global file may list miners of any site (or of none yet).
	path := filepath.Join(dir, "cgminer.yml")
	if err := os.WriteFile(path, []byte("discovery: {inventory_file: a.csv, sites: [{name: a, ranges: [10.0.0.0/24]}]}"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	// GET /config shows the file's name, not its rows, and loads again.
	out, err := Marshal(c)
	if err != nil || !strings.Contains(string(out), "inventory_file: a.csv") || strings.Contains(string(out), "10.0.9.7") {
		t.Errorf("marshalled: %v\n%s", err, out)
	}
}

// BenchmarkInventory parses the inventory of a farm of 30,000 miners (ip, mac and every field),
// as CSV and as YAML (each reload of the config does it once).
func BenchmarkInventory(b *testing.B) {
	var csv, yml strings.Builder
	csv.WriteString("ip,mac,row,rack,slot,name,asset_tag\n")
	yml.WriteString("miners:\n")
	for i := range 30000 {
		ip := fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255)
		mac := fmt.Sprintf("02:00:00:%02x:%02x:%02x", i>>16, (i>>8)&255, i&255)
		fmt.Fprintf(&csv, "%s,%s,%c,r%03d,%d,S19-%06d,AT-%06d\n", ip, mac, 'A'+i%8, i/40%1000, i%40+1, i, i)
		fmt.Fprintf(&yml, "  - {ip: %s, mac: '%s', row: %c, rack: r%03d, slot: %d, name: S19-%06d, asset_tag: AT-%06d}\n", ip, mac, 'A'+i%8, i/40%1000, i%40+1, i, i)
	}
	for _, tc := range []struct{ name, data string }{{"farm.csv", csv.String()}, {"farm.yml", yml.String()}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(tc.data)))
			for b.Loop() {
				inv, err := ParseInventory(tc.name, []byte(tc.data))
				if err != nil || inv.Len() != 60000 {
					b.Fatal(err, inv.Len())
				}
			}
		})
	}
}
