package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/minefarm/cgminer-stack/exporter/cgminer"
	"github.com/minefarm/cgminer-stack/exporter/config"
	"github.com/minefarm/cgminer-stack/exporter/dialect"
	"github.com/minefarm/cgminer-stack/exporter/discovery"
	"github.com/minefarm/cgminer-stack/exporter/inventory"
	"github.com/minefarm/cgminer-stack/exporter/probe"
	"github.com/minefarm/cgminer-stack/exporter/wm3"
	"github.com/minefarm/cgminer-stack/simulator/farm"
)

// fakeClock is the farm's time, moved by the test.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// series is one probe's exposition as series → value.
type series map[string]float64

func parse(body string) series {
	out := series{}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if l == "" || l[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err == nil {
			out[l[:i]] = v
		}
	}
	return out
}

// all returns the values of a metric's series (any labels).
func (s series) all(metric string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range s {
		if k == metric || strings.HasPrefix(k, metric+"{") {
			out[k] = v
		}
	}
	return out
}

func (s series) max(metric string) float64 {
	m, first := 0.0, true
	for _, v := range s.all(metric) {
		if first || v > m {
			m, first = v, false
		}
	}
	return m
}

func (s series) min(metric string) float64 {
	m, first := 0.0, true
	for _, v := range s.all(metric) {
		if first || v < m {
			m, first = v, false
		}
	}
	return m
}

// label reads one label of a series key.
func label(key, name string) string {
	i := strings.Index(key, name+`="`)
	if i < 0 {
		return ""
	}
	rest := key[i+len(name)+2:]
	return rest[:strings.IndexByte(rest, '"')]
}

// v3Unseen are the faults whose figures Whatsminer API v3 does not report (get.miner.status
// summary and pools carry no share or hardware-error counts: the M60S capture in
// ../shared/fixtures/modern/whatsminer-v3), by the metric that would show them.
var v3Unseen = map[string]string{
	"rejects_high":   "cgminer_shares_rejected_total",
	"hw_errors_high": "cgminer_hardware_errors_total",
}

// dialectKnowsChips reports whether the exporter's model table gives the model's chips per board.
func dialectKnowsChips(name string) bool {
	m, ok := dialect.LookupModel(name)
	return ok && m.ChipsPerBoard > 0
}

// readers are the exporter's own: the cgminer API and Whatsminer API v3 (the m60s speaks only v3).
func readers() map[string]probe.Reader {
	return map[string]probe.Reader{
		config.ProtocolCGMiner:      probe.CGMiner(&cgminer.Client{}),
		config.ProtocolWhatsminerV3: probe.WhatsminerV3(&wm3.Client{}),
	}
}

type simFarm struct {
	f     *farm.Farm
	clock *fakeClock
	h     *probe.Handler
}

var rangeSeq struct {
	sync.Mutex
	n int
}

