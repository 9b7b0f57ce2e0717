package farm

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/minefarm/cgminer-stack/exporter/cgminer"
	"github.com/minefarm/cgminer-stack/exporter/dialect"
	"github.com/minefarm/cgminer-stack/exporter/miner"
)

const allModels = "s19jpro=1,s9=1,m30s=1,bos=1,avalon1047=1,vnish=1,luxos=1"

// TestModelsReadByExporter: every model's replies, read by the exporter's client and dialects,
// give the identity and readings that model should.
func TestModelsReadByExporter(t *testing.T) {
	f := startFarm(t, "127.77.0.0/28", allModels, 7, newFakeClock())
	want := map[string]struct {
		family, model, firmware string
		boards                  int
		power                   bool
	}{
		"s19jpro":    {"antminer", "Antminer S19j Pro", "stock", 3, false},
		"s9":         {"antminer", "Antminer S9", "stock", 3, false},
		"m30s":       {"whatsminer", "Whatsminer M30S", "stock", 3, true},
		"bos":        {"braiins", "Antminer S19", "braiins", 3, false},
		"avalon1047": {"avalon", "Avalon 1047", "stock", 2, false},
		"vnish":      {"antminer", "Antminer S19", "vnish", 3, false},
		"luxos":      {"luxos", "Antminer S19k Pro", "luxos", 3, true},
	}
	for _, m := range f.Miners() {
		t.Run(m.model.Key, func(t *testing.T) {
			w := want[m.model.Key]
			res, s := probe(t, m)
			if err := res.Err(); err != nil {
				t.Fatalf("probe: %v", err)
			}
			if !res.Joined {
				t.Errorf("joined request not answered as one")
			}
			if s.Family != w.family || s.Model != w.model || s.Firmware != w.firmware {
				t.Errorf("identity = %s/%s/%s, want %s/%s/%s", s.Family, s.Model, s.Firmware, w.family, w.model, w.firmware)
			}
			if got := s.BoardsDetected(); !got.Set || int(got.V) != w.boards {
				t.Errorf("boards = %+v, want %d", got, w.boards)
			}
			nominal := m.model.NominalGHS * 1e9
			if !s.Hashrate.Set || s.Hashrate.V < 0.9*nominal || s.Hashrate.V > 1.1*nominal {
				t.Errorf("hashrate %v, want about %v", s.Hashrate, nominal)
			}
			if !s.Uptime.Set || s.Uptime.V < 3600 {
				t.Errorf("uptime %v, want over an hour", s.Uptime)
			}
			if !s.SharesAccepted.Set || s.SharesAccepted.V <= 0 || !s.HardwareErrors.Set {
				t.Errorf("shares %v hw %v", s.SharesAccepted, s.HardwareErrors)
			}
			if len(s.Fans) != m.model.Fans {
				t.Errorf("fans = %d, want %d", len(s.Fans), m.model.Fans)
			}
			if hottest(s, "chip") < 50 || hottest(s, "chip") > 90 {
				t.Errorf("chip temperature %v not plausible", hottest(s, "chip"))
			}
			if s.Power.Set != w.power {
				t.Errorf("power %v, want set=%v", s.Power, w.power)
			}
			if s.Sleeping.Set && s.Sleeping.V != 0 {
				t.Errorf("healthy miner reads as sleeping")
			}
			active := activePool(s)
			if active == nil || active.URL != PoolURL || active.User != PoolUser(m.addr.String()) || active.Up.V != 1 {
				t.Errorf("active pool %+v", active)
			}
		})
	}
}

func hottest(s miner.Snapshot, sensor string) float64 {
	t := 0.0
	for _, b := range s.Boards {
		for _, x := range b.Temperatures {
			if x.Sensor == sensor && x.Celsius > t {
				t = x.Celsius
			}
		}
	}
	return t
}

func activePool(s miner.Snapshot) *miner.Pool {
	for i := range s.Pools {
		if p := &s.Pools[i]; p.Active.V == 1 && !p.DevFee {
			return p
		}
	}
	return nil
}

