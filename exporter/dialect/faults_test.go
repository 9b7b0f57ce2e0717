package dialect_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/minefarm/cgminer-stack/exporter/cgminer"
	"github.com/minefarm/cgminer-stack/exporter/collector"
	"github.com/minefarm/cgminer-stack/exporter/dialect"
	"github.com/minefarm/cgminer-stack/exporter/miner"
	"github.com/minefarm/cgminer-stack/exporter/wm3"
)

// The MicroBT table is sorted and without overlaps (the lookup is a binary search), every row's
// class is a listed class with a valid component and severity, and class codes are unique.
func TestFaultTableWellFormed(t *testing.T) {
	classes := map[string]dialect.FaultClass{}
	components := map[string]bool{"fan": true, "psu": true, "hashboard": true, "temperature": true, "network": true,
		"pool": true, "control_board": true, "firmware": true, "other": true}
	for _, c := range dialect.FaultClasses() {
		if _, dup := classes[c.Code]; dup {
			t.Errorf("class %s twice", c.Code)
		}
		classes[c.Code] = c
		if !components[c.Component] || c.Text == "" || !regexp.MustCompile(`^[a-z_]+$`).MatchString(c.Code) {
			t.Errorf("class %+v", c)
		}
	}
	severities := map[string]bool{"critical": true, "warning": true, "info": true}
	prev := -1
	for _, r := range dialect.WhatsminerRanges() {
		if r.Lo > r.Hi || r.Lo <= prev {
			t.Errorf("range %d–%d after %d: not sorted or overlapping", r.Lo, r.Hi, prev)
		}
		prev = r.Hi
		if _, ok := classes[r.Class.Code]; !ok || !components[r.Class.Component] || !severities[r.Severity] || r.Text == "" {
			t.Errorf("range %d–%d: %+v %s", r.Lo, r.Hi, r.Class, r.Severity)
		}
	}
	for code, e := range dialect.LuxOSEvents() {
		if _, ok := classes[e[0]]; !ok || !severities[e[1]] {
			t.Errorf("LuxOS %s: %v", code, e)
		}
	}
}

// MicroBT codes read from error-code lists in each shape the firmware sends, mapped through the
// table: the class, its severity, the slot digit as the board label; anything else raw.
func TestWhatsminerFaultCodes(t *testing.T) {
	tests := []struct {
		name string
		list string // API v3 error-code value
		want []string
	}{
		{"fans", `[{"110":"t"},{"111":"t"},{"140":"t"}]`,
			[]string{"fan_failure/fan/critical/", "fan_speed_high/fan/warning/"}},
		{"boards by slot", `[{"530":"t"},{"531":"t"},{"532":"t"},{"541":"t"},{"5012":"t"},{"722":"t"}]`,
			[]string{"hashboard_not_found/hashboard/critical/0", "hashboard_not_found/hashboard/critical/1", "hashboard_not_found/hashboard/critical/2",
				"hashboard_chips/hashboard/critical/1", "hashboard_voltage/hashboard/warning/2", "control_board_link/control_board/critical/2"}},
		{"chip codes: the third digit is the slot", `[{"520123":"t"},{"561007":"t"}]`,
			[]string{"chip_fault/hashboard/warning/0", "chip_fault/hashboard/warning/1"}},
		{"temperature", `[{"301":"t"},{"329":"t"},{"352":"t"},{"600":"t"}]`,
			[]string{"temp_sensor/hashboard/warning/1", "temp_sensor/control_board/warning/", "overheat/temperature/critical/2",
				"environment_temperature/temperature/warning/"}},
		{"power", `[{"205":"t"},{"206":"t"},{"253":"t"},{"263":"t"},{"275":"t"}]`,
			[]string{"psu_fault/psu/critical/", "psu_input_power/psu/warning/", "psu_fan/psu/critical/", "psu_communication/psu/warning/",
				"psu_overheat/psu/warning/"}},
		{"pools, firmware, security", `[{"2021":"t"},{"2310":"t"},{"8410":"t"},{"100001":"t"}]`,
			[]string{"pool_connection/pool/warning/", "hashrate_low/hashboard/warning/", "firmware_outdated/firmware/info/",
				"firmware_integrity/firmware/critical/"}},
		{"codes no row knows are raw", `[{"9999":"t"},{"0":"t"},{"310":"t"},{"999999":"t"}]`,
			[]string{"whatsminer:9999/other/warning/", "whatsminer:0/other/warning/", "whatsminer:310/other/warning/", "whatsminer:999999/other/warning/"}},
		{"not codes: skipped", `[{"12345678":"t"},{"-1":"t"},{"1e3":"t"},{"abc":"t"},{" ":"t"},{"reason":"only"},"x",1.5,null,[530]]`, nil},
		{"a list of bare codes", `[530, "111", " 205 "]`,
			[]string{"hashboard_not_found/hashboard/critical/0", "fan_failure/fan/critical/", "psu_fault/psu/critical/"}},
		{"btminer 2.0.4's dict", `{"530":"2021-01-01","111":"2021-01-02"}`,
			[]string{"hashboard_not_found/hashboard/critical/0", "fan_failure/fan/critical/"}},
		{"empty", `[]`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := dialect.ReadWhatsminerV3(v3Of(t, map[wm3.Command]string{wm3.DeviceInfo: `{"error-code":` + tc.list + `}`}), miner.DefaultLimits)
			if got := faultStrings(s.Faults); !slices.Equal(got, tc.want) {
				t.Errorf("faults\n got %v\nwant %v", got, tc.want)
			}
		})
	}
}

