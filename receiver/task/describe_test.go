package task

import (
	"strings"
	"testing"
	"time"
)

var order = []string{"site", "row", "rack", "slot"}

func TestWhere(t *testing.T) {
	for _, tc := range []struct {
		loc  map[string]string
		want string
	}{
		{map[string]string{"site": "site-a", "rack": "rack-2", "slot": "14"}, "site-a › rack-2 › slot 14"},
		{map[string]string{"slot": "3", "row": "7", "rack": "r02", "site": "dc-north"}, "site dc-north › row 7 › rack r02 › slot 3"},
		{map[string]string{"site": "site-a", "zone": "z1"}, "site-a › zone z1"},
		{map[string]string{}, ""},
	} {
		if got := Where(tc.loc, order); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.loc, got, tc.want)
		}
	}
}

func TestPhrase(t *testing.T) {
	for _, tc := range []struct {
		alert  string
		labels map[string]string
		want   string
	}{
		{"MinerFanFailure", map[string]string{"fan": "1", "reason": "stopped"}, "fan 1 stopped"},
		{"MinerFanFailure", map[string]string{"reason": "missing"}, "fan missing"},
		{"MinerHashboardFailed", map[string]string{"board": "2", "reason": "no_hashrate"}, "board 2 dead"},
		{"MinerHashboardFailed", map[string]string{"board": "6", "reason": "chips_failed"}, "board 6 chips failed"},
		{"MinerTemperatureHigh", map[string]string{"board": "0", "sensor": "chip"}, "board 0 chip hot"},
		{"MinerTemperatureCritical", map[string]string{"sensor": "max"}, "max sensor dangerously hot"},
		{"MinerOffline", map[string]string{}, "offline"},
		{"MinerOffline", map[string]string{"reason": "connection_refused"}, "offline (connection refused)"},
		{"MinerPoolMisconfigured", map[string]string{"url": "stratum+tcp://evil.example:3333"}, "mining on a foreign pool"},
		{"SomethingNew", map[string]string{}, "the summary"},
	} {
		p := Problem{Alertname: tc.alert, Labels: tc.labels, Annotations: map[string]string{"summary": "the summary"}}
		if got := Phrase(p); got != tc.want {
			t.Errorf("%s %v: %q, want %q", tc.alert, tc.labels, got, tc.want)
		}
	}
}

func TestHeadlineAndGroup(t *testing.T) {
	tk := Task{Identity: map[string]string{"instance": "10.1.0.7:4029"}, Machine: `instance="10.1.0.7:4029"`,
		Location: map[string]string{"site": "site-a", "rack": "rack-2", "slot": "14"}, Title: "Miner 10.1.0.7 fan failure"}
	hot := func(board, sensor string, firing bool, start int) Problem {
		return Problem{Alertname: "MinerTemperatureHigh", Severity: "warning", Firing: firing, StartsAt: t0.Add(time.Duration(start) * time.Minute),
			Labels: map[string]string{"board": board, "sensor": sensor}}
	}
	fan := Problem{Alertname: "MinerFanFailure", Severity: "critical", Firing: true, StartsAt: t0.Add(3 * time.Minute),
		Labels: map[string]string{"fan": "1", "reason": "stopped"}}
	// One hot board that flapped six times, another hot board, and a stopped fan.
	ps := []Problem{hot("0", "chip", false, 0), hot("0", "chip", false, 1), hot("0", "chip", false, 2), hot("0", "chip", false, 3),
		hot("0", "chip", false, 4), hot("0", "chip", true, 5), hot("1", "chip", true, 6), fan}
	gs := Group(ps)
	if len(gs) != 3 {
		t.Fatalf("groups %+v", gs)
	}
	if gs[0].Phrase != "fan 1 stopped" || gs[1].Phrase != "board 0 chip hot" || gs[1].Occurrences != 6 || !gs[1].Latest.Firing ||
		gs[2].Phrase != "board 1 chip hot" || gs[1].Part != "board 0" {
		t.Fatalf("groups: %+v", gs)
	}
	h := Headline(tk, Facts{Model: "Antminer S19j Pro"}, ps, order)
	if h != "Antminer S19j Pro at site-a › rack-2 › slot 14: fan 1 stopped (+2 more)" {
		t.Fatalf("headline %q", h)
	}
	if h := Headline(tk, Facts{}, nil, order); h != "Miner 10.1.0.7 at site-a › rack-2 › slot 14: Miner 10.1.0.7 fan failure" {
		t.Fatalf("headline without facts or problems %q", h)
	}
	if strings.Contains(Headline(tk, Facts{}, ps, order), "instance=") {
		t.Fatal("headline shows the raw selector")
	}
	fleet := Task{Fleet: true, Identity: map[string]string{"site": "site-b"}, Location: map[string]string{"site": "site-b"}}
	if h := Headline(fleet, Facts{}, []Problem{{Alertname: "SiteDown", Firing: true}}, order); h != "Site site-b: site dark" {
		t.Fatalf("fleet headline %q", h)
	}
}

