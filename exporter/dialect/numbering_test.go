package dialect_test

import (
	"bufio"
	"bytes"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/minefarm/cgminer-stack/exporter/collector"
	"github.com/minefarm/cgminer-stack/exporter/dialect"
)

// exportedLabels returns the sorted distinct values of one label (board, fan) in an exposition.
func exportedLabels(expo []byte, label string) []string {
	re := regexp.MustCompile(`[{,]` + label + `="([^"]*)"`)
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(expo))
	for sc.Scan() {
		if line := sc.Text(); !strings.HasPrefix(line, "#") {
			for _, m := range re.FindAllStringSubmatch(line, -1) {
				if m[1] != "" { // an empty label is no label (cgminer_fault of the whole miner)
					seen[m[1]] = true
				}
			}
		}
	}
	out := make([]string, 0, len(seen))
	for v := range seen {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool {
		a, errA := strconv.Atoi(out[i])
		b, errB := strconv.Atoi(out[j])
		if errA == nil && errB == nil {
			return a < b
		}
		return out[i] < out[j]
	})
	return out
}

// TestNumbering holds the board and fan label values to the numbers the firmware and the
// physical labels use, per family (exporter/README.md, "Board and fan numbering"): a technician
// told "board 1" must pull the board the miner's own web page calls chain 1.
func TestNumbering(t *testing.T) {
	cases := goldenCases(t)
	list := func(s string) []string {
		if s == "" {
			return []string{}
		}
		return strings.Split(s, ",")
	}
	for _, tc := range []struct {
		capture, boards, fans, why string
	}{
		// Bitmain and the firmware built on it: chain_*N and fanN, as Bitmain's minerStatus page
		// shows them ("Chain#" = N of chain_acnN, "Fan#" columns Fan1…Fan8 = fanN).
		{"antminer-s19pro-49.0.1.3", "1,2,3", "1,2,3,4", "stock S19 Pro: chain_rate1-3, fan1-4"},
		{"antminer-s19pro", "1,2,3", "1,2,3,4", "stock S19 Pro"},
		{"antminer-s9-asicseer-1.1.9", "6,7,8", "5,6", "S9-era: chains 6-8 (the control board's J6-J8), fans fan5/fan6"},
		{"antminer-s9-hiveon", "6,7,8", "5,6", "Hiveon on S9"},
		{"antminer-s9-vnish-3.8.6", "6,7,8", "5,6", "VNish on S9"},
		{"antminer-s9pro-mskminer-v5.1", "6,7,8", "5,6", "MSKminer on S9: fan5 stopped, fan6 spins"},
		{"antminer-s17plus-vnish-2.0.3", "1,2,3", "1,2,3,4", "VNish on S17+"},
		{"antminer-s17plus-sleeping", "", "1,2,3,4", "asleep: no chain populated, the model's four fans"},
		{"antminer-l3plus-rwglr", "2,3,4", "1,2", "chain 1 empty: no series for it, the others keep their numbers"},
		{"antminer-s19-sleeping", "2,3", "1,2,3,4", "chains 1 and 4 empty"},
		{"antminer-e3", "1,2,3,8,9,10,11,12,13", "5,6", "E3: chains 1-3 and 8-13"},
		{"antminer-d3-blissz-v2.06", "1,2,3", "1,2", "Blissz on D3"},
		{"blackminer-f1", "1,2", "1,2", "Bitmain-shaped stats of another vendor"},
		// LuxOS: Bitmain's chains; fans from `fans`, whose ID is 0-based and is stats fanN-1.
		{"antminer-s19kpro-luxos-2025.4.8", "1,2,3", "1,2,3,4", "LuxOS: chain_rate1-3; fans ID 0-3 = fan1-4"},
		// MicroBT: slots as btminer numbers them (Slot 0-2, the SM0-SM2 of its error codes and tools).
		{"whatsminer-m30s", "0,1,2", "in,out", "Whatsminer: edevs Slot 0-2 = SM0-SM2; Fan Speed In/Out"},
		{"whatsminer-m30s-20210322", "0,1,2", "in,out", "Whatsminer devs Slot"},
		{"whatsminer-m20s-20200917", "0,1,2", "", "Whatsminer devs Slot"},
		// Braiins OS: the devs (or temps) ID, "corresponds with the labeling on the control board".
		{"s9-bosminer-plus-am1-s9-0.4.0", "6,7,8", "", "BOSminer+ on S9: devs ID 6-8"},
		{"s9-bosminer-0.2.0", "6,7,8", "", "BOSminer on S9 without devs: temps ID 6-8"},
		// Canaan: modules by their MM ID number; boards of one controller by their index in MGHS,
		// as the same string numbers them (PVT_T0, MW0, SF0 …); fans FanN.
		{"avalon-741", "1,2,3,4,5", "", "Avalon 741: MM ID1-5"},
		{"avalon-821-841", "1,2,3", "", "Avalon 821/841: MM ID1-3"},
		{"avalon-1047", "0,1", "1,2", "Avalon 1047: MGHS entries 0-1, Fan1-2"},
		{"avalon-q-25052801", "0", "1,2,3,4", "Avalon Q: Fan1-4"},
		// Generic cgminer forks: devs as boards, by the same ID as the device label.
		{"auradine-gcminer-2023.05", "1,2,3", "", "devs ID 1-3"},
		{"strongu-stu-u6", "0,1", "", "devs ID 0-1 (ASC 0 and 2)"},
		{"baikal-sgminer-5.5.6", "0,1,2,3,4,5,6,7", "", "devs ID 0-7"},
		{"ibelink-bm-n1max", "0,1,2", "", "devs ID 0-2 (PGA)"},
	} {
		t.Run(tc.capture, func(t *testing.T) {
			files, ok := cases[tc.capture]
			if !ok {
				t.Fatalf("no golden case %s", tc.capture)
			}
			sort.Strings(files)
			expo := expose(t, loadResult(t, files))
			if got, want := exportedLabels(expo, "board"), list(tc.boards); !slices.Equal(got, want) {
				t.Errorf("board labels %v, want %v (%s)", got, want, tc.why)
			}
			if got, want := exportedLabels(expo, "fan"), list(tc.fans); !slices.Equal(got, want) {
				t.Errorf("fan labels %v, want %v (%s)", got, want, tc.why)
			}
		})
	}
}

