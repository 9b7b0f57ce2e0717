package discovery

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"testing"
	"time"
)

// BenchmarkScanSlash16 scans a sparsely populated /16 (65,536 addresses, 256 miners every 256th
// address) on loopback at full speed, or at the rate in SCAN_RATE (e.g. 500, the default rate).
// Each iteration is one complete scan; run with -benchtime=1x.
func BenchmarkScanSlash16(b *testing.B) {
	f := newFarm(b, "127.81.0.1")
	for i := 0; i < 256; i++ {
		f.add(fmt.Sprintf("127.81.%d.7", i), s19(b))
	}
	rate := "1000000"
	if r := os.Getenv("SCAN_RATE"); r != "" {
		rate = r
	}
	d, _ := newDiscoverer(b, fmt.Sprintf(`
allowed_targets: [127.0.0.0/8]
allowed_ports: [%[1]d]
discovery:
  port: %[1]d
  timeout: 1s
  rate: %s
  concurrency: 256
  sites: [{name: a, ranges: [127.81.0.0/16]}]
`, f.port, rate), "")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if err := d.Scan(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "s/scan")
	}
	if n := len(d.Inventory()); n != 256 {
		b.Fatalf("found %d miners, want 256", n)
	}
	b.ReportMetric(65536/b.Elapsed().Seconds()*float64(b.N), "addr/s")
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
