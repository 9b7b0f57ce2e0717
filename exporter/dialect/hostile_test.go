package dialect_test

import (
	"bytes"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/minefarm/cgminer-stack/exporter/cgminer"
	"github.com/minefarm/cgminer-stack/exporter/collector"
	"github.com/minefarm/cgminer-stack/exporter/dialect"
	"github.com/minefarm/cgminer-stack/exporter/internal/recorded"
	"github.com/minefarm/cgminer-stack/exporter/miner"
)

// The bounds a snapshot read with the default limits must keep, whatever the miner sent.
const (
	maxBoards       = 16
	maxFans         = 16
	maxBoardSensors = 8
	maxSensors      = 16
	maxPools        = 16
	maxDevices      = 32
	maxLabelBytes   = 128
	maxFaults       = 32
	// maxSeries is what the default limits allow: 16 boards × (6 readings + 8 sensors), 16 fans,
	// 16 sensors, 32 devices × 2, 16 pools × 9, about 40 miner-level series and the
	// truncated/dropped series, rounded up.
	maxSeries = 600
)

// status is a STATUS envelope for a hostile reply.
func status(msg string) string {
	return `"STATUS":[{"STATUS":"S","When":1700000000,"Code":1,"Msg":"` + msg + `","Description":"cgminer 4.11.1"}]`
}

// join writes n members or elements from f(i), comma-separated.
func join(n int, f func(i int) string) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(f(i))
	}
	return b.String()
}

// bitmainStats is an Antminer-shaped stats reply: the version block with Type, then the driver
// block with the given members.
func bitmainStats(typ, driver string) string {
	return `{` + status("CGMiner stats") + `,"STATS":[{"BMMiner":"2.0.0","Miner":"1.0","Type":"` + typ + `"},{"STATS":0,"ID":"BC50",` + driver + `}],"id":1}`
}

func section(name, body string) string {
	return `{` + status(name) + `,"` + name + `":[` + body + `],"id":1}`
}

func manyPools(n int) string {
	return section("POOLS", join(n, func(i int) string {
		return fmt.Sprintf(`{"POOL":%d,"URL":"stratum+tcp://pool%d.example:3333","User":"w%d","Status":"Alive","Priority":%d,"Accepted":1,"Rejected":0,"Stratum Active":false}`, i, i, i, i)
	}))
}

// numberedDevs are devs entries whose numbers repeat, overflow, go negative, are spelled "06"
// or are not whole.
const numberedDevs = `{"ID":0,"ASC":0,"Slot":0,"MHS 5s":1},{"ID":0,"ASC":0,"Slot":0,"MHS 5s":2},{"ID":"x","MHS 5s":3},` +
	`{"ID":1e30,"ASC":1e30,"Slot":1e30,"MHS 5s":4},{"ID":-1,"Slot":-1,"MHS 5s":5},{"ID":"06","MHS 5s":6},{"ID":2.5,"MHS 5s":7}`

// hostileCase is one probe's worth of replies a miner could send.
type hostileCase struct {
	name    string
	replies map[string]string // command → raw reply
}

