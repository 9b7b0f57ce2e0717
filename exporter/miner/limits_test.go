package miner

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// Every kind of reading keeps its plausible values and loses the rest, counted by kind.
func TestSanitizeReadings(t *testing.T) {
	inf, nan := math.Inf(1), math.NaN()
	tests := []struct {
		name string
		set  func(s *Snapshot, v float64)
		get  func(s *Snapshot) F
		what string
		keep []float64
		drop []float64
	}{
		{"uptime", func(s *Snapshot, v float64) { s.Uptime = Some(v) }, func(s *Snapshot) F { return s.Uptime },
			DropUptime, []float64{0, 86400, MaxUptime}, []float64{-1, MaxUptime + 1, inf, nan}},
		{"hashrate", func(s *Snapshot, v float64) { s.Hashrate = Some(v) }, func(s *Snapshot) F { return s.Hashrate },
			DropHashrate, []float64{0, 110e12, 1e19}, []float64{-1, 1.1e19, 1e300, inf, -inf, nan}},
		{"average hashrate", func(s *Snapshot, v float64) { s.HashrateAverage = Some(v) }, func(s *Snapshot) F { return s.HashrateAverage },
			DropHashrate, []float64{0, 1e14}, []float64{-5, 1e300}},
		{"nominal hashrate", func(s *Snapshot, v float64) { s.HashrateNominal = Some(v) }, func(s *Snapshot) F { return s.HashrateNominal },
			DropHashrate, []float64{1e14}, []float64{-5, 1e20}},
		{"hashes total", func(s *Snapshot, v float64) { s.HashesTotal = Some(v) }, func(s *Snapshot) F { return s.HashesTotal },
			DropCounter, []float64{0, 1e25}, []float64{-1, inf, nan}},
		{"shares accepted", func(s *Snapshot, v float64) { s.SharesAccepted = Some(v) }, func(s *Snapshot) F { return s.SharesAccepted },
			DropCounter, []float64{0, 12345}, []float64{-3}},
		{"shares rejected", func(s *Snapshot, v float64) { s.SharesRejected = Some(v) }, func(s *Snapshot) F { return s.SharesRejected },
			DropCounter, []float64{0}, []float64{-1}},
		{"stale", func(s *Snapshot, v float64) { s.SharesStale = Some(v) }, func(s *Snapshot) F { return s.SharesStale },
			DropCounter, []float64{0}, []float64{-1}},
		{"hardware errors", func(s *Snapshot, v float64) { s.HardwareErrors = Some(v) }, func(s *Snapshot) F { return s.HardwareErrors },
			DropCounter, []float64{0}, []float64{-7}},
		{"difficulty accepted", func(s *Snapshot, v float64) { s.DifficultyAccepted = Some(v) }, func(s *Snapshot) F { return s.DifficultyAccepted },
			DropCounter, []float64{1e12}, []float64{-1}},
		{"difficulty rejected", func(s *Snapshot, v float64) { s.DifficultyRejected = Some(v) }, func(s *Snapshot) F { return s.DifficultyRejected },
			DropCounter, []float64{0}, []float64{inf}},
		{"power", func(s *Snapshot, v float64) { s.Power = Some(v) }, func(s *Snapshot) F { return s.Power },
			DropPower, []float64{0, 3250, MaxWatts}, []float64{-1, MaxWatts + 1, 1e9}},
		{"board hashrate", func(s *Snapshot, v float64) { s.Boards = []Board{{Present: true, Hashrate: Some(v)}} },
			func(s *Snapshot) F { return s.Boards[0].Hashrate }, DropHashrate, []float64{0, 3e13}, []float64{-10, inf}},
		{"board nominal", func(s *Snapshot, v float64) { s.Boards = []Board{{Present: true, HashrateNominal: Some(v)}} },
			func(s *Snapshot) F { return s.Boards[0].HashrateNominal }, DropHashrate, []float64{3e13}, []float64{1e300}},
		{"board chips", func(s *Snapshot, v float64) { s.Boards = []Board{{Present: true, Chips: Some(v)}} },
			func(s *Snapshot) F { return s.Boards[0].Chips }, DropChips, []float64{0, 126, 10000}, []float64{-1, 10001, 1e7}},
		{"board chips failed", func(s *Snapshot, v float64) { s.Boards = []Board{{Present: true, ChipsFailed: Some(v)}} },
			func(s *Snapshot) F { return s.Boards[0].ChipsFailed }, DropChips, []float64{5}, []float64{-5}},
		{"board hardware errors", func(s *Snapshot, v float64) { s.Boards = []Board{{Present: true, HardwareErrors: Some(v)}} },
			func(s *Snapshot) F { return s.Boards[0].HardwareErrors }, DropCounter, []float64{0}, []float64{-5}},
		{"pool priority", func(s *Snapshot, v float64) { s.Pools = []Pool{{Priority: Some(v)}} },
			func(s *Snapshot) F { return s.Pools[0].Priority }, DropPriority, []float64{0, 9999}, []float64{-1, 1e300}},
		{"pool shares", func(s *Snapshot, v float64) { s.Pools = []Pool{{SharesAccepted: Some(v)}} },
			func(s *Snapshot) F { return s.Pools[0].SharesAccepted }, DropCounter, []float64{3}, []float64{-5}},
		{"pool rejected", func(s *Snapshot, v float64) { s.Pools = []Pool{{SharesRejected: Some(v)}} },
			func(s *Snapshot) F { return s.Pools[0].SharesRejected }, DropCounter, []float64{3}, []float64{-5}},
		{"pool difficulty", func(s *Snapshot, v float64) { s.Pools = []Pool{{DifficultyAccepted: Some(v)}} },
			func(s *Snapshot) F { return s.Pools[0].DifficultyAccepted }, DropCounter, []float64{3}, []float64{nan}},
		{"pool last share", func(s *Snapshot, v float64) { s.Pools = []Pool{{LastShareTime: Some(v)}} },
			func(s *Snapshot) F { return s.Pools[0].LastShareTime }, DropLastShare, []float64{1.7e9}, []float64{5, 1e300}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, v := range tc.keep {
				var s Snapshot
				tc.set(&s, v)
				s.Sanitize(DefaultLimits)
				if got := tc.get(&s); !got.Set || got.V != v {
					t.Errorf("%g: became %+v", v, got)
				}
				if s.Dropped != nil {
					t.Errorf("%g: dropped %v", v, s.Dropped)
				}
			}
			for _, v := range tc.drop {
				var s Snapshot
				tc.set(&s, v)
				s.Sanitize(DefaultLimits)
				if got := tc.get(&s); got.Set {
					t.Errorf("%g: kept as %+v", v, got)
				}
				if want := map[string]int{tc.what: 1}; !reflect.DeepEqual(s.Dropped, want) {
					t.Errorf("%g: dropped %v, want %v", v, s.Dropped, want)
				}
			}
		})
	}
}

