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
	"github.com/minefarm/cgminer-stack/exporter/internal/recorded"
	"github.com/minefarm/cgminer-stack/exporter/miner"
	"github.com/minefarm/cgminer-stack/exporter/wm3"
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
		cgminer.TunerStatus, cgminer.EDevs, cgminer.EStats, cgminer.BTStatus, cgminer.GetVersion, cgminer.GetErrorCode, cgminer.Events)
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
			res.Replies[c.String()] = recorded.Reply(c.String(), body, rep)
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

// FuzzWhatsminerV3 feeds any reply body a miner could send on 4433 as the answer to every API v3
// command: mapping it and writing the metrics must never panic or stall, stay within the default
// limits (faults included) with valid, short labels and finite, plausible values, and allocate
// within readBudget. Seeds are the API v3 captures and the hostile shapes of the v3 tests.
func FuzzWhatsminerV3(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(v3Fixtures, "*.json"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		`{"code":0,"desc":"get.device.info","msg":{"error-code":[{"530":"t","reason":"x"},{"520123":"t"}],"miner":{"board-num":"1e9","working":"false"}}}`,
		`{"code":0,"msg":{"summary":{"hash-realtime":1e300,"board-temperature":[1,2,3]},"edevs":[{"slot":1e30},{"slot":-1},{"slot":2.5},{"slot":0}],"pools":[{"url":"u","id":-1}]}}`,
		`{"code":0,"msg":{"error-code":{"111":"2021","222":"2022"},"power-mode":"low"}}`,
		`{"code":-2,"msg":"invalid command"}`,
	} {
		f.Add([]byte(s))
	}
	cmds := []wm3.Command{wm3.DeviceInfo, wm3.MinerStatus, wm3.MinerStatusSummary, wm3.MinerStatusPools, wm3.MinerStatusEDevs, wm3.MinerSetting}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) > wm3.MaxFrameBytes {
			return
		}
		// Every command takes the reply's msg (Decode would keep it only for the command its desc
		// names, and only from a code-0 envelope).
		v, _, err := cgminer.ParseJSON(raw)
		if err != nil || v.Get("msg").Kind() != cgminer.Object {
			return
		}
		res := &wm3.Result{Replies: map[wm3.Command]*wm3.Reply{}, Errors: map[wm3.Command]error{}}
		for _, c := range cmds {
			res.Replies[c] = &wm3.Reply{Command: c, Msg: v.Get("msg")}
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		s := dialect.ReadWhatsminerV3(res, miner.DefaultLimits)
		p := &collector.Probe{Up: true, Snapshot: &s, Commands: res.Commands()}
		var out bytes.Buffer
		if err := p.WriteText(&out); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > readBudget(len(raw)) {
			t.Fatalf("ReadWhatsminerV3 and WriteText of %d bytes allocated %d (budget %d)", len(raw), alloc, readBudget(len(raw)))
		}
		checkBounded(t, &s)
		if len(s.Faults) > miner.DefaultLimits.Faults {
			t.Fatalf("%d faults", len(s.Faults))
		}
		checkExposition(t, out.String())
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(p)
		if _, err := reg.Gather(); err != nil {
			t.Fatalf("invalid metrics from a fuzzed reply: %v", err)
		}
	})
}
