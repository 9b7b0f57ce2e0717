package probe

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minefarm/cgminer-stack/exporter/cgminer"
	"github.com/minefarm/cgminer-stack/exporter/config"
	"github.com/minefarm/cgminer-stack/exporter/dialect"
	"github.com/minefarm/cgminer-stack/exporter/internal/fakeminer"
	"github.com/minefarm/cgminer-stack/exporter/inventory"
	"github.com/minefarm/cgminer-stack/exporter/miner"
	"github.com/minefarm/cgminer-stack/exporter/wm3"
)

// fakeReader stands for a protocol's client: it answers each address from a table and records
// what it was asked.
type fakeReader struct {
	mu      sync.Mutex
	calls   []string
	queries []Query
	answers map[string]*Reading // by address; absent: refused
}

func (f *fakeReader) Read(ctx context.Context, addr string, q Query) *Reading {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, addr)
	f.queries = append(f.queries, q)
	if rd, ok := f.answers[addr]; ok {
		c := *rd
		return &c
	}
	return failed(cgminer.ReasonRefused)
}

func failed(r cgminer.Reason) *Reading {
	return &Reading{Err: &cgminer.Error{Reason: r, Err: errors.New(string(r))}, Commands: map[string]bool{}}
}

func answered(family *dialect.Family, model string) *Reading {
	return &Reading{Answered: true, Family: family, Identified: true, Snapshot: &miner.Snapshot{Model: model, Firmware: "stock"},
		Commands: map[string]bool{"x": true}}
}

