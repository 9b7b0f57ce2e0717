package dialect_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/minefarm/cgminer-stack/exporter/dialect"
	"github.com/minefarm/cgminer-stack/exporter/miner"
)

func TestIdentify(t *testing.T) {
	cases := goldenCases(t)
	for name, want := range map[string]string{
		"antminer-s19pro-49.0.1.3":        "antminer",
		"antminer-s17plus-vnish-2.0.3":    "antminer",
		"antminer-s9-hiveon":              "antminer",
		"antminer-s19kpro-luxos-2025.4.8": "luxos",
		"s9-bosminer-0.2.0":               "braiins",
		"braiins-os-24.09-boser":          "braiins",
		"s9-braiins-os-bmminer-20181127":  "braiins",
		"whatsminer-m30s":                 "whatsminer",
		"whatsminer-m30s-20210322":        "whatsminer",
		"whatsminer-m31s-sleeping":        "whatsminer",
		"avalon-1047":                     "avalon",
		"avalon-q-25052801":               "avalon",
		"strongu-stu-u6":                  "cgminer",
		"cgminer-4.11.1-nodevices":        "cgminer",
	} {
		t.Run(name, func(t *testing.T) {
			files, ok := cases[name]
			if !ok {
				t.Fatalf("no golden case %s", name)
			}
			if got := dialect.Identify(loadResult(t, files)).Name; got != want {
				t.Errorf("family %s, want %s", got, want)
			}
		})
	}
}

func TestSnapshotFacts(t *testing.T) {
	cases := goldenCases(t)
	read := func(name string) miner.Snapshot {
		return dialect.Read(loadResult(t, cases[name]), nil)
	}
	tests := []struct {
		name  string
		check func(s miner.Snapshot) bool
		what  string
	}{
		{"antminer-s19pro-49.0.1.3", func(s miner.Snapshot) bool { return s.Hashrate.V == 110566.89e9 }, "GHS 5s in H/s"},
		{"antminer-l3plus", func(s miner.Snapshot) bool { return s.Hashrate.V < 1e9 }, "scrypt GHS fields are MH/s"},
		{"antminer-l3plus-rwglr", func(s miner.Snapshot) bool { return s.BoardsDetected().V == 3 && s.BoardsExpected.V == 4 }, "a missing first chain counts as a missing board"},
		{"antminer-s9-asicseer-1.1.9", func(s miner.Snapshot) bool {
			return len(s.Boards) == 3 && s.Boards[0].Chips.V == 63 && s.Boards[0].Name == "6" && s.Boards[2].Name == "8"
		}, "S9 chains 6-8 are the three slots, named 6-8"},
		{"antminer-s17plus-vnish-2.0.3", func(s miner.Snapshot) bool { return s.Boards[0].ChipsFailed.V == 5 && s.Firmware == "vnish" }, "x in chain_acs is a failed chip"},
		{"antminer-s19-sleeping", func(s miner.Snapshot) bool { return s.Sleeping.V == 1 }, "S19 sleep signature"},
		{"antminer-t17plus-sleeping", func(s miner.Snapshot) bool { return s.Sleeping.V == 1 }, "Mode 254"},
		{"whatsminer-m31s-sleeping", func(s miner.Snapshot) bool { return s.Sleeping.V == 1 }, "btmineroff"},
		{"whatsminer-m30s-20210322", func(s miner.Snapshot) bool { return s.Sleeping.V == 0 && s.Power.V == 3417 }, "btmineroff while hashing is not sleep"},
		{"antminer-s17plus-vnish-2.0.3", func(s miner.Snapshot) bool {
			n := 0
			for _, p := range s.Pools {
				if p.DevFee {
					n++
				}
			}
			return n == 2
		}, "VNish DevFee pools are fee pools"},
		{"avalon-1047", func(s miner.Snapshot) bool { return len(s.Boards) == 2 && s.Boards[1].Hashrate.V == 12812.16e9 }, "MGHS per board"},
		{"antminer-s19kpro-luxos-2025.4.8", func(s miner.Snapshot) bool { return !s.HashesTotal.Set && s.Power.V == 1051 }, "LuxOS power; its bogus Total MH dropped"},
		{"antminer-s19jpro-hiveon-2024", func(s miner.Snapshot) bool { return s.Model == "Antminer S19j Pro" && s.Firmware == "hiveon" }, "Hiveon's spelling of the model"},
		{"antminer-s9-v1.3.58", func(s miner.Snapshot) bool { return s.Model == "Antminer S9" && s.Firmware == "stock" }, "a stock firmware version after the model"},
	}
	for _, tc := range tests {
		t.Run(tc.name+"/"+tc.what, func(t *testing.T) {
			if s := read(tc.name); !tc.check(s) {
				t.Errorf("%s: does not hold for %+v", tc.what, s)
			}
		})
	}
}

