package farm

import (
	"context"
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/minefarm/cgminer-stack/exporter/cgminer"
	"github.com/minefarm/cgminer-stack/exporter/dialect"
	"github.com/minefarm/cgminer-stack/exporter/miner"
)

// TestFaultsMoveTheAlertedMetric: for every model, each fault moves the reading that the
// contract's alert for it watches, as the exporter reads it.
func TestFaultsMoveTheAlertedMetric(t *testing.T) {
	clock := newFakeClock()
	f := startFarm(t, "127.77.0.64/28", allModels, 7, clock)
	type check func(t *testing.T, m *Miner, before, after miner.Snapshot, res *cgminer.Result)
	boardsDown := func(t *testing.T, m *Miner, b, a miner.Snapshot, _ *cgminer.Result) {
		if a.BoardsDetected().V != b.BoardsDetected().V-1 {
			t.Errorf("boards %v → %v", b.BoardsDetected().V, a.BoardsDetected().V)
		}
	}
	tests := []struct {
		fault Fault
		alert string // the contract alert this fault must trigger
		check check
	}{
		{BoardMissing, "MinerHashboardMissing", boardsDown},
		{BoardDead, "MinerHashboardFailed", func(t *testing.T, m *Miner, b, a miner.Snapshot, _ *cgminer.Result) {
			bd := a.Boards[deadSlot(m.model.Boards)]
			failed := bd.ChipsFailed.Set && bd.ChipsFailed.V == bd.Chips.V
			if bd.Hashrate.V != 0 && !failed {
				t.Errorf("dead board: %+v", bd)
			}
		}},
		{ChipsFailed, "MinerHashboardFailed", func(t *testing.T, m *Miner, b, a miner.Snapshot, _ *cgminer.Result) {
			i := failedSlot(m.model.Boards)
			was, now := b.Boards[i], a.Boards[i]
			if !(now.ChipsFailed.V > 0 || now.Chips.V < was.Chips.V || (!now.Chips.Set && was.Chips.Set)) {
				t.Errorf("board %d chips %v failed %v (was %v/%v)", i, now.Chips, now.ChipsFailed, was.Chips, was.ChipsFailed)
			}
		}},
		{HashrateLow, "MinerHashrateLow", func(t *testing.T, m *Miner, b, a miner.Snapshot, _ *cgminer.Result) {
			if r := a.Hashrate.V / a.HashrateNominal.V; r < 0.5 || r > 0.7 {
				t.Errorf("hashrate at %.2f of nominal", r)
			}
		}},
		{ZeroHashrate, "MinerNoHashrate", func(t *testing.T, m *Miner, b, a miner.Snapshot, _ *cgminer.Result) {
			if a.Hashrate.V != 0 || (a.Sleeping.Set && a.Sleeping.V == 1) {
				t.Errorf("hashrate %v sleeping %v", a.Hashrate, a.Sleeping)
			}
		}},
		{Overheat, "MinerTemperatureHigh", func(t *testing.T, m *Miner, b, a miner.Snapshot, _ *cgminer.Result) {
			if h := hottest(a, "chip"); h < 89 || h > 96 {
				t.Errorf("chip %v", h)
			}
		}},
		{OverheatCritical, "MinerTemperatureCritical", func(t *testing.T, m *Miner, b, a miner.Snapshot, _ *cgminer.Result) {
			if h := hottest(a, "chip"); h < 102 {
				t.Errorf("chip %v", h)
			}
		}},
		{FanStopped, "MinerFanFailure", func(t *testing.T, m *Miner, b, a miner.Snapshot, _ *cgminer.Result) {
			if len(a.Fans) == 0 || a.Fans[0].RPM != 0 {
				t.Errorf("fans %+v", a.Fans)
			}
		}},
		{PoolDead, "MinerPoolDown", func(t *testing.T, m *Miner, b, a miner.Snapshot, _ *cgminer.Result) {
			for _, p := range a.Pools {
				if p.Up.V != 0 {
					t.Errorf("pool %s up", p.Index)
				}
			}
			if a.SharesAccepted.V != b.SharesAccepted.V {
				t.Errorf("shares still accepted: %v → %v", b.SharesAccepted.V, a.SharesAccepted.V)
			}
		}},
		{PoolWrong, "MinerPoolMisconfigured", func(t *testing.T, m *Miner, b, a miner.Snapshot, _ *cgminer.Result) {
			p := activePool(a)
			if p == nil || p.URL != WrongPoolURL || p.User != WrongUser {
				t.Errorf("active pool %+v", p)
			}
		}},
		{PoolHijack, "MinerPoolMisconfigured", func(t *testing.T, m *Miner, b, a miner.Snapshot, _ *cgminer.Result) {
			var p *miner.Pool
			for i := range a.Pools {
				if a.Pools[i].URL == WrongPoolURL {
					p = &a.Pools[i]
				}
			}
			if p == nil || p.Active.V != 1 || p.User != HijackUser || p.Priority.V != HijackPriority {
				t.Fatalf("thief's pool %+v", p)
			}
			// The exporter reads it as an ordinary, unexpected pool: its name is no fee pool.
			if p.DevFee {
				t.Errorf("the thief's pool %s as %s is read as a fee pool", p.URL, p.User)
			}
			expect := dialect.Expect{Pools: []dialect.PoolPattern{{URL: regexp.MustCompile(`^` + regexp.QuoteMeta(PoolURL) + `$`), User: regexp.MustCompile(`^farm\..*$`)}}}
			expect.Apply(&a)
			if p.Expected != miner.Some(0) {
				t.Errorf("the thief's pool: cgminer_pool_expected %+v, want 0", p.Expected)
			}
		}},
		{DeviceDead, "MinerDeviceNotAlive", func(t *testing.T, m *Miner, b, a miner.Snapshot, _ *cgminer.Result) {
			if bd := a.Boards[deadSlot(m.model.Boards)]; bd.Hashrate.V != 0 {
				t.Errorf("the dead device's board hashes %v", bd.Hashrate)
			}
			if m.model.fam == famAvalon || m.model.fam == famVNish {
				return // no devs in these firmwares: the dead device shows as its board's 0 H/s alone
			}
			if len(a.Devices) == 0 || a.Devices[0].Alive != miner.Some(0) {
				t.Errorf("devices %+v, want the first not alive", a.Devices)
			}
			for _, d := range a.Devices[1:] {
				if d.Alive != miner.Some(1) {
					t.Errorf("device %s not alive too", d.ID)
				}
			}
		}},
		{RejectsHigh, "MinerSharesRejectedHigh", func(t *testing.T, m *Miner, b, a miner.Snapshot, _ *cgminer.Result) {
			acc, rej := a.SharesAccepted.V-b.SharesAccepted.V, a.SharesRejected.V-b.SharesRejected.V
			if r := rej / (acc + rej); r < 0.07 || r > 0.13 {
				t.Errorf("rejected ratio %.3f", r)
			}
		}},
		{HWErrorsHigh, "MinerHardwareErrorsHigh", func(t *testing.T, m *Miner, b, a miner.Snapshot, _ *cgminer.Result) {
			hw, acc := a.HardwareErrors.V-b.HardwareErrors.V, a.SharesAccepted.V-b.SharesAccepted.V
			// Hardware errors per diff-1 work unit (shares × difficulty): about 5 %, against 0.0002 % healthy.
			if r := hw / (acc * m.model.Diff); r < 0.03 || r > 0.08 {
				t.Errorf("hw errors +%v vs shares +%v: ratio %.4f", hw, acc, r)
			}
		}},
		{RestartLoop, "MinerRestarting", func(t *testing.T, m *Miner, b, a miner.Snapshot, _ *cgminer.Result) {
			if a.Uptime.V >= 120 || a.SharesAccepted.V >= b.SharesAccepted.V {
				t.Errorf("uptime %v shares %v (before %v)", a.Uptime.V, a.SharesAccepted.V, b.SharesAccepted.V)
			}
		}},
		{Sleeping, "none (cgminer_sleeping 1 keeps MinerNoHashrate quiet)", func(t *testing.T, m *Miner, b, a miner.Snapshot, _ *cgminer.Result) {
			if a.Hashrate.V != 0 {
				t.Errorf("hashrate %v", a.Hashrate)
			}
			if m.model.fam == famBraiins {
				return // the Braiins API shows no sleep flag (README.md)
			}
			if !a.Sleeping.Set || a.Sleeping.V != 1 {
				t.Errorf("sleeping %v", a.Sleeping)
			}
		}},
	}
	for _, m := range f.Miners() {
		for _, tc := range tests {
			t.Run(m.model.Key+"/"+tc.fault.String(), func(t *testing.T) {
				_, before := probe(t, m)
				if _, err := m.SetFault(tc.fault); err != nil {
					t.Fatal(err)
				}
				clock.Advance(5 * time.Minute)
				res, after := probe(t, m)
				if err := res.Err(); err != nil {
					t.Fatalf("probe: %v", err)
				}
				tc.check(t, m, before, after, res)
				if err := m.ClearFaults(); err != nil {
					t.Fatal(err)
				}
				clock.Advance(time.Minute)
			})
		}
	}
}

