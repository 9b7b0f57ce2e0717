package dialect_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/minefarm/cgminer-stack/exporter/collector"
	"github.com/minefarm/cgminer-stack/exporter/dialect"
	"github.com/minefarm/cgminer-stack/exporter/internal/fakeminer"
	"github.com/minefarm/cgminer-stack/exporter/miner"
	"github.com/minefarm/cgminer-stack/exporter/wm3"
)

const v3Fixtures = "../testdata/modern/whatsminer-v3"

// v3Cases are the API v3 captures, grouped by the unit and session they come from, each file
// with the command it answers. Every capture is in a case (TestV3CapturesCovered).
var v3Cases = map[string]map[string]wm3.Command{
	"whatsminer-v3-m60s-vk40-20251209.16.rel2": {
		"m60s-vk40-20251209.16.rel2_get.device.info+error-code_sorted.json":        wm3.DeviceInfo,
		"m60s-vk40-20251209.16.rel2_get.miner.status-summary_sorted_edited.json":   wm3.MinerStatusSummary,
		"m60s-vk40-20251209.16.rel2_get.miner.status-pools_sorted_anonymized.json": wm3.MinerStatusPools,
	},
	"whatsminer-v3-m50-vh84-20250915.16.rel2": {
		"m50-vh84-20250915.16.rel2_get.device.info_pretty_anonymized.json": wm3.DeviceInfo,
	},
}

// v3Result decodes a case's captures as the client would have read them.
func v3Result(t testing.TB, files map[string]wm3.Command) *wm3.Result {
	t.Helper()
	res := &wm3.Result{Replies: map[wm3.Command]*wm3.Reply{}, Errors: map[wm3.Command]error{}}
	for f, cmd := range files {
		raw, err := os.ReadFile(filepath.Join(v3Fixtures, f))
		if err != nil {
			t.Fatal(err)
		}
		rep, err := wm3.Decode(cmd, raw)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		res.Replies[cmd] = rep
	}
	return res
}

// v3Expose is the exposition /probe would serve for an API v3 probe, held equal between
// WriteText and a pedantic registry, without the duration.
func v3Expose(t *testing.T, res *wm3.Result, lim miner.Limits) []byte {
	t.Helper()
	s := dialect.ReadWhatsminerV3(res, lim)
	p := &collector.Probe{Up: res.Err() == nil, Snapshot: &s, Commands: res.Commands()}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(p)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if mf.GetName() != "cgminer_probe_duration_seconds" {
			if err := enc.Encode(mf); err != nil {
				t.Fatal(err)
			}
		}
	}
	var direct bytes.Buffer
	if err := p.WriteText(&direct); err != nil {
		t.Fatal(err)
	}
	if d := dropDuration(direct.String()); d != buf.String() {
		t.Errorf("WriteText differs from the registry's exposition:\n%s", diff(buf.String(), d))
	}
	return buf.Bytes()
}

func dropDuration(text string) string {
	var out strings.Builder
	for _, line := range strings.SplitAfter(text, "\n") {
		if !strings.Contains(line, "cgminer_probe_duration_seconds") {
			out.WriteString(line)
		}
	}
	return out.String()
}