// startFarm runs n miners of one model in-process on a fresh loopback /28 and a free port.
func startFarm(t *testing.T, model string, n int) *simFarm {
	t.Helper()
	rangeSeq.Lock()
	rangeSeq.n++
	seq := rangeSeq.n
	rangeSeq.Unlock()
	prefix := netip.MustParsePrefix(fmt.Sprintf("127.88.%d.0/28", seq))
	ln, err := net.Listen("tcp", prefix.Addr().Next().String()+":0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	mix, err := farm.ParseMix(model + "=1")
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	f, err := farm.New(farm.Config{Range: prefix, Miners: n, Port: port, Mix: mix, Seed: 7, Clock: clock,
		SlowDelay: 3 * time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := f.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); f.Close() })
	// A model whose chips per board vary by bin (the M60S) gets them from its module, as an
	// operator writes expect.chips_per_board for the bin the farm runs.
	chips := ""
	if m := f.Miners()[0].Model(); m.Chips > 0 && !dialectKnowsChips(m.Name) {
		chips = fmt.Sprintf("\n      chips_per_board: %d", m.Chips)
	}
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
allowed_targets: [127.0.0.0/8]
allowed_ports: [%d]
modules:
  default:
    timeout: 1500ms
    expect:
      pools: [{url: 'stratum\+tcp://pool\.example\.com:3333', user: 'farm\..*'}]%s
`, port, chips)))
	if err != nil {
		t.Fatal(err)
	}
	prober := probe.NewProber(inventory.New(inventory.Options{}), readers())
	h := probe.New(func() *config.Config { return cfg }, prober, slog.New(slog.NewTextHandler(io.Discard, nil)),
		prometheus.NewRegistry(), probe.Options{})
	return &simFarm{f: f, clock: clock, h: h}
}

func (s *simFarm) probe(t *testing.T, m *farm.Miner) series {
	t.Helper()
	req := httptest.NewRequest("GET", "/probe?target="+m.Endpoint(), nil)
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("probe %s: %d %s", m.Endpoint(), rec.Code, rec.Body.String())
	}
	return parse(rec.Body.String())
}

// Every simulated model answers the exporter as its real counterpart does: identified, with the
// boards, chips, fans and hashrate of a healthy unit, and the expected pool.
func TestSimulatedModelsThroughTheExporter(t *testing.T) {
	for _, key := range farm.ModelKeys() {
		t.Run(key, func(t *testing.T) {
			s := startFarm(t, key, 1)
			m := s.f.Miners()[0]
			model := m.Model()
			s.clock.Add(10 * time.Minute)
			got := s.probe(t, m)
			if got["cgminer_up"] != 1 {
				t.Fatalf("cgminer_up %v: %v", got["cgminer_up"], got.all("cgminer_probe_error_info"))
			}
			var info string
			for k := range got.all("cgminer_info") {
				info = k
			}
			if label(info, "model") != model.Name || label(info, "firmware") != model.Firmware {
				t.Errorf("identity %s, want model %q firmware %q", info, model.Name, model.Firmware)
			}
			if got["cgminer_boards"] != float64(model.Boards) || got["cgminer_boards_expected"] != float64(model.Boards) {
				t.Errorf("boards %v of %v expected, want %d", got["cgminer_boards"], got["cgminer_boards_expected"], model.Boards)
			}
			if model.Chips > 0 {
				for k, v := range got.all("cgminer_board_chips") {
					if v != float64(model.Chips) {
						t.Errorf("%s = %v, want %d", k, v, model.Chips)
					}
				}
			}
			if n := len(got.all("cgminer_fan_speed_rpm")); n != model.Fans || got.min("cgminer_fan_speed_rpm") <= 0 {
				t.Errorf("%d fans (min %v rpm), want %d spinning", n, got.min("cgminer_fan_speed_rpm"), model.Fans)
			}
			hr, nominal := got["cgminer_hashrate_hashes_per_second"], model.NominalGHS*1e9
			if hr < 0.85*nominal || hr > 1.15*nominal {
				t.Errorf("hashrate %.4g, nominal %.4g", hr, nominal)
			}
			if n := got["cgminer_hashrate_nominal_hashes_per_second"]; n < 0.9*nominal || n > 1.1*nominal {
				t.Errorf("nominal hashrate %.4g, want ≈ %.4g", n, nominal)
			}
			active := 0
			for k, v := range got.all("cgminer_pool_active") {
				if v == 1 && got["cgminer_pool_devfee"+k[len("cgminer_pool_active"):]] == 0 {
					active++
					if e := got["cgminer_pool_expected"+k[len("cgminer_pool_active"):]]; e != 1 {
						t.Errorf("active pool %s not the expected one", k)
					}
				}
			}
			if active == 0 && key != "vnish" {
				t.Error("no active operator pool")
			}
			if got["cgminer_sleeping"] != 0 {
				t.Errorf("a healthy miner reads as sleeping")
			}
			if got.max("cgminer_board_temperature_celsius") <= 0 || got.max("cgminer_board_temperature_celsius") >= 90 {
				t.Errorf("board temperatures %v", got.all("cgminer_board_temperature_celsius"))
			}
		})
	}
}

// Each fault moves the metric that the contract's alert for it watches, on every model.
func TestSimulatedFaultsMoveTheirMetrics(t *testing.T) {
	type check func(before, after series, model *farm.Model) error
	ratio := func(before, after series, num, other string) float64 {
		dn := after[num] - before[num]
		do := after[other] - before[other]
		if dn+do == 0 {
			return 0
		}
		return dn / (dn + do)
	}
	down := func(reasons ...string) check {
		return func(_, a series, _ *farm.Model) error {
			if a["cgminer_up"] != 0 {
				return fmt.Errorf("cgminer_up %v", a["cgminer_up"])
			}
			for k := range a.all("cgminer_probe_error_info") {
				for _, r := range reasons {
					if label(k, "reason") == r {
						return nil
					}
				}
				return fmt.Errorf("reason %s, want one of %v", k, reasons)
			}
			return fmt.Errorf("no reason")
		}
	}
	faults := []struct {
		fault string
		alert string
		check check
	}{
		{"offline", "MinerOffline", down("connection_refused")},
		{"hang", "MinerOffline", down("timeout")},
		{"slow", "MinerOffline", down("timeout")},
		{"garbage", "MinerOffline", down("not_cgminer_api", "not_whatsminer_api", "malformed_reply")},
		{"truncated", "MinerOffline", down("truncated_reply", "malformed_reply")},
		{"board_missing", "MinerHashboardMissing", func(_, a series, _ *farm.Model) error {
			if a["cgminer_boards"] >= a["cgminer_boards_expected"] {
				return fmt.Errorf("boards %v of %v", a["cgminer_boards"], a["cgminer_boards_expected"])
			}
			return nil
		}},
		{"board_dead", "MinerHashboardFailed", func(_, a series, _ *farm.Model) error {
			if a.min("cgminer_board_hashrate_hashes_per_second") > 0 && a["cgminer_boards"] >= a["cgminer_boards_expected"] {
				return fmt.Errorf("every board hashes: %v", a.all("cgminer_board_hashrate_hashes_per_second"))
			}
			return nil
		}},
		{"chips_failed", "MinerHashboardFailed", func(_, a series, m *farm.Model) error {
			for k, v := range a.all("cgminer_board_chips") {
				exp := a["cgminer_board_chips_expected"+k[len("cgminer_board_chips"):]]
				failed := a["cgminer_board_chips_failed"+k[len("cgminer_board_chips"):]]
				if failed > 0 || (exp > 0 && v < exp) {
					return nil
				}
			}
			return fmt.Errorf("no board lost chips: %v", a.all("cgminer_board_chips"))
		}},
		{"hashrate_low", "MinerHashrateLow", func(_, a series, m *farm.Model) error {
			if r := a["cgminer_hashrate_hashes_per_second"] / a["cgminer_hashrate_nominal_hashes_per_second"]; r > 0.8 || r <= 0 {
				return fmt.Errorf("hashrate at %.0f%% of nominal", 100*r)
			}
			return nil
		}},
		{"zero_hashrate", "MinerNoHashrate", func(_, a series, _ *farm.Model) error {
			if a["cgminer_up"] != 1 || a["cgminer_hashrate_hashes_per_second"] != 0 || a["cgminer_sleeping"] == 1 {
				return fmt.Errorf("up %v hashrate %v sleeping %v", a["cgminer_up"], a["cgminer_hashrate_hashes_per_second"], a["cgminer_sleeping"])
			}
			return nil
		}},
		{"overheat", "MinerTemperatureHigh", func(_, a series, _ *farm.Model) error {
			if t := a.max("cgminer_board_temperature_celsius"); t < 90 || t >= 100 {
				return fmt.Errorf("hottest board sensor %v", t)
			}
			return nil
		}},
		{"overheat_critical", "MinerTemperatureCritical", func(_, a series, _ *farm.Model) error {
			if t := a.max("cgminer_board_temperature_celsius"); t < 100 {
				return fmt.Errorf("hottest board sensor %v", t)
			}
			return nil
		}},
		{"fan_stopped", "MinerFanFailure", func(_, a series, _ *farm.Model) error {
			if a.min("cgminer_fan_speed_rpm") > 0 && float64(len(a.all("cgminer_fan_speed_rpm"))) >= a["cgminer_fans_expected"] {
				return fmt.Errorf("fans %v", a.all("cgminer_fan_speed_rpm"))
			}
			return nil
		}},
		{"pool_dead", "MinerPoolDown", func(_, a series, _ *farm.Model) error {
			for k, v := range a.all("cgminer_pool_up") {
				if v == 1 && a["cgminer_pool_devfee"+k[len("cgminer_pool_up"):]] == 0 {
					return fmt.Errorf("pool %s up", k)
				}
			}
			return nil
		}},
		{"pool_wrong", "MinerPoolMisconfigured", func(_, a series, _ *farm.Model) error {
			for k, v := range a.all("cgminer_pool_active") {
				if v == 1 && a["cgminer_pool_expected"+k[len("cgminer_pool_active"):]] == 0 {
					return nil
				}
			}
			return fmt.Errorf("active pool is an expected one: %v", a.all("cgminer_pool_expected"))
		}},
		{"rejects_high", "MinerSharesRejectedHigh", func(b, a series, _ *farm.Model) error {
			if r := ratio(b, a, "cgminer_shares_rejected_total", "cgminer_shares_accepted_total"); r < 0.05 {
				return fmt.Errorf("rejected ratio %.3f", r)
			}
			return nil
		}},
		{"hw_errors_high", "MinerHardwareErrorsHigh", func(b, a series, _ *farm.Model) error {
			dhw := a["cgminer_hardware_errors_total"] - b["cgminer_hardware_errors_total"]
			nonces := a["cgminer_hashrate_hashes_per_second"] * 600 / 4294967296
			if dhw/(dhw+nonces) < 0.01 {
				return fmt.Errorf("hardware errors %v in 10 min against %v nonces", dhw, nonces)
			}
			return nil
		}},
		{"restart_loop", "MinerRestarting", func(b, a series, _ *farm.Model) error {
			if a["cgminer_uptime_seconds"] >= 600 {
				return fmt.Errorf("uptime %v after 10 min of restarts", a["cgminer_uptime_seconds"])
			}
			return nil
		}},
		{"sleeping", "(none: sleeping suppresses alerts)", func(_, a series, m *farm.Model) error {
			if m.Firmware == "braiins" {
				// Braiins OS's cgminer API has no sleep flag (pausing shows only in its gRPC API):
				// the exporter cannot tell, so it does not claim to.
				if _, ok := a["cgminer_sleeping"]; ok {
					return fmt.Errorf("sleeping reported for a firmware that does not say")
				}
				return nil
			}
			if a["cgminer_up"] != 1 || a["cgminer_sleeping"] != 1 {
				return fmt.Errorf("up %v sleeping %v", a["cgminer_up"], a["cgminer_sleeping"])
			}
			return nil
		}},
	}
	for _, key := range farm.ModelKeys() {
		for _, fc := range faults {
			t.Run(key+"/"+fc.fault, func(t *testing.T) {
				t.Parallel()
				s := startFarm(t, key, 1)
				m := s.f.Miners()[0]
				s.clock.Add(time.Hour)
				before := s.probe(t, m)
				f, err := farm.ParseFault(fc.fault)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := m.SetFault(f); err != nil {
					t.Fatal(err)
				}
				s.clock.Add(10 * time.Minute)
				after := s.probe(t, m)
				if _, legacy := m.EndpointOf(farm.ProtocolCGMiner); !legacy && v3Unseen[fc.fault] != "" {
					// API v3 carries no share or hardware-error counters: the exporter must not
					// claim a figure (a 0 would read as healthy), so the alert cannot fire for it.
					for k := range after {
						if strings.HasPrefix(k, v3Unseen[fc.fault]) {
							t.Errorf("%s on %s: %s exported from an API that does not report it", fc.fault, key, k)
						}
					}
					return
				}
				if err := fc.check(before, after, m.Model()); err != nil {
					t.Errorf("%s on %s should move what %s watches: %v", fc.fault, key, fc.alert, err)
				}
			})
		}
	}
}

// Discovery finds the simulated miners of a /22 among its empty addresses, with the right models
// and firmware, keeps a miner that went offline, and keeps everything across a restart.
func TestDiscoveryFindsTheSimulatedFarm(t *testing.T) {
	prefix := netip.MustParsePrefix("127.87.0.0/22")
	ln, err := net.Listen("tcp", "127.87.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	mix, _ := farm.ParseMix(farm.DefaultMix)
	f, err := farm.New(farm.Config{Range: prefix, Miners: 60, Port: port, Mix: mix, Seed: 3,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := f.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	state := filepath.Join(t.TempDir(), "inventory.json")
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
allowed_targets: [127.0.0.0/8]
allowed_ports: [%[1]d]
discovery:
  port: %[1]d
  timeout: 1s
  rate: 5000
  concurrency: 128
  sites: [{name: farm, ranges: [%[2]s]}]
`, port, prefix)))
	if err != nil {
		t.Fatal(err)
	}
	newDisc := func() (*discovery.Discoverer, *inventory.Inventory) {
		inv := inventory.New(inventory.Options{File: state})
		if err := inv.Load(); err != nil {
			t.Fatal(err)
		}
		prober := probe.NewProber(inv, readers())
		return discovery.New(func() *config.Config { return cfg }, prober, inv, slog.New(slog.NewTextHandler(io.Discard, nil)), nil), inv
	}
	d, store := newDisc()
	if err := d.Scan(ctx); err != nil {
		t.Fatal(err)
	}
	inv := map[string]discovery.Entry{}
	for _, e := range d.Inventory() {
		inv[e.Address] = e
	}
	if len(inv) != f.Len() {
		t.Fatalf("found %d miners in the /22, the farm has %d", len(inv), f.Len())
	}
	for _, m := range f.Miners() {
		e, ok := inv[m.Endpoint()]
		if !ok {
			t.Errorf("%s (%s) not found", m.Endpoint(), m.Model().Key)
			continue
		}
		if e.Model != m.Model().Name || e.Firmware != m.Model().Firmware {
			t.Errorf("%s: found %s/%s, it is %s/%s", m.Endpoint(), e.Model, e.Firmware, m.Model().Name, m.Model().Firmware)
		}
	}
	off := f.Miners()[5]
	fault, _ := farm.ParseFault("offline")
	if _, err := off.SetFault(fault); err != nil {
		t.Fatal(err)
	}
	if err := d.Scan(ctx); err != nil {
		t.Fatal(err)
	}
	if err := store.Save(); err != nil { // the exporter's batched save, or the one at shutdown
		t.Fatal(err)
	}
	restarted, _ := newDisc()
	found := false
	for _, e := range restarted.Inventory() { // a restart: read back from the state file
		if e.Address == off.Endpoint() {
			found = true
		}
	}
	if !found {
		t.Errorf("offline miner %s dropped from the inventory", off.Endpoint())
	}
	if n := len(restarted.Inventory()); n != f.Len() {
		t.Errorf("after a restart the inventory has %d miners, want %d", n, f.Len())
	}
}