func hostileCases() []hostileCase {
	mgh := strings.Repeat("1 ", 20000)
	return []hostileCase{
		{"antminer chain index from a key", map[string]string{
			"stats": bitmainStats("Antminer S19", `"chain_acn1":114,"chain_rate1":"30000","chain_acn30000000":1`),
		}},
		{"antminer fan_num 1e15", map[string]string{
			"stats": bitmainStats("Antminer X99", `"fan_num":1e15,"fan1":0,"fan2":0,"chain_acn1":10`),
		}},
		{"antminer huge fanN key", map[string]string{
			"stats": bitmainStats("Antminer X99", `"fan1":3000,"fan9223372036854775807":3000,"chain_acn1":10`),
		}},
		{"antminer 5000 chains and fans", map[string]string{
			"stats": bitmainStats("Antminer X99", join(5000, func(i int) string {
				return fmt.Sprintf(`"chain_acn%d":100,"chain_rate%d":10,"fan%d":3000,"temp_chip%d":"70-71"`, i+1, i+1, i+1, i+1)
			})),
		}},
		{"antminer model name of 20000 words", map[string]string{
			"stats": bitmainStats("Antminer "+strings.Repeat("x ", 20000), `"chain_acn1":10`),
		}},
		{"avalon MGHS of 20000 boards, huge HBinfo", map[string]string{
			"version": section("VERSION", `{"CGMiner":"4.11.1","API":"3.7","PROD":"AvalonMiner 1047"}`),
			"stats": `{` + status("CGMiner stats") + `,"STATS":[{"STATS":0,"ID":"AVA100","HBinfo":"` + strings.Repeat("X[1] ", 20000) +
				`","MM ID0":"Ver[1047-2005] MGHS[` + mgh + `] MTmax[` + mgh + `] PVT_T0[` + strings.Repeat("60 ", 50000) + `]"}],"id":1}`,
		}},
		{"avalon 5000 modules", map[string]string{
			"stats": `{` + status("CGMiner stats") + `,"STATS":[{"STATS":0,"ID":"AVA100",` + join(5000, func(i int) string {
				return fmt.Sprintf(`"MM ID%d":"Ver[1047-2005] GHSmm[100] TMax[70] Temp[25] Fan1[3000]"`, i)
			}) + `}],"id":1}`,
		}},
		{"whatsminer 10000 slots and devs", map[string]string{
			"summary":    section("SUMMARY", `{"Elapsed":100,"MHS 5s":1000,"Factory GHS":100,"Power":3000,"Fan Speed In":3000,"Fan Speed Out":3000}`),
			"devdetails": section("DEVDETAILS", `{"DEVDETAILS":0,"Name":"SM","ID":0,"Driver":"bitmicro","Model":"M30S+VE40"}`),
			"edevs": section("DEVS", join(10000, func(i int) string {
				return fmt.Sprintf(`{"ASC":%d,"Slot":%d,"MHS 5s":1000,"Effective Chips":100}`, i, i)
			})),
			"devs": section("DEVS", join(10000, func(i int) string { return fmt.Sprintf(`{"ASC":%d,"Slot":%d,"Status":"Alive","Enabled":"Y"}`, i, i) })),
		}},
		{"braiins 5000 devs, temps, fans", map[string]string{
			"version": section("VERSION", `{"BOSer":"boser 1.0","API":"3.7"}`),
			"devs": section("DEVS", join(5000, func(i int) string {
				return fmt.Sprintf(`{"ID":%d,"MHS 5s":1000,"Nominal MHS":1000,"Status":"Alive"}`, i)
			})),
			"devdetails": section("DEVDETAILS", join(5000, func(i int) string { return fmt.Sprintf(`{"ID":%d,"Chips":63,"Model":"Antminer S9"}`, i) })),
			"temps":      section("TEMPS", join(5000, func(i int) string { return fmt.Sprintf(`{"ID":%d,"Board":50,"Chip":60}`, i) })),
			"fans":       section("FANS", join(5000, func(i int) string { return fmt.Sprintf(`{"ID":%d,"RPM":3000}`, i) })),
		}},
		{"luxos 5000 fans and temps", map[string]string{
			"version": section("VERSION", `{"LUXminer":"2025.1","API":"3.7","Type":"Antminer S19"}`),
			"stats":   bitmainStats("Antminer S19", `"chain_acn1":114,"chain_acn2":114,"chain_acn3":114`),
			"fans":    section("FANS", join(5000, func(i int) string { return fmt.Sprintf(`{"FAN":%d,"RPM":3000}`, i) })),
			"temps":   section("TEMPS", join(5000, func(i int) string { return fmt.Sprintf(`{"ID":%d,"TopLeft":50}`, i) })),
			"devs":    section("DEVS", join(5000, func(i int) string { return fmt.Sprintf(`{"ASC":%d,"Nominal MHS":1e300,"IsUserShutdown":false}`, i) })),
		}},
		{"generic 5000 devs", map[string]string{
			"devs": section("DEVS", join(5000, func(i int) string {
				return fmt.Sprintf(`{"ASC":%d,"MHS 5s":10,"Temperature":50,"Status":"Alive","Enabled":"Y"}`, i)
			})),
		}},
		{"board and fan numbers the miner chose", map[string]string{
			"version": section("VERSION", `{"CGMiner":"4.11.1","API":"3.7"}`),
			"devs":    section("DEVS", numberedDevs),
			"edevs":   section("DEVS", numberedDevs),
			"temps":   section("TEMPS", `{"ID":0,"Board":50},{"ID":0,"Board":51},{"ID":1e30,"Board":52},{"ID":-1,"Board":53}`),
			"fans":    section("FANS", `{"ID":0,"RPM":1000},{"ID":0,"RPM":1001},{"ID":1e30,"FAN":"FAN4","RPM":1002},{"ID":-3,"RPM":1003},{"FAN":"06","RPM":1004}`),
			"stats": `{` + status("CGMiner stats") + `,"STATS":[{"STATS":0,"ID":"AVA100","MM ID1":"Ver[741-1] GHSmm[1] Fan1[1] Fan1[2]",` +
				`"MM ID1:Summary":"Ver[741-1] GHSmm[2]","MM ID99999999999999999999":"Ver[741-1] GHSmm[3]","MM ID-4":"Ver[741-1] GHSmm[4]",` +
				`"chain_acn1":10,"chain_rate1":"1","chain_acn01":10,"chain_rate01":"2","fan1":1000,"fan01":1001}],"id":1}`,
		}},
		{"5000 fault codes and events", map[string]string{
			"summary": section("SUMMARY", `{"Elapsed":1,"MHS 5s":1,`+join(5000, func(i int) string { return fmt.Sprintf(`"Error Code %d":%d`, i, 100+i) })+`}`),
			"get_error_code": `{"STATUS":"S","When":1,"Code":133,"Msg":{"error_code":[` +
				join(5000, func(i int) string {
					return fmt.Sprintf(`{"%d":"2026-01-01 00:00:00","reason":"%s"}`, 520000+i, strings.Repeat("r", 50))
				}) + `]}}`,
			"events": section("EVENTS", join(5000, func(i int) string {
				return fmt.Sprintf(`{"Code":"EVENT_%d","Target":"BOARD","ID":%d,"Description":"%s"}`, i, i, strings.Repeat("d", 50))
			})),
			"version": section("VERSION", `{"LUXminer":"2025.9.8","API":"3.7"}`),
		}},
		{"9000 pools", map[string]string{"pools": manyPools(9000)}},
		{"long label values", map[string]string{
			"version": section("VERSION", `{"CGMiner":"`+strings.Repeat("v", 100000)+`","API":"`+strings.Repeat("a", 1000)+`","Type":"`+strings.Repeat("T", 1000)+`"}`),
			"pools": section("POOLS", `{"POOL":"`+strings.Repeat("9", 1000)+`","URL":"stratum+tcp://`+strings.Repeat("p", 100000)+`","User":"`+
				strings.Repeat("é", 50000)+`","Status":"Alive"}`),
			"devs": section("DEVS", `{"ID":"`+strings.Repeat("d", 1000)+`","Status":"Alive"}`),
		}},
		{"implausible readings", map[string]string{
			"summary": section("SUMMARY", `{"Elapsed":-10,"GHS 5s":1e300,"GHS av":-5,"Total MH":1e300,"Accepted":-3,"Rejected":-1,"Stale":-1,`+
				`"Hardware Errors":-7,"Difficulty Accepted":-1,"Difficulty Rejected":1e999,"Factory GHS":1e300,"Power":1e9,`+
				`"Env Temp":-500,"Temperature":1e6,"Fan Speed In":1e9,"Fan Speed Out":-5}`),
			"stats": bitmainStats("Antminer S19", `"total_rateideal":1e300,"chain_acn1":1e7,"chain_rate1":1e300,"chain_rateideal1":1e300,`+
				`"chain_hw1":-5,"temp_chip1":"500-600","temp1":1000,"chain_acn2":10,"chain_rate2":-10,"fan1":99999999,"fan2":-1,`+
				`"fan3":3000,"fan4":3000,"chain_power":1e9,"temp_max":700`),
			"pools": section("POOLS", `{"POOL":0,"URL":"stratum+tcp://a:1","User":"u","Status":"Alive","Priority":1e300,`+
				`"Accepted":-5,"Rejected":-1,"Difficulty Accepted":-1,"Last Share Time":1e300}`),
			"devs":        section("DEVS", `{"ASC":0,"MHS 5s":1e300,"Temperature":1e6,"Hardware Errors":-1,"Effective Chips":1e9,"Slot":0}`),
			"temps":       section("TEMPS", `{"ID":0,"Board":1e6,"Chip":5000}`),
			"fans":        section("FANS", `{"ID":0,"RPM":1e12},{"ID":1,"RPM":-1}`),
			"power":       section("POWER", `{"Watts":1e12}`),
			"tunerstatus": section("TUNERSTATUS", `{"ApproximateMinerPowerConsumption":1e12}`),
		}},
		{"avalon implausible readings", map[string]string{
			"stats": `{` + status("CGMiner stats") + `,"STATS":[{"STATS":0,"ID":"AVA100","MM ID0":"Ver[1047-2005] MGHS[1e300 -5] MTmax[900 -900] ` +
				`PVT_T0[` + strings.Repeat("60 ", 20000) + `] Temp[1e6] TMax[1e6] Fan1[1e12] Fan2[-5] WALLPOWER[1e12]"}],"id":1}`,
		}},
	}
}