func faultStrings(fs []miner.Fault) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Code+"/"+f.Component+"/"+f.Severity+"/"+f.Board)
	}
	return out
}

// The legacy btminer (4028): summary's "Error Code N" (not the factory test's codes, not the
// count) and get_error_code's list; a low power mode is curtailment as on API v3.
func TestLegacyWhatsminerFaults(t *testing.T) {
	summary := section("SUMMARY", `{"Elapsed":100,"MHS 5s":80000000,"Factory GHS":86000,"Error Code Count":99,"Error Code 0":205,`+
		`"Error Code 1":"531","Factory Error Code 0":202,"Factory Error Code Count":1,"Error Code x":110,"Power Mode":"Normal"}`)
	tests := []struct {
		name      string
		replies   map[string]string
		want      []string
		sleeping  miner.F
		truncated []string
	}{
		{"summary error codes", map[string]string{"summary": summary},
			[]string{"psu_fault/psu/critical/", "hashboard_not_found/hashboard/critical/1"}, miner.F{}, nil},
		{"get_error_code, list of one-code objects", map[string]string{"summary": summary,
			"get_error_code": `{"STATUS":"S","When":1700000000,"Code":133,"Msg":{"error_code":[{"329":"2022-01-17 11:28:11"},{"530":"2022-01-17 11:30:00"},{"205":"2022-01-17 11:30:00"}]},"Description":""}`},
			[]string{"psu_fault/psu/critical/", "hashboard_not_found/hashboard/critical/1", "temp_sensor/control_board/warning/",
				"hashboard_not_found/hashboard/critical/0"}, miner.F{}, nil},
		{"get_error_code, btminer 2.0.4's dict list", map[string]string{
			"get_error_code": `{"STATUS":"S","When":1,"Code":133,"Msg":{"error_code":["111":"2021-01-01","222":"2021-01-02"]},"Description":""}`},
			[]string{"fan_failure/fan/critical/", "psu_fault/psu/critical/"}, miner.F{}, nil},
		{"get_error_code refused", map[string]string{"summary": summary,
			"get_error_code": `{"STATUS":"E","When":1,"Code":14,"Msg":"invalid cmd","Description":""}`},
			[]string{"psu_fault/psu/critical/", "hashboard_not_found/hashboard/critical/1"}, miner.F{}, nil},
		// Low power that still hashes is awake (its fans, temperatures and pools stay watched); low
		// power that hashes nothing is curtailment.
		{"low power mode, hashing", map[string]string{"summary": section("SUMMARY", `{"MHS 5s":60000000,"Power Mode":"Low"}`)}, nil, miner.F{}, nil},
		{"low power mode, not hashing", map[string]string{"summary": section("SUMMARY", `{"MHS 5s":0,"Power Mode":"Low"}`)}, nil, miner.Some(1), nil},
		{"5000 error codes", map[string]string{"get_error_code": `{"STATUS":"S","Code":133,"Msg":{"error_code":[` +
			join(5000, func(i int) string { return fmt.Sprintf(`{"%d":"t"}`, 9000+i) }) + `]}}`}, nil, miner.F{}, []string{miner.CutFaults}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, _ := hostileResult(t, hostileCase{replies: tc.replies})
			s := dialect.Read(res, dialect.Whatsminer)
			got := faultStrings(s.Faults)
			if tc.truncated != nil {
				if len(s.Faults) != 32 || !slices.Equal(s.Truncated, tc.truncated) {
					t.Errorf("%d faults, truncated %v", len(s.Faults), s.Truncated)
				}
				return
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("faults\n got %v\nwant %v", got, tc.want)
			}
			if s.Sleeping != tc.sleeping {
				t.Errorf("sleeping %+v, want %+v", s.Sleeping, tc.sleeping)
			}
		})
	}
	if !slices.Contains(dialect.Whatsminer.Commands(), cgminer.GetErrorCode) {
		t.Errorf("the Whatsminer family does not ask get_error_code")
	}
}

