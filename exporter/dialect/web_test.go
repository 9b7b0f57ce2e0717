package dialect_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/minefarm/cgminer-stack/exporter/cgminer"
	"github.com/minefarm/cgminer-stack/exporter/collector"
	"github.com/minefarm/cgminer-stack/exporter/dialect"
	"github.com/minefarm/cgminer-stack/exporter/internal/recorded"
	"github.com/minefarm/cgminer-stack/exporter/miner"
	"github.com/minefarm/cgminer-stack/exporter/webapi"
)

const modernFixtures = "../testdata/modern"

// webCase is one unit's web API captures, each file with the endpoint it answers, read onto a
// base snapshot: the 4028 captures of the same unit and session where there are some, else the
// boards a 4028 read of the model finds (present, named as the firmware numbers them).
type webCase struct {
	api    string
	files  map[string]webapi.Endpoint
	rpc    []string // 4028 captures of the same unit (modern/<dir>/…), read as a probe reads them
	boards []string // the base's board names when there is no 4028 capture
	now    time.Time
}

var webCases = map[string]webCase{
	"web-antminer-s21-20240711": {api: webapi.Antminer, boards: []string{"1", "2", "3"}, files: map[string]webapi.Endpoint{
		"antminer-web/antminer-s21-20240711_get_system_info_pretty.json": webapi.AntminerSystemInfo,
		"antminer-web/antminer-s21-20240711_summary_pretty.json":         webapi.AntminerSummary,
		"antminer-web/antminer-s21-20240711_get_miner_conf_pretty.json":  webapi.AntminerMinerConf,
		"antminer-web/antminer-s21-20240711_stats_pretty.json":           webapi.AntminerStats,
	}},
	"web-antminer-s19j-20230915": {api: webapi.Antminer, files: map[string]webapi.Endpoint{
		"antminer-web/antminer-s19j-20230915_get_system_info.json": webapi.AntminerSystemInfo,
	}},
	// now: a quarter of an hour after the last hardware errors of the log, within the run
	// (bosminer_uptime_s 7039): the hashboard and voltage faults of that run.
	"web-braiins-s21pro-26.04": {api: webapi.Braiins, boards: []string{"1", "2", "3"}, now: time.Date(2026, 3, 22, 16, 0, 0, 0, time.UTC), files: map[string]webapi.Endpoint{
		"braiins-os/antminer-s21pro-bosplus-26.04_api-v1-miner-details_sorted.json":           webapi.BraiinsDetails,
		"braiins-os/antminer-s21pro-bosplus-26.04_api-v1-miner-hw-hashboards_sorted.json":     webapi.BraiinsHashboards,
		"braiins-os/antminer-s21pro-bosplus-26.04_api-v1-miner-errors_sorted.json":            webapi.BraiinsErrors,
		"braiins-os/antminer-s21pro-bosplus-26.04_api-v1-performance-tuner-state_sorted.json": webapi.BraiinsTuner,
	}},
	// now: the day after the log's last entry: its errors are of earlier runs, none is a fault.
	"web-braiins-s19xp-25.07": {api: webapi.Braiins, boards: []string{"1", "2", "3"}, now: time.Date(2026, 4, 9, 8, 0, 0, 0, time.UTC), files: map[string]webapi.Endpoint{
		"braiins-os/antminer-s19xp-bosplus-25.07_api-v1-miner-details_sorted.json":           webapi.BraiinsDetails,
		"braiins-os/antminer-s19xp-bosplus-25.07_api-v1-miner-hw-hashboards_sorted.json":     webapi.BraiinsHashboards,
		"braiins-os/antminer-s19xp-bosplus-25.07_api-v1-miner-errors_sorted.json":            webapi.BraiinsErrors,
		"braiins-os/antminer-s19xp-bosplus-25.07_api-v1-performance-tuner-state_sorted.json": webapi.BraiinsTuner,
	}},
	"web-vnish-s21pro-1.2.7": {api: webapi.VNish, files: map[string]webapi.Endpoint{
		"vnish/antminer-s21pro-vnish-1.2.7_api-v1-info.json":    webapi.VNishInfo,
		"vnish/antminer-s21pro-vnish-1.2.7_api-v1-summary.json": webapi.VNishSummary,
	}, rpc: []string{
		"vnish/antminer-s21pro-vnish-1.2.7_rpc4028-summary.json",
		"vnish/antminer-s21pro-vnish-1.2.7_rpc4028-pools.json",
		"vnish/antminer-s21pro-vnish-1.2.7_rpc4028-devdetails.json",
	}},
}