// Sensor and fan readings outside their range leave their list; the rest stay in order.
func TestSanitizeLists(t *testing.T) {
	s := Snapshot{
		Temperatures: []Temperature{{"inlet", 25}, {"bad", -273}, {"max", 200}, {"chip", 199.5}, {"nan", math.NaN()}, {"cold", -59}},
		Fans:         []Fan{{"0", 6000}, {"1", -1}, {"2", 50000}, {"3", 50001}, {"4", 0}},
		Boards:       []Board{{Present: true, Temperatures: []Temperature{{"chip", 70}, {"pcb", 1000}}}},
	}
	s.Sanitize(DefaultLimits)
	if want := []Temperature{{"inlet", 25}, {"chip", 199.5}, {"cold", -59}}; !reflect.DeepEqual(s.Temperatures, want) {
		t.Errorf("temperatures %v, want %v", s.Temperatures, want)
	}
	if want := []Fan{{"0", 6000}, {"2", 50000}, {"4", 0}}; !reflect.DeepEqual(s.Fans, want) {
		t.Errorf("fans %v, want %v", s.Fans, want)
	}
	if want := []Temperature{{"chip", 70}}; !reflect.DeepEqual(s.Boards[0].Temperatures, want) {
		t.Errorf("board temperatures %v, want %v", s.Boards[0].Temperatures, want)
	}
	if want := map[string]int{DropTemperature: 4, DropFanSpeed: 2}; !reflect.DeepEqual(s.Dropped, want) {
		t.Errorf("dropped %v, want %v", s.Dropped, want)
	}
	if s.Truncated != nil {
		t.Errorf("truncated %v", s.Truncated)
	}
}