// The protocol of a miner is chosen per miner: what answered before first, else the cgminer API
// on the target's port and Whatsminer API v3 on 4433 only when the first was refused or is not
// the cgminer API; a module may force either. What answered is remembered.
func TestProtocolSelection(t *testing.T) {
	const target, v3addr = "10.0.0.5:4028", "10.0.0.5:4433"
	cfg := testConfig(t, `
modules:
  cg: {protocol: cgminer}
  v3: {protocol: whatsminer-v3}
  other: {port: 4029}
`)
	tests := []struct {
		name    string
		module  string
		target  string
		known   *inventory.Facts // the inventory's record before the probe
		cg, v3  *Reading         // what each protocol's reader answers (nil: refused)
		noV3    bool             // no Whatsminer API v3 reader in this build
		want    []string         // protocol@addr tried, in order
		reason  cgminer.Reason   // of the probe ("" when it answered)
		learned string           // the protocol the inventory has after it ("" no record)
	}{
		{name: "unknown, cgminer answers: v3 never tried", cg: answered(dialect.Antminer, "Antminer S19 Pro"),
			want: []string{"cgminer@" + target}, learned: "cgminer"},
		{name: "unknown, 4028 refused, v3 answers", v3: answered(dialect.Whatsminer, "Whatsminer M60S"),
			want: []string{"cgminer@" + target, "whatsminer-v3@" + v3addr}, learned: "whatsminer-v3"},
		{name: "unknown, not cgminer API on 4028, v3 answers", cg: failed(cgminer.ReasonNotAPI), v3: answered(dialect.Whatsminer, "Whatsminer M60S"),
			want: []string{"cgminer@" + target, "whatsminer-v3@" + v3addr}, learned: "whatsminer-v3"},
		{name: "unknown, 4028 times out: no second wait on 4433", cg: failed(cgminer.ReasonTimeout),
			want: []string{"cgminer@" + target}, reason: cgminer.ReasonTimeout},
		{name: "unknown, cgminer answers with an error: it is a cgminer miner", cg: &Reading{Answered: true, Err: &cgminer.Error{Reason: cgminer.ReasonAPIError, Err: errors.New("x")}},
			want: []string{"cgminer@" + target}, reason: cgminer.ReasonAPIError},
		{name: "both refused: refused", want: []string{"cgminer@" + target, "whatsminer-v3@" + v3addr}, reason: cgminer.ReasonRefused},
		{name: "not cgminer API, v3 refused: the first reason stands", cg: failed(cgminer.ReasonNotAPI),
			want: []string{"cgminer@" + target, "whatsminer-v3@" + v3addr}, reason: cgminer.ReasonNotAPI},
		{name: "refused, then v3 broken: v3's reason", v3: failed(cgminer.ReasonMalformed),
			want: []string{"cgminer@" + target, "whatsminer-v3@" + v3addr}, reason: cgminer.ReasonMalformed},
		{name: "known v3: v3 first and alone", known: &inventory.Facts{Protocol: "whatsminer-v3", Port: 4433, Family: "whatsminer"},
			v3: answered(dialect.Whatsminer, "Whatsminer M60S"), want: []string{"whatsminer-v3@" + v3addr}, learned: "whatsminer-v3"},
		{name: "known v3 now refused, cgminer answers (a downgrade): relearned", known: &inventory.Facts{Protocol: "whatsminer-v3", Port: 4433},
			cg: answered(dialect.Whatsminer, "Whatsminer M30S"), want: []string{"whatsminer-v3@" + v3addr, "cgminer@" + target}, learned: "cgminer"},
		{name: "known cgminer: cgminer first", known: &inventory.Facts{Protocol: "cgminer", Port: 4028, Family: "antminer"},
			cg: answered(dialect.Antminer, "Antminer S19 Pro"), want: []string{"cgminer@" + target}, learned: "cgminer"},
		{name: "protocol cgminer: never v3", module: "cg", v3: answered(dialect.Whatsminer, "Whatsminer M60S"),
			want: []string{"cgminer@" + target}, reason: cgminer.ReasonRefused},
		{name: "protocol cgminer overrides a known v3", module: "cg", known: &inventory.Facts{Protocol: "whatsminer-v3", Port: 4433},
			cg: answered(dialect.Whatsminer, "Whatsminer M30S"), want: []string{"cgminer@" + target}, learned: "cgminer"},
		{name: "protocol whatsminer-v3: v3 on the target's port alone", module: "v3", target: "10.0.0.5:4433",
			v3: answered(dialect.Whatsminer, "Whatsminer M60S"), want: []string{"whatsminer-v3@" + v3addr}, learned: "whatsminer-v3"},
		{name: "a target naming 4433 under auto: v3 alone", target: "10.0.0.5:4433", cg: answered(dialect.Antminer, "Antminer S19 Pro"),
			want: []string{"whatsminer-v3@" + v3addr}, reason: cgminer.ReasonRefused},
		{name: "another module port: v3 still on 4433", module: "other", target: "10.0.0.5:4029",
			v3: answered(dialect.Whatsminer, "Whatsminer M60S"), want: []string{"cgminer@10.0.0.5:4029", "whatsminer-v3@" + v3addr}, learned: "whatsminer-v3"},
		{name: "no v3 client: cgminer alone", noV3: true, want: []string{"cgminer@" + target}, reason: cgminer.ReasonRefused},
		{name: "no v3 client, v3 module: said so", noV3: true, module: "v3", target: "10.0.0.5:4433", reason: ReasonNoProtocol},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tg := tc.target
			if tg == "" {
				tg = target
			}
			cg := &fakeReader{answers: map[string]*Reading{}}
			v3 := &fakeReader{answers: map[string]*Reading{}}
			for _, addr := range []string{target, "10.0.0.5:4029", v3addr} {
				if tc.cg != nil {
					cg.answers[addr] = tc.cg
				}
				if tc.v3 != nil {
					v3.answers[addr] = tc.v3
				}
			}
			readers := map[string]Reader{config.ProtocolCGMiner: cg, config.ProtocolWhatsminerV3: v3}
			if tc.noV3 {
				delete(readers, config.ProtocolWhatsminerV3)
			}
			inv := inventory.New(inventory.Options{})
			if tc.known != nil {
				inv.Observe(tg, *tc.known, time.Now())
			}
			p := NewProber(inv, readers)
			name := tc.module
			if name == "" {
				name = config.DefaultModule
			}
			mod := cfg.Modules[name]
			ans := p.Read(context.Background(), cfg, tg, mod, Query{Mode: Full, Module: mod})
			var got []string
			for _, at := range ans.Attempts {
				if at.Protocol != "" && at.Reading.Reason() != ReasonNoProtocol {
					got = append(got, at.Protocol+"@"+at.Addr)
				}
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("tried %v, want %v", got, tc.want)
			}
			if r := ans.Reading.Reason(); r != tc.reason {
				t.Errorf("reason %q, want %q", r, tc.reason)
			}
			rec, ok := inv.Get(tg)
			switch {
			case tc.learned == "" && tc.known == nil && ok:
				t.Errorf("a probe that nothing answered left a record: %+v", rec)
			case tc.learned != "" && rec.Protocol != tc.learned:
				t.Errorf("inventory protocol %q, want %q", rec.Protocol, tc.learned)
			case tc.learned == "whatsminer-v3" && rec.Port != 4433:
				t.Errorf("inventory port %d, want 4433", rec.Port)
			}
		})
	}
}

