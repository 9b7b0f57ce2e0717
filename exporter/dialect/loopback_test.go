package dialect_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/minefarm/cgminer-stack/exporter/cgminer"
	"github.com/minefarm/cgminer-stack/exporter/collector"
	"github.com/minefarm/cgminer-stack/exporter/dialect"
	"github.com/minefarm/cgminer-stack/exporter/internal/fakeminer"
	"github.com/minefarm/cgminer-stack/exporter/miner"
)

// TestHostileMinerOnLoopback probes, over TCP on loopback, a miner whose replies carry every
// kind of size the issue found (chain_acn30000000, fan_num 1e15, a fanN key at the largest int,
// 3000 pools, 5000 devs, hashrate 1e300): identifying it, reading it as a probe and as a discovery scan
// would, and writing its metrics all finish, within the module's limits, saying what was cut.
func TestHostileMinerOnLoopback(t *testing.T) {
	stats := bitmainStats("Antminer S19", `"chain_acn1":114,"chain_rate1":"30000","chain_acn30000000":1,"fan_num":1e15,`+
		`"fan1":6000,"fan9223372036854775807":3000,"GHS 5s":1e300`)
	replies := map[string][]byte{
		"version": []byte(section("VERSION", `{"BMMiner":"1.0.0","API":"3.1","Miner":"49.0.1.3","Type":"Antminer S19"}`)),
		"summary": []byte(section("SUMMARY", `{"Elapsed":-5,"GHS 5s":1e300,"GHS av":"1e300","Accepted":-1}`)),
		"pools":   []byte(manyPools(3000)),
		"stats":   []byte(stats),
		"devs":    []byte(section("DEVS", join(5000, func(int) string { return `{"ASC":0,"Status":"Alive"}` }))),
	}
	addr := fakeminer.Serve(t, replies)
	client := &cgminer.Client{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	res := client.QueryAll(ctx, addr, dialect.Base, cgminer.Options{Join: true})
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	fam := dialect.Identify(res)
	if fam != dialect.Antminer {
		t.Fatalf("identified as %s", fam.Name)
	}
	// What a discovery scan does with the same miner: it must finish too.
	_ = dialect.Read(res, fam)

	s := dialect.ReadLimited(res, fam, miner.Limits{Pools: 4})
	var out bytes.Buffer
	if err := (&collector.Probe{Up: true, Snapshot: &s}).WriteText(&out); err != nil {
		t.Fatal(err)
	}
	checkBounded(t, &s)
	checkExposition(t, out.String())
	if len(s.Pools) != 4 {
		t.Errorf("%d pools with limits.pools 4", len(s.Pools))
	}
	// The model table says an S19 has 4 fans: fan_num is not read, and only fan1 is there.
	if len(s.Fans) != 1 || s.Fans[0].RPM != 6000 {
		t.Errorf("fans %+v", s.Fans)
	}
	for _, want := range []string{
		`cgminer_probe_truncated{what="boards"} 1`, `cgminer_probe_truncated{what="devices"} 1`,
		`cgminer_probe_truncated{what="pools"} 1`,
		`cgminer_probe_dropped_readings{what="hashrate"} 2`, `cgminer_probe_dropped_readings{what="uptime"} 1`,
		`cgminer_probe_dropped_readings{what="counter"} 1`,
	} {
		if !strings.Contains(out.String(), want+"\n") {
			t.Errorf("missing %s", want)
		}
	}
}
