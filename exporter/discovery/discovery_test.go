package discovery

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minefarm/cgminer-stack/exporter/cgminer"
	"github.com/minefarm/cgminer-stack/exporter/config"
	"github.com/minefarm/cgminer-stack/exporter/internal/fakeminer"
	"github.com/minefarm/cgminer-stack/exporter/inventory"
	"github.com/minefarm/cgminer-stack/exporter/probe"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "cgminer-api", name))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.TrimRight(b, "\x00\n")
}

// farm serves fake miners on chosen loopback addresses, all on one port.
type farm struct {
	t     testing.TB
	port  int
	mu    sync.Mutex
	lns   map[string]net.Listener
	conns map[string]int
}

func newFarm(t testing.TB, probeIP string) *farm {
	ln, err := net.Listen("tcp", probeIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return &farm{t: t, port: port, lns: map[string]net.Listener{}, conns: map[string]int{}}
}

// add starts a miner answering every command from replies.
func (f *farm) add(ip string, replies map[string][]byte) {
	ln := fakeminer.Listen(f.t, net.JoinHostPort(ip, strconv.Itoa(f.port)), func(c net.Conn, req []byte) {
		f.mu.Lock()
		f.conns[ip]++
		f.mu.Unlock()
		c.Write(append(fakeminer.Answer(replies, fakeminer.Command(req)), 0))
	})
	f.mu.Lock()
	f.lns[ip] = ln
	f.mu.Unlock()
}

func (f *farm) stop(ip string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lns[ip].Close()
}

func s19(t testing.TB) map[string][]byte {
	d := "bmminer-antminer/antminer-s19pro-49.0.1.3_"
	return map[string][]byte{"version": fixture(t, d+"version_pyformat.json"), "stats": fixture(t, d+"stats_pyformat.json"), "summary": fixture(t, d+"summary_pyformat.json")}
}

func luxos(t testing.TB) map[string][]byte {
	d := "luxos/antminer-s19kpro-luxos-2025.4.8_"
	return map[string][]byte{"version": fixture(t, d+"version_sorted.json"), "stats": fixture(t, d+"stats_sorted.json")}
}

func newDiscoverer(t testing.TB, yml, state string) (*Discoverer, *config.Config) {
	t.Helper()
	cfg, err := config.Parse([]byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	return start(t, func() *config.Config { return cfg }, state), cfg
}

// start is the exporter's wiring: one inventory (loaded from state), one prober reading the
// cgminer API with a real client, shared by discovery.
func start(t testing.TB, cfg func() *config.Config, state string) *Discoverer {
	t.Helper()
	inv := inventory.New(inventory.Options{File: state})
	if err := inv.Load(); err != nil {
		t.Fatal(err)
	}
	prober := probe.NewProber(inv, map[string]probe.Reader{config.ProtocolCGMiner: probe.CGMiner(&cgminer.Client{})})
	return New(cfg, prober, inv, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
}

// add lists a miner as a scan would.
func (d *Discoverer) add(addr, site, module string, seen time.Time) {
	d.inv.Observe(addr, inventory.Facts{Protocol: inventory.CGMiner}, seen)
	d.inv.List(addr, inventory.Listing{Site: site, Module: module})
}

type sdGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

func sd(t *testing.T, d *Discoverer) map[string]map[string]string {
	t.Helper()
	rec := httptest.NewRecorder()
	d.ServeHTTP(rec, httptest.NewRequest("GET", "/sd", nil))
	var groups []sdGroup
	if err := json.Unmarshal(rec.Body.Bytes(), &groups); err != nil {
		t.Fatalf("/sd is not HTTP SD JSON: %v\n%s", err, rec.Body.String())
	}
	out := map[string]map[string]string{}
	for _, g := range groups {
		for _, tg := range g.Targets {
			out[tg] = g.Labels
		}
	}
	return out
}

func TestScanFindsMinersAmongEmptyAddresses(t *testing.T) {
	f := newFarm(t, "127.78.0.1")
	f.add("127.78.0.10", s19(t))
	f.add("127.78.0.77", s19(t))
	f.add("127.78.1.200", luxos(t))
	state := filepath.Join(t.TempDir(), "inventory.json")
	yml := fmt.Sprintf(`
allowed_targets: [127.0.0.0/8]
allowed_ports: [%[1]d]
modules: {s19: {dialect: antminer}}
discovery:
  port: %[1]d
  timeout: 500ms
  rate: 5000
  concurrency: 64
  modules_by_model: [{model: 'Antminer S19 Pro', module: s19}]
  sites:
    - name: north
      ranges: [127.78.0.0/23]
      rack: {octet: 3, format: "r%%d"}
      labels: {region: eu}
`, f.port)
	d, _ := newDiscoverer(t, yml, state)
	if err := d.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := sd(t, d)
	if len(got) != 3 {
		t.Fatalf("found %d miners, want 3: %v", len(got), got)
	}
	port := strconv.Itoa(f.port)
	want := map[string]map[string]string{
		"127.78.0.10:" + port:  {"site": "north", "rack": "r0", "region": "eu", "__param_module": "s19"},
		"127.78.0.77:" + port:  {"site": "north", "rack": "r0", "region": "eu", "__param_module": "s19"},
		"127.78.1.200:" + port: {"site": "north", "rack": "r1", "region": "eu", "__param_module": "default"},
	}
	for tg, labels := range want {
		for k, v := range labels {
			if got[tg][k] != v {
				t.Errorf("%s: label %s=%q, want %q", tg, k, got[tg][k], v)
			}
		}
	}
	inv := d.Inventory()
	models := map[string]string{}
	for _, e := range inv {
		models[e.Address] = e.Model + "/" + e.Firmware
	}
	if models["127.78.1.200:"+port] != "Antminer S19k Pro/luxos" || models["127.78.0.10:"+port] != "Antminer S19 Pro/stock" {
		t.Errorf("models: %v", models)
	}

	// A miner taken offline stays listed (so MinerOffline fires for it) …
	f.stop("127.78.0.77")
	if err := d.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := sd(t, d)["127.78.0.77:"+port]; !ok {
		t.Error("offline miner dropped from /sd")
	}
	// … and a restart keeps the inventory, the offline miner included.
	if err := d.inv.Save(); err != nil { // the inventory's batched save, or the one at shutdown
		t.Fatal(err)
	}
	d2, _ := newDiscoverer(t, yml, state)
	if got := sd(t, d2); len(got) != 3 {
		t.Errorf("after restart /sd has %d miners, want 3", len(got))
	}
	// Once it has been gone longer than forget_after it leaves.
	d2.now = func() time.Time { return time.Now().Add(200 * time.Hour) }
	if err := d2.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := sd(t, d2)["127.78.0.77:"+port]; ok {
		t.Error("miner gone for 200h still listed")
	}
}

// The scan never exceeds its connection rate: 40 addresses at 100/s take at least 0.39 s.
func TestScanRateLimit(t *testing.T) {
	f := newFarm(t, "127.79.0.1")
	d, _ := newDiscoverer(t, fmt.Sprintf(`
allowed_targets: [127.0.0.0/8]
allowed_ports: [%[1]d]
discovery:
  port: %[1]d
  timeout: 200ms
  rate: 100
  concurrency: 64
  sites: [{name: a, ranges: [127.79.0.1-127.79.0.40]}]
`, f.port), "")
	start := time.Now()
	if err := d.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 390*time.Millisecond {
		t.Errorf("40 addresses at 100/s scanned in %s", took)
	}
}

func TestOnlyAllowedRanges(t *testing.T) {
	_, err := config.Parse([]byte(`
allowed_targets: [127.0.0.0/8]
discovery: {sites: [{name: a, ranges: [10.0.0.0/24]}]}
`))
	if err == nil {
		t.Fatal("a site outside allowed_targets was accepted")
	}
}

func TestInstanceName(t *testing.T) {
	for in, want := range map[string]string{"10.0.0.1:4028": "10.0.0.1", "10.0.0.1:4029": "10.0.0.1:4029"} {
		if got := instance(in); got != want {
			t.Errorf("instance(%s) = %s, want %s", in, got, want)
		}
	}
}

// A scan follows the probe's rules at the point of contact: the site's port must be one its
// modules allow (checked again after validation, as the address is), and replies are capped by
// the module's max_reply_bytes.
func TestScanTargetRules(t *testing.T) {
	f := newFarm(t, "127.82.0.1")
	f.add("127.82.0.10", s19(t))
	tests := []struct {
		name  string
		yml   string
		edit  func(c *config.Config) // after validation, as a bug elsewhere might leave it
		found int
	}{
		{name: "allowed port", yml: "allowed_ports: [%d]\n", found: 1},
		{name: "port no longer allowed", yml: "allowed_ports: [%d]\n", edit: func(c *config.Config) { c.AllowedPorts = nil }, found: 0},
		{name: "reply over max_reply_bytes", yml: "allowed_ports: [%d]\nmodules: {default: {max_reply_bytes: 100}}\n", found: 0},
		{name: "reply under max_reply_bytes", yml: "allowed_ports: [%d]\nmodules: {default: {max_reply_bytes: 4096}}\n", found: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			yml := fmt.Sprintf("allowed_targets: [127.0.0.0/8]\n"+tc.yml+`
discovery:
  port: %d
  timeout: 500ms
  sites: [{name: a, ranges: [127.82.0.8-127.82.0.12]}]
`, f.port, f.port)
			d, cfg := newDiscoverer(t, yml, "")
			if tc.edit != nil {
				tc.edit(cfg)
			}
			if err := d.Scan(context.Background()); err != nil {
				t.Fatal(err)
			}
			if n := len(d.Inventory()); n != tc.found {
				t.Errorf("found %d miners, want %d", n, tc.found)
			}
		})
	}
}

// /sd is encoded once per change of what it lists, not once per request: a client polling it
// cannot make the exporter re-sort and re-encode the whole inventory each time.
func TestSDCached(t *testing.T) {
	d, _ := newDiscoverer(t, "allowed_targets: [127.0.0.0/8]\ndiscovery: {sites: [{name: a, ranges: [127.83.0.0/20]}]}", "")
	now := time.Now()
	for i := range 4000 {
		d.add(fmt.Sprintf("127.83.%d.%d:4028", i/256, i%256), "a", "default", now)
	}
	d.changed()
	first := httptest.NewRecorder()
	d.ServeHTTP(first, httptest.NewRequest("GET", "/sd", nil))
	allocs := testing.AllocsPerRun(20, func() {
		d.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/sd", nil))
	})
	if allocs > 100 {
		t.Errorf("/sd of 4000 miners: %.0f allocations per request, want it served from the cache", allocs)
	}
	var groups []sdGroup
	if err := json.Unmarshal(first.Body.Bytes(), &groups); err != nil || len(groups) != 1 || len(groups[0].Targets) != 4000 {
		t.Fatalf("/sd: %v, %d groups", err, len(groups))
	}
	// A change shows at the next request.
	d.add("127.83.15.1:4028", "a", "other", now)
	if got := sd(t, d); got["127.83.15.1"]["__param_module"] != "other" {
		t.Errorf("a new miner is not in /sd: %v", got["127.83.15.1"])
	}
}

func whatsminer(t testing.TB) map[string][]byte {
	d := "btminer-whatsminer/whatsminer-m30s_"
	return map[string][]byte{"summary": fixture(t, d+"summary.json"), "edevs": fixture(t, d+"edevs.json"), "pools": fixture(t, d+"pools.json")}
}

// /sd carries the position labels: row, rack and slot from the site's rules, each overridden by
// the inventory file's row for the miner's address or, failing that, for the MAC it reports;
// name and asset_tag from the inventory. A MAC two miners report places neither. A config
// reload (a new inventory) changes /sd at once, for offline miners too, without a scan.
func TestSDPositions(t *testing.T) {
	f := newFarm(t, "127.84.0.1")
	f.add("127.84.0.11", s19(t))        // rules only
	f.add("127.84.0.12", s19(t))        // inventory row by address
	f.add("127.84.0.13", whatsminer(t)) // reports MAC c6:02:14:00:1f:b3: inventory row by MAC
	dir := t.TempDir()
	inv := filepath.Join(dir, "farm.csv")
	write := func(path, data string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(inv, "ip,mac,rack,slot,name,asset_tag\n127.84.0.12,,R9,,S19-12,AT-12\n,C6:02:14:00:1F:B3,R7,3,WM-13,\n")
	cfgPath := filepath.Join(dir, "cgminer.yml")
	write(cfgPath, fmt.Sprintf(`
allowed_targets: [127.0.0.0/8]
allowed_ports: [%[1]d]
discovery:
  port: %[1]d
  timeout: 500ms
  rate: 5000
  inventory_file: farm.csv
  sites:
    - name: north
      ranges: [127.84.0.0/24]
      row: {octet: 3, format: "row-%%d"}
      rack: {octet: 4, offset: 10, per: 10, base: 1, format: "r%%02d"}
      slot: {octet: 4, offset: 10, modulo: 10, base: 1}
      labels: {region: eu}
`, f.port))
	sc := config.NewSafeConfig(nil)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := sc.Reload(cfgPath, logger); err != nil {
		t.Fatal(err)
	}
	d := start(t, sc.Get, "")
	if err := d.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	port := ":" + strconv.Itoa(f.port)
	check := func(want map[string]map[string]string) {
		t.Helper()
		got := sd(t, d)
		for tg, labels := range want {
			if _, ok := got[tg+port]; !ok {
				t.Errorf("%s not in /sd", tg)
				continue
			}
			for _, k := range []string{"site", "region", "row", "rack", "slot", "name", "asset_tag"} {
				if got[tg+port][k] != labels[k] {
					t.Errorf("%s: %s=%q, want %q (all: %v)", tg, k, got[tg+port][k], labels[k], got[tg+port])
				}
			}
		}
	}
	check(map[string]map[string]string{
		"127.84.0.11": {"site": "north", "region": "eu", "row": "row-0", "rack": "r01", "slot": "2"},
		"127.84.0.12": {"site": "north", "region": "eu", "row": "row-0", "rack": "R9", "slot": "3", "name": "S19-12", "asset_tag": "AT-12"},
		"127.84.0.13": {"site": "north", "region": "eu", "row": "row-0", "rack": "R7", "slot": "3", "name": "WM-13"},
	})
	for _, e := range d.Inventory() {
		if want := map[bool]string{true: "c6:02:14:00:1f:b3", false: ""}[strings.HasPrefix(e.Address, "127.84.0.13:")]; e.MAC != want {
			t.Errorf("%s: recorded MAC %q, want %q", e.Address, e.MAC, want)
		}
	}

	// A second miner reporting the same MAC: the MAC's row can no longer say which is which.
	f.add("127.84.0.14", whatsminer(t))
	if err := d.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	check(map[string]map[string]string{
		"127.84.0.13": {"site": "north", "region": "eu", "row": "row-0", "rack": "r01", "slot": "4"},
		"127.84.0.14": {"site": "north", "region": "eu", "row": "row-0", "rack": "r01", "slot": "5"},
	})

	// A new inventory and new rules apply on reload, to a miner that is offline now too.
	f.stop("127.84.0.12")
	write(inv, "ip,rack,name\n127.84.0.12,R1,moved\n")
	write(cfgPath, strings.Replace(string(must(os.ReadFile(cfgPath))), `format: "row-%d"`, `format: "aisle-%d"`, 1))
	if err := sc.Reload(cfgPath, logger); err != nil {
		t.Fatal(err)
	}
	check(map[string]map[string]string{
		"127.84.0.12": {"site": "north", "region": "eu", "row": "aisle-0", "rack": "R1", "slot": "3", "name": "moved"},
		"127.84.0.13": {"site": "north", "region": "eu", "row": "aisle-0", "rack": "r01", "slot": "4"},
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