func TestProtocolNames(t *testing.T) {
	if config.ProtocolCGMiner != inventory.CGMiner || config.ProtocolWhatsminerV3 != inventory.WhatsminerV3 {
		t.Error("the config's and the inventory's protocol names differ")
	}
}

// A miner the inventory knows is read in one exchange: the family's commands joined. A restart
// does not relearn it: the inventory file carries the family (and a firmware's refusal of joins)
// across, so the first probe after it is one exchange too.
func TestProbeKnownMinerAfterRestart(t *testing.T) {
	dir := "luxos/antminer-s19kpro-luxos-2025.4.8_"
	m := &fakeMiner{replies: map[string][]byte{}}
	for _, c := range []string{"version", "summary", "pools", "stats", "devs", "temps", "fans", "power"} {
		m.replies[c] = fixture(t, dir+c+"_sorted.json")
	}
	addr := startMiner(t, m)
	cfg := testConfig(t, onLoopback("", addr))
	file := filepath.Join(t.TempDir(), "inventory.json")
	start := func() (*Handler, *inventory.Inventory) {
		inv := inventory.New(inventory.Options{File: file})
		if err := inv.Load(); err != nil {
			t.Fatal(err)
		}
		h := New(func() *config.Config { return cfg }, newProber(inv), discard(), nil, Options{TimeoutOffset: 500 * time.Millisecond})
		return h, inv
	}
	h, inv := start()
	_, body := get(t, h, "target="+addr, nil)
	if v, _ := metricValue(body, "cgminer_power_watts"); v != "1051" {
		t.Fatalf("first probe did not read LuxOS power: %q", v)
	}
	if n := m.conns.Load(); n != 2 {
		t.Errorf("first probe of an unknown miner: %d connections, want 2 (identify, then the family's extra commands)", n)
	}
	if rec, ok := inv.Get(addr); !ok || rec.Family != "luxos" || rec.Protocol != "cgminer" || rec.Model != "Antminer S19k Pro" {
		t.Errorf("inventory after the probe: %+v", rec)
	}
	before := m.conns.Load()
	get(t, h, "target="+addr, nil)
	if n := m.conns.Load() - before; n != 1 {
		t.Errorf("probe of a known miner: %d connections, want 1", n)
	}
	if err := inv.Save(); err != nil { // what shutdown does
		t.Fatal(err)
	}

	h2, _ := start() // the restart
	before = m.conns.Load()
	_, body = get(t, h2, "target="+addr, nil)
	if n := m.conns.Load() - before; n != 1 {
		t.Errorf("first probe after a restart: %d connections, want 1", n)
	}
	if v, _ := metricValue(body, "cgminer_power_watts"); v != "1051" {
		t.Errorf("first probe after a restart lost power: %q", v)
	}
}