func TestVerifyFast(t *testing.T) {
	w := windows() // settle 2m, verify window 15m
	fan := Problem{Key: "k-fan", Alertname: "MinerFanFailure", Firing: true, Labels: map[string]string{"fan": "1", "reason": "stopped"},
		Annotations: map[string]string{AnnotationVerifyExpr: "cgminer_fan_speed_rpm{instance=${instance},fan=${fan}} == 0"}}
	low := Problem{Key: "k-low", Alertname: "MinerHashrateLow", Firing: true,
		Annotations: map[string]string{AnnotationVerifyExpr: "x", AnnotationVerifyAfter: "15m"}}
	fee := Problem{Key: "k-fee", Alertname: "MinerFeePoolOveractive", Firing: true, Annotations: map[string]string{AnnotationVerifyAfter: "300h"}}
	bad := Problem{Key: "k-bad", Alertname: "MinerOffline", Firing: true, Annotations: map[string]string{AnnotationVerifyAfter: "soon"}}
	firing := func(keys ...string) map[string]bool {
		m := map[string]bool{}
		for _, k := range keys {
			m[k] = true
		}
		return m
	}
	for _, tc := range []struct {
		name    string
		after   time.Duration
		ps      []Problem
		chk     Check
		want    State
		reason  string
		decided string
	}{
		{"condition holds after settle: back at once", 2*time.Minute + 10*time.Second, []Problem{fan},
			Check{Asked: true, Firing: firing("k-fan"), Holds: firing("k-fan")}, Acknowledged, "fan 1 stopped", "failed"},
		{"condition holds but before settle: nothing", time.Minute, []Problem{fan},
			Check{Asked: true, Firing: firing("k-fan"), Holds: firing("k-fan")}, Verifying, "", ""},
		{"condition false now, alert still firing: wait for it to clear", 3 * time.Minute, []Problem{fan},
			Check{Asked: true, Firing: firing("k-fan")}, Verifying, "", ""},
		{"holds but no longer firing in ALERTS: not failed (the alert decides)", 3 * time.Minute, []Problem{fan},
			Check{Asked: true, Seen: true, Firing: firing(), Holds: firing("k-fan")}, Done, "", "confirmed"},
		{"long-range alert holds before its verify_after: waits", 10 * time.Minute, []Problem{low},
			Check{Asked: true, Firing: firing("k-low"), Holds: firing("k-low")}, Verifying, "", ""},
		{"long-range alert holds after its verify_after: back", 15 * time.Minute, []Problem{low},
			Check{Asked: true, Firing: firing("k-low"), Holds: firing("k-low")}, Acknowledged, "hashrate low", "failed"},
		{"long-range alert still firing at the window's end: waits for its range", 16 * time.Minute, []Problem{low},
			Check{Asked: true, Firing: firing("k-low")}, Verifying, "", ""},
		{"long-range alert firing past verify_after+settle: back", 17 * time.Minute, []Problem{low},
			Check{Asked: true, Firing: firing("k-low")}, Acknowledged, "still firing MinerHashrateLow", "failed"},
		{"verify_after is capped", MaxVerifyAfter + w.Settle, []Problem{fee},
			Check{Asked: true, Firing: firing("k-fee")}, Acknowledged, "still firing", "failed"},
		{"unreadable verify_after counts as absent", 15 * time.Minute, []Problem{bad},
			Check{Asked: true, Firing: firing("k-bad")}, Acknowledged, "verification window", "failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tk := fresh(Verifying)
			tk.ReportedAt = t0
			c, _ := Verify(tk, tc.ps, tc.chk, w, t0.Add(tc.after))
			if tk.State != tc.want || c.Verification != tc.decided || !strings.Contains(tk.Reason, tc.reason) {
				t.Fatalf("state %s (%q) reason %q; want %s (%q) with %q", tk.State, c.Verification, tk.Reason, tc.want, tc.decided, tc.reason)
			}
			if tc.want == Acknowledged && (tk.FailedRepairs != 1 || c.Reopened != ReasonVerificationFailed || len(c.Notify) != 1) {
				t.Fatalf("failed repair not recorded: %+v %+v", tk, c)
			}
		})
	}
	first, last := VerifyTimes(Task{State: Verifying, ReportedAt: t0}, []Problem{fan, low}, w)
	if !first.Equal(t0.Add(2*time.Minute)) || !last.Equal(t0.Add(17*time.Minute)) {
		t.Fatalf("verify times %s %s", first, last)
	}
}