// TestConnectionFaults: the faults a probe sees as MinerOffline, with the reason the exporter gives.
func TestConnectionFaults(t *testing.T) {
	f := startFarm(t, "127.77.0.80/28", "s19jpro=1", 1, newFakeClock())
	m := f.Miners()[0]
	tests := []struct {
		fault  Fault
		reason cgminer.Reason
	}{
		{Offline, cgminer.ReasonRefused},
		{Hang, cgminer.ReasonTimeout},
		{Slow, cgminer.ReasonTimeout},
		{Garbage, cgminer.ReasonNotAPI},
		{Truncated, cgminer.ReasonMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.fault.String(), func(t *testing.T) {
			if _, err := m.SetFault(tc.fault); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			var c cgminer.Client
			_, ex := c.Query(ctx, m.Endpoint(), cgminer.Summary)
			got := cgminer.ReasonOf(ex.Err)
			if got != tc.reason && !(tc.fault == Truncated && got == cgminer.ReasonTruncated) {
				t.Errorf("reason %q (%v), want %q", got, ex.Err, tc.reason)
			}
			if _, err := m.ClearFault(tc.fault); err != nil {
				t.Fatal(err)
			}
			rep, ex := c.Query(context.Background(), m.Endpoint(), cgminer.Summary)
			if ex.Err != nil || !rep.OK() {
				t.Errorf("after clearing: %v", errors.Join(ex.Err))
			}
		})
	}
}
