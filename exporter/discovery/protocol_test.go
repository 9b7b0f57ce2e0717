package discovery

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/minefarm/cgminer-stack/exporter/cgminer"
	"github.com/minefarm/cgminer-stack/exporter/config"
	"github.com/minefarm/cgminer-stack/exporter/internal/fakeminer"
	"github.com/minefarm/cgminer-stack/exporter/inventory"
	"github.com/minefarm/cgminer-stack/exporter/probe"
	"github.com/minefarm/cgminer-stack/exporter/wm3"
)

// wiring is the exporter's: one inventory, one prober (cgminer API and Whatsminer API v3 over
// real clients), shared by discovery and the probe handler.
type wiring struct {
	inv    *inventory.Inventory
	prober *probe.Prober
	disc   *Discoverer
	probes *probe.Handler
}

func wire(t testing.TB, cfg *config.Config) *wiring {
	t.Helper()
	inv := inventory.New(inventory.Options{})
	prober := probe.NewProber(inv, map[string]probe.Reader{
		config.ProtocolCGMiner:      probe.CGMiner(&cgminer.Client{}),
		config.ProtocolWhatsminerV3: probe.WhatsminerV3(&wm3.Client{}),
	})
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	get := func() *config.Config { return cfg }
	return &wiring{inv: inv, prober: prober, disc: New(get, prober, inv, logger, nil),
		probes: probe.New(get, prober, logger, prometheus.NewRegistry(), probe.Options{})}
}

