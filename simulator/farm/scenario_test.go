package farm

import (
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

func TestDemoScenario(t *testing.T) {
	data, err := os.ReadFile("../scenarios/demo.yml")
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ParseScenario(data)
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(Config{Range: netip.MustParsePrefix("127.1.0.0/25"), Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Plan(sc); err != nil {
		t.Fatal(err)
	}
}

func TestScenarioSteps(t *testing.T) {
	clock := newFakeClock()
	f, err := New(Config{Range: netip.MustParsePrefix("127.1.0.0/28"), Seed: 3, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ParseScenario([]byte(`faults:
  - {at: 30s, clear: 5m, fault: overheat, miners: ["127.1.0.5"]}
  - {at: 1m, fault: sleeping, select: {count: 2}}
`))
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.Plan(sc)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := f.Miner(netip.MustParseAddr("127.1.0.5"))
	if wait, _ := p.Step(10 * time.Second); wait != 20*time.Second || len(m.Faults()) != 0 {
		t.Fatalf("at 10s: wait %s faults %v", wait, m.Faults())
	}
	p.Step(30 * time.Second)
	if fs := m.Faults(); len(fs) != 1 || fs[0] != Overheat {
		t.Fatalf("at 30s: %v", fs)
	}
	p.Step(time.Minute)
	n := 0
	for _, x := range f.Miners() {
		if _, on := x.FaultSince(Sleeping); on {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d sleeping, want 2", n)
	}
	if wait, _ := p.Step(5 * time.Minute); wait != 0 {
		t.Errorf("plan not done: %s", wait)
	}
	if _, on := m.FaultSince(Overheat); on {
		t.Errorf("overheat not cleared")
	}
}

func TestScenarioErrors(t *testing.T) {
	f, _ := New(Config{Range: netip.MustParsePrefix("127.1.0.0/28"), Seed: 3})
	for _, tc := range []struct{ yaml, want string }{
		{"faults: [{at: 1m, fault: melt, miners: [127.1.0.1]}]", "unknown fault"},
		{"faults: [{at: 1m, fault: offline}]", "give miners or select"},
		{"faults: [{at: 1m, fault: offline, miners: [127.1.0.1], bogus: 1}]", "not found"},
		{"faults: [{at: 5m, clear: 1m, fault: offline, miners: [127.1.0.1]}]", "must come after"},
		{"faults: [{at: soon, fault: offline, miners: [127.1.0.1]}]", "invalid duration"},
		{"faults: [{at: 1m, fault: offline, select: {model: s21, count: 1}}]", "unknown model"},
		{"", "empty"},
	} {
		_, err := ParseScenario([]byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.yaml, err, tc.want)
		}
	}
	sc, _ := ParseScenario([]byte("faults: [{at: 1m, fault: offline, miners: [127.9.0.1]}]"))
	if _, err := f.Plan(sc); err == nil || !strings.Contains(err.Error(), "no miner at 127.9.0.1") {
		t.Errorf("plan: %v", err)
	}
	sc, _ = ParseScenario([]byte("faults: [{at: 1m, fault: offline, select: {model: s9, count: 500}}]"))
	if _, err := f.Plan(sc); err == nil {
		t.Errorf("plan of 500 s9 in 14 miners accepted")
	}
}
