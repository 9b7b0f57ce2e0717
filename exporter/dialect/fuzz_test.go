package dialect_test

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/minefarm/cgminer-stack/exporter/cgminer"
	"github.com/minefarm/cgminer-stack/exporter/collector"
	"github.com/minefarm/cgminer-stack/exporter/dialect"
)

// readBudget is the most one Read and WriteText of a reply of n bytes may allocate: a generous
// multiple of what the miner sent, plus the snapshot and exposition of a miner at the default
// limits. Reading sizes or loop bounds from the reply's values or key names breaks it at once.
func readBudget(n int) uint64 { return uint64(32*n + 4<<20) }

// FuzzDialect feeds any reply a miner could send to every family as the answer to every command:
// reading it and writing the metrics must never panic or stall, every label value must stay
// valid and short, every value finite and plausible, the series within what the default limits
// allow (maxSeries), and one Read of the reply must allocate within readBudget. Seeds are the
// captures and the hostile replies of TestHostileReplies.
func FuzzDialect(f *testing.F) {
	_ = filepath.WalkDir(fixtures, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Ext(p) != ".md" {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
		return nil
	})
	for _, c := range hostileCases() {
		for _, raw := range c.replies {
			f.Add([]byte(raw))
		}
	}
	cmds := append(append([]cgminer.Command(nil), dialect.Base...), cgminer.Temps, cgminer.Fans, cgminer.Power,
		cgminer.TunerStatus, cgminer.EDevs, cgminer.EStats, cgminer.BTStatus, cgminer.GetVersion)
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) > cgminer.DefaultMaxReplyBytes {
			return
		}
		body, rep, err := cgminer.Decode(raw)
		if err != nil {
			return
		}
		res := &cgminer.Result{Replies: map[string]*cgminer.Reply{}}
		for _, c := range cmds {
			res.Replies[c.String()] = cgminer.NewReply(c.String(), body, rep)
		}
		for _, fam := range append(dialect.Families, nil) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			s := dialect.Read(res, fam)
			p := &collector.Probe{Up: true, Snapshot: &s}
			var out bytes.Buffer
			if err := p.WriteText(&out); err != nil {
				t.Fatal(err)
			}
			runtime.ReadMemStats(&after)
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > readBudget(len(raw)) {
				t.Fatalf("%v: Read and WriteText of %d bytes allocated %d (budget %d)", fam, len(raw), alloc, readBudget(len(raw)))
			}
			checkBounded(t, &s)
			checkExposition(t, out.String())
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(p)
			if _, err := reg.Gather(); err != nil {
				t.Fatalf("invalid metrics from a fuzzed reply: %v", err)
			}
		}
	})
}
