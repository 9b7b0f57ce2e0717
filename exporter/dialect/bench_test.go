package dialect_test

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/minefarm/cgminer-stack/exporter/cgminer"
	"github.com/minefarm/cgminer-stack/exporter/collector"
	"github.com/minefarm/cgminer-stack/exporter/dialect"
	"github.com/minefarm/cgminer-stack/exporter/internal/recorded"
)

// joinedReply builds the bytes a miner sends for a joined request from recorded replies.
func joinedReply(b *testing.B, files map[string]string) ([]byte, []cgminer.Command) {
	var buf bytes.Buffer
	var cmds []cgminer.Command
	buf.WriteString("{")
	for _, name := range []string{"summary", "pools", "stats", "devs", "version", "edevs"} {
		f, ok := files[name]
		if !ok {
			continue
		}
		raw := readFixture(b, f)
		fmt.Fprintf(&buf, "%q:[%s],", name, raw)
		c, _ := cgminer.ParseCommand(name)
		cmds = append(cmds, c)
	}
	buf.WriteString(`"id":1}`)
	return buf.Bytes(), cmds
}

func benchParseCollect(b *testing.B, files map[string]string) {
	b.Run("registry", func(b *testing.B) { benchPath(b, files, false) })
	b.Run("direct", func(b *testing.B) { benchPath(b, files, true) })
}

func benchPath(b *testing.B, files map[string]string, direct bool) {
	raw, cmds := joinedReply(b, files)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		top, rep, err := cgminer.Decode(raw)
		if err != nil {
			b.Fatal(err)
		}
		parts, ok := recorded.Split(top, cmds, rep)
		if !ok {
			b.Fatal("not joined")
		}
		res := &cgminer.Result{Replies: parts}
		snap := dialect.Read(res, nil)
		p := &collector.Probe{Up: true, Snapshot: &snap}
		if direct {
			if err := p.WriteText(io.Discard); err != nil {
				b.Fatal(err)
			}
			continue
		}
		reg := prometheus.NewRegistry()
		reg.MustRegister(p)
		mfs, err := reg.Gather()
		if err != nil {
			b.Fatal(err)
		}
		enc := expfmt.NewEncoder(io.Discard, expfmt.NewFormat(expfmt.TypeTextPlain))
		for _, mf := range mfs {
			_ = enc.Encode(mf)
		}
	}
}

// BenchmarkParseCollectS19 is a full Antminer S19 Pro probe: the joined summary+pools+stats+devs+
// version reply decoded, read into a snapshot, collected and encoded as text.
func BenchmarkParseCollectS19(b *testing.B) {
	d := "bmminer-antminer/antminer-s19pro-49.0.1.3_"
	benchParseCollect(b, map[string]string{"summary": d + "summary_pyformat.json", "pools": d + "pools_pyformat.json",
		"stats": d + "stats_pyformat.json", "devs": d + "devs_pyformat.json", "version": d + "version_pyformat.json"})
}

// BenchmarkParseCollectWhatsminer is the same for a Whatsminer M30S (summary+pools+devs+edevs).
func BenchmarkParseCollectWhatsminer(b *testing.B) {
	d := "btminer-whatsminer/whatsminer-m30s"
	benchParseCollect(b, map[string]string{"summary": d + "_summary.json", "pools": d + "_pools.json",
		"edevs": d + "_edevs.json", "devs": d + "-20210322_devs_sorted.json"})
}

// BenchmarkReadHostile reads each reply of TestHostileReplies (decoded once) with every family
// and writes its metrics: what one probe of such a miner costs. Each stays in proportion to the
// reply's size; none of them is slower than a few milliseconds per family.
func BenchmarkReadHostile(b *testing.B) {
	for _, c := range hostileCases() {
		res, size := hostileResult(b, c)
		b.Run(strings.ReplaceAll(c.name, " ", "_"), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				for _, fam := range dialect.Families {
					snap := dialect.Read(res, fam)
					p := &collector.Probe{Up: true, Snapshot: &snap}
					if err := p.WriteText(io.Discard); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
