package farm

import (
	"net/netip"
	"strings"
	"testing"
)

// TestPick: outage-drill selectors pick by range, model, list and count, the same miners each
// time, and refuse what selects nothing or more than the farm has.
func TestPick(t *testing.T) {
	mix, err := ParseMix("s19jpro=1,s9=1")
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(Config{Range: netip.MustParsePrefix("127.77.6.0/26"), Mix: mix, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if f.Len() != 62 {
		t.Fatalf("%d miners", f.Len())
	}
	p := netip.MustParsePrefix
	a := netip.MustParseAddr
	tests := []struct {
		name  string
		sel   Selector
		n     int
		check func(*Miner) bool
		err   string
	}{
		{name: "a /28 of the farm", sel: Selector{Range: p("127.77.6.16/28")}, n: 16, check: func(m *Miner) bool { return p("127.77.6.16/28").Contains(m.addr) }},
		{name: "range wider than the farm", sel: Selector{Range: p("127.77.0.0/16")}, n: 62},
		{name: "a model", sel: Selector{Model: "s9"}, n: 31, check: func(m *Miner) bool { return m.model.Key == "s9" }},
		{name: "count of a model", sel: Selector{Model: "s19jpro", Count: 10}, n: 10, check: func(m *Miner) bool { return m.model.Key == "s19jpro" }},
		{name: "count alone", sel: Selector{Count: 5}, n: 5},
		{name: "range and model", sel: Selector{Range: p("127.77.6.0/27"), Model: "s9"}, check: func(m *Miner) bool {
			return m.model.Key == "s9" && p("127.77.6.0/27").Contains(m.addr)
		}},
		{name: "listed miners", sel: Selector{Miners: []netip.Addr{a("127.77.6.9"), a("127.77.6.3")}}, n: 2},
		{name: "nothing given", sel: Selector{}, err: "select miners"},
		{name: "range outside the farm", sel: Selector{Range: p("127.78.0.0/24")}, err: "outside the farm"},
		{name: "IPv6 range", sel: Selector{Range: p("::1/128")}, err: "outside the farm"},
		{name: "unknown model", sel: Selector{Model: "s21"}, err: "unknown model"},
		{name: "count above the farm", sel: Selector{Count: 63}, err: "more than the farm"},
		{name: "count above the match", sel: Selector{Model: "s9", Count: 32}, err: "only 31 miners match"},
		{name: "negative count", sel: Selector{Model: "s9", Count: -1}, err: "at least 1"},
		{name: "unknown miner", sel: Selector{Miners: []netip.Addr{a("127.77.6.200")}}, err: "no miner at"},
		{name: "no overlap", sel: Selector{Range: p("127.77.6.0/30"), Miners: []netip.Addr{a("127.77.6.9")}}, err: "matches no miner"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ms, err := f.Pick(tc.sel)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.n > 0 && len(ms) != tc.n {
				t.Errorf("%d miners, want %d", len(ms), tc.n)
			}
			for i, m := range ms {
				if tc.check != nil && !tc.check(m) {
					t.Errorf("picked %s (%s)", m.addr, m.model.Key)
				}
				if i > 0 && ms[i-1].index >= m.index {
					t.Errorf("not in address order")
				}
			}
			again, _ := f.Pick(tc.sel)
			for i := range ms {
				if again[i] != ms[i] {
					t.Fatalf("a second pick chose other miners")
				}
			}
		})
	}
}