// hostileResult decodes a case's replies into a Result, as the client would.
func hostileResult(t testing.TB, c hostileCase) (*cgminer.Result, int) {
	t.Helper()
	res := &cgminer.Result{Replies: map[string]*cgminer.Reply{}}
	size := 0
	for cmd, raw := range c.replies {
		size += len(raw)
		body, rep, err := cgminer.Decode([]byte(raw))
		if err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		res.Replies[cmd] = recorded.Reply(cmd, body, rep)
	}
	return res, size
}

// TestHostileReplies reads replies that take sizes from key names and values, carry thousands
// of boards, fans, pools and devices, huge labels and absurd readings, with every family: each
// Read must finish, stay within the default limits, allocate in proportion to what the miner
// sent, and export only finite, plausible values.
func TestHostileReplies(t *testing.T) {
	for _, c := range hostileCases() {
		for _, fam := range append([]*dialect.Family{nil}, dialect.Families...) {
			name := "auto"
			if fam != nil {
				name = fam.Name
			}
			t.Run(c.name+"/"+name, func(t *testing.T) {
				res, size := hostileResult(t, c)
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				s := dialect.Read(res, fam)
				var out bytes.Buffer
				p := &collector.Probe{Up: true, Snapshot: &s}
				if err := p.WriteText(&out); err != nil {
					t.Fatal(err)
				}
				runtime.ReadMemStats(&after)
				if alloc, budget := after.TotalAlloc-before.TotalAlloc, uint64(8*size+1<<20); alloc > budget {
					t.Errorf("Read and WriteText of %d bytes allocated %d bytes (budget %d)", size, alloc, budget)
				}
				checkBounded(t, &s)
				checkExposition(t, out.String())
			})
		}
	}
}