// webResult reads a case's captures as the client would have: each body through the same JSON
// reader.
func webResult(t testing.TB, c webCase) *webapi.Result {
	t.Helper()
	res := &webapi.Result{API: c.api, Replies: map[string]cgminer.Value{}, Errors: map[string]error{}}
	for f, e := range c.files {
		v, _, err := cgminer.ParseJSON(bytes.TrimLeft(readModern(t, f), " \t\r\n"))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		res.Replies[e.Name()] = v
	}
	return res
}

func readModern(t testing.TB, f string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(modernFixtures, f))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// base is the snapshot the main protocol gave: the case's 4028 captures read as a probe reads
// them, else its boards.
func base(t testing.TB, c webCase) miner.Snapshot {
	t.Helper()
	if len(c.rpc) == 0 {
		s := miner.Snapshot{}
		for i, n := range c.boards {
			s.Boards = append(s.Boards, miner.Board{Index: i, Name: n, Present: true})
		}
		return s
	}
	res := &cgminer.Result{Replies: map[string]*cgminer.Reply{}, Errors: map[string]error{}}
	for _, f := range c.rpc {
		cmd := strings.TrimSuffix(f[strings.LastIndex(f, "rpc4028-")+len("rpc4028-"):], ".json")
		body, rep, err := cgminer.Decode(readModern(t, f))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		res.Replies[cmd] = recorded.Reply(cmd, body, rep)
	}
	return dialect.ReadLimited(res, dialect.Identify(res), miner.DefaultLimits)
}

func webSnapshot(t testing.TB, name string) miner.Snapshot {
	c := webCases[name]
	s := base(t, c)
	dialect.ReadWeb(webResult(t, c), &s, miner.DefaultLimits, c.now)
	return s
}

// TestGoldenWeb turns every web API capture, read onto its base, into metrics and compares them
// with an exposition checked by hand against the replies (testdata/golden/web-*.prom).
func TestGoldenWeb(t *testing.T) {
	for name := range webCases {
		t.Run(name, func(t *testing.T) {
			s := webSnapshot(t, name)
			p := &collector.Probe{Up: true, Snapshot: &s, Commands: map[string]bool{}}
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(p)
			mfs, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
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
			c := webCases[name]
			files := append(sortedKeys(c.files), c.rpc...)
			golden(t, name, files, buf.Bytes())
		})
	}
}