// TestGoldenWhatsminerV3 turns every API v3 capture into metrics and compares them with an
// exposition checked by hand against the replies (testdata/golden/whatsminer-v3-*.prom;
// regenerate with -update and review the diff).
func TestGoldenWhatsminerV3(t *testing.T) {
	for name, files := range v3Cases {
		t.Run(name, func(t *testing.T) {
			got := v3Expose(t, v3Result(t, files), miner.DefaultLimits)
			golden(t, name, sortedKeys(files), got)
		})
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// golden compares an exposition with testdata/golden/<name>.prom, or writes it with -update.
func golden(t *testing.T, name string, files []string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name+".prom")
	if *update {
		header := "# files: " + strings.Join(files, " ") + "\n"
		if err := os.WriteFile(path, append([]byte(header), got...), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./exporter/dialect -update and review the result)", err)
	}
	if i := bytes.IndexByte(want, '\n'); i >= 0 && bytes.HasPrefix(want, []byte("# files:")) {
		want = want[i+1:]
	}
	if !bytes.Equal(got, want) {
		t.Errorf("exposition differs from %s:\n%s", path, diff(string(want), string(got)))
	}
}

func TestV3CapturesCovered(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(v3Fixtures, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no captures: %v", err)
	}
	in := map[string]bool{}
	for _, c := range v3Cases {
		for f := range c {
			in[f] = true
		}
	}
	for _, f := range files {
		if !in[filepath.Base(f)] {
			t.Errorf("%s is in no golden case", filepath.Base(f))
		}
	}
}

// What the M60S capture must say, read by hand from the replies: the checks behind the golden
// file that matter most to the crew.
func TestWhatsminerV3Capture(t *testing.T) {
	s := dialect.ReadWhatsminerV3(v3Result(t, v3Cases["whatsminer-v3-m60s-vk40-20251209.16.rel2"]), miner.DefaultLimits)
	if s.Model != "Whatsminer M60S" || s.SoftwareVersion != "20251209.16.Rel2" || s.APIVersion != "3.0.2" || s.Family != "whatsminer-v3" {
		t.Errorf("identity %q %q %q %q", s.Model, s.SoftwareVersion, s.APIVersion, s.Family)
	}
	if s.Serial != "BTM3CS40HD24083100000000000000000" || s.MAC != "ce:02:01:00:8c:36" {
		t.Errorf("serial %q, MAC %q", s.Serial, s.MAC)
	}
	if s.Hashrate.V != 171.259e12 || s.HashrateNominal.V != 181.051e12 || s.HashrateAverage.V != 170.8e12 || s.Power.V != 3156 || s.Uptime.V != 50000 {
		t.Errorf("hashrate %v nominal %v average %v power %v uptime %v", s.Hashrate, s.HashrateNominal, s.HashrateAverage, s.Power, s.Uptime)
	}
	if !s.BoardsExpected.Set || s.BoardsExpected.V != 3 || len(s.Boards) != 0 || s.BoardsDetected().Set {
		t.Errorf("boards expected %v, boards %+v (no edevs captured: board-num 3, detected unknown, not 0)", s.BoardsExpected, s.Boards)
	}
	if !s.Sleeping.Set || s.Sleeping.V != 0 {
		t.Errorf("sleeping %v (working true)", s.Sleeping)
	}
	var codes []string
	for _, f := range s.Faults {
		codes = append(codes, f.Vendor+"="+f.Code+"/"+f.Severity)
	}
	want := []string{"whatsminer:264=psu_communication/critical", "whatsminer:265=psu_fault/critical",
		"whatsminer:270=psu_input_power/warning"}
	if !slices.Equal(codes, want) {
		t.Errorf("faults %v, want %v (266 and 267 are psu_fault as 265 is: one series)", codes, want)
	}
	if len(s.Faults) > 0 && !strings.HasPrefix(s.Faults[0].Raw, "Power xfer error") {
		t.Errorf("raw %q", s.Faults[0].Raw)
	}
	if len(s.Pools) != 3 || s.Pools[0].User != "asic-rs.test" || s.Pools[0].Active.V != 1 || s.Pools[1].Priority.V != 1 {
		t.Errorf("pools %+v", s.Pools)
	}
}

// v3Reply builds a reply envelope for the tests below.
func v3Reply(t testing.TB, cmd wm3.Command, msg string) *wm3.Reply {
	t.Helper()
	desc := strings.SplitN(cmd.String(), ":", 2)[0]
	rep, err := wm3.Decode(cmd, []byte(`{"code":0,"desc":"`+desc+`","msg":`+msg+`,"when":1773869570}`))
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func v3Of(t testing.TB, replies map[wm3.Command]string) *wm3.Result {
	res := &wm3.Result{Replies: map[wm3.Command]*wm3.Reply{}, Errors: map[wm3.Command]error{}}
	for c, m := range replies {
		res.Replies[c] = v3Reply(t, c, m)
	}
	return res
}

// edevs are hashboards by slot: effective chips, chip temperatures min/avg/max, factory hash
// per board, PCB temperature from summary's board-temperature, serials from pcbsnN; a slot the
// miner should have and does not report is a missing board.
func TestWhatsminerV3Boards(t *testing.T) {
	res := v3Of(t, map[wm3.Command]string{
		wm3.DeviceInfo: `{"miner":{"type":"M66S_VM20","board-num":"3","pcbsn0":"BKM3CSE1404807K42757","pcbsn2":"<DELETED>","working":"true"}}`,
		wm3.MinerStatus: `{"summary":{"hash-realtime":250.5,"board-temperature":[41.1,40.1,41.5]},"pools":[],` +
			`"edevs":[{"id":0,"slot":0,"hash-average":83.9,"factory-hash":84.1,"freq":610,"effective-chips":156,"chip-temp-min":60.5,"chip-temp-avg":70.2,"chip-temp-max":80.9},` +
			`{"id":2,"slot":2,"hash-average":0,"factory-hash":-0.001,"effective-chips":0,"chip-temp-min":0,"chip-temp-avg":0,"chip-temp-max":0}]}`,
	})
	s := dialect.ReadWhatsminerV3(res, miner.DefaultLimits)
	if len(s.Boards) != 3 {
		t.Fatalf("boards %+v", s.Boards)
	}
	b0, b1, b2 := s.Boards[0], s.Boards[1], s.Boards[2]
	if !b0.Present || b0.Name != "0" || b0.Hashrate.V != 83.9e12 || b0.HashrateNominal.V != 84.1e12 || b0.Chips.V != 156 || b0.Serial != "BKM3CSE1404807K42757" {
		t.Errorf("board 0 %+v", b0)
	}
	temps := map[string]float64{}
	for _, tt := range b0.Temperatures {
		temps[tt.Sensor] = tt.Celsius
	}
	if temps["chip"] != 80.9 || temps["chip_avg"] != 70.2 || temps["chip_min"] != 60.5 || temps["pcb"] != 41.1 {
		t.Errorf("board 0 temperatures %v", temps)
	}
	if b1.Present || b1.Name != "1" {
		t.Errorf("slot 1 should be missing: %+v", b1)
	}
	if !b2.Present || b2.Chips.V != 0 || b2.HashrateNominal.Set || b2.Serial != "" || len(b2.Temperatures) != 1 {
		t.Errorf("dead board 2 %+v (no chip temperatures of 0, no negative nominal, no anonymised serial)", b2)
	}
	if s.BoardsDetected().V != 1 || s.BoardsExpected.V != 3 {
		t.Errorf("detected %v, expected %v", s.BoardsDetected(), s.BoardsExpected)
	}
}

// edevs answered with no board: every slot the miner should have is missing (cgminer_boards 0).
func TestWhatsminerV3NoBoards(t *testing.T) {
	s := dialect.ReadWhatsminerV3(v3Of(t, map[wm3.Command]string{
		wm3.DeviceInfo:  `{"miner":{"type":"M60S_VK40","board-num":"3"}}`,
		wm3.MinerStatus: `{"summary":{},"pools":[],"edevs":[]}`,
	}), miner.DefaultLimits)
	if len(s.Boards) != 3 || s.BoardsDetected().V != 0 || s.BoardsExpected.V != 3 {
		t.Errorf("boards %+v, detected %v, expected %v", s.Boards, s.BoardsDetected(), s.BoardsExpected)
	}
}

// Curtailment: mining switched off, or low-power mode hashing nothing, is Sleeping; normal mode with mining on is
// not; a miner that hashes is never asleep because of the working flag alone; no word is absent.
func TestWhatsminerV3Sleeping(t *testing.T) {
	for _, tc := range []struct {
		name    string
		replies map[wm3.Command]string
		want    miner.F
	}{
		{"mining on, normal", map[wm3.Command]string{wm3.DeviceInfo: `{"miner":{"working":"true"}}`, wm3.MinerSetting: `{"power-mode":"normal"}`}, miner.Some(0)},
		{"mining off (power-off)", map[wm3.Command]string{wm3.DeviceInfo: `{"miner":{"working":"false"}}`,
			wm3.MinerStatus: `{"summary":{"hash-realtime":0}}`}, miner.Some(1)},
		{"working false but hashing", map[wm3.Command]string{wm3.DeviceInfo: `{"miner":{"working":"false"}}`,
			wm3.MinerStatus: `{"summary":{"hash-realtime":120.5}}`}, miner.Some(0)},
		{"low-power mode from the settings", map[wm3.Command]string{wm3.DeviceInfo: `{"miner":{"working":"true"}}`,
			wm3.MinerSetting: `{"power-mode":"Low","power-limit":2500}`}, miner.Some(1)},
		{"low-power mode from summary, not hashing", map[wm3.Command]string{wm3.MinerStatus: `{"summary":{"power-mode":"low","hash-realtime":0}}`}, miner.Some(1)},
		// A thief must not hide a foreign pool by switching a miner to low power: hashing is awake.
		{"low-power mode while hashing", map[wm3.Command]string{wm3.DeviceInfo: `{"miner":{"working":"true"}}`,
			wm3.MinerStatus: `{"summary":{"power-mode":"low","hash-realtime":90}}`}, miner.Some(0)},
		{"high-performance mode", map[wm3.Command]string{wm3.MinerSetting: `{"power-mode":"high"}`}, miner.Some(0)},
		{"nothing said", map[wm3.Command]string{wm3.DeviceInfo: `{"miner":{"type":"M60S_VK40"}}`}, miner.F{}},
		{"nonsense flag", map[wm3.Command]string{wm3.DeviceInfo: `{"miner":{"working":"maybe"}}`}, miner.F{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := dialect.ReadWhatsminerV3(v3Of(t, tc.replies), miner.DefaultLimits).Sleeping; got != tc.want {
				t.Errorf("sleeping %+v, want %+v", got, tc.want)
			}
		})
	}
}

// Hostile API v3 replies: thousands of boards, pools, error codes and absurd readings stay within
// the limits, say what was cut, and export only finite, plausible values.
func TestWhatsminerV3Hostile(t *testing.T) {
	many := func(n int, f func(i int) string) string { return "[" + join(n, f) + "]" }
	res := v3Of(t, map[wm3.Command]string{
		wm3.DeviceInfo: `{"miner":{"type":"` + strings.Repeat("M", 5000) + `","board-num":"99999999","miner-sn":"` + strings.Repeat("s", 1000) + `",` +
			`"working":"true"},"system":{"fwversion":"` + strings.Repeat("v", 100000) + `"},"network":{"mac":"` + strings.Repeat("a", 1000) + `"},` +
			`"power":{"fanspeed":1e12},"error-code":` + many(3000, func(i int) string {
			return `{"` + itoa(100+i) + `":"2026-05-23 09:19:10","reason":"` + strings.Repeat("r", 100) + `"}`
		}) + `}`,
		wm3.MinerStatus: `{"summary":{"elapsed":-1,"hash-realtime":1e300,"hash-average":-5,"factory-hash":1e30,"power-realtime":1e12,` +
			`"environment-temperature":-500,"chip-temp-max":1e6,"fan-speed-in":-1,"fan-speed-out":1e9,"board-temperature":` + many(3000, func(int) string { return "50" }) + `},` +
			`"pools":` + many(2000, func(i int) string {
			return `{"id":` + itoa(i) + `,"url":"stratum+tcp://p` + itoa(i) + `:1","account":"a","status":"alive","pool-priority":1e300}`
		}) + `,` +
			`"edevs":` + many(3000, func(i int) string {
			return `{"slot":` + itoa(i) + `,"hash-average":1e300,"effective-chips":1e9,"chip-temp-max":500}`
		}) + `}`,
	})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	s := dialect.ReadWhatsminerV3(res, miner.DefaultLimits)
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
		t.Errorf("ReadWhatsminerV3 allocated %d bytes", alloc)
	}
	checkBounded(t, &s)
	var out bytes.Buffer
	if err := (&collector.Probe{Up: true, Snapshot: &s}).WriteText(&out); err != nil {
		t.Fatal(err)
	}
	checkExposition(t, out.String())
	if len(s.Faults) != 32 {
		t.Errorf("%d faults, limit 32", len(s.Faults))
	}
	for _, want := range []string{miner.CutBoards, miner.CutFaults, miner.CutLabelValue, miner.CutPools} {
		if !slices.Contains(s.Truncated, want) {
			t.Errorf("truncated %v, want %s", s.Truncated, want)
		}
	}
	if s.Serial != "" || s.MAC != "" {
		t.Errorf("serial %q, MAC %q from junk", s.Serial, s.MAC)
	}
	if s.BoardsExpected.Set && s.BoardsExpected.V > 16 {
		t.Errorf("boards expected %v", s.BoardsExpected)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// The same probe through the real client on loopback: the captures served as frames give the
// golden exposition.
func TestWhatsminerV3Loopback(t *testing.T) {
	files := v3Cases["whatsminer-v3-m60s-vk40-20251209.16.rel2"]
	byParam := map[string][]byte{}
	for f, cmd := range files {
		raw, err := os.ReadFile(filepath.Join(v3Fixtures, f))
		if err != nil {
			t.Fatal(err)
		}
		byParam[cmd.String()] = raw
	}
	ln := fakeminer.Listen(t, "127.0.0.1:0", func(c net.Conn, req []byte) {
		if len(req) < 4 || int(binary.LittleEndian.Uint32(req)) != len(req)-4 {
			t.Errorf("request %q", req)
			return
		}
		var r struct{ Cmd, Param string }
		_ = json.Unmarshal(req[4:], &r)
		key := r.Cmd
		if r.Param != "" {
			key += ":" + r.Param
		}
		body, ok := byParam[key]
		if !ok {
			body = []byte(`{"code":-2,"msg":"invalid command","desc":"` + r.Cmd + `","when":1}`)
		}
		_, _ = c.Write(wm3.AppendFrame(nil, body))
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var client wm3.Client
	res, err := client.Query(ctx, ln.Addr().String(), wm3.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := v3Expose(t, res, miner.DefaultLimits)
	// The probe asked more than the captures answer: its command_success lines differ.
	want := v3Expose(t, v3Result(t, files), miner.DefaultLimits)
	if strip(got) != strip(want) {
		t.Errorf("over loopback:\n%s", diff(strip(want), strip(got)))
	}
}

func strip(b []byte) string {
	var out strings.Builder
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if !strings.Contains(line, "cgminer_command_success") {
			out.WriteString(line)
		}
	}
	return out.String()
}