// A firmware that refuses joined requests: the stateless client says so, the inventory remembers
// it for an hour (across a restart too), and later probes send the commands one by one without
// the wasted joined request; after the hour a probe tries joining again.
func TestProbeJoinRefusalRemembered(t *testing.T) {
	m := s19(t)
	var mu sync.Mutex
	var reqs []string
	ln := startServing(t, func(c net.Conn, cmd string) {
		mu.Lock()
		reqs = append(reqs, cmd)
		mu.Unlock()
		if strings.Contains(cmd, "+") {
			c.Write([]byte(`{"STATUS":[{"STATUS":"E","When":1,"Code":14,"Msg":"Invalid command"}],"id":1}` + "\x00"))
			return
		}
		c.Write(append(append([]byte(nil), m.answer(cmd)...), 0)) // a copy: the fixture is shared
	})
	cfg := testConfig(t, onLoopback("modules: {default: {dialect: antminer}}", ln))
	file := filepath.Join(t.TempDir(), "inventory.json")
	inv := inventory.New(inventory.Options{File: file})
	prober := newProber(inv)
	now := time.Now()
	prober.now = func() time.Time { return now }
	h := New(func() *config.Config { return cfg }, prober, discard(), nil, Options{})
	joined := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, r := range reqs {
			if strings.Contains(r, "+") {
				n++
			}
		}
		reqs = nil
		return n
	}
	for i, want := range []int{1, 0, 0} {
		if _, body := get(t, h, "target="+ln, nil); !strings.Contains(body, "cgminer_up 1") {
			t.Fatalf("probe %d failed:\n%s", i, body)
		}
		if n := joined(); n != want {
			t.Errorf("probe %d: %d joined requests, want %d", i, n, want)
		}
	}
	if rec, _ := inv.Get(ln); !rec.NoJoin(now) {
		t.Errorf("the inventory does not hold the refusal: %+v", rec)
	}
	if err := inv.Save(); err != nil {
		t.Fatal(err)
	}
	inv2 := inventory.New(inventory.Options{File: file})
	if err := inv2.Load(); err != nil {
		t.Fatal(err)
	}
	prober2 := newProber(inv2)
	prober2.now = prober.now
	h2 := New(func() *config.Config { return cfg }, prober2, discard(), nil, Options{})
	get(t, h2, "target="+ln, nil)
	if n := joined(); n != 0 {
		t.Errorf("after a restart: %d joined requests, want 0", n)
	}
	now = now.Add(61 * time.Minute)
	get(t, h2, "target="+ln, nil)
	if n := joined(); n != 1 {
		t.Errorf("after the hour: %d joined requests, want 1 (tried again)", n)
	}
}

// Only an answer creates a record: probes of addresses where nothing answers, or something that
// is not a miner does, leave the inventory as it was, so probes of arbitrary allowed addresses
// cannot grow it.
func TestProbeFailuresLeaveNoRecord(t *testing.T) {
	refused := func() string {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		a := ln.Addr().String()
		ln.Close()
		return a
	}()
	garbage := startMiner(t, &fakeMiner{raw: []byte("SSH-2.0-OpenSSH_9.6\r\n")})
	miner := startMiner(t, s19(t))
	inv := inventory.New(inventory.Options{})
	cfg := testConfig(t, onLoopback("", refused, garbage, miner))
	h := New(func() *config.Config { return cfg }, newProber(inv), discard(), nil, Options{})
	for _, a := range []string{refused, garbage} {
		get(t, h, "target="+a, nil)
	}
	if n := inv.Len(); n != 0 {
		t.Errorf("%d records after probes nothing answered: %+v", n, inv.All())
	}
	get(t, h, "target="+miner, nil)
	if rec, ok := inv.Get(miner); !ok || rec.Model != "Antminer S19 Pro" || inv.Len() != 1 {
		t.Errorf("a miner that answered: %+v (%d records)", rec, inv.Len())
	}
}