// LuxOS events: the real capture with the S19k Pro's replies (another firmware release of the
// same family; the events capture has no other reply with it) — golden; then the shapes the
// capture does not have.
func TestLuxOSEvents(t *testing.T) {
	files := append([]string{"../modern/luxos/antminer-luxos-2025.9.8_events_sorted.json"}, goldenCases(t)["antminer-s19kpro-luxos-2025.4.8"]...)
	sort.Strings(files)
	res := loadResult(t, files)
	s := dialect.Read(res, nil)
	if s.Family != "luxos" {
		t.Fatalf("family %s", s.Family)
	}
	want := []string{"hashboard_fault/hashboard/critical/", "hashboard_fault/hashboard/warning/1"}
	if got := faultStrings(s.Faults); !slices.Equal(got, want) {
		t.Errorf("faults %v, want %v (NOPIC_PROTECTION on the miner, REBOOT_NOT_HASHING on board ID 0 = chain 1)", got, want)
	}
	if len(s.Faults) == 2 && (s.Faults[1].Vendor != "luxos:REBOOT_NOT_HASHING" || !strings.Contains(s.Faults[1].Raw, "docs.luxor.tech")) {
		t.Errorf("fault %+v", s.Faults[1])
	}
	golden(t, "luxos-s19kpro-2025.4.8-with-events-2025.9.8", files, expose(t, res))

	for _, tc := range []struct {
		name     string
		events   string
		want     []string
		sleeping bool
	}{
		{"sleep", `{"Code":"SLEEP","Target":"MINER"}`, nil, true},
		{"idle and a fan", `{"Code":"IDLE","Target":"MINER"},{"Code":"FAN_FAILURE","Target":"MINER"}`, []string{"fan_failure/fan/critical/"}, true},
		{"unknown code, raw, no alert", `{"Code":"NEW_THING","Target":"BOARD","ID":2}`, []string{"luxos:NEW_THING/other/warning/3"}, false},
		{"board beyond the boards: Bitmain's chain number", `{"Code":"BOARD_NOT_DETECTED","Target":"BOARD","ID":7}`,
			[]string{"hashboard_not_found/hashboard/critical/8"}, false},
		{"junk codes and IDs", `{"Code":"bad code"},{"Code":""},{"Code":"` + strings.Repeat("A", 100) + `"},{"Code":"FAN_PANIC","Target":"BOARD","ID":-1},` +
			`{"Code":"PSU_PANIC","Target":"BOARD","ID":1e30}`, []string{"fan_failure/fan/critical/", "psu_fault/psu/critical/"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, _ := hostileResult(t, hostileCase{replies: map[string]string{
				"version": section("VERSION", `{"LUXminer":"2025.9.8","API":"3.7","Type":"Antminer S19"}`),
				"events":  section("EVENTS", tc.events),
			}})
			s := dialect.Read(res, dialect.LuxOS)
			if got := faultStrings(s.Faults); !slices.Equal(got, tc.want) {
				t.Errorf("faults %v, want %v", got, tc.want)
			}
			if (s.Sleeping.Set && s.Sleeping.V == 1) != tc.sleeping {
				t.Errorf("sleeping %+v", s.Sleeping)
			}
		})
	}
}

