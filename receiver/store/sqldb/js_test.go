package sqldb

import (
	"encoding/json"
	"testing"
)

// js writes what json.Marshal writes, byte for byte, so that rows written before and after it are
// the same text.
func TestJSMatchesEncodingJSON(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    map[string]string
	}{
		{"empty", map[string]string{}},
		{"labels", map[string]string{"instance": "10.0.0.1:4028", "alertname": "MinerFanFailure", "fan": "2"}},
		{"quotes and backslashes", map[string]string{`a"b`: `c\d`, "e": `"`}},
		{"controls", map[string]string{"c": "\x00\x01\b\f\n\r\t\x1f\x7f"}},
		{"html", map[string]string{"<k>": "a&b <script>"}},
		{"line separators", map[string]string{"s": "a\u2028b\u2029c"}},
		{"invalid utf-8", map[string]string{"\xff": "a\xc3\x28b\xed\xa0\x80", "t": "\xe2\x82"}},
		{"unicode", map[string]string{"ключ": "значение ✓ 𝄞"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, _ := json.Marshal(tc.m)
			if len(tc.m) == 0 {
				want = []byte("{}")
			}
			if got := js(tc.m); got != string(want) {
				t.Fatalf("js = %s\nwant %s", got, want)
			}
		})
	}
}

func FuzzJS(f *testing.F) {
	f.Add("instance", "10.0.0.1:4028", "summary", "fan 2 <stopped> & \"dead\"\n")
	f.Add("\xff\xfe", "\u2028\x00", "", "\xed\xa0\x80")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		m := map[string]string{k1: v1, k2: v2}
		want, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if got := js(m); got != string(want) {
			t.Fatalf("js(%q) = %s\nwant %s", m, got, want)
		}
	})
}

// BenchmarkJS: a problem's labels and annotations as the intake writes them, by js and by
// json.Marshal side by side.
func BenchmarkJS(b *testing.B) {
	m := map[string]string{"alertname": "MinerFanFailure", "instance": "10.1.2.3:4028", "job": "cgminer", "site": "site-a",
		"row": "1", "rack": "r12", "slot": "7", "severity": "critical", "category": "fan", "fan": "2",
		"summary": "fan 2 stopped on 10.1.2.3:4028", "runbook_url": "https://runbooks.example/fan?x=1&y=<2>"}
	b.Run("js", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = js(m)
		}
	})
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			out, _ := json.Marshal(m)
			_ = string(out)
		}
	})
}
