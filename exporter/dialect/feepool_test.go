package dialect_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/minefarm/cgminer-stack/exporter/cgminer"
	"github.com/minefarm/cgminer-stack/exporter/dialect"
	"github.com/minefarm/cgminer-stack/exporter/internal/recorded"
	"github.com/minefarm/cgminer-stack/exporter/miner"
)

// thiefPools are pools a thief who can edit the pool list might add, named and placed the way
// fee pools were once recognised (issue 11): none of them is a fee pool on any firmware.
var thiefPools = []struct{ url, user string }{
	{"stratum+tcp://evil.example:3333", "devfee.thief"},                           // the thief, priority 9999
	{"stratum+tcp://devfee.evil.example:3333", "x"},                               // "devfee" in the URL
	{"stratum+tcp://evil.example:3333", "DevFee"},                                 // VNish's worker name on another pool
	{"DevFee:3333", "DevFee"},                                                     // a host called DevFee is not the placeholder
	{"stratum+tcp://DevFee", "DevFee"},                                            // nor is a URL with a scheme
	{"stratum+tcp://dash-eu.coinmine.pl:6099", "thief.1"},                         // Blissz's fee endpoint, the thief's worker
	{"stratum+tcp://dash-eu.coinmine.pl:6099@evil.example:3333", "devFeeMiner.1"}, // credentials trick
	{"stratum+tcp://evil.example:3333", "*"},                                      // the hidden pool's worker on another pool
	{"stratum+tcp://evil.example:3333/DevFee", "DevFee"},                          // a path
}