// The docs cannot drift from the code: exporter/README.md shows FaultTableMarkdown between its
// markers, RUNBOOK.md's MinerFirmwareFault section has a line for every class, and the alert
// selects exactly the classes that mean hardware work.
func TestFaultDocsAndRule(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- fault table: generated by dialect.FaultTableMarkdown -->\n", "<!-- end of fault table -->"
	i, j := bytes.Index(readme, []byte(begin)), bytes.Index(readme, []byte(end))
	if i < 0 || j < i {
		t.Fatalf("exporter/README.md has no fault table markers")
	}
	if got := string(readme[i+len(begin) : j]); got != dialect.FaultTableMarkdown() {
		t.Errorf("exporter/README.md's fault table differs from the code; it should read:\n%s", dialect.FaultTableMarkdown())
	}

	runbook, err := os.ReadFile(filepath.Join("..", "..", "rules", "RUNBOOK.md"))
	if err != nil {
		t.Fatal(err)
	}
	sec := string(runbook)
	if k := strings.Index(sec, "## MinerFirmwareFault"); k >= 0 {
		sec = sec[k+len("## MinerFirmwareFault"):]
		if e := strings.Index(sec, "\n## "); e >= 0 {
			sec = sec[:e]
		}
	} else {
		t.Fatal("RUNBOOK.md has no MinerFirmwareFault section")
	}
	for _, c := range dialect.FaultClasses() {
		if !regexp.MustCompile("(?m)^- .*`" + c.Code + "`").MatchString(sec) {
			t.Errorf("RUNBOOK.md's MinerFirmwareFault section has no line for class %s", c.Code)
		}
	}

	var rf struct {
		Groups []struct {
			Rules []struct {
				Alert  string            `yaml:"alert"`
				Expr   string            `yaml:"expr"`
				Labels map[string]string `yaml:"labels"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	b, err := os.ReadFile(filepath.Join("..", "..", "rules", "cgminer.alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &rf); err != nil {
		t.Fatal(err)
	}
	codeRe, sevRe := regexp.MustCompile(`code=~"([^"]+)"`), regexp.MustCompile(`severity="([a-z]+)"`)
	// Per class and severity, the categories of the rules that select it.
	selected := map[string][]string{}
	n := 0
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert != "MinerFirmwareFault" {
				continue
			}
			n++
			m, sev := codeRe.FindStringSubmatch(r.Expr), sevRe.FindStringSubmatch(r.Expr)
			if m == nil || sev == nil || sev[1] != r.Labels["severity"] {
				t.Fatalf("MinerFirmwareFault must select code=~ and the severity of its label: %s", r.Expr)
			}
			re := regexp.MustCompile("^(?:" + m[1] + ")$")
			for _, c := range dialect.FaultClasses() {
				if re.MatchString(c.Code) {
					selected[c.Code+"/"+sev[1]] = append(selected[c.Code+"/"+sev[1]], r.Labels["category"])
				}
			}
			if re.MatchString("whatsminer:530") || re.MatchString("luxos:BOARD_NOT_DETECTED") {
				t.Errorf("MinerFirmwareFault selects raw vendor codes")
			}
		}
	}
	if n == 0 {
		t.Fatal("no MinerFirmwareFault rule")
	}
	for _, c := range dialect.FaultClasses() {
		for _, sev := range []string{"critical", "warning", "info"} {
			cats := selected[c.Code+"/"+sev]
			switch {
			case sev == "info" && len(cats) > 0:
				t.Errorf("class %s alerts at info severity", c.Code)
			case sev != "info" && c.Work && len(cats) != 1:
				t.Errorf("class %s at %s: selected by %d rules, want 1", c.Code, sev, len(cats))
			case !c.Work && len(cats) > 0:
				t.Errorf("class %s does not mean hardware work but alerts", c.Code)
			case len(cats) == 1 && (cats[0] == "fan") != (c.Component == "fan"):
				t.Errorf("class %s (%s) routed as category %s", c.Code, c.Component, cats[0])
			}
		}
	}
}

// Faults through the collector: each class once per board, at the default limit.
func TestFaultsExposition(t *testing.T) {
	s := dialect.ReadWhatsminerV3(v3Of(t, map[wm3.Command]string{wm3.DeviceInfo: `{"error-code":[{"531":"t","reason":"SM1 not found"},{"531":"t"},{"110":"t"}]}`}), miner.DefaultLimits)
	var out bytes.Buffer
	if err := (&collector.Probe{Up: true, Snapshot: &s}).WriteText(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`cgminer_fault{board="1",code="hashboard_not_found",component="hashboard",severity="critical"} 1`,
		`cgminer_fault{board="",code="fan_failure",component="fan",severity="critical"} 1`,
	} {
		if strings.Count(out.String(), want+"\n") != 1 {
			t.Errorf("want %s once in\n%s", want, out.String())
		}
	}
	checkExposition(t, out.String())
}