// Every web capture of the exporter's testdata is in a golden case.
func TestWebCapturesCovered(t *testing.T) {
	in := map[string]bool{}
	for _, c := range webCases {
		for f := range c.files {
			in[f] = true
		}
		for _, f := range c.rpc {
			in[f] = true
		}
	}
	for _, dir := range []string{"antminer-web", "braiins-os", "vnish"} {
		files, err := filepath.Glob(filepath.Join(modernFixtures, dir, "*.json"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no captures: %v", dir, err)
		}
		for _, f := range files {
			if rel := dir + "/" + filepath.Base(f); !in[rel] {
				t.Errorf("%s is in no golden case", rel)
			}
		}
	}
}

func faultList(s miner.Snapshot) []string {
	var out []string
	for _, f := range s.Faults {
		out = append(out, f.Vendor+"="+f.Code+"/"+f.Severity+"/"+f.Component+"@"+f.Board)
	}
	return out
}

// What the captures must say, read by hand from the replies: the checks behind the golden
// files that matter most to the crew.
func TestWebCaptures(t *testing.T) {
	t.Run("antminer s21", func(t *testing.T) {
		s := webSnapshot(t, "web-antminer-s21-20240711")
		if s.Model != "Antminer S21" || s.Serial != "SMTTATUBDJAAI00A5" || s.MAC != "02:50:53:09:da:d9" || s.SoftwareVersion != "Thu Jul 11 16:38:25 CST 2024" {
			t.Errorf("identity %q %q %q %q", s.Model, s.Serial, s.MAC, s.SoftwareVersion)
		}
		var serials []string
		for _, b := range s.Boards {
			serials = append(serials, b.Name+"="+b.Serial)
		}
		if want := []string{"1=SMTTYRHBDJAAI019D", "2=SMTTYRHBDJAAI019N", "3=SMTTYRHBDJAAI019S"}; !slices.Equal(serials, want) {
			t.Errorf("board serials %v, want %v (stats.cgi chain index 0… is the board in slot order)", serials, want)
		}
		if !s.Sleeping.Set || s.Sleeping.V != 0 || len(s.Faults) != 0 {
			t.Errorf("sleeping %v (work mode 0), faults %v (every status s)", s.Sleeping, s.Faults)
		}
	})
	t.Run("antminer s19j: old firmware, no serinum", func(t *testing.T) {
		s := webSnapshot(t, "web-antminer-s19j-20230915")
		if s.Model != "Antminer S19j" || s.Serial != "" || s.MAC != "a2:e1:2a:d0:11:a2" || s.Sleeping.Set {
			t.Errorf("%q %q %q %v", s.Model, s.Serial, s.MAC, s.Sleeping)
		}
	})
	t.Run("braiins s21 pro, in the run of its errors", func(t *testing.T) {
		s := webSnapshot(t, "web-braiins-s21pro-26.04")
		if s.Serial != "THQGFKUBDJIAH0E9G" || s.MAC != "02:8f:77:ec:e7:e0" || s.Model != "Antminer S21 Pro" || s.SoftwareVersion != "2026-04-14-0-912d084c-26.04-plus" {
			t.Errorf("identity %q %q %q %q", s.Serial, s.MAC, s.Model, s.SoftwareVersion)
		}
		if s.Boards[0].Serial != "THQGYSCBDJIAH11S3" || s.Boards[2].Serial != "THQGYSCBDJIAH12AD" {
			t.Errorf("board serials %+v", s.Boards)
		}
		want := []string{"braiins:V2=hashboard_voltage/critical/hashboard@", "braiins:H1=hashboard_fault/critical/hashboard@",
			"braiins:hashboard=hashboard_fault/critical/hashboard@1"}
		if got := faultList(s); !slices.Equal(got, want) {
			t.Errorf("faults %v, want %v (sensor and DNS log lines are no faults)", got, want)
		}
		if !s.Sleeping.Set || s.Sleeping.V != 0 {
			t.Errorf("sleeping %v (status 2 normal)", s.Sleeping)
		}
	})
	t.Run("braiins s19 xp, a later run", func(t *testing.T) {
		s := webSnapshot(t, "web-braiins-s19xp-25.07")
		if s.Serial != "" || s.MAC != "02:ee:da:a9:b6:4a" || len(s.Faults) != 0 || s.Boards[1].Serial != "NGSBYPDBCJBAG8567" {
			t.Errorf("serial %q (null), mac %q, faults %v, boards %+v", s.Serial, s.MAC, s.Faults, s.Boards)
		}
	})
	t.Run("vnish s21 pro", func(t *testing.T) {
		s := webSnapshot(t, "web-vnish-s21pro-1.2.7")
		if s.MAC != "02:95:23:b3:e0:79" || s.Serial != "" || s.Firmware != "vnish" {
			t.Errorf("mac %q serial %q (N/A) firmware %q", s.MAC, s.Serial, s.Firmware)
		}
		if !s.Sleeping.Set || s.Sleeping.V != 0 {
			t.Errorf("sleeping %v (auto-tuning)", s.Sleeping)
		}
	})
}

// The firmware's own sleep mode decides, both ways: sleep mode 1 is asleep even where the 4028
// readings look broken, and an explicit working mode makes chips that all read x a failure, not
// sleep; a miner that still hashes is never asleep.
func TestWebSleep(t *testing.T) {
	hashing := miner.Snapshot{Hashrate: miner.Some(100e12), Sleeping: miner.Some(0)}
	idle := miner.Snapshot{Hashrate: miner.Some(0), Sleeping: miner.Some(1)}
	conf := func(mode string) *webapi.Result {
		v, _, _ := cgminer.ParseJSON([]byte(`{"bitmain-work-mode":"` + mode + `"}`))
		return &webapi.Result{API: webapi.Antminer, Replies: map[string]cgminer.Value{webapi.AntminerMinerConf.Name(): v}}
	}
	details := func(status string) *webapi.Result {
		v, _, _ := cgminer.ParseJSON([]byte(`{"status":` + status + `}`))
		return &webapi.Result{API: webapi.Braiins, Replies: map[string]cgminer.Value{webapi.BraiinsDetails.Name(): v}}
	}
	vnish := func(state string) *webapi.Result {
		v, _, _ := cgminer.ParseJSON([]byte(`{"miner":{"miner_status":{"miner_state":"` + state + `"}}}`))
		return &webapi.Result{API: webapi.VNish, Replies: map[string]cgminer.Value{webapi.VNishSummary.Name(): v}}
	}
	tests := []struct {
		name  string
		base  miner.Snapshot
		res   *webapi.Result
		sleep float64
		fault string
	}{
		{"antminer sleep mode, idle", miner.Snapshot{Hashrate: miner.Some(0), Sleeping: miner.Some(0)}, conf("1"), 1, ""},
		{"antminer sleep mode, still hashing", hashing, conf("1"), 0, ""},
		{"antminer normal mode, all chips x", idle, conf("0"), 0, ""},
		{"antminer low-power mode", idle, conf("2"), 0, ""},
		{"braiins paused", idle, details("3"), 1, ""},
		{"braiins suspended", idle, details("4"), 1, ""},
		{"braiins normal", idle, details("2"), 0, ""},
		{"braiins paused, hashing", hashing, details("3"), 0, ""},
		{"vnish stopped", idle, vnish("stopped"), 1, ""},
		{"vnish mining", idle, vnish("mining"), 0, ""},
		{"vnish failure", hashing, vnish("failure"), 0, "vnish:failure"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.base
			dialect.ReadWeb(tc.res, &s, miner.DefaultLimits, time.Now())
			if !s.Sleeping.Set || s.Sleeping.V != tc.sleep {
				t.Errorf("sleeping %v, want %v", s.Sleeping, tc.sleep)
			}
			if got := strings.Join(faultList(s), ","); (tc.fault == "") != (got == "") || !strings.Contains(got, tc.fault) {
				t.Errorf("faults %s, want %s", got, tc.fault)
			}
		})
	}
}