func TestWebLink(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://runbooks.example/fan#miner", "https://runbooks.example/fan#miner"},
		{"http://wiki.farm/x?a=1&b=2", "http://wiki.farm/x?a=1&b=2"},
		{"javascript:alert(1)", ""},
		{"HTTPS://upper.example", ""},
		{"https://a.example/ spaced", ""},
		{"https://a.example/\nSubject: x", ""},
		{"https://a.example/\x7f", ""},
		{"https://a.example/" + strings.Repeat("a", 4096), ""},
		{"", ""},
	} {
		t.Run(tc.in[:min(len(tc.in), 30)], func(t *testing.T) {
			if got := WebLink(tc.in); got != tc.want {
				t.Fatalf("WebLink(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// Runbook: the worst firing group's link (the headline's), skipping a group whose link is none
// or not a web link; a cleared group's only when no firing one has one.
func TestRunbook(t *testing.T) {
	p := func(alert, sev, runbook string, start int, firing bool) Problem {
		return Problem{Alertname: alert, Severity: sev, Firing: firing, StartsAt: t0.Add(time.Duration(start) * time.Minute),
			Annotations: map[string]string{"runbook_url": runbook}}
	}
	const fault, fan, hot = "https://rb.example/fault", "https://rb.example/fan", "https://rb.example/hot"
	for _, tc := range []struct {
		name string
		ps   []Problem
		want string
	}{
		{"critical before a newer warning", []Problem{p("MinerFanFailure", "warning", fan, 1, true), p("MinerFirmwareFault", "critical", fault, 0, true)}, fault},
		{"same severity: the older", []Problem{p("MinerFanFailure", "critical", fan, 1, true), p("MinerFirmwareFault", "critical", fault, 0, true)}, fault},
		{"firing before a cleared critical", []Problem{p("MinerTemperatureHigh", "critical", hot, 2, false), p("MinerFanFailure", "warning", fan, 1, true)}, fan},
		{"the worst has none: the next", []Problem{p("MinerFirmwareFault", "critical", "", 0, true), p("MinerFanFailure", "warning", fan, 1, true)}, fan},
		{"not a web link: skipped", []Problem{p("MinerFirmwareFault", "critical", "javascript:alert(1)", 0, true), p("MinerFanFailure", "warning", fan, 1, true)}, fan},
		{"nothing fires: a cleared one", []Problem{p("MinerFanFailure", "warning", "", 1, false), p("MinerTemperatureHigh", "warning", hot, 2, false)}, hot},
		{"none", []Problem{p("MinerFanFailure", "warning", "", 1, true)}, ""},
		{"no problems", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Runbook(Group(tc.ps)); got != tc.want {
				t.Fatalf("Runbook = %q, want %q", got, tc.want)
			}
		})
	}
}