// TestCountersGrow: uptime and the counters grow with time at the hashrate's pace.
func TestCountersGrow(t *testing.T) {
	clock := newFakeClock()
	f := startFarm(t, "127.77.0.16/28", allModels, 7, clock)
	for _, m := range f.Miners() {
		t.Run(m.model.Key, func(t *testing.T) {
			_, a := probe(t, m)
			clock.Advance(10 * time.Minute)
			_, b := probe(t, m)
			if d := b.Uptime.V - a.Uptime.V; d != 600 {
				t.Errorf("uptime grew %v in 600 s", d)
			}
			// Expected shares in 10 minutes: hashrate / (diff · 2^32) · 600.
			exp := m.model.NominalGHS * 1e9 / (m.model.Diff * two32) * 600
			if d := b.SharesAccepted.V - a.SharesAccepted.V; d < 0.8*exp || d > 1.2*exp {
				t.Errorf("accepted grew %v, want about %v", d, exp)
			}
			if b.HardwareErrors.V < a.HardwareErrors.V {
				t.Errorf("hardware errors went back")
			}
		})
	}
}

// TestProtocol: the envelope details each family shows on the wire.
func TestProtocol(t *testing.T) {
	f := startFarm(t, "127.77.0.32/28", "s9=1,m30s=1,s19jpro=1,luxos=1", 4, newFakeClock())
	byModel := map[string]*Miner{}
	for _, m := range f.Miners() {
		byModel[m.model.Key] = m
	}
	tests := []struct {
		name, model, request string
		check                func(t *testing.T, raw string)
	}{
		{"trailing NUL", "s19jpro", `{"command":"summary"}`, func(t *testing.T, raw string) {
			if !strings.HasSuffix(raw, "\x00") || strings.Count(raw, "\x00") != 1 {
				t.Errorf("reply does not end in exactly one NUL")
			}
		}},
		{"S9 stats bug", "s9", `{"command":"stats"}`, func(t *testing.T, raw string) {
			if !strings.Contains(raw, `"Type":"Antminer S9"}{"STATS":0`) {
				t.Errorf("no }{ between the stats objects: %.200s", raw)
			}
		}},
		{"S9 bug in join", "s9", `{"command":"summary+stats"}`, func(t *testing.T, raw string) {
			if !strings.HasPrefix(raw, `{"summary":[{"STATUS":[`) || !strings.Contains(raw, `}{"STATS":0`) {
				t.Errorf("joined reply: %.200s", raw)
			}
		}},
		{"invalid command", "s19jpro", `{"command":"bogus"}`, func(t *testing.T, raw string) {
			if !strings.Contains(raw, `"STATUS":"E"`) || !strings.Contains(raw, `"Code":14,"Msg":"Invalid command"}`) {
				t.Errorf("reply: %s", raw)
			}
		}},
		{"command names are exact", "s19jpro", `{"command":"Summary"}`, func(t *testing.T, raw string) {
			if !strings.Contains(raw, `"Code":14,"Msg":"Invalid command"}`) {
				t.Errorf("reply: %s", raw)
			}
		}},
		{"text command with a parameter", "s19jpro", `pga|0`, func(t *testing.T, raw string) {
			if !strings.HasPrefix(raw, "STATUS=E,") || !strings.Contains(raw, "Code=14,Msg=Invalid command|") {
				t.Errorf("reply: %s", raw)
			}
		}},
		{"privileged refused", "s19jpro", `{"command":"restart"}`, func(t *testing.T, raw string) {
			if !strings.Contains(raw, `"Code":45,"Msg":"Access denied to 'restart' command"`) {
				t.Errorf("reply: %s", raw)
			}
		}},
		{"privileged refused in join", "s19jpro", `{"command":"summary+addpool"}`, func(t *testing.T, raw string) {
			if !strings.Contains(raw, `"addpool":[{"STATUS":[{"STATUS":"E"`) || !strings.Contains(raw, `"summary":[{"STATUS":[{"STATUS":"S"`) {
				t.Errorf("reply: %s", raw)
			}
		}},
		{"invalid JSON", "s19jpro", `{"command":`, func(t *testing.T, raw string) {
			if !strings.Contains(raw, `"Code":23,"Msg":"Invalid JSON"`) {
				t.Errorf("reply: %s", raw)
			}
		}},
		{"text form", "s19jpro", `summary|`, func(t *testing.T, raw string) {
			if !strings.HasPrefix(raw, "STATUS=S,When=") || !strings.Contains(raw, "|SUMMARY,Elapsed=") {
				t.Errorf("reply: %.200s", raw)
			}
		}},
		{"text join", "s19jpro", `summary+pools`, func(t *testing.T, raw string) {
			if !strings.HasPrefix(raw, "CMD=summary|STATUS=S") || !strings.Contains(raw, "|CMD=pools|STATUS=S") {
				t.Errorf("reply: %.200s", raw)
			}
		}},
		{"whatsminer flat status", "m30s", `{"command":"status"}`, func(t *testing.T, raw string) {
			if !strings.HasPrefix(raw, `{"STATUS":"S","When":`) || !strings.Contains(raw, `"Msg":{"btmineroff":"false"`) {
				t.Errorf("reply: %s", raw)
			}
		}},
		{"whatsminer status not joinable", "m30s", `{"command":"summary+status"}`, func(t *testing.T, raw string) {
			if !strings.Contains(raw, `"status":[{"STATUS":[{"STATUS":"E"`) {
				t.Errorf("reply: %.300s", raw)
			}
		}},
		{"whatsminer write refused", "m30s", `{"command":"reboot"}`, func(t *testing.T, raw string) {
			if !strings.HasPrefix(raw, `{"STATUS":"E"`) || !strings.Contains(raw, `"Code":45`) {
				t.Errorf("reply: %s", raw)
			}
		}},
		{"luxos sorted keys", "luxos", `{"command":"pools"}`, func(t *testing.T, raw string) {
			if !strings.HasPrefix(raw, `{"POOLS":[{"Accepted":`) || !strings.Contains(raw, `"STATUS":[{"Code":7,"Description":`) {
				t.Errorf("reply: %.200s", raw)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.check(t, rawExchange(t, byModel[tc.model], tc.request))
		})
	}
}

func rawExchange(t *testing.T, m *Miner, req string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", m.Endpoint(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	buf := make([]byte, 65536)
	for {
		n, err := conn.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return b.String()
}

// TestTextFormParses: the text form reads back through the exporter's text parser.
func TestTextFormParses(t *testing.T) {
	f := startFarm(t, "127.77.0.48/28", "s19jpro=1", 1, newFakeClock())
	raw := rawExchange(t, f.Miners()[0], "pools|")
	v, err := cgminer.ParseText([]byte(strings.TrimSuffix(raw, "\x00")))
	if err != nil {
		t.Fatal(err)
	}
	rep := &cgminer.Reply{Command: "pools", Body: v, Status: cgminer.StatusOf(v)}
	if got := rep.First("POOLS").StrKey("URL"); got != PoolURL {
		t.Errorf("URL = %q", got)
	}
}

func TestRangeMustBeLoopback(t *testing.T) {
	for _, r := range []string{"10.0.0.0/24", "0.0.0.0/0", "126.255.255.0/24", "::1/128"} {
		if _, err := New(Config{Range: netip.MustParsePrefix(r)}); err == nil {
			t.Errorf("range %s accepted", r)
		}
	}
	f, err := New(Config{Range: netip.MustParsePrefix("127.1.0.0/24")})
	if err != nil || f.Len() != 254 {
		t.Fatalf("127.1.0.0/24: %v, %d miners", err, f.Len())
	}
}

func TestMixIsExactAndSeeded(t *testing.T) {
	mix, _ := ParseMix("s19jpro=60,s9=20,m30s=10,bos=10")
	a, _ := New(Config{Range: netip.MustParsePrefix("127.1.0.0/24"), Miners: 100, Mix: mix, Seed: 7})
	b, _ := New(Config{Range: netip.MustParsePrefix("127.1.0.0/24"), Miners: 100, Mix: mix, Seed: 7})
	count := map[string]int{}
	for i, m := range a.Miners() {
		count[m.model.Key]++
		if b.Miners()[i].model != m.model {
			t.Fatalf("same seed, different model at %d", i)
		}
	}
	if count["s19jpro"] != 60 || count["s9"] != 20 || count["m30s"] != 10 || count["bos"] != 10 {
		t.Errorf("counts %v", count)
	}
	for _, bad := range []string{"", "x=1", "s9", "s9=-1", "s9=1,s9=2", "s9=0"} {
		if _, err := ParseMix(bad); err == nil {
			t.Errorf("mix %q accepted", bad)
		}
	}
}

var _ = context.Background
var _ = dialect.Base