// poolsReply is a capture's pools reply with extra pools appended (or a reply of only those when
// the capture has none), as the miner would send it.
func poolsReply(t *testing.T, files []string, extra []map[string]any) *cgminer.Reply {
	t.Helper()
	doc := map[string]any{
		"STATUS": []any{map[string]any{"STATUS": "S", "When": 1600000000, "Code": 7, "Msg": "Pools", "Description": "cgminer 4.11.1"}},
		"POOLS":  []any{},
		"id":     1,
	}
	for _, f := range files {
		if cmds := commandOf(f); len(cmds) != 1 || cmds[0] != "pools" {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(fixtures, f))
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(bytes.TrimRight(raw, "\x00\n")))
		dec.UseNumber()
		doc = map[string]any{}
		if err := dec.Decode(&doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	pools, _ := doc["POOLS"].([]any)
	for _, p := range extra {
		p["POOL"] = len(pools)
		pools = append(pools, p)
	}
	doc["POOLS"] = pools
	raw, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	body, rep, err := cgminer.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	return recorded.Reply("pools", body, rep)
}

func poolKey(p miner.Pool) string { return p.URL + " as " + p.User }

// TestThievesCannotNameThemselvesFeePools: real captures of every firmware family with the thief
// pools added. The thief pools are never fee pools and are unexpected (so MinerPoolMisconfigured
// sees them); the firmware's real fee pools stay fee pools and count as expected; the thief
// pools do not change which firmware the miner is identified as.
func TestThievesCannotNameThemselvesFeePools(t *testing.T) {
	cases := goldenCases(t)
	for _, tc := range []struct {
		capture string
		fee     []string // the capture's real fee pools
	}{
		{"antminer-s19pro-49.0.1.3", nil},
		{"antminer-s9-v1.3.58", nil},
		{"antminer-s17plus-vnish-2.0.3", []string{"DevFee as DevFee", "DevFee as DevFee"}},
		{"antminer-s9-vnish-3.8.6", []string{"DevFee as DevFee"}},
		{"antminer-d3-blissz-v2.06", []string{"stratum+tcp://dash.suprnova.cc:9991 as devFeeMiner.9", "stratum+tcp://dash-eu.coinmine.pl:6099 as devFeeMiner.1"}},
		{"antminer-l3plus-rwglr", []string{"* as *"}},
		{"antminer-s9-hiveon", nil},
		{"antminer-s9-asicseer-1.1.9", nil},
		{"antminer-s19kpro-luxos-2025.4.8", nil},
		{"s9-bosminer-0.2.0", nil},
		{"whatsminer-m30s", nil},
		{"avalon-q-25052801", nil},
	} {
		t.Run(tc.capture, func(t *testing.T) {
			files, ok := cases[tc.capture]
			if !ok {
				t.Fatalf("no golden case %s", tc.capture)
			}
			clean := dialect.Read(loadResult(t, files), nil)
			var extra []map[string]any
			for i, th := range thiefPools {
				extra = append(extra, map[string]any{
					"URL": th.url, "User": th.user, "Status": "Alive", "Priority": 9999 - i,
					"Stratum Active": true, "Accepted": 5000, "Difficulty Accepted": 5e9,
				})
			}
			res := loadResult(t, files)
			res.Replies["pools"] = poolsReply(t, files, extra)
			s := dialect.Read(res, nil)
			if s.Firmware != clean.Firmware {
				t.Errorf("thief pools changed the firmware from %q to %q", clean.Firmware, s.Firmware)
			}
			if len(s.Pools) != len(clean.Pools)+len(thiefPools) {
				t.Fatalf("%d pools read, want %d", len(s.Pools), len(clean.Pools)+len(thiefPools))
			}
			// The module expects the capture's own operator pools.
			var e dialect.Expect
			var fee []string
			for _, p := range clean.Pools {
				if p.DevFee {
					fee = append(fee, poolKey(p))
					continue
				}
				e.Pools = append(e.Pools, dialect.PoolPattern{
					URL:  regexp.MustCompile("^" + regexp.QuoteMeta(p.URL) + "$"),
					User: regexp.MustCompile("^" + regexp.QuoteMeta(p.User) + "$"),
				})
			}
			if len(e.Pools) == 0 { // a capture without operator pools: the farm's pool
				e.Pools = []dialect.PoolPattern{{URL: regexp.MustCompile(`^stratum\+tcp://pool\.example\.com:3333$`)}}
			}
			if strings.Join(fee, "|") != strings.Join(tc.fee, "|") {
				t.Errorf("fee pools %q, want %q", fee, tc.fee)
			}
			e.Apply(&s)
			for i, p := range s.Pools {
				thief := i >= len(clean.Pools)
				switch {
				case thief && p.DevFee:
					t.Errorf("thief pool %s (priority %v) is a fee pool", poolKey(p), p.Priority.V)
				case thief && p.Expected != miner.Some(0):
					t.Errorf("thief pool %s: cgminer_pool_expected %+v, want 0", poolKey(p), p.Expected)
				case !thief && p.DevFee != clean.Pools[i].DevFee:
					t.Errorf("pool %s: fee pool %v, was %v without the thieves", poolKey(p), p.DevFee, clean.Pools[i].DevFee)
				case !thief && p.Expected != miner.Some(1):
					t.Errorf("pool %s (fee pool %v): cgminer_pool_expected %+v, want 1", poolKey(p), p.DevFee, p.Expected)
				}
			}
		})
	}
}

// TestFeeEndpointMatching: which pool URLs and workers each kind of endpoint recognises, per
// firmware. Only the firmware and the exact endpoint decide; names and priorities never do.
func TestFeeEndpointMatching(t *testing.T) {
	fp := dialect.DefaultFeePools()
	for _, tc := range []struct {
		firmware, url, user string
		want                bool
	}{
		// VNish: the DevFee placeholder, worker DevFee.
		{"vnish", "DevFee", "DevFee", true},
		{"vnish", "devfee", "DevFee", true},
		{"vnish", " DevFee ", "DevFee", true},
		{"vnish", "DevFee", "thief", false},
		{"vnish", "DevFee:3333", "DevFee", false},
		{"vnish", "stratum+tcp://DevFee", "DevFee", false},
		{"vnish", "stratum+tcp://devfee.example:3333", "DevFee", false},
		{"vnish", "stratum+tcp://evil.example:3333", "devfee.thief", false},
		{"stock", "DevFee", "DevFee", false},
		{"hiveon", "DevFee", "DevFee", false},
		{"", "DevFee", "DevFee", false},
		// The hidden "*" pool of the rwglr build ("custom"), and nowhere else.
		{"custom", "*", "*", true},
		{"custom", "*", "thief", false},
		{"custom", "stratum+tcp://evil.example:3333", "*", false},
		{"stock", "*", "*", false},
		{"vnish", "*", "*", false},
		// Blissz: its pools' host:port and the devFeeMiner account.
		{"blissz", "stratum+tcp://dash.suprnova.cc:9991", "devFeeMiner.9", true},
		{"blissz", "stratum+tcp://DASH-EU.coinmine.pl:6099/", "devFeeMiner.1", true},
		{"blissz", "stratum+ssl://dash-eu.coinmine.pl.:06099", "devFeeMiner.1", true},
		{"blissz", "dash-eu.coinmine.pl:6099", "devFeeMiner.1", true},
		{"blissz", "stratum+tcp://dash-eu.coinmine.pl:6099", "thief.1", false},
		{"blissz", "stratum+tcp://dash-eu.coinmine.pl:6099", "devFeeMiner", false},
		{"blissz", "stratum+tcp://dash-eu.coinmine.pl:6099", "devFeeMiner.1x", false},
		{"blissz", "stratum+tcp://dash-eu.coinmine.pl:6098", "devFeeMiner.1", false},
		{"blissz", "stratum+tcp://dash-eu.coinmine.pl.evil.example:6099", "devFeeMiner.1", false},
		{"blissz", "stratum+tcp://evil@dash-eu.coinmine.pl:6099", "devFeeMiner.1", false},
		{"blissz", "stratum+tcp://dash-eu.coinmine.pl:6099@evil.example:3333", "devFeeMiner.1", false},
		{"blissz", "stratum+tcp://dash-eu.coinmine.pl:6099/x", "devFeeMiner.1", false},
		{"blissz", "stratum+tcp://dash-eu.coinmine.pl", "devFeeMiner.1", false},
		{"blissz", "stratum+tcp://dash-eu.coinmine.pl:", "devFeeMiner.1", false},
		{"blissz", "stratum+tcp://dash-eu.coinmine.pl:99999", "devFeeMiner.1", false},
		{"blissz", "stratum+tcp://dash-eu.coinmine.pl:+6099", "devFeeMiner.1", false},
		{"blissz", "://dash-eu.coinmine.pl:6099", "devFeeMiner.1", false},
		{"blissz", "stratum tcp://dash-eu.coinmine.pl:6099", "devFeeMiner.1", false},
		{"blissz", "stratum+tcp://[::1]:6099", "devFeeMiner.1", false},
		{"blissz", "stratum+tcp://dash-eu.coinmine.pl:6099" + strings.Repeat(" ", 600), "devFeeMiner.1", false},
		{"stock", "stratum+tcp://dash-eu.coinmine.pl:6099", "devFeeMiner.1", false},
		{"vnish", "stratum+tcp://dash-eu.coinmine.pl:6099", "devFeeMiner.1", false},
	} {
		t.Run(tc.firmware+"/"+tc.url+"/"+tc.user, func(t *testing.T) {
			for _, prio := range []miner.F{{}, miner.Some(0), miner.Some(9998), miner.Some(9999)} {
				p := miner.Pool{URL: tc.url, User: tc.user, Priority: prio}
				if got := fp.Recognises(tc.firmware, p); got != tc.want {
					t.Errorf("priority %+v: fee pool %v, want %v", prio, got, tc.want)
				}
			}
		})
	}
}

func TestNewFeeEndpoint(t *testing.T) {
	for _, tc := range []struct {
		url, user string
		ok        bool
	}{
		{"DevFee", "DevFee", true},
		{"*", `\*`, true},
		{"pool.example.com:3333", "", true},
		{"stratum+tcp://pool.example.com:3333", `fee\..*`, true},
		{"", "", false},
		{"   ", "", false},
		{"pool.example.com", "", false}, // a host without its port, not a placeholder
		{"pool.example.com:0", "", false},
		{"pool.example.com:65536", "", false},
		{"http://user@pool.example.com:3333", "", false},
		{"pool.example.com:3333/path", "", false},
		{"Dev Fee", "", false},
		{strings.Repeat("x", 65), "", false},
		{"DevFee", "(", false},
	} {
		t.Run(tc.url+"/"+tc.user, func(t *testing.T) {
			_, err := dialect.NewFeeEndpoint(tc.url, tc.user)
			if (err == nil) != tc.ok {
				t.Errorf("error %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// TestApplyConfiguredFeePools: the module's fee pools replace the defaults Read used; a firmware
// left out has no fee pools at all, so its DevFee pool is checked like any other pool.
func TestApplyConfiguredFeePools(t *testing.T) {
	cases := goldenCases(t)
	farm := []dialect.PoolPattern{{URL: regexp.MustCompile(`^stratum\+tcp://sha256\.eu\.mine\.zpool\.ca:3333$`)}}
	read := func() miner.Snapshot { return dialect.Read(loadResult(t, cases["antminer-s17plus-vnish-2.0.3"]), nil) }
	hiveon, err := dialect.NewFeeEndpoint("stratum+tcp://sha256.eu.mine.zpool.ca:3333", `xxx\.S17`)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		fees      dialect.FeePools
		wantFee   []bool // pools 0 (the farm's), 3 and 4 (DevFee)
		wantExp   []float64
		wantShare miner.F
	}{
		{"defaults (nil)", nil, []bool{false, true, true}, []float64{1, 1, 1}, miner.Some(0.03)},
		{"defaults", dialect.DefaultFeePools(), []bool{false, true, true}, []float64{1, 1, 1}, miner.Some(0.03)},
		{"none", dialect.FeePools{}, []bool{false, false, false}, []float64{1, 0, 0}, miner.F{}},
		{"another share", dialect.FeePools{"vnish": {Share: 0.018, Endpoints: dialect.DefaultFeePools()["vnish"].Endpoints}},
			[]bool{false, true, true}, []float64{1, 1, 1}, miner.Some(0.018)},
		{"other firmware only", dialect.FeePools{"hiveon": {Share: 0.02, Endpoints: []dialect.FeeEndpoint{hiveon}}},
			[]bool{false, false, false}, []float64{1, 0, 0}, miner.F{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := read()
			dialect.Expect{Pools: farm, FeePools: tc.fees}.Apply(&s)
			if len(s.Pools) != 3 {
				t.Fatalf("%d pools", len(s.Pools))
			}
			for i, p := range s.Pools {
				if p.DevFee != tc.wantFee[i] || p.Expected != miner.Some(tc.wantExp[i]) {
					t.Errorf("pool %s %s: fee %v expected %+v, want %v %v", p.Index, poolKey(p), p.DevFee, p.Expected, tc.wantFee[i], tc.wantExp[i])
				}
			}
			if s.FeeShare != tc.wantShare {
				t.Errorf("fee share %+v, want %+v", s.FeeShare, tc.wantShare)
			}
		})
	}
	// Without expected pools there is nothing to compare with: no cgminer_pool_expected, but the
	// fee pools are still marked.
	s := read()
	dialect.Expect{}.Apply(&s)
	for _, p := range s.Pools {
		if p.Expected.Set {
			t.Errorf("pool %s: expected %+v although the module expects no pools", p.Index, p.Expected)
		}
	}
	if !s.Pools[1].DevFee || !s.FeeShare.Set {
		t.Errorf("DevFee pool not marked without expected pools: %+v", s.Pools[1])
	}
}

// TestDefaultSharesCoverTheCaptures: in every real capture with fee pools, the fee pools' part
// of the difficulty accepted since the miner started stays within the default share (the
// evidence behind DefaultFeePools), and cgminer_devfee_share_ratio is exported only there.
func TestDefaultSharesCoverTheCaptures(t *testing.T) {
	cases := goldenCases(t)
	measured := map[string]float64{}
	for name, files := range cases {
		s := dialect.Read(loadResult(t, files), nil)
		var fee, all float64
		feePools := 0
		for _, p := range s.Pools {
			all += p.DifficultyAccepted.V
			if p.DevFee {
				feePools++
				fee += p.DifficultyAccepted.V
			}
		}
		if (feePools > 0) != s.FeeShare.Set {
			t.Errorf("%s: %d fee pools but fee share %+v", name, feePools, s.FeeShare)
		}
		if feePools == 0 {
			continue
		}
		if all > 0 {
			measured[name] = fee / all
		}
		if all > 0 && fee/all > s.FeeShare.V {
			t.Errorf("%s (%s): fee pools took %.2f%% of the work, more than the default %.1f%%", name, s.Firmware, 100*fee/all, 100*s.FeeShare.V)
		}
	}
	// The captures the defaults were read from: VNish S17+ 2.5 %, VNish S9 1.0 %, rwglr 2.0 %,
	// Blissz 0 % (its fee pools had no work yet).
	for name, want := range map[string][2]float64{
		"antminer-s17plus-vnish-2.0.3": {0.024, 0.026},
		"antminer-s9-vnish-3.8.6":      {0.009, 0.010},
		"antminer-l3plus-rwglr":        {0.019, 0.021},
		"antminer-d3-blissz-v2.06":     {0, 0},
	} {
		if got, ok := measured[name]; !ok || got < want[0] || got > want[1] {
			t.Errorf("%s: fee pools took %.4f of the work (ok %v), want %.3f–%.3f", name, got, ok, want[0], want[1])
		}
	}
}

// TestFirmwareNames: every firmware the dialects name in the captures is one fee_pools accepts.
func TestFirmwareNames(t *testing.T) {
	known := map[string]bool{}
	for _, f := range dialect.Firmwares {
		known[f] = true
	}
	for fw := range dialect.DefaultFeePools() {
		if !known[fw] {
			t.Errorf("default fee pools for unknown firmware %q", fw)
		}
	}
	for name, files := range goldenCases(t) {
		if s := dialect.Read(loadResult(t, files), nil); s.Firmware != "" && !known[s.Firmware] {
			t.Errorf("%s: firmware %q is not in dialect.Firmwares", name, s.Firmware)
		}
	}
}

// Marking the fee pools runs on every probe: it allocates nothing.
func TestFeePoolsMarkAllocs(t *testing.T) {
	s := dialect.Read(loadResult(t, goldenCases(t)["antminer-d3-blissz-v2.06"]), nil)
	fp := dialect.DefaultFeePools()
	if n := testing.AllocsPerRun(100, func() { fp.Mark(&s) }); n != 0 {
		t.Errorf("Mark allocates %v times per snapshot", n)
	}
}

func BenchmarkFeePoolsMark(b *testing.B) {
	res := &cgminer.Result{Replies: map[string]*cgminer.Reply{}}
	for _, f := range []string{"bmminer-antminer/antminer-d3-blissz-v2.06_pools.json", "bmminer-antminer/antminer-d3-blissz-v2.06_stats.txt"} {
		body, rep, err := cgminer.Decode(readFixture(b, f))
		if err != nil {
			b.Fatal(err)
		}
		cmd := commandOf(f)[0]
		res.Replies[cmd] = recorded.Reply(cmd, body, rep)
	}
	s := dialect.Read(res, nil)
	fp := dialect.DefaultFeePools()
	b.ReportAllocs()
	for b.Loop() {
		fp.Mark(&s)
	}
}