func checkBounded(t *testing.T, s *miner.Snapshot) {
	t.Helper()
	if len(s.Boards) > maxBoards {
		t.Errorf("%d boards, limit %d", len(s.Boards), maxBoards)
	}
	for _, b := range s.Boards {
		if len(b.Temperatures) > maxBoardSensors {
			t.Errorf("board %d: %d sensors, limit %d", b.Index, len(b.Temperatures), maxBoardSensors)
		}
	}
	if len(s.Fans) > maxFans {
		t.Errorf("%d fans, limit %d", len(s.Fans), maxFans)
	}
	if len(s.Temperatures) > maxSensors {
		t.Errorf("%d sensors, limit %d", len(s.Temperatures), maxSensors)
	}
	if len(s.Pools) > maxPools {
		t.Errorf("%d pools, limit %d", len(s.Pools), maxPools)
	}
	if len(s.Devices) > maxDevices {
		t.Errorf("%d devices, limit %d", len(s.Devices), maxDevices)
	}
	if len(s.Faults) > maxFaults {
		t.Errorf("%d faults, limit %d", len(s.Faults), maxFaults)
	}
}

// plausible holds, for metrics whose values have a physical range, that range (inclusive).
var plausible = map[string][2]float64{
	"cgminer_uptime_seconds":                           {0, 20 * 365.25 * 86400},
	"cgminer_hashrate_hashes_per_second":               {0, 1e19},
	"cgminer_hashrate_average_hashes_per_second":       {0, 1e19},
	"cgminer_hashrate_nominal_hashes_per_second":       {0, 1e19},
	"cgminer_board_hashrate_hashes_per_second":         {0, 1e19},
	"cgminer_board_hashrate_nominal_hashes_per_second": {0, 1e19},
	"cgminer_board_chips":                              {0, 10000},
	"cgminer_board_chips_failed":                       {0, 10000},
	"cgminer_board_temperature_celsius":                {-59.999, 199.999},
	"cgminer_temperature_celsius":                      {-59.999, 199.999},
	"cgminer_fan_speed_rpm":                            {0, 50000},
	"cgminer_power_watts":                              {0, 100000},
	"cgminer_pool_priority":                            {0, 1e6},
	"cgminer_pool_last_share_timestamp_seconds":        {1e9, 4102444800},
}