// startServing serves a fake miner whose answer sees the request's command.
func startServing(t *testing.T, serve func(c net.Conn, cmd string)) string {
	t.Helper()
	ln := fakeminer.Listen(t, "127.0.0.1:0", func(c net.Conn, req []byte) { serve(c, fakeminer.Command(req)) })
	return ln.Addr().String()
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// m60s is a Whatsminer M60S on API v3, answering from the captures.
func m60s(t *testing.T) map[string][]byte {
	t.Helper()
	dir := filepath.Join("..", "testdata", "modern", "whatsminer-v3")
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return map[string][]byte{
		"get.device.info":          read("m60s-vk40-20251209.16.rel2_get.device.info+error-code_sorted.json"),
		"get.miner.status:summary": read("m60s-vk40-20251209.16.rel2_get.miner.status-summary_sorted_edited.json"),
		"get.miner.status:pools":   read("m60s-vk40-20251209.16.rel2_get.miner.status-pools_sorted_anonymized.json"),
	}
}

// counting serves fn on addr and counts its connections.
func counting(t *testing.T, addr string, fn func(c net.Conn, req []byte)) *atomic.Int64 {
	var n atomic.Int64
	fakeminer.Listen(t, addr, func(c net.Conn, req []byte) {
		n.Add(1)
		if fn != nil {
			fn(c, req)
		}
	})
	return &n
}

// A Whatsminer that answers only API v3 (its 4028 accepts and closes, as a stripped legacy port
// does): the probe of its IP finds v3 on 4433 after the cgminer API said nothing, remembers it,
// and from then on — across a restart too — asks 4433 alone. A module forcing the cgminer API
// never tries 4433.
func TestProbeWhatsminerV3Only(t *testing.T) {
	const ip = "127.93.0.5"
	legacy := counting(t, ip+":4028", nil) // accepts, says nothing
	var v3 atomic.Int64
	replies := m60s(t)
	fakeminer.Listen(t, ip+":4433", func(c net.Conn, req []byte) {
		v3.Add(1)
		c.Write(fakeminer.V3Frame(fakeminer.V3Answer(replies, fakeminer.V3Request(req))))
	})
	cfg := testConfig(t, "allowed_targets: [127.0.0.0/8]\nmodules: {legacy: {protocol: cgminer}}")
	file := filepath.Join(t.TempDir(), "inventory.json")
	start := func() (*Handler, *inventory.Inventory) {
		inv := inventory.New(inventory.Options{File: file})
		if err := inv.Load(); err != nil {
			t.Fatal(err)
		}
		p := NewProber(inv, map[string]Reader{config.ProtocolCGMiner: CGMiner(&cgminer.Client{}), config.ProtocolWhatsminerV3: WhatsminerV3(&wm3.Client{})})
		return New(func() *config.Config { return cfg }, p, discard(), nil, Options{}), inv
	}
	h, inv := start()
	_, body := get(t, h, "target="+ip+"&debug=true", nil)
	for _, want := range []string{"Protocol cgminer at " + ip + ":4028: empty_reply", "Protocol whatsminer-v3 at " + ip + ":4433: answered", "cgminer_up 1", `model="Whatsminer M60S`} {
		if !strings.Contains(body, want) {
			t.Errorf("debug output lacks %q:\n%s", want, body)
		}
	}
	if rec, _ := inv.Get(ip + ":4028"); rec.Protocol != "whatsminer-v3" || rec.Port != 4433 || rec.Serial == "" {
		t.Errorf("inventory: %+v", rec)
	}
	if legacy.Load() != 2 {
		t.Errorf("first probe: %d connections to 4028, want 2 (the joined request, one command alone)", legacy.Load())
	}
	_, body = get(t, h, "target="+ip, nil)
	if !strings.Contains(body, "cgminer_up 1") || legacy.Load() != 2 {
		t.Errorf("a known v3 miner: up %v, %d connections to 4028 in all, want no more than the first probe's 2", strings.Contains(body, "cgminer_up 1"), legacy.Load())
	}
	if err := inv.Save(); err != nil {
		t.Fatal(err)
	}
	h2, _ := start()
	if _, body := get(t, h2, "target="+ip, nil); !strings.Contains(body, "cgminer_up 1") || legacy.Load() != 2 {
		t.Errorf("after a restart: up %v, %d connections to 4028 in all, want no more than the first probe's 2", strings.Contains(body, "cgminer_up 1"), legacy.Load())
	}
	before := v3.Load()
	if _, body := get(t, h2, "target="+ip+"&module=legacy", nil); !strings.Contains(body, `cgminer_probe_error_info{reason="empty_reply"} 1`) || v3.Load() != before {
		t.Errorf("protocol cgminer: %d connections to 4433, want none:\n%s", v3.Load()-before, body)
	}
}