// A miner chooses the numbers it gives its boards and fans: they may repeat, overflow, go
// negative or not be whole. A board whose number is no small whole number is named by its
// position; a number given twice names only the first board (one series each, never two).
func TestNumberingHostile(t *testing.T) {
	c := hostileCase{replies: map[string]string{"devs": section("DEVS", numberedDevs)}}
	for _, tc := range []struct {
		family *dialect.Family
		boards string // exact; "" to check only that IDs 0 and 6 keep their numbers
	}{
		// ID 0, ID 0 again (dropped), "x" → position 2, 1e30 → 3, -1 → 4, "06" → 6, 2.5 → position 6 (dropped).
		{dialect.Generic, "0,2,3,4,6"},
		// Braiins sorts devs by ID first, so the positions differ.
		{dialect.Braiins, ""},
	} {
		t.Run(tc.family.Name, func(t *testing.T) {
			res, _ := hostileResult(t, c)
			s := dialect.Read(res, tc.family)
			p := &collector.Probe{Up: true, Snapshot: &s}
			var out bytes.Buffer
			if err := p.WriteText(&out); err != nil {
				t.Fatal(err)
			}
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(p)
			if _, err := reg.Gather(); err != nil {
				t.Fatalf("the registry refuses the probe: %v", err)
			}
			got := exportedLabels(out.Bytes(), "board")
			if tc.boards != "" && strings.Join(got, ",") != tc.boards {
				t.Errorf("board labels %v, want %s", got, tc.boards)
			}
			if !slices.Contains(got, "0") || !slices.Contains(got, "6") {
				t.Errorf("board labels %v: ID 0 or \"06\" lost its number", got)
			}
			for _, l := range got {
				if n, err := strconv.Atoi(l); err != nil || n < 0 || n > 16 {
					t.Errorf("board label %q is neither the miner's small number nor a position", l)
				}
			}
		})
	}
}

// TestDeviceIdentity reads the serial (or unique hardware ID) and MAC address each capture
// reports through the cgminer API; most firmware reports neither.
func TestDeviceIdentity(t *testing.T) {
	cases := goldenCases(t)
	for _, tc := range []struct{ capture, serial, mac, why string }{
		{"whatsminer-m30s", "", "c6:02:14:00:1f:b3", "btminer summary MAC; PCB SN is a board's, not the unit's"},
		{"whatsminer-m30s-20210322", "", "c4:08:28:00:a4:19", "btminer summary MAC"},
		{"whatsminer-m20s-2019", "", "", "2019 btminer: no MAC in summary"},
		{"avalon-nano3s-25021401", "020100003cbe4d15", "e0:e1:a9:3f:30:53", "Canaan version DNA and MAC (bare hex)"},
		{"avalon-q-25052801", "01234567890123456789012345678901", "aa:bb:cc:dd:ee:ff", "version DNA/MAC (anonymised by the contributor); stats DNA[<DELETED>] ignored"},
		{"avalon-1047", "02010000cb231da8", "", "one controller: the DNA of MM ID0"},
		{"avalon-741", "", "", "several modules: each DNA is a module's, not the unit's"},
		{"antminer-s19pro-49.0.1.3", "", "", "bmminer reports neither"},
		{"antminer-t17plus-sleeping", "", "", `chain_SN "unknow" is a board's placeholder`},
		{"antminer-s19kpro-luxos-2025.4.8", "", "", "LuxOS: SerialNumber in devs is a board's"},
		{"s9-bosminer-plus-am1-s9-0.4.0", "", "", "BOSminer reports neither"},
		{"ibelink-bm-n1max", "", "", "Chain SN is a board's"},
	} {
		t.Run(tc.capture, func(t *testing.T) {
			files, ok := cases[tc.capture]
			if !ok {
				t.Fatalf("no golden case %s", tc.capture)
			}
			s := dialect.Read(loadResult(t, files), nil)
			if s.Serial != tc.serial || s.MAC != tc.mac {
				t.Errorf("serial %q mac %q, want %q %q (%s)", s.Serial, s.MAC, tc.serial, tc.mac, tc.why)
			}
			expo := string(expose(t, loadResult(t, files)))
			line := `cgminer_device_info{mac="` + tc.mac + `",serial="` + tc.serial + `"} 1`
			if present := strings.Contains(expo, line); present != (tc.serial != "" || tc.mac != "") {
				t.Errorf("device_info series %q present: %v", line, present)
			}
			if tc.serial == "" && tc.mac == "" && strings.Contains(expo, "cgminer_device_info") {
				t.Error("cgminer_device_info without a serial or MAC")
			}
		})
	}
}