// The health array: each entry that is not "s" is a fault of its type's class, its letter the
// severity; an unknown type is raw; what the main protocol found is kept.
func TestAntminerStatusFaults(t *testing.T) {
	v, _, err := cgminer.ParseJSON([]byte(`{"SUMMARY":[{"status":[
		{"type":"rate","status":"w","code":1,"msg":"hashrate low"},
		{"type":"network","status":"s","code":0,"msg":""},
		{"type":"fans","status":"e","code":131,"msg":"fan lost"},
		{"type":"temp","status":"","code":0,"msg":""},
		{"type":"psu","status":"e","code":7,"msg":"psu"},
		{"type":"bad type!","status":"e"},
		{"type":"temp","status":"w","code":"x","msg":"hot"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	s := miner.Snapshot{Faults: []miner.Fault{{Code: "fan_failure", Severity: "critical", Component: "fan", Vendor: "luxos:FAN_FAILURE"}}}
	dialect.ReadWeb(&webapi.Result{API: webapi.Antminer, Replies: map[string]cgminer.Value{webapi.AntminerSummary.Name(): v}}, &s, miner.DefaultLimits, time.Now())
	want := []string{"luxos:FAN_FAILURE=fan_failure/critical/fan@", "antminer:rate:1=hashrate_low/warning/hashboard@",
		"antminer:psu:7=antminer:psu/critical/other@", "antminer:temp=overheat/warning/temperature@"}
	if got := faultList(s); !slices.Equal(got, want) {
		t.Errorf("faults %v, want %v", got, want)
	}
}

// Hostile web replies stay within the limits: thousands of errors and statuses, huge strings,
// wrong types.
func TestWebHostile(t *testing.T) {
	var errs, st bytes.Buffer
	errs.WriteString(`{"errors":[`)
	st.WriteString(`{"SUMMARY":[{"status":[`)
	for i := range 5000 {
		if i > 0 {
			errs.WriteString(",")
			st.WriteString(",")
		}
		errs.WriteString(`{"timestamp":"2026-03-22T15:00:00Z","message":"` + strings.Repeat("m", 300) + `","error_codes":[{"code":"X` + strconv.Itoa(i) + `"}],"components":[{"name":"Hashboard","index":` + strconv.Itoa(i) + `},{"name":"c` + strconv.Itoa(i) + `"}]}`)
		st.WriteString(`{"type":"t` + strconv.Itoa(i) + `","status":"e","code":` + strconv.Itoa(i) + `}`)
	}
	errs.WriteString(`]}`)
	st.WriteString(`]}]}`)
	parse := func(b []byte) cgminer.Value {
		v, _, err := cgminer.ParseJSON(b)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, res := range []*webapi.Result{
		{API: webapi.Braiins, Replies: map[string]cgminer.Value{webapi.BraiinsErrors.Name(): parse(errs.Bytes()),
			webapi.BraiinsDetails.Name():    parse([]byte(`{"serial_number":"` + strings.Repeat("S", 500) + `","mac_address":7,"bosminer_uptime_s":1e300,"status":"x","miner_identity":[1,2]}`)),
			webapi.BraiinsHashboards.Name(): parse([]byte(`{"hashboards":{"id":1}}`))}},
		{API: webapi.Antminer, Replies: map[string]cgminer.Value{webapi.AntminerSummary.Name(): parse(st.Bytes()),
			webapi.AntminerStats.Name(): parse([]byte(`{"STATS":[{"chain":[{"index":-1,"sn":"A"},{"index":1e300,"sn":"BBBBBB"},{"index":"x"}]}]}`))}},
	} {
		s := miner.Snapshot{Boards: []miner.Board{{Name: "1", Present: true}}}
		dialect.ReadWeb(res, &s, miner.DefaultLimits, time.Date(2026, 3, 22, 16, 0, 0, 0, time.UTC))
		if len(s.Faults) != miner.DefaultLimits.Faults || !slices.Contains(s.Truncated, miner.CutFaults) {
			t.Errorf("%s: %d faults, truncated %v", res.API, len(s.Faults), s.Truncated)
		}
		for _, f := range s.Faults {
			if len(f.Code) > miner.DefaultLimits.LabelBytes || len(f.Raw) > miner.MaxFaultText || len(f.Board) > 8 {
				t.Errorf("unbounded fault %+v", f)
			}
		}
		if s.Serial != "" || s.MAC != "" || s.Boards[0].Serial != "" {
			t.Errorf("identity from junk: %q %q %q", s.Serial, s.MAC, s.Boards[0].Serial)
		}
	}
}

// FuzzWebJSON: any body, read as any endpoint of any API onto a snapshot with boards, keeps
// every bound: faults at the limit, labels cut, no panic.
func FuzzWebJSON(f *testing.F) {
	for _, c := range webCases {
		for file := range c.files {
			f.Add(readModern(f, file), uint8(0))
		}
	}
	f.Add([]byte(`{"SUMMARY":[{"status":[{"type":"fans","status":"e","code":131,"msg":"x"}]}]}`), uint8(1))
	f.Add([]byte(`{"errors":[{"timestamp":"2026-03-22T15:00:00Z","error_codes":[{"code":"V2"}],"components":[{"name":"Hashboard","index":1}]}]}`), uint8(6))
	endpoints := []webapi.Endpoint{webapi.AntminerSystemInfo, webapi.AntminerSummary, webapi.AntminerMinerConf, webapi.AntminerStats,
		webapi.BraiinsDetails, webapi.BraiinsHashboards, webapi.BraiinsErrors, webapi.BraiinsTuner, webapi.VNishInfo, webapi.VNishSummary}
	apis := []string{webapi.Antminer, webapi.Antminer, webapi.Antminer, webapi.Antminer, webapi.Braiins, webapi.Braiins, webapi.Braiins, webapi.Braiins, webapi.VNish, webapi.VNish}
	lim := miner.Limits{Faults: 4, LabelBytes: 16, Boards: 3}.OrDefault()
	f.Fuzz(func(t *testing.T, body []byte, which uint8) {
		v, _, err := cgminer.ParseJSON(body)
		if err != nil {
			return
		}
		i := int(which) % len(endpoints)
		s := miner.Snapshot{Boards: []miner.Board{{Name: "1", Present: true}, {Name: "2", Present: true}}}
		dialect.ReadWeb(&webapi.Result{API: apis[i], Replies: map[string]cgminer.Value{endpoints[i].Name(): v}}, &s, lim, time.Date(2026, 3, 22, 16, 0, 0, 0, time.UTC))
		if len(s.Faults) > lim.Faults || len(s.Boards) != 2 {
			t.Fatalf("%d faults, %d boards", len(s.Faults), len(s.Boards))
		}
		for _, str := range []string{s.Model, s.Serial, s.MAC, s.SoftwareVersion, s.Boards[0].Serial} {
			if len(str) > lim.LabelBytes {
				t.Fatalf("label %q over the limit", str)
			}
		}
		for _, f := range s.Faults {
			if f.Code == "" || len(f.Code) > lim.LabelBytes || len(f.Raw) > miner.MaxFaultText {
				t.Fatalf("fault %+v", f)
			}
		}
	})
}
