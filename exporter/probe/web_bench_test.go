package probe

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/minefarm/cgminer-stack/exporter/config"
	"github.com/minefarm/cgminer-stack/exporter/internal/fakeminer"
	"github.com/minefarm/cgminer-stack/exporter/inventory"
	"github.com/minefarm/cgminer-stack/exporter/webapi"
)

// cpuTime is the process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchWebProbe is one /probe of a known S19 Pro over loopback TCP (its 4028 API served by
// fakeminer), with the web step against web (nil: no web block), reporting the CPU the whole
// process spent per probe (exporter and fake miner together) besides the wall time.
func benchWebProbe(b *testing.B, web *fakeminer.Web, api string) {
	m := &fakeMiner{replies: map[string][]byte{}}
	dir := "bmminer-antminer/antminer-s19pro-49.0.1.3_"
	for _, c := range []string{"version", "summary", "pools", "stats", "devs"} {
		m.replies[c] = fixture(b, dir+c+"_pyformat.json")
	}
	if api == webapi.Braiins {
		m = &fakeMiner{replies: map[string][]byte{
			"version": fixture(b, "bosminer-braiins/braiins-os-25.05-boser_version.json"),
			"summary": fixture(b, "bosminer-braiins/s9-bosminer-0.2.0_summary.json"),
			"pools":   fixture(b, "bosminer-braiins/s9-bosminer-0.2.0_pools.json"),
			"devs":    fixture(b, "bosminer-braiins/s9-bosminer-plus-am1-s9-0.4.0_devs.json"),
		}}
	}
	addr := fakeminer.Serve(b, m.replies)
	yml := "modules: {default: {}}"
	if web != nil {
		webAddr := web.Start(b)
		_, webPort, _ := net.SplitHostPort(webAddr)
		pw := filepath.Join(b.TempDir(), "pw")
		os.WriteFile(pw, []byte(web.Password), 0o600)
		yml = fmt.Sprintf("modules: {default: {web: {password_file: %q, port: %s}}}", pw, webPort)
	}
	cfg, err := config.Parse([]byte(onLoopback(yml, addr)))
	if err != nil {
		b.Fatal(err)
	}
	prober := newProber(inventory.New(inventory.Options{})).WithWeb(&webapi.Client{})
	h := New(func() *config.Config { return cfg }, prober, slog.New(slog.NewTextHandler(io.Discard, nil)), nil, Options{})
	probe := func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/probe?target="+addr, nil))
		if rec.Code != 200 || rec.Body.Len() < 1000 {
			b.Fatalf("%d %s", rec.Code, rec.Body.String())
		}
	}
	probe() // known from now on: family, and the token for Braiins
	b.ReportAllocs()
	start := cpuTime(b)
	for b.Loop() {
		probe()
	}
	b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkProbeWeb compares a probe of a known miner without a web block, with the stock
// Antminer cgi (Digest: five requests for four endpoints, one connection), and with Braiins OS
// (a kept token: four requests).
func BenchmarkProbeWeb(b *testing.B) {
	b.Run("4028-only", func(b *testing.B) { benchWebProbe(b, nil, "") })
	b.Run("4028+antminer-cgi", func(b *testing.B) { benchWebProbe(b, antminerWeb(b), webapi.Antminer) })
	b.Run("4028+braiins-rest", func(b *testing.B) { benchWebProbe(b, braiinsWeb(b), webapi.Braiins) })
}