// checkExposition holds every sample of a text exposition finite, counters non-negative,
// physical readings plausible, label values short, every series once (numbers the miner gives
// its boards and fans can repeat), and the series few.
func checkExposition(t *testing.T, text string) {
	t.Helper()
	series := 0
	seen := map[string]bool{}
	for _, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		series++
		sp := strings.LastIndexByte(line, ' ')
		if seen[line[:sp]] {
			t.Errorf("series twice: %.200s", line)
		}
		seen[line[:sp]] = true
		name, labels := line[:sp], ""
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name, labels = name[:i], name[i:]
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			t.Errorf("not a finite value: %.200s", line)
			continue
		}
		if strings.HasSuffix(name, "_total") && v < 0 {
			t.Errorf("negative counter: %.200s", line)
		}
		if r, ok := plausible[name]; ok && (v < r[0] || v > r[1]) {
			t.Errorf("implausible: %.200s", line)
		}
		for _, lv := range strings.Split(labels, `",`) {
			if i := strings.Index(lv, `="`); i >= 0 && len(strings.TrimSuffix(lv[i+2:], `"}`)) > maxLabelBytes {
				t.Errorf("label value of %d bytes: %.200s", len(lv)-i-2, line)
			}
		}
	}
	if series > maxSeries {
		t.Errorf("%d series, limit %d", series, maxSeries)
	}
}

// TestHostileRepliesReported: when a limit cuts a list or a reading is dropped, the snapshot
// says which, and the probe's metrics say it as cgminer_probe_truncated and
// cgminer_probe_dropped_readings.
func TestHostileRepliesReported(t *testing.T) {
	allDrops := []string{miner.DropChips, miner.DropCounter, miner.DropFanSpeed, miner.DropHashrate,
		miner.DropLastShare, miner.DropPriority, miner.DropPower, miner.DropTemperature, miner.DropUptime}
	cases := map[string]hostileCase{}
	for _, c := range hostileCases() {
		cases[c.name] = c
	}
	tests := []struct {
		name      string
		family    *dialect.Family
		truncated []string
		dropped   []string
	}{
		{"antminer chain index from a key", dialect.Antminer, []string{miner.CutBoards}, nil},
		{"antminer fan_num 1e15", dialect.Antminer, []string{miner.CutFans}, nil},
		{"antminer huge fanN key", dialect.Antminer, []string{miner.CutFans}, nil},
		{"antminer 5000 chains and fans", dialect.Antminer, []string{miner.CutBoards, miner.CutFans}, nil},
		{"avalon MGHS of 20000 boards, huge HBinfo", dialect.Avalon, []string{miner.CutBoards, miner.CutFields}, []string{miner.DropChips}},
		{"avalon 5000 modules", dialect.Avalon, []string{miner.CutBoards}, nil},
		{"whatsminer 10000 slots and devs", dialect.Whatsminer, []string{miner.CutBoards, miner.CutDevices}, nil},
		{"braiins 5000 devs, temps, fans", dialect.Braiins, []string{miner.CutBoards, miner.CutDevices, miner.CutFans}, nil},
		{"luxos 5000 fans and temps", dialect.LuxOS, []string{miner.CutDevices, miner.CutFans}, []string{miner.DropHashrate}},
		{"generic 5000 devs", dialect.Generic, []string{miner.CutBoards, miner.CutDevices}, nil},
		{"9000 pools", dialect.Generic, []string{miner.CutPools}, nil},
		{"long label values", dialect.Generic, []string{miner.CutLabelValue}, nil},
		{"implausible readings", dialect.Antminer, nil, allDrops},
		{"implausible readings", dialect.Whatsminer, nil, allDrops},
		{"implausible readings", dialect.Braiins, nil, allDrops}, // Bitmain-shaped stats: read as an Antminer's
		{"avalon implausible readings", dialect.Avalon, nil, []string{miner.DropChips, miner.DropFanSpeed, miner.DropHashrate,
			miner.DropPower, miner.DropTemperature}},
	}
	for _, tc := range tests {
		t.Run(tc.name+"/"+tc.family.Name, func(t *testing.T) {
			c, ok := cases[tc.name]
			if !ok {
				t.Fatalf("no hostile case %q", tc.name)
			}
			res, _ := hostileResult(t, c)
			s := dialect.Read(res, tc.family)
			if !slices.Equal(s.Truncated, tc.truncated) {
				t.Errorf("truncated %v, want %v", s.Truncated, tc.truncated)
			}
			var dropped []string
			for what, n := range s.Dropped {
				if n < 1 {
					t.Errorf("dropped[%s] = %d", what, n)
				}
				dropped = append(dropped, what)
			}
			slices.Sort(dropped)
			if !slices.Equal(dropped, tc.dropped) {
				t.Errorf("dropped %v, want %v", s.Dropped, tc.dropped)
			}
			var out bytes.Buffer
			if err := (&collector.Probe{Up: true, Snapshot: &s}).WriteText(&out); err != nil {
				t.Fatal(err)
			}
			for _, what := range tc.truncated {
				if l := `cgminer_probe_truncated{what="` + what + `"} 1`; !strings.Contains(out.String(), l+"\n") {
					t.Errorf("missing %s", l)
				}
			}
			for _, what := range tc.dropped {
				if l := fmt.Sprintf(`cgminer_probe_dropped_readings{what=%q} %d`, what, s.Dropped[what]); !strings.Contains(out.String(), l+"\n") {
					t.Errorf("missing %s", l)
				}
			}
		})
	}
}

