package config

import (
	"strings"
	"testing"
	"time"
)

func TestDisplaySnapshotDefaults(t *testing.T) {
	c, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Display.Location() != time.UTC || c.Display.Refresh != time.Minute || c.Display.FactsRefresh != 5*time.Minute {
		t.Errorf("display %+v", c.Display)
	}
	s := c.Snapshot
	if s.ExporterURL != "" || s.ModuleLabel != "module" || s.DefaultModule != "default" || s.Rate != 0.5 || s.Burst != 1 ||
		s.MaxBytes != 256<<10 || s.Timeout != 30*time.Second || s.Attempts != 5 {
		t.Errorf("snapshot %+v", s)
	}
	if !c.Verification.Fast {
		t.Errorf("verification %+v", c.Verification)
	}
}

func TestDisplayTimezone(t *testing.T) {
	c, err := Parse([]byte("display: {timezone: Europe/Berlin}"))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC).In(c.Display.Location())
	if at.Format("15:04 MST") != "14:00 CEST" {
		t.Errorf("Berlin in July: %s", at.Format("15:04 MST"))
	}
}

func TestDisplaySnapshotInvalid(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown zone", "display: {timezone: Mars/Olympus}", "display.timezone"},
		{"Local is not a zone name", "display: {timezone: Local}", "display.timezone"},
		{"refresh too fast", "display: {refresh: 1s}", "display.refresh"},
		{"negative refresh", "display: {refresh: -1m}", "display.refresh"},
		{"facts refresh too fast", "display: {facts_refresh: 1s}", "display.facts_refresh"},
		{"unknown display key", "display: {tz: UTC}", "not found"},
		{"exporter URL with a query", "snapshot: {exporter_url: 'http://x:9154/?a=1'}", "snapshot.exporter_url"},
		{"exporter URL with credentials", "snapshot: {exporter_url: 'http://u:p@x:9154'}", "snapshot.exporter_url"},
		{"exporter URL not http", "snapshot: {exporter_url: 'file:///etc/passwd'}", "snapshot.exporter_url"},
		{"module label", "snapshot: {module_label: 'a-b'}", "snapshot.module_label"},
		{"default module", "snapshot: {default_module: 'a b'}", "snapshot.default_module"},
		{"rate zero", "snapshot: {rate: 0}", "snapshot.rate"},
		{"rate too high", "snapshot: {rate: 50}", "snapshot.rate"},
		{"burst", "snapshot: {burst: 0}", "snapshot.burst"},
		{"max bytes", "snapshot: {max_bytes: 10}", "snapshot.max_bytes"},
		{"max bytes too big", "snapshot: {max_bytes: 1000000000}", "snapshot.max_bytes"},
		{"timeout", "snapshot: {timeout: 0s}", "snapshot.timeout"},
		{"attempts", "snapshot: {attempts: 0}", "snapshot.attempts"},
		{"unknown verification key", "verification: {slow: true}", "not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one naming %s", err, tc.want)
			}
		})
	}
}

func TestSnapshotModule(t *testing.T) {
	s := defaultSnapshot()
	for _, tc := range []struct {
		labels map[string]string
		want   string
	}{
		{nil, "default"},
		{map[string]string{"module": "antminer_s19jpro"}, "antminer_s19jpro"},
		{map[string]string{"module": "a&b=c"}, "default"}, // never pasted into the query
		{map[string]string{"module": strings.Repeat("m", 200)}, "default"},
	} {
		if got := s.SnapshotModule(tc.labels); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.labels, got, tc.want)
		}
	}
}
