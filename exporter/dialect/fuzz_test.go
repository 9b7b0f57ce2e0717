package dialect_test

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/minefarm/cgminer-stack/exporter/cgminer"
	"github.com/minefarm/cgminer-stack/exporter/collector"
	"github.com/minefarm/cgminer-stack/exporter/dialect"
)

// FuzzDialect feeds any reply a miner could send to every family as the answer to every command:
// reading it and writing the metrics must never panic, and every label value must stay valid.
func FuzzDialect(f *testing.F) {
	_ = filepath.WalkDir(fixtures, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Ext(p) != ".md" {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
		return nil
	})
	cmds := append(append([]cgminer.Command(nil), dialect.Base...), cgminer.Temps, cgminer.Fans, cgminer.Power,
		cgminer.TunerStatus, cgminer.EDevs, cgminer.EStats, cgminer.BTStatus, cgminer.GetVersion)
	f.Fuzz(func(t *testing.T, raw []byte) {
		body, rep, err := cgminer.Decode(raw)
		if err != nil {
			return
		}
		res := &cgminer.Result{Replies: map[string]*cgminer.Reply{}}
		for _, c := range cmds {
			res.Replies[c.String()] = cgminer.NewReply(c.String(), body, rep)
		}
		for _, fam := range append(dialect.Families, nil) {
			s := dialect.Read(res, fam)
			p := &collector.Probe{Up: true, Snapshot: &s}
			if err := p.WriteText(io.Discard); err != nil {
				t.Fatal(err)
			}
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(p)
			if _, err := reg.Gather(); err != nil {
				t.Fatalf("invalid metrics from a fuzzed reply: %v", err)
			}
		}
	})
}
