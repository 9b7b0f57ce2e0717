package alert

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/prometheus/alertmanager/template"
)

// boundedAlert is a firing alert about one machine, changed by mod.
func boundedAlert(mod func(a *template.Alert)) template.Alert {
	a := alertOf("firing", map[string]string{"alertname": "MinerFanFailure", "instance": "10.0.0.1", "fan": "2", "site": "a"})
	a.Annotations = template.KV{"summary": "fan 2 stopped", "runbook_url": "http://runbooks/fan"}
	a.GeneratorURL = "http://prometheus:9090/graph?g0.expr=x"
	if mod != nil {
		mod(&a)
	}
	return a
}

func manyKV(n int, prefix string) func(kv template.KV) {
	return func(kv template.KV) {
		for i := range n {
			kv[fmt.Sprintf("%s%05d", prefix, i)] = "v"
		}
	}
}

// Every label and annotation an alert carries is bounded: a label over a bound rejects the alert
// (labels are identity, cutting one would merge different problems); an annotation is text and is
// cut, a generatorURL too long is dropped. The alerts around a rejected one are still taken.
func TestAlertBounds(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	for _, tc := range []struct {
		name   string
		mod    func(a *template.Alert)
		reject string // substring of the rejection reason; "" = accepted
		check  func(t *testing.T, ev Event)
		trim   bool // a Trim is reported for the alert
	}{
		{name: "plain alert", check: func(t *testing.T, ev Event) {
			if ev.Annotations["summary"] != "fan 2 stopped" || ev.GeneratorURL == "" {
				t.Fatalf("changed: %+v", ev)
			}
		}},
		{name: "64 labels", mod: func(a *template.Alert) { manyKV(MaxLabels-4, "l")(a.Labels) }},
		{name: "65 labels", mod: func(a *template.Alert) { manyKV(MaxLabels-3, "l")(a.Labels) }, reject: "labels"},
		{name: "10,000 labels", mod: func(a *template.Alert) { manyKV(10000, "l")(a.Labels) }, reject: "10004 labels"},
		{name: "label value at the bound", mod: func(a *template.Alert) { a.Labels["fan"] = long(MaxLabelValue) }},
		{name: "label value over the bound", mod: func(a *template.Alert) { a.Labels["fan"] = long(MaxLabelValue + 1) }, reject: `label "fan"`},
		{name: "1 MiB label value", mod: func(a *template.Alert) { a.Labels["fan"] = long(1 << 20) }, reject: "value of 1048576 bytes"},
		{name: "1 MiB alertname", mod: func(a *template.Alert) { a.Labels["alertname"] = long(1 << 20) }, reject: "alertname"},
		{name: "1 MiB instance", mod: func(a *template.Alert) { a.Labels["instance"] = long(1 << 20) }, reject: "instance"},
		{name: "label name at the bound", mod: func(a *template.Alert) { a.Labels[long(MaxLabelName)] = "v" }},
		{name: "label name over the bound", mod: func(a *template.Alert) { a.Labels[long(MaxLabelName+1)] = "v" }, reject: "name of 129 bytes"},
		{name: "label name with a dash", mod: func(a *template.Alert) { a.Labels["fan-speed"] = "v" }, reject: "not a valid label name"},
		{name: "label name starting with a digit", mod: func(a *template.Alert) { a.Labels["2fan"] = "v" }, reject: "not a valid label name"},
		{name: "empty label name", mod: func(a *template.Alert) { a.Labels[""] = "v" }, reject: "not a valid label name"},
		{name: "label name with a quote", mod: func(a *template.Alert) { a.Labels[`a"b`] = "v" }, reject: "not a valid label name"},
		{name: "label value not UTF-8", mod: func(a *template.Alert) { a.Labels["fan"] = "\xff\xfe" }, reject: "UTF-8"},
		{name: "status of 1 MiB", mod: func(a *template.Alert) { a.Status = long(1 << 20) }, reject: "neither firing nor resolved"},
		{name: "1 MiB description", mod: func(a *template.Alert) { a.Annotations["description"] = "é" + long(1<<20) }, trim: true,
			check: func(t *testing.T, ev Event) {
				d := ev.Annotations["description"]
				if len(d) > MaxAnnotationValue || !strings.HasSuffix(d, TruncatedMarker) || !strings.HasPrefix(d, "éxxx") || !utf8.ValidString(d) {
					t.Fatalf("description of %d bytes, suffix %q", len(d), d[max(0, len(d)-20):])
				}
				if ev.Annotations["summary"] != "fan 2 stopped" {
					t.Fatal("the other annotations changed")
				}
			}},
		{name: "annotation cut on a rune boundary", mod: func(a *template.Alert) {
			a.Annotations["description"] = strings.Repeat("€", MaxAnnotationValue) // 3 bytes each
		}, trim: true, check: func(t *testing.T, ev Event) {
			d := ev.Annotations["description"]
			if !utf8.ValidString(d) || len(d) > MaxAnnotationValue || !strings.HasSuffix(d, "€"+TruncatedMarker) {
				t.Fatalf("cut badly: %d bytes, valid %v", len(d), utf8.ValidString(d))
			}
		}},
		{name: "annotation at the bound", mod: func(a *template.Alert) { a.Annotations["description"] = long(MaxAnnotationValue) },
			check: func(t *testing.T, ev Event) {
				if ev.Annotations["description"] != long(MaxAnnotationValue) {
					t.Fatal("cut though within the bound")
				}
			}},
		{name: "1 MiB summary makes a bounded title", mod: func(a *template.Alert) { a.Annotations["summary"] = long(1 << 20) }, trim: true,
			check: func(t *testing.T, ev Event) {
				if len(ev.Annotations["summary"]) > MaxAnnotationValue {
					t.Fatalf("summary of %d bytes", len(ev.Annotations["summary"]))
				}
			}},
		{name: "annotation not UTF-8", mod: func(a *template.Alert) { a.Annotations["description"] = "fan\xff stopped" }, trim: true,
			check: func(t *testing.T, ev Event) {
				if ev.Annotations["description"] != "fan\uFFFD stopped" {
					t.Fatalf("description %q", ev.Annotations["description"])
				}
			}},
		{name: "too many annotations", mod: func(a *template.Alert) { manyKV(1000, "a")(a.Annotations) }, trim: true,
			check: func(t *testing.T, ev Event) {
				if len(ev.Annotations) != MaxAnnotations || ev.Annotations["summary"] == "" || ev.Annotations["runbook_url"] == "" {
					t.Fatalf("%d annotations kept (summary %q, runbook %q)", len(ev.Annotations), ev.Annotations["summary"], ev.Annotations["runbook_url"])
				}
				if ev.Annotations["a00000"] == "" || ev.Annotations["a00999"] != "" {
					t.Fatal("the others are not kept in name order")
				}
			}},
		{name: "annotation with a bad name", mod: func(a *template.Alert) { a.Annotations["bad name"] = "x"; a.Annotations[long(200)] = "y" }, trim: true,
			check: func(t *testing.T, ev Event) {
				if len(ev.Annotations) != 2 {
					t.Fatalf("annotations %v", ev.Annotations)
				}
			}},
		{name: "generatorURL over the bound", mod: func(a *template.Alert) { a.GeneratorURL = "http://p/" + long(MaxURL) }, trim: true,
			check: func(t *testing.T, ev Event) {
				if ev.GeneratorURL != "" {
					t.Fatalf("generatorURL of %d bytes kept", len(ev.GeneratorURL))
				}
			}},
		{name: "fingerprint over the bound", mod: func(a *template.Alert) { a.Fingerprint = long(1 << 20) }, trim: true,
			check: func(t *testing.T, ev Event) {
				if ev.Fingerprint != "" {
					t.Fatalf("fingerprint of %d bytes kept", len(ev.Fingerprint))
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &Message{Data: template.Data{Alerts: template.Alerts{boundedAlert(nil), boundedAlert(tc.mod), boundedAlert(func(a *template.Alert) { a.Labels["fan"] = "3" })}}}
			res := keyer.Events(m)
			if tc.reject != "" {
				if len(res.Rejected) != 1 || res.Rejected[0].Index != 1 || !strings.Contains(res.Rejected[0].Reason, tc.reject) {
					t.Fatalf("rejected %+v, want alert 1 for %q", res.Rejected, tc.reject)
				}
				if len(res.Events) != 2 {
					t.Fatalf("%d events, want the 2 around the rejected one", len(res.Events))
				}
				if n := len(res.Rejected[0].Reason); n > 512 {
					t.Fatalf("reason of %d bytes", n)
				}
				return
			}
			if len(res.Rejected) != 0 || len(res.Events) != 3 {
				t.Fatalf("events %d rejected %+v", len(res.Events), res.Rejected)
			}
			if got := len(res.Trimmed) > 0 && res.Trimmed[0].Index == 1; got != tc.trim || len(res.Trimmed) > 1 {
				t.Fatalf("trimmed %+v, want a trim of alert 1: %v", res.Trimmed, tc.trim)
			}
			for _, tr := range res.Trimmed {
				if len(tr.What) > 512 {
					t.Fatalf("trim note of %d bytes", len(tr.What))
				}
			}
			ev := res.Events[1]
			for n, v := range ev.Annotations {
				if len(n) > MaxLabelName || len(v) > MaxAnnotationValue || !utf8.ValidString(v) {
					t.Fatalf("annotation %.40q of %d bytes", n, len(v))
				}
			}
			if tc.check != nil {
				tc.check(t, ev)
			}
		})
	}
}

// A cut annotation does not change the problem: annotations are not part of the key.
func TestTruncatedAnnotationKeepsTheKey(t *testing.T) {
	a := boundedAlert(nil)
	b := boundedAlert(func(a *template.Alert) { a.Annotations["description"] = strings.Repeat("x", 1<<20) })
	res := keyer.Events(&Message{Data: template.Data{Alerts: template.Alerts{a, b}}})
	if len(res.Events) != 2 || res.Events[0].ProblemKey != res.Events[1].ProblemKey {
		t.Fatalf("%+v", res)
	}
}

// What the message carries besides its alerts: externalURL is kept on every problem (a link on the
// task page), so one too long is dropped; groupLabels, commonLabels and commonAnnotations are not
// stored or rendered anywhere (only decoded, within max_body_bytes).
func TestMessageBounds(t *testing.T) {
	m := &Message{Data: template.Data{Alerts: template.Alerts{boundedAlert(nil)}, ExternalURL: "http://am/" + strings.Repeat("x", MaxURL)}}
	res := keyer.Events(m)
	if len(res.Events) != 1 || res.Events[0].SourceURL != "" {
		t.Fatalf("externalURL of %d bytes kept", len(res.Events[0].SourceURL))
	}
	if len(res.Trimmed) != 1 || res.Trimmed[0].Index != -1 {
		t.Fatalf("trimmed %+v", res.Trimmed)
	}
	m.ExternalURL = "http://am:9093"
	if res := keyer.Events(m); res.Events[0].SourceURL != "http://am:9093" || len(res.Trimmed) != 0 {
		t.Fatalf("%+v", res)
	}
}

// Through the decoder: JSON strings that are not UTF-8 arrive as U+FFFD (encoding/json replaces
// them), so a label value with stray bytes is keyed with the replacement character, never stored raw.
func TestDecodeInvalidUTF8(t *testing.T) {
	body := `{"version":"4","alerts":[{"status":"firing","labels":{"alertname":"X","instance":"i","fan":"a` + "\xff" + `"},` +
		`"annotations":{"summary":"s` + "\xfe" + `"},"startsAt":"2026-01-01T00:00:00Z"}]}`
	m, err := Decode(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res := keyer.Events(m)
	if len(res.Events) != 1 {
		t.Fatalf("%+v", res)
	}
	ev := res.Events[0]
	if ev.Labels["fan"] != "a\uFFFD" || ev.Annotations["summary"] != "s\uFFFD" {
		t.Fatalf("labels %q annotations %q", ev.Labels, ev.Annotations)
	}
	if b, _ := json.Marshal(ev.Labels); !utf8.Valid(b) {
		t.Fatal("not UTF-8")
	}
}

// One delivery at the bounds of everything stays within a few hundred KiB per alert.
func BenchmarkEventsAtBounds(b *testing.B) {
	a := boundedAlert(func(a *template.Alert) {
		manyKV(MaxLabels-4, "l")(a.Labels)
		for n := range a.Labels {
			if n != "alertname" && n != "instance" {
				a.Labels[n] = strings.Repeat("v", MaxLabelValue)
			}
		}
		for i := range MaxAnnotations {
			a.Annotations[fmt.Sprintf("a%02d", i)] = strings.Repeat("x", 1<<20)
		}
	})
	m := &Message{Data: template.Data{Alerts: template.Alerts{a}}}
	b.ReportAllocs()
	for b.Loop() {
		if res := keyer.Events(m); len(res.Events) != 1 {
			b.Fatal(res.Rejected)
		}
	}
}
