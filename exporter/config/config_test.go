package config

import (
	"net/netip"
	"os"
	"strings"
	"testing"
)

func TestParseErrors(t *testing.T) {
	for name, yml := range map[string]string{
		"unknown key":        "modules: {default: {timeot: 5s}}",
		"unknown top key":    "modles: {}",
		"bad dialect":        "modules: {m: {dialect: antminr}}",
		"privileged command": "modules: {m: {commands: [summary, restart]}}",
		"bad regexp":         "modules: {m: {expect: {pools: [{url: '('}]}}}",
		"empty pool":         "modules: {m: {expect: {pools: [{}]}}}",
		"bad port":           "modules: {m: {port: 70000}}",
		"bad hashrate":       "modules: {m: {expect: {nominal_hashrate: fast}}}",
		"bad cidr":           "allowed_targets: [10.0.0.0/33]",
		"bad range":          "discovery: {sites: [{name: a, ranges: [10.0.0.9-10.0.0.1]}]}",
		"huge range":         "allowed_targets: [10.0.0.0/8]\ndiscovery: {sites: [{name: a, ranges: [10.0.0.0/8]}]}",
		"reserved label":     "discovery: {sites: [{name: a, ranges: [10.0.0.0/24], labels: {site: x}}]}",
		"unknown module":     "discovery: {sites: [{name: a, ranges: [10.0.0.0/24], module: nope}]}",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse([]byte(yml)); err == nil {
				t.Errorf("accepted: %s", yml)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	m := c.Modules[DefaultModule]
	if m == nil || m.Port != 4028 || m.Timeout.Seconds() != 10 || !m.JoinCommands() || m.Family() != nil {
		t.Fatalf("default module: %+v", m)
	}
	for addr, want := range map[string]bool{"10.1.2.3": true, "192.168.1.1": true, "127.0.0.1": true, "8.8.8.8": false, "1.1.1.1": false} {
		if got := c.Allowed(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Allowed(%s) = %v", addr, got)
		}
	}
}

func TestHashrate(t *testing.T) {
	for in, want := range map[string]float64{"104T": 104e12, "104 TH/s": 104e12, "504MH/s": 504e6, "1.2e14": 1.2e14, "13.5T": 13.5e12} {
		if got, err := ParseHashrate(in); err != nil || got != want {
			t.Errorf("ParseHashrate(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}

func TestRange(t *testing.T) {
	r, err := ParseRange("10.0.0.250-10.0.1.5")
	if err != nil || r.Size() != 12 || !r.Contains(netip.MustParseAddr("10.0.1.0")) || r.Contains(netip.MustParseAddr("10.0.1.6")) {
		t.Fatalf("range: %v %v", r, err)
	}
	n := 0
	r.Each(func(netip.Addr) bool { n++; return true })
	if n != 12 {
		t.Errorf("Each visited %d", n)
	}
	c, _ := ParseRange("10.0.0.0/22")
	if c.Size() != 1024 || c.Last != netip.MustParseAddr("10.0.3.255") {
		t.Errorf("cidr range %v", c)
	}
	rule := &RackRule{Octet: 4, Per: 32, Format: "rack-%d"}
	if got := rule.Rack(netip.MustParseAddr("10.0.0.70")); got != "rack-2" {
		t.Errorf("rack %s", got)
	}
}

// The example config in the repository loads.
func TestExampleConfig(t *testing.T) {
	data, err := os.ReadFile("../cgminer.yml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Marshal(c)
	if err != nil || !strings.Contains(string(out), "antminer_s19jpro") {
		t.Fatalf("marshal: %v", err)
	}
	if _, err := Parse(out); err != nil {
		t.Errorf("GET /config output does not load again: %v\n%s", err, out)
	}
}