// TestLimitsConfigurable reads with a module's own limits: lower ones cut a healthy miner's
// lists, higher ones let a large one through whole.
func TestLimitsConfigurable(t *testing.T) {
	res, _ := hostileResult(t, hostileCase{replies: map[string]string{
		"pools": manyPools(40),
		"devs":  section("DEVS", join(40, func(i int) string { return fmt.Sprintf(`{"ASC":%d,"MHS 5s":10,"Status":"Alive"}`, i) })),
	}})
	for _, tc := range []struct {
		lim                   miner.Limits
		boards, devs, pools   int
		truncated             []string
		longestLabel, labelsz int
	}{
		{miner.Limits{}, 16, 32, 16, []string{miner.CutBoards, miner.CutDevices, miner.CutPools}, 0, 0},
		{miner.Limits{Boards: 2, Devices: 3, Pools: 1}, 2, 3, 1, []string{miner.CutBoards, miner.CutDevices, miner.CutPools}, 0, 0},
		{miner.Limits{Boards: 64, Devices: 64, Pools: 64}, 40, 40, 40, nil, 0, 0},
		{miner.Limits{Boards: 64, Devices: 64, Pools: 64, LabelBytes: 10}, 40, 40, 40, []string{miner.CutLabelValue}, 10, 0},
	} {
		s := dialect.ReadLimited(res, dialect.Generic, tc.lim)
		if len(s.Boards) != tc.boards || len(s.Devices) != tc.devs || len(s.Pools) != tc.pools || !slices.Equal(s.Truncated, tc.truncated) {
			t.Errorf("limits %+v: %d boards, %d devices, %d pools, truncated %v; want %d, %d, %d, %v", tc.lim,
				len(s.Boards), len(s.Devices), len(s.Pools), s.Truncated, tc.boards, tc.devs, tc.pools, tc.truncated)
		}
		if tc.longestLabel > 0 && len(s.Pools[0].URL) != tc.longestLabel {
			t.Errorf("limits %+v: pool URL %q", tc.lim, s.Pools[0].URL)
		}
	}
}

// TestCapturesWithinLimits: no real miner's reply comes near a default limit or has an
// implausible reading, so their metrics never carry cgminer_probe_truncated or
// cgminer_probe_dropped_readings (the golden files hold the rest of their exposition).
func TestCapturesWithinLimits(t *testing.T) {
	for name, files := range goldenCases(t) {
		s := dialect.Read(loadResult(t, files), nil)
		if s.Truncated != nil || s.Dropped != nil {
			t.Errorf("%s: truncated %v, dropped %v", name, s.Truncated, s.Dropped)
		}
	}
}
