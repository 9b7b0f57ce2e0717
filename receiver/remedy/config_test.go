package remedy

import (
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/minefarm/cgminer-stack/receiver/task"
)

func TestConfigExample(t *testing.T) {
	c, err := LoadConfig("testdata/remedy.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Rules) != 2 || c.Rules[0].Mode != ModeRestart || c.Rules[1].Mode != ModeDryRun {
		t.Fatalf("rules %+v", c.Rules)
	}
	d := c.Rules[1] // every default
	if strings.Join(d.Alerts, ",") != "MinerNoHashrate,MinerDeviceNotAlive,MinerPoolDown" ||
		len(d.States) != 2 || d.States[0] != task.Open || d.States[1] != task.Acknowledged ||
		d.AfterChecks != 3 || d.PerMinerWindow != 30*time.Minute || d.PerSitePerHour != 5 || d.MaxPerTask != 3 {
		t.Errorf("defaults %+v", d)
	}
	if c.Timeout != 5*time.Second || c.Interval != time.Minute || c.MaxReplyBytes != 64<<10 || c.MaxTasks != 1000 {
		t.Errorf("top-level defaults %+v", c)
	}
	for _, tc := range []struct {
		target string
		ok     bool
	}{
		{"10.20.3.4:4028", true}, {"127.1.0.5:4028", true}, {"10.20.3.4:4029", false}, {"10.21.0.1:4028", false},
		{"127.0.0.1:4028", false}, {"[::ffff:10.20.0.1]:4028", false},
	} {
		if got := c.allowed(netip.MustParseAddrPort(tc.target)); got != tc.ok {
			t.Errorf("allowed(%s) = %v, want %v", tc.target, got, tc.ok)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	const base = "allowed_targets: [10.0.0.0/8]\n"
	rule := func(extra string) string { return base + "rules:\n  - name: r\n    mode: restart\n" + extra }
	tests := []struct{ name, yml, err string }{
		{"empty", "", "empty file"},
		{"no allowlist", "rules: []\n", "allowed_targets is required"},
		{"unknown key", base + "dry_run: true\n", "field dry_run not found"},
		{"bad range", "allowed_targets: [10.0.0.0/33]\n", "not a CIDR range"},
		{"host name in allowlist", "allowed_targets: [miner.example]\n", "not a CIDR range or an address"},
		{"port zero", base + "allowed_ports: [0]\n", "not a port"},
		{"no ports", base + "allowed_ports: []\n", "between 1 and 16 ports"},
		{"timeout too long", base + "timeout: 1h\n", "timeout 1h0m0s"},
		{"interval too short", base + "interval: 10ms\n", "interval 10ms"},
		{"reply cap too big", base + "max_reply_bytes: 1048576\n", "max_reply_bytes"},
		{"no mode", base + "rules:\n  - name: r\n", "mode is required"},
		{"bad mode", base + "rules:\n  - name: r\n    mode: reboot\n", `mode "reboot"`},
		{"no name", base + "rules:\n  - mode: restart\n", "name is required"},
		{"twice the name", base + "rules:\n  - {name: r, mode: restart}\n  - {name: r, mode: dry_run}\n", "used twice"},
		{"closed state", rule("    states: [done]\n"), "closed"},
		{"unknown state", rule("    states: [broken]\n"), "unknown state"},
		{"no alerts", rule("    alerts: []\n"), "alerts: between 1"},
		{"bad alert name", rule("    alerts: [\"a b\"]\n"), "not an alert name"},
		{"bad label", rule("    match: {\"a-b\": x}\n"), "not a label name"},
		{"after_checks", rule("    after_checks: 1000\n"), "after_checks"},
		{"window", rule("    per_miner_window: 30d\n"), "into time.Duration"},
		{"window too long", rule("    per_miner_window: 200h\n"), "per_miner_window"},
		{"site cap", rule("    per_site_per_hour: -1\n"), "per_site_per_hour"},
		{"task cap", rule("    max_per_task: 101\n"), "max_per_task"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.yml))
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err %v, want %q", err, tc.err)
			}
		})
	}
	big := make([]byte, maxConfigFile+10)
	file := t.TempDir() + "/big.yml"
	if err := os.WriteFile(file, big, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(file); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("a 1 MiB file: %v", err)
	}
}