// Each list stops at its limit and says so; a snapshot within its limits says nothing.
func TestSanitizeLimits(t *testing.T) {
	l := Limits{Boards: 2, Fans: 1, BoardSensors: 1, Sensors: 1, Pools: 1, Devices: 1, LabelBytes: 4}
	s := Snapshot{
		Boards:       []Board{{Index: 0, Temperatures: []Temperature{{"a", 1}, {"b", 2}}}, {Index: 1}, {Index: 2}},
		Fans:         []Fan{{"0", 1}, {"1", 2}},
		Temperatures: []Temperature{{"a", 1}, {"b", 2}},
		Pools:        []Pool{{URL: "u"}, {URL: "v"}},
		Devices:      []Device{{ID: "0"}, {ID: "1"}},
		Model:        "Antminer",
	}
	s.Sanitize(l)
	if len(s.Boards) != 2 || len(s.Boards[0].Temperatures) != 1 || len(s.Fans) != 1 || len(s.Temperatures) != 1 ||
		len(s.Pools) != 1 || len(s.Devices) != 1 || s.Model != "Antm" {
		t.Errorf("not cut to the limits: %+v", s)
	}
	want := []string{CutBoardSensors, CutBoards, CutDevices, CutFans, CutLabelValue, CutPools, CutSensors}
	if !reflect.DeepEqual(s.Truncated, want) {
		t.Errorf("truncated %v, want %v", s.Truncated, want)
	}

	ok := Snapshot{Boards: make([]Board, 16), Fans: make([]Fan, 16), Pools: make([]Pool, 16), Devices: make([]Device, 32),
		Model: strings.Repeat("m", 128)}
	ok.Sanitize(Limits{})
	if ok.Truncated != nil || ok.Dropped != nil {
		t.Errorf("a snapshot at the default limits: truncated %v, dropped %v", ok.Truncated, ok.Dropped)
	}
}

// Label values are valid UTF-8, at most LabelBytes long, cut on a rune boundary.
func TestSanitizeLabels(t *testing.T) {
	tests := []struct {
		in, want string
		cut      bool
	}{
		{"stratum+tcp://pool.example.com:3333", "stratum+tcp://pool.example.com:3333", false},
		{strings.Repeat("a", 128), strings.Repeat("a", 128), false},
		{strings.Repeat("a", 129), strings.Repeat("a", 128), true},
		{strings.Repeat("é", 100), strings.Repeat("é", 64), true},             // 2-byte runes: 128 bytes
		{"a" + strings.Repeat("é", 100), "a" + strings.Repeat("é", 63), true}, // 127 bytes: é does not fit
		{strings.Repeat("€", 50), strings.Repeat("€", 42), true},              // 3-byte runes: 126 bytes
		{"bad\xffbyte", "bad\uFFFDbyte", false},
		{strings.Repeat("\xff", 200), "\uFFFD", false}, // a run of bad bytes is one U+FFFD
		{strings.Repeat("ab\xff", 100), strings.Repeat("ab\uFFFD", 25) + "ab", true},
	}
	for _, tc := range tests {
		s := Snapshot{Pools: []Pool{{URL: tc.in, User: tc.in, Index: tc.in}}, Devices: []Device{{ID: tc.in}},
			Fans: []Fan{{Name: tc.in}}, SoftwareVersion: tc.in}
		s.Sanitize(DefaultLimits)
		for _, got := range []string{s.Pools[0].URL, s.Pools[0].User, s.Pools[0].Index, s.Devices[0].ID, s.Fans[0].Name, s.SoftwareVersion} {
			if got != tc.want || !utf8.ValidString(got) {
				t.Errorf("%.20q…: got %.20q… (%d bytes), want %d bytes", tc.in, got, len(got), len(tc.want))
			}
		}
		if cut := s.Truncated != nil; cut != tc.cut {
			t.Errorf("%.20q…: truncated %v, want %v", tc.in, s.Truncated, tc.cut)
		}
	}
}

func TestLimitsOrDefault(t *testing.T) {
	if got := (Limits{}).OrDefault(); got != DefaultLimits {
		t.Errorf("zero limits: %+v", got)
	}
	huge := Limits{Boards: 1 << 30, ChipsPerBoard: 1 << 30, Fans: 1 << 30, BoardSensors: 1 << 30, Sensors: 1 << 30,
		Pools: 1 << 30, Devices: 1 << 30, LabelBytes: 1 << 30, Faults: 1 << 30}
	if got := huge.OrDefault(); got != MaxLimits {
		t.Errorf("limits above the ceiling: %+v", got)
	}
}

