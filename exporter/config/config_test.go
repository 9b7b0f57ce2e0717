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
	for addr, want := range map[string]bool{"10.1.2.3": true, "192.168.1.1": true, "127.0.0.1": false, "8.8.8.8": false, "1.1.1.1": false} {
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
	rule := &PositionRule{Octet: 4, Per: 32, Format: "rack-%d"}
	if got := rule.Value(netip.MustParseAddr("10.0.0.70")); got != "rack-2" {
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

// The network policy: what a probe or a scan may contact. Loopback is not in the default ranges
// (a probe of the exporter's own host reaches its local services); ports are the module's own
// unless allowed_ports names more; discovery sites follow the same port rule.
func TestTargetPolicy(t *testing.T) {
	tests := []struct {
		name      string
		yml       string
		wantErr   string          // Parse must fail with this in the message
		addrs     map[string]bool // Allowed(addr)
		ports     map[int]bool    // PortAllowed(default module, port)
		hostnames bool
	}{
		{
			name:  "defaults: private ranges, no loopback, the module's port only",
			yml:   "",
			addrs: map[string]bool{"10.1.2.3": true, "172.20.0.1": true, "192.168.1.1": true, "100.64.0.9": true, "fd00::1": true, "127.0.0.1": false, "::1": false, "::ffff:127.0.0.1": false, "8.8.8.8": false},
			ports: map[int]bool{4028: true, 4433: true, 4029: false, 22: false, 80: false},
		},
		{
			name:  "protocol cgminer: the module's port alone, no Whatsminer API v3 fallback",
			yml:   "modules: {default: {protocol: cgminer}}",
			ports: map[int]bool{4028: true, 4433: false},
		},
		{
			name:  "protocol whatsminer-v3: port 4433 by default",
			yml:   "modules: {default: {protocol: whatsminer-v3}}",
			ports: map[int]bool{4433: true, 4028: false},
		},
		{name: "unknown protocol", yml: "modules: {default: {protocol: ssh}}", wantErr: "unknown protocol"},
		{name: "cgminer commands for Whatsminer API v3", yml: "modules: {default: {protocol: whatsminer-v3, commands: [summary]}}", wantErr: "commands"},
		{name: "a cgminer dialect for Whatsminer API v3", yml: "modules: {default: {protocol: whatsminer-v3, dialect: antminer}}", wantErr: "dialect antminer"},
		{
			name:    "a whatsminer-v3 site on the cgminer port",
			yml:     "modules: {default: {protocol: whatsminer-v3}}\ndiscovery: {sites: [{name: a, ranges: [10.0.0.0/24]}]}",
			wantErr: "port 4028",
		},
		{
			name:  "loopback only when listed",
			yml:   "allowed_targets: [127.0.0.0/8, '::1']",
			addrs: map[string]bool{"127.0.0.1": true, "::1": true, "10.1.2.3": false},
			ports: map[int]bool{4028: true},
		},
		{
			name:  "allowed_ports adds ports for every module",
			yml:   "allowed_ports: [4029, 14028]",
			ports: map[int]bool{4028: true, 4029: true, 14028: true, 22: false},
		},
		{
			name:  "a module's own port is always allowed",
			yml:   "modules: {default: {port: 4111}}",
			ports: map[int]bool{4111: true, 4433: true, 4028: false},
		},
		{name: "allow_hostnames", yml: "allow_hostnames: true", hostnames: true},
		{name: "port 0", yml: "allowed_ports: [0]", wantErr: "allowed_ports"},
		{name: "port too large", yml: "allowed_ports: [65536]", wantErr: "allowed_ports"},
		{
			name:    "discovery site on a port no module allows",
			yml:     "discovery: {sites: [{name: a, port: 22, ranges: [10.0.0.0/24]}]}",
			wantErr: "port 22",
		},
		{
			name:    "discovery port not allowed for a modules_by_model module",
			yml:     "modules: {default: {port: 4029}, s9: {port: 4030}}\ndiscovery: {port: 4029, modules_by_model: [{model: 'x', module: s9}], sites: [{name: a, ranges: [10.0.0.0/24]}]}",
			wantErr: "module \"s9\"",
		},
		{
			name:  "discovery site on a listed port",
			yml:   "allowed_ports: [4029]\ndiscovery: {sites: [{name: a, port: 4029, ranges: [10.0.0.0/24]}]}",
			ports: map[int]bool{4029: true},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.yml))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Parse error %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for a, want := range tc.addrs {
				if got := c.Allowed(netip.MustParseAddr(a)); got != want {
					t.Errorf("Allowed(%s) = %v, want %v", a, got, want)
				}
			}
			for p, want := range tc.ports {
				if got := c.PortAllowed(c.Modules[DefaultModule], p); got != want {
					t.Errorf("PortAllowed(%d) = %v, want %v", p, got, want)
				}
			}
			if c.AllowHostnames != tc.hostnames {
				t.Errorf("AllowHostnames = %v", c.AllowHostnames)
			}
			// GET /config's output loads again with the same policy.
			out, err := Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			c2, err := Parse(out)
			if err != nil {
				t.Fatalf("marshalled config does not load: %v\n%s", err, out)
			}
			if len(c2.AllowedPorts) != len(c.AllowedPorts) || c2.AllowHostnames != c.AllowHostnames {
				t.Errorf("round trip lost the port/hostname policy:\n%s", out)
			}
		})
	}
}