func parse(t testing.TB, yml string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// A scan costs a known miner one exchange: a miner identified within the interval (by the last
// scan, or by Prometheus's probes, which keep the inventory current) needs only the cheap
// request. And what discovery learned makes Prometheus's first probe of a miner one exchange:
// the family is known, so its commands go in one joined request.
func TestScanCost(t *testing.T) {
	f := newFarm(t, "127.85.0.1")
	f.add("127.85.0.10", s19(t))
	lux := map[string][]byte{}
	for _, c := range []string{"version", "summary", "pools", "stats", "devs", "temps", "fans", "power"} {
		lux[c] = fixture(t, "luxos/antminer-s19kpro-luxos-2025.4.8_"+c+"_sorted.json")
	}
	f.add("127.85.0.11", lux)
	cfg := parse(t, fmt.Sprintf(`
allowed_targets: [127.0.0.0/8]
allowed_ports: [%[1]d]
modules: {default: {protocol: cgminer}}
discovery:
  port: %[1]d
  timeout: 500ms
  rate: 5000
  sites: [{name: a, ranges: [127.85.0.8-127.85.0.15]}]
`, f.port))
	w := wire(t, cfg)
	conns := func() map[string]int {
		f.mu.Lock()
		defer f.mu.Unlock()
		out := map[string]int{}
		for ip, n := range f.conns {
			out[ip] = n
			f.conns[ip] = 0
		}
		return out
	}
	if err := w.disc.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := conns(); got["127.85.0.10"] != 2 || got["127.85.0.11"] != 2 {
		t.Errorf("first scan: %v connections, want 2 per miner (version, then the identification)", got)
	}
	if err := w.disc.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := conns(); got["127.85.0.10"] != 1 || got["127.85.0.11"] != 1 {
		t.Errorf("second scan: %v connections, want 1 per miner (version alone: identified within the interval)", got)
	}
	if rec, _ := w.inv.Get("127.85.0.11:" + strconv.Itoa(f.port)); rec.Family != "luxos" || !rec.Listed() {
		t.Fatalf("inventory: %+v", rec)
	}
	_, body := probeOnce(t, w, "127.85.0.11:"+strconv.Itoa(f.port))
	if got := conns(); got["127.85.0.11"] != 1 {
		t.Errorf("Prometheus's first probe of a discovered LuxOS: %d connections, want 1", got["127.85.0.11"])
	}
	if !contains(body, "cgminer_power_watts 1051") {
		t.Errorf("the probe lacks LuxOS's power:\n%s", body)
	}
}

// A scan finds Whatsminers that answer only API v3 (nothing on 4028, or something that is not
// the cgminer API), asking 4433 only where 4028 was refused or not the API: an address that does
// not answer on 4028 (here one that hangs) is not asked on 4433, so addresses where nothing
// answers do not double the scan's connections. The v3 miner is identified by the one
// get.device.info that tells it is there, listed under its 4028 target, and probed on 4433.
func TestScanWhatsminerV3(t *testing.T) {
	f := newFarm(t, "127.94.0.1")
	f.add("127.94.0.2", s19(t))
	m60 := m60s(t)
	v3 := map[string]*atomic.Int64{}
	for _, ip := range []string{"127.94.0.3", "127.94.0.4", "127.94.0.5"} {
		n := &atomic.Int64{}
		v3[ip] = n
		fakeminer.Listen(t, ip+":4433", func(c net.Conn, req []byte) {
			n.Add(1)
			c.Write(fakeminer.V3Frame(fakeminer.V3Answer(m60, fakeminer.V3Request(req))))
		})
	}
	port := strconv.Itoa(f.port)
	fakeminer.Listen(t, "127.94.0.4:"+port, func(c net.Conn, req []byte) { c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n")) })
	fakeminer.Listen(t, "127.94.0.5:"+port, func(c net.Conn, req []byte) { // accepts, never answers
		select {
		case <-t.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	cfg := parse(t, fmt.Sprintf(`
allowed_targets: [127.0.0.0/8]
allowed_ports: [%[1]d]
discovery:
  port: %[1]d
  timeout: 300ms
  rate: 5000
  sites: [{name: a, ranges: [127.94.0.1-127.94.0.8]}]
`, f.port))
	w := wire(t, cfg)
	if err := w.disc.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := map[string]Entry{}
	for _, e := range w.disc.Inventory() {
		got[e.Address] = e
	}
	want := map[string]string{"127.94.0.2": "cgminer/Antminer S19 Pro", "127.94.0.3": "whatsminer-v3/Whatsminer M60S", "127.94.0.4": "whatsminer-v3/Whatsminer M60S"}
	if len(got) != len(want) {
		t.Errorf("listed %d miners, want %d: %v", len(got), len(want), got)
	}
	for ip, w := range want {
		e := got[ip+":"+port]
		if e.Protocol+"/"+e.Model != w {
			t.Errorf("%s: %s/%s, want %s", ip, e.Protocol, e.Model, w)
		}
	}
	if e := got["127.94.0.3:"+port]; e.Port != 4433 || e.Serial == "" || e.MAC == "" {
		t.Errorf("the v3 miner's record: %+v", e)
	}
	if n := v3["127.94.0.5"].Load(); n != 0 {
		t.Errorf("an address whose 4028 did not answer was asked on 4433 (%d connections)", n)
	}
	if n := v3["127.94.0.3"].Load(); n != 1 {
		t.Errorf("finding a v3 miner took %d exchanges on 4433, want 1", n)
	}
	before := v3["127.94.0.3"].Load()
	if _, body := probeOnce(t, w, "127.94.0.3:"+port); !contains(body, "cgminer_up 1") || !contains(body, "Whatsminer M60S") {
		t.Errorf("probe of the discovered v3 miner:\n%s", body)
	}
	if n := v3["127.94.0.3"].Load() - before; n != 3 {
		t.Errorf("the probe made %d connections to 4433, want 3 (device info, status, settings)", n)
	}
}

// The fallback to 4433 is a new connection, and the scan's rate counts it: eight addresses where
// 4028 is refused (loopback refuses every closed port) are sixteen connections.
func TestScanRateCountsFallbacks(t *testing.T) {
	for _, tc := range []struct {
		protocol string
		least    time.Duration
	}{{"auto", 750 * time.Millisecond}, {"cgminer", 350 * time.Millisecond}} {
		t.Run(tc.protocol, func(t *testing.T) {
			f := newFarm(t, "127.95.0.1")
			cfg := parse(t, fmt.Sprintf(`
allowed_targets: [127.0.0.0/8]
allowed_ports: [%[1]d]
modules: {default: {protocol: %[2]s}}
discovery:
  port: %[1]d
  timeout: 200ms
  rate: 20
  sites: [{name: a, ranges: [127.95.0.1-127.95.0.8]}]
`, f.port, tc.protocol))
			w := wire(t, cfg)
			start := time.Now()
			if err := w.disc.Scan(context.Background()); err != nil {
				t.Fatal(err)
			}
			if took := time.Since(start); took < tc.least {
				t.Errorf("8 addresses (protocol %s) at 20 connections/s in %s, want at least %s", tc.protocol, took, tc.least)
			}
		})
	}
}

func probeOnce(t *testing.T, w *wiring, target string) (int, string) {
	t.Helper()
	rec := newRecorder()
	w.probes.ServeHTTP(rec, newRequest("/probe?target="+target))
	return rec.Code, rec.Body.String()
}

func m60s(t testing.TB) map[string][]byte {
	t.Helper()
	dir := filepath.Join("..", "testdata", "modern", "whatsminer-v3")
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return map[string][]byte{
		"get.device.info":          read("m60s-vk40-20251209.16.rel2_get.device.info+error-code_sorted.json"),
		"get.miner.status:summary": read("m60s-vk40-20251209.16.rel2_get.miner.status-summary_sorted_edited.json"),
		"get.miner.status:pools":   read("m60s-vk40-20251209.16.rel2_get.miner.status-pools_sorted_anonymized.json"),
	}
}

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

func newRequest(target string) *http.Request { return httptest.NewRequest("GET", target, nil) }

func contains(s, sub string) bool { return strings.Contains(s, sub) }
