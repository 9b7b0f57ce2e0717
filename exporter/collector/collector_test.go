package collector_test

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/minefarm/cgminer-stack/exporter/collector"
	"github.com/minefarm/cgminer-stack/exporter/miner"
)

// both returns a probe's exposition through WriteText, after holding it equal to a pedantic
// registry's.
func both(t *testing.T, p *collector.Probe) string {
	t.Helper()
	var direct bytes.Buffer
	if err := p.WriteText(&direct); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(p)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var viaReg bytes.Buffer
	enc := expfmt.NewEncoder(&viaReg, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	if direct.String() != viaReg.String() {
		t.Errorf("WriteText:\n%s\nregistry:\n%s", direct.String(), viaReg.String())
	}
	return direct.String()
}

func TestTruncatedAndDropped(t *testing.T) {
	tests := []struct {
		name     string
		snap     miner.Snapshot
		want     []string
		wantNone []string
	}{
		{
			name:     "nothing cut, nothing dropped: no series",
			snap:     miner.Snapshot{Model: "m"},
			wantNone: []string{"cgminer_probe_truncated", "cgminer_probe_dropped_readings"},
		},
		{
			name: "each cut and each kind of drop is one series",
			snap: miner.Snapshot{Model: "m", Truncated: []string{miner.CutBoards, miner.CutPools},
				Dropped: map[string]int{miner.DropHashrate: 3, miner.DropTemperature: 1}},
			want: []string{
				`cgminer_probe_truncated{what="boards"} 1`,
				`cgminer_probe_truncated{what="pools"} 1`,
				`cgminer_probe_dropped_readings{what="hashrate"} 3`,
				`cgminer_probe_dropped_readings{what="temperature"} 1`,
			},
		},
		{
			name: "a snapshot that skipped Sanitize still exports nothing that is not finite",
			snap: miner.Snapshot{Model: "m", Hashrate: miner.Some(math.Inf(1)), Uptime: miner.Some(math.NaN()),
				Fans:         []miner.Fan{{Name: "0", RPM: math.NaN()}},
				Temperatures: []miner.Temperature{{Sensor: "max", Celsius: math.Inf(-1)}},
				Boards:       []miner.Board{{Present: true, Hashrate: miner.Some(math.NaN())}}},
			wantNone: []string{"cgminer_hashrate_hashes_per_second", "cgminer_uptime_seconds", "cgminer_fan_speed_rpm{",
				"cgminer_temperature_celsius{", "cgminer_board_hashrate_hashes_per_second{", "NaN", "Inf"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := both(t, &collector.Probe{Up: true, Snapshot: &tc.snap})
			for _, w := range tc.want {
				if !strings.Contains(out, w+"\n") {
					t.Errorf("missing %s in\n%s", w, out)
				}
			}
			for _, w := range tc.wantNone {
				for _, line := range strings.Split(out, "\n") {
					if !strings.HasPrefix(line, "#") && strings.Contains(line, w) {
						t.Errorf("unexpected %s", line)
					}
				}
			}
		})
	}
}

// Boards are labelled with the firmware's number (Name); a number given twice is one series;
// cgminer_device_info is present only with a serial or a MAC.
func TestBoardLabelsAndDeviceInfo(t *testing.T) {
	tests := []struct {
		name     string
		snap     miner.Snapshot
		want     []string
		wantNone []string
	}{
		{
			name: "boards by name, a repeated name once, a missing slot absent",
			snap: miner.Snapshot{Model: "m", Boards: []miner.Board{
				{Index: 0, Name: "6", Present: true, Chips: miner.Some(63)},
				{Index: 1, Name: "6", Present: true, Chips: miner.Some(1)},
				{Index: 2, Name: "8", Present: false},
				{Index: 3, Present: true, Chips: miner.Some(5)}, // no dialect named it: its position
			}},
			want:     []string{`cgminer_board_chips{board="6"} 63`, `cgminer_board_chips{board="3"} 5`},
			wantNone: []string{`board="8"`, `cgminer_board_chips{board="6"} 1`, "cgminer_device_info"},
		},
		{
			name: "serial and MAC",
			snap: miner.Snapshot{Model: "m", Serial: "020100003cbe4d15", MAC: "e0:e1:a9:3f:30:53"},
			want: []string{`cgminer_device_info{mac="e0:e1:a9:3f:30:53",serial="020100003cbe4d15"} 1`},
		},
		{
			name: "MAC only",
			snap: miner.Snapshot{Model: "m", MAC: "c4:08:28:00:a4:19"},
			want: []string{`cgminer_device_info{mac="c4:08:28:00:a4:19",serial=""} 1`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := both(t, &collector.Probe{Up: true, Snapshot: &tc.snap})
			for _, w := range tc.want {
				if !strings.Contains(out, w+"\n") {
					t.Errorf("missing %s in\n%s", w, out)
				}
			}
			for _, w := range tc.wantNone {
				for _, line := range strings.Split(out, "\n") {
					if !strings.HasPrefix(line, "#") && strings.Contains(line, w) {
						t.Errorf("unexpected %s", line)
					}
				}
			}
		})
	}
}

// Faults are one cgminer_fault series each (a repeated label set once, board empty for the
// miner, Vendor and Raw never labels); a board's serial is cgminer_board_info, only for a board
// present with one; a probe that failed exports neither.
func TestFaultsAndBoardInfo(t *testing.T) {
	faults := []miner.Fault{
		{Code: "psu_fault", Severity: "critical", Component: "psu", Vendor: "whatsminer:264", Raw: "Power xfer error"},
		{Code: "psu_fault", Severity: "critical", Component: "psu", Vendor: "whatsminer:265", Raw: "Power Unknow error"},
		{Code: "hashboard_not_found", Severity: "critical", Component: "hashboard", Board: "1"},
		{Code: "whatsminer:9999", Severity: "warning", Component: "other", Raw: `a "quoted"` + "\nline"},
	}
	tests := []struct {
		name     string
		probe    collector.Probe
		want     []string
		wantNone []string
	}{
		{
			name: "faults and serials",
			probe: collector.Probe{Up: true, Snapshot: &miner.Snapshot{Model: "m", Faults: faults, Boards: []miner.Board{
				{Index: 0, Name: "0", Present: true, Serial: "BKM3CSE1404807K42757"},
				{Index: 1, Name: "1", Present: false, Serial: "GONE"},
				{Index: 2, Name: "2", Present: true},
			}}},
			want: []string{
				`cgminer_fault{board="",code="psu_fault",component="psu",severity="critical"} 1`,
				`cgminer_fault{board="1",code="hashboard_not_found",component="hashboard",severity="critical"} 1`,
				`cgminer_fault{board="",code="whatsminer:9999",component="other",severity="warning"} 1`,
				`cgminer_board_info{board="0",serial="BKM3CSE1404807K42757"} 1`,
			},
			wantNone: []string{"whatsminer:264", "xfer", "quoted", "GONE", `cgminer_board_info{board="2"`},
		},
		{
			name:     "no faults, no serials: no series",
			probe:    collector.Probe{Up: true, Snapshot: &miner.Snapshot{Model: "m", Boards: []miner.Board{{Name: "0", Present: true}}}},
			wantNone: []string{"cgminer_fault", "cgminer_board_info"},
		},
		{
			name:     "a failed probe exports no fault",
			probe:    collector.Probe{Reason: "timeout", Snapshot: &miner.Snapshot{Faults: faults}},
			wantNone: []string{"cgminer_fault"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := both(t, &tc.probe)
			for _, w := range tc.want {
				if !strings.Contains(out, w+"\n") {
					t.Errorf("missing %s in\n%s", w, out)
				}
			}
			if n := strings.Count(out, `cgminer_fault{board="",code="psu_fault"`); n > 1 {
				t.Errorf("psu_fault %d times", n)
			}
			for _, w := range tc.wantNone {
				for _, line := range strings.Split(out, "\n") {
					if !strings.HasPrefix(line, "#") && strings.Contains(line, w) {
						t.Errorf("unexpected %s", line)
					}
				}
			}
		})
	}
}
