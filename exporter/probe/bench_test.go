package probe

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/minefarm/cgminer-stack/exporter/cgminer"
	"github.com/minefarm/cgminer-stack/exporter/config"
	"github.com/minefarm/cgminer-stack/exporter/internal/fakeminer"
	"github.com/minefarm/cgminer-stack/exporter/inventory"
)

// pipeClient is a cgminer client whose connections are in-process pipes to a miner answering
// from replies: a probe's whole user-space path (handler, slots, inventory, protocol choice,
// client, parser, dialect, exposition) without the kernel's TCP, which BENCHMARKS.md's
// probeload measures.
func pipeClient(replies map[string][]byte) *cgminer.Client {
	return &cgminer.Client{Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, s := net.Pipe()
		go func() {
			defer s.Close()
			buf := make([]byte, 4096)
			n, _ := s.Read(buf)
			s.Write(append(append([]byte(nil), fakeminer.Answer(replies, fakeminer.Command(buf[:n]))...), 0))
		}()
		return c, nil
	}}
}

// BenchmarkProbeS19 is one /probe of a known S19 Pro (one joined request), as Prometheus sends
// it every scrape interval.
func BenchmarkProbeS19(b *testing.B) {
	dir := "bmminer-antminer/antminer-s19pro-49.0.1.3_"
	replies := map[string][]byte{}
	for _, c := range []string{"version", "summary", "pools", "stats", "devs"} {
		replies[c] = fixture(b, dir+c+"_pyformat.json")
	}
	cfg, err := config.Parse([]byte("allowed_targets: [10.0.0.0/8]"))
	if err != nil {
		b.Fatal(err)
	}
	prober := NewProber(inventory.New(inventory.Options{}), map[string]Reader{config.ProtocolCGMiner: CGMiner(pipeClient(replies))})
	h := New(func() *config.Config { return cfg }, prober, slog.New(slog.NewTextHandler(io.Discard, nil)), nil, Options{})
	probe := func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/probe?target=10.1.2.3", nil))
		if rec.Code != 200 || rec.Body.Len() < 1000 {
			b.Fatalf("%d %s", rec.Code, rec.Body.String())
		}
	}
	probe()
	time.Sleep(10 * time.Millisecond)
	b.ReportAllocs()
	for b.Loop() {
		probe()
	}
}
