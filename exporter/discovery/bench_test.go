package discovery

import (
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minefarm/cgminer-stack/exporter/internal/fakeminer"
)

// BenchmarkScanSlash16 scans a sparsely populated /16 (65,536 addresses, 256 miners every 256th
// address) on loopback at full speed, or at the rate in SCAN_RATE (e.g. 500, the default rate).
// Each iteration is one complete scan; run with -benchtime=1x. Every empty address refuses the
// connection (loopback does; on a LAN an empty address drops or is unreachable), so under
// protocol auto each is asked on 4433 too: the worst case of the fallback. Sub-benchmarks:
// cgminer (protocol: cgminer, the scan before API v3), auto (the same farm), mixed (auto, and
// 256 more miners that answer only Whatsminer API v3).
func BenchmarkScanSlash16(b *testing.B) {
	for _, tc := range []struct {
		name, protocol string
		v3             bool
	}{{"cgminer", "cgminer", false}, {"auto", "auto", false}, {"mixed", "auto", true}} {
		b.Run(tc.name, func(b *testing.B) {
			f := newFarm(b, "127.81.0.1")
			for i := 0; i < 256; i++ {
				f.add(fmt.Sprintf("127.81.%d.7", i), s19(b))
			}
			var v3 atomic.Int64
			if tc.v3 {
				m60 := m60s(b)
				for i := 0; i < 256; i++ {
					fakeminer.Listen(b, fmt.Sprintf("127.81.%d.9:4433", i), func(c net.Conn, req []byte) {
						v3.Add(1)
						c.Write(fakeminer.V3Frame(fakeminer.V3Answer(m60, fakeminer.V3Request(req))))
					})
				}
			}
			rate := "1000000"
			if r := os.Getenv("SCAN_RATE"); r != "" {
				rate = r
			}
			cfg := parse(b, fmt.Sprintf(`
allowed_targets: [127.0.0.0/8]
allowed_ports: [%[1]d]
modules: {default: {protocol: %[3]s}}
discovery:
  port: %[1]d
  timeout: 1s
  rate: %[2]s
  concurrency: 256
  sites: [{name: a, ranges: [127.81.0.0/16]}]
`, f.port, rate, tc.protocol))
			w := wire(b, cfg)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				if err := w.disc.Scan(context.Background()); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(time.Since(start).Seconds(), "s/scan")
			}
			want := 256
			if tc.v3 {
				want = 512
			}
			if n := len(w.disc.Inventory()); n != want {
				b.Fatalf("found %d miners, want %d", n, want)
			}
			b.ReportMetric(65536/b.Elapsed().Seconds()*float64(b.N), "addr/s")
		})
	}
}

// BenchmarkSD serves /sd for 4,000 miners, the encoding cached (as Prometheus polls it) or
// rebuilt (after every change), their positions from rules.
func BenchmarkSD(b *testing.B) {
	d, _ := newDiscoverer(b, "allowed_targets: [127.0.0.0/8]\ndiscovery: {sites: [{name: a, ranges: [127.83.0.0/20], rack: {octet: 3}, slot: {octet: 4, modulo: 40, base: 1}}]}", "")
	now := time.Now()
	for i := range 4000 {
		d.add(fmt.Sprintf("127.83.%d.%d:4028", i/256, i%256), "a", "default", now)
	}
	for _, changed := range []bool{false, true} {
		b.Run(map[bool]string{false: "cached", true: "rebuilt"}[changed], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if changed {
					d.changed()
				}
				d.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/sd", nil))
			}
		})
	}
}