// Faults: distinct by their labels, at most limits.faults of them (the cut named), severity and
// component only from their lists, codes and boards cut like labels, texts cut without counting.
func TestSanitizeFaults(t *testing.T) {
	many := func(n int) []Fault {
		out := make([]Fault, n)
		for i := range out {
			out[i] = Fault{Code: "whatsminer:" + strings.Repeat("9", i%7+1) + string(rune('a'+i%26)) + strings.Repeat("x", i/26),
				Severity: SeverityWarning, Component: ComponentOther}
		}
		return out
	}
	tests := []struct {
		name      string
		lim       Limits
		in        []Fault
		want      []Fault
		truncated []string
	}{
		{name: "none", in: nil, want: nil},
		{name: "empty list becomes nil", in: []Fault{}, want: nil},
		{
			name: "kept as listed",
			in: []Fault{{Code: "psu_fault", Severity: SeverityCritical, Component: ComponentPSU, Vendor: "whatsminer:264", Raw: "Power xfer error"},
				{Code: "hashboard_not_found", Severity: SeverityCritical, Component: ComponentHashboard, Board: "1"}},
			want: []Fault{{Code: "psu_fault", Severity: SeverityCritical, Component: ComponentPSU, Vendor: "whatsminer:264", Raw: "Power xfer error"},
				{Code: "hashboard_not_found", Severity: SeverityCritical, Component: ComponentHashboard, Board: "1"}},
		},
		{
			name: "the same labels twice are one fault; another board is another",
			in: []Fault{{Code: "psu_fault", Severity: SeverityCritical, Component: ComponentPSU, Vendor: "whatsminer:265"},
				{Code: "psu_fault", Severity: SeverityCritical, Component: ComponentPSU, Vendor: "whatsminer:266"},
				{Code: "psu_fault", Severity: SeverityCritical, Component: ComponentPSU, Board: "2"}},
			want: []Fault{{Code: "psu_fault", Severity: SeverityCritical, Component: ComponentPSU, Vendor: "whatsminer:265"},
				{Code: "psu_fault", Severity: SeverityCritical, Component: ComponentPSU, Board: "2"}},
		},
		{
			name: "unknown severity and component, empty code",
			in: []Fault{{Code: "x", Severity: "PANIC", Component: "flux_capacitor"}, {Code: "", Severity: SeverityInfo, Component: ComponentFan},
				{Code: "y", Severity: "", Component: ""}},
			want: []Fault{{Code: "x", Severity: SeverityWarning, Component: ComponentOther},
				{Code: "y", Severity: SeverityWarning, Component: ComponentOther}},
		},
		{
			name: "long and broken labels cut, texts cut quietly",
			in: []Fault{{Code: strings.Repeat("c", 300), Severity: SeverityInfo, Component: ComponentFirmware, Board: "b\xff",
				Vendor: strings.Repeat("v", 1000), Raw: strings.Repeat("é", 1000)}},
			want: []Fault{{Code: strings.Repeat("c", 128), Severity: SeverityInfo, Component: ComponentFirmware, Board: "b\uFFFD",
				Vendor: strings.Repeat("v", MaxFaultText), Raw: strings.Repeat("é", MaxFaultText/2)}},
			truncated: []string{CutLabelValue},
		},
		{name: "at most limits.faults", in: many(500), want: many(500)[:32], truncated: []string{CutFaults}},
		{name: "a module's lower limit", lim: Limits{Faults: 3}, in: many(10), want: many(10)[:3], truncated: []string{CutFaults}},
		{name: "exactly the limit is no cut", lim: Limits{Faults: 10}, in: many(10), want: many(10)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := Snapshot{Faults: tc.in}
			s.Sanitize(tc.lim)
			if !reflect.DeepEqual(s.Faults, tc.want) {
				t.Errorf("faults\n got %+v\nwant %+v", s.Faults, tc.want)
			}
			if !reflect.DeepEqual(s.Truncated, tc.truncated) {
				t.Errorf("truncated %v, want %v", s.Truncated, tc.truncated)
			}
		})
	}
}

func TestSanitizeBoardSerial(t *testing.T) {
	s := Snapshot{Boards: []Board{{Present: true, Serial: strings.Repeat("S", 200)}, {Present: true, Serial: "BKM3CSE1404807K42757"}}}
	s.Sanitize(DefaultLimits)
	if len(s.Boards[0].Serial) != 128 || s.Boards[1].Serial != "BKM3CSE1404807K42757" {
		t.Errorf("serials %q, %q", s.Boards[0].Serial, s.Boards[1].Serial)
	}
}
