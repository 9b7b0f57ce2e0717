package config

import (
	"strings"
	"testing"

	"github.com/minefarm/cgminer-stack/exporter/miner"
)

// A module's limits: defaults filled in (and shown by GET /config), keys strict, each bounded,
// and expectations no higher than what the module reads.
func TestModuleLimits(t *testing.T) {
	tests := []struct {
		name    string
		yml     string
		wantErr string // Parse must fail with this in the message
		want    miner.Limits
	}{
		{name: "defaults", yml: "", want: miner.DefaultLimits},
		{
			name: "some keys set, the rest default",
			yml:  "modules: {default: {limits: {boards: 24, pools: 4, label_length: 200}}}",
			want: func() miner.Limits { l := miner.DefaultLimits; l.Boards, l.Pools, l.LabelBytes = 24, 4, 200; return l }(),
		},
		{
			name: "every key",
			yml: "modules: {default: {limits: {boards: 1, chips_per_board: 2, fans: 3, board_sensors: 4, sensors: 5, " +
				"pools: 6, devices: 7, label_length: 8, faults: 9}}}",
			want: miner.Limits{Boards: 1, ChipsPerBoard: 2, Fans: 3, BoardSensors: 4, Sensors: 5, Pools: 6, Devices: 7, LabelBytes: 8, Faults: 9},
		},
		{name: "unknown key", yml: "modules: {default: {limits: {boardz: 3}}}", wantErr: "boardz"},
		{name: "negative", yml: "modules: {default: {limits: {fans: -1}}}", wantErr: "fans -1 out of range"},
		{name: "above the ceiling", yml: "modules: {default: {limits: {boards: 100000}}}", wantErr: "boards 100000 out of range (1 to 256)"},
		{name: "label length above the ceiling", yml: "modules: {default: {limits: {label_length: 1025}}}", wantErr: "label_length"},
		{name: "devices above the ceiling", yml: "modules: {default: {limits: {devices: 1025}}}", wantErr: "devices"},
		{name: "faults above the ceiling", yml: "modules: {default: {limits: {faults: 257}}}", wantErr: "faults 257 out of range (1 to 256)"},
		{name: "faults zero is the default", yml: "modules: {default: {limits: {faults: 0}}}", want: miner.DefaultLimits},
		{name: "more boards expected than read", yml: "modules: {default: {expect: {boards: 20}}}", wantErr: "expect.boards 20 above limits.boards 16"},
		{name: "more fans expected than read", yml: "modules: {default: {expect: {fans: 4}, limits: {fans: 2}}}", wantErr: "expect.fans"},
		{name: "more chips expected than plausible", yml: "modules: {default: {expect: {chips_per_board: 126}, limits: {chips_per_board: 100}}}", wantErr: "expect.chips_per_board"},
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
			if got := c.Modules[DefaultModule].ReadLimits(); got != tc.want {
				t.Errorf("limits %+v, want %+v", got, tc.want)
			}
			out, err := Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(out), "limits:") || !strings.Contains(string(out), "label_length: ") {
				t.Errorf("GET /config does not show the limits:\n%s", out)
			}
			again, err := Parse(out)
			if err != nil {
				t.Fatalf("GET /config output does not load again: %v", err)
			}
			if got := again.Modules[DefaultModule].ReadLimits(); got != tc.want {
				t.Errorf("after a round trip: %+v, want %+v", got, tc.want)
			}
		})
	}
}