func TestExpectPools(t *testing.T) {
	s := miner.Snapshot{Pools: []miner.Pool{
		{Index: "0", URL: "stratum+tcp://pool.example.com:3333", User: "farm.10-0-0-1"},
		{Index: "1", URL: "stratum+tcp://evil.example:3333", User: "thief.001"},
		{Index: "2", URL: "DevFee", User: "DevFee", DevFee: true},
	}}
	e := dialect.Expect{Pools: []dialect.PoolPattern{{URL: regexp.MustCompile(`^(?:stratum\+tcp://pool\.example\.com:3333)$`), User: regexp.MustCompile(`^(?:farm\..*)$`)}}}
	e.Apply(&s)
	// A fee pool counts as expected: MinerPoolMisconfigured reads only cgminer_pool_expected.
	for i, want := range []miner.F{miner.Some(1), miner.Some(0), miner.Some(1)} {
		if s.Pools[i].Expected != want {
			t.Errorf("pool %d expected=%+v, want %+v", i, s.Pools[i].Expected, want)
		}
	}
	none := miner.Snapshot{Pools: []miner.Pool{{URL: "x"}}}
	dialect.Expect{}.Apply(&none)
	if none.Pools[0].Expected.Set {
		t.Error("pool_expected set although the module expects no pools")
	}
}

// A pool whose URL or worker is longer than the label limit is cut before the expectations are
// applied; the cut value must not pass for an expected pool (what was cut off could name any pool,
// and a pattern ending in .* would otherwise match the prefix).
func TestExpectPoolsCutNeverExpected(t *testing.T) {
	long := "stratum+tcp://pool.example.com:3333/" + strings.Repeat("x", 200) + "@evil.example"
	pats := []dialect.PoolPattern{{URL: regexp.MustCompile(`^(?:stratum\+tcp://pool\.example\.com:3333.*)$`)}}
	for _, tc := range []struct {
		name      string
		url, user string
		want      float64
	}{
		{"short URL matches", "stratum+tcp://pool.example.com:3333", "farm.1", 1},
		{"URL cut at the label limit", long, "farm.1", 0},
		{"worker cut at the label limit", "stratum+tcp://pool.example.com:3333", strings.Repeat("w", 300), 0},
		{"URL not UTF-8", "stratum+tcp://pool.example.com:3333\xff", "farm.1", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := miner.Snapshot{Firmware: "stock", Pools: []miner.Pool{{Index: "0", URL: tc.url, User: tc.user}}}
			s.Sanitize(miner.DefaultLimits)
			dialect.Expect{Pools: pats}.Apply(&s)
			if got := s.Pools[0].Expected; !got.Set || got.V != tc.want {
				t.Errorf("expected = %+v, want %v (url %d bytes after sanitising)", got, tc.want, len(s.Pools[0].URL))
			}
		})
	}
}

func TestExpectCounts(t *testing.T) {
	s := miner.Snapshot{Boards: []miner.Board{{Index: 0, Present: true}}}
	dialect.Expect{Boards: 3, ChipsPerBoard: 126, Fans: 4, Nominal: 104e12}.Apply(&s)
	if s.BoardsExpected.V != 3 || len(s.Boards) != 3 || s.Boards[0].ChipsExpected.V != 126 || s.FansExpected.V != 4 {
		t.Fatalf("counts not applied: %+v", s)
	}
	if s.HashrateNominal.V != 104e12 || s.Boards[0].HashrateNominal.V != 104e12/3 {
		t.Fatalf("nominal not applied: %+v", s)
	}
}
