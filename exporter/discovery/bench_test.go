package discovery

import (
	"context"
	"fmt"
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
discovery:
  port: %d
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
