package dialect_test

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/minefarm/cgminer-stack/exporter/collector"
	"github.com/minefarm/cgminer-stack/exporter/dialect"
	"github.com/minefarm/cgminer-stack/exporter/miner"
	"github.com/minefarm/cgminer-stack/exporter/wm3"
)

// BenchmarkWhatsminerV3 is the CPU of one API v3 probe after the wire: decoding the M60S's three
// reply frames, mapping them and writing the metrics.
func BenchmarkWhatsminerV3(b *testing.B) {
	files := v3Cases["whatsminer-v3-m60s-vk40-20251209.16.rel2"]
	raws := map[wm3.Command][]byte{}
	size := 0
	for f, cmd := range files {
		raw, err := os.ReadFile(filepath.Join(v3Fixtures, f))
		if err != nil {
			b.Fatal(err)
		}
		raws[cmd] = raw
		size += len(raw)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		res := &wm3.Result{Replies: make(map[wm3.Command]*wm3.Reply, len(raws))}
		for cmd, raw := range raws {
			rep, err := wm3.Decode(cmd, raw)
			if err != nil {
				b.Fatal(err)
			}
			res.Replies[cmd] = rep
		}
		s := dialect.ReadWhatsminerV3(res, miner.DefaultLimits)
		if err := (&collector.Probe{Up: true, Snapshot: &s, Commands: res.Commands()}).WriteText(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
