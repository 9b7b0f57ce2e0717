package alert

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"
)

var keyer = Keyer{Identity: []string{"instance"}, Location: []string{"site", "rack"}, Volatile: []string{"severity", "job", "firmware"}}

func load(t *testing.T, name string) *Message {
	t.Helper()
	b, err := os.ReadFile("../testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m
}

func TestRealAlertmanagerPayloads(t *testing.T) {
	f := load(t, "am-0.25-firing.json")
	r := load(t, "am-0.25-resolved.json")
	if f.Version != "4" || f.GroupKey == "" || f.Receiver != "hook" || len(f.Alerts) != 1 {
		t.Fatalf("decoded %+v", f)
	}
	fe, re := keyer.Events(f), keyer.Events(r)
	if len(fe.Events) != 1 || len(re.Events) != 1 || len(fe.Rejected)+len(re.Rejected) != 0 {
		t.Fatalf("events %+v / %+v", fe, re)
	}
	a, b := fe.Events[0], re.Events[0]
	if !a.Firing || b.Firing || !a.EndsAt.IsZero() || b.EndsAt.IsZero() {
		t.Fatalf("status: %+v / %+v", a, b)
	}
	if a.ProblemKey != b.ProblemKey || !a.StartsAt.Equal(b.StartsAt) || a.Machine != b.Machine {
		t.Fatal("the resolved notification does not name the same occurrence as the firing one")
	}
	if a.Machine != `instance="127.0.0.1:19999"` || a.SourceURL != "http://vm:19093" {
		t.Fatalf("machine %q source %q", a.Machine, a.SourceURL)
	}
}

func TestNewerPayloadFleetWatchdogAndRejects(t *testing.T) {
	m := load(t, "am-0.34-site-a.json")
	if m.NotificationReason != "first notification" || m.RouteLabels["team"] != "ops" {
		t.Fatalf("0.33/0.34 fields not decoded: %+v", m.Data)
	}
	res := keyer.Events(m)
	if !res.Watchdog {
		t.Fatal("watchdog not seen")
	}
	if len(res.Events) != 3 {
		t.Fatalf("%d events, want 3 (watchdog and the alert without identity left out)", len(res.Events))
	}
	if len(res.Rejected) != 1 || res.Rejected[0].Index != 4 || !strings.Contains(res.Rejected[0].Reason, "ExporterProbesFailing") {
		t.Fatalf("rejected %+v", res.Rejected)
	}
	fleet := res.Events[2]
	if !fleet.Fleet || fleet.Machine != `site="site-b"` || fleet.Category != "fleet" {
		t.Fatalf("fleet alert %+v", fleet)
	}
	fan := res.Events[0]
	if fan.Location["site"] != "site-a" || fan.Location["rack"] != "r3" || fan.Annotations["runbook_url"] == "" {
		t.Fatalf("fan alert %+v", fan)
	}
}

func TestDecodeRefuses(t *testing.T) {
	for name, body := range map[string]string{
		"not json":      `{"version":"4",`,
		"wrong version": `{"version":"3","alerts":[]}`,
		"no version":    `{"alerts":[]}`,
		"wrong type":    `{"version":"4","alerts":{}}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Decode(strings.NewReader(body)); !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

func alertOf(status string, labels map[string]string) template.Alert {
	a := template.Alert{Status: status, Labels: labels, StartsAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	if status == "resolved" {
		a.EndsAt = a.StartsAt.Add(time.Minute)
	}
	return a
}

func TestProblemKey(t *testing.T) {
	base := map[string]string{"alertname": "MinerFanFailure", "instance": "10.0.0.1", "fan": "2", "severity": "warning", "job": "cgminer", "site": "a"}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range base {
			m[a] = b
		}
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	key := func(l map[string]string) string {
		res := keyer.Events(&Message{Data: template.Data{Alerts: template.Alerts{alertOf("firing", l)}}})
		if len(res.Events) != 1 {
			t.Fatalf("rejected %+v", res.Rejected)
		}
		return res.Events[0].ProblemKey
	}
	k := key(base)
	for _, tc := range []struct {
		name   string
		labels map[string]string
		same   bool
	}{
		{"severity changes", with("severity", "critical"), true},
		{"firmware label appears", with("firmware", "braiins"), true},
		{"rack moves", with("rack", "r9"), true},
		{"another fan", with("fan", "3"), false},
		{"another machine", with("instance", "10.0.0.2"), false},
		{"another alert", with("alertname", "MinerFanMissing"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if (key(tc.labels) == k) != tc.same {
				t.Fatalf("same key = %v, want %v", !tc.same, tc.same)
			}
		})
	}
}

func TestPerAlertValidation(t *testing.T) {
	ok := map[string]string{"alertname": "X", "instance": "i"}
	noStart := alertOf("firing", ok)
	noStart.StartsAt = time.Time{}
	noEnd := alertOf("resolved", ok)
	noEnd.EndsAt = time.Time{}
	for name, a := range map[string]template.Alert{
		"bad status":         alertOf("pending", ok),
		"no alertname":       alertOf("firing", map[string]string{"instance": "i"}),
		"no startsAt":        noStart,
		"resolved no endsAt": noEnd,
		"no identity":        alertOf("firing", map[string]string{"alertname": "X"}),
	} {
		t.Run(name, func(t *testing.T) {
			res := keyer.Events(&Message{Data: template.Data{Alerts: template.Alerts{alertOf("firing", ok), a}}})
			if len(res.Events) != 1 || len(res.Rejected) != 1 || res.Rejected[0].Index != 1 {
				t.Fatalf("events %d rejected %+v", len(res.Events), res.Rejected)
			}
		})
	}
}
