package farm

import (
	"net/netip"
	"testing"
)

// BenchmarkJoinedReply: reply generation for the exporter's joined request, per model.
func BenchmarkJoinedReply(b *testing.B) {
	f, err := New(Config{Range: netip.MustParsePrefix("127.1.0.0/28"), Miners: 7, Seed: 1,
		Mix: mustMix(allModels)})
	if err != nil {
		b.Fatal(err)
	}
	req := []byte(`{"command":"summary+pools+stats+devs"}`)
	for _, m := range f.Miners() {
		b.Run(m.model.Key, func(b *testing.B) {
			buf := make([]byte, 0, 64<<10)
			b.ReportAllocs()
			for b.Loop() {
				buf = m.Respond(req, buf[:0])
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

func mustMix(s string) []Share {
	m, err := ParseMix(s)
	if err != nil {
		panic(err)
	}
	return m
}

// BenchmarkV3Reply: API v3 reply generation (state computed, JSON written sorted) for the three
// requests the exporter's probe sends an m60s.
func BenchmarkV3Reply(b *testing.B) {
	f, err := New(Config{Range: netip.MustParsePrefix("127.1.0.0/28"), Miners: 1, Seed: 1, Mix: mustMix("m60s=1")})
	if err != nil {
		b.Fatal(err)
	}
	m := f.Miners()[0]
	for _, tc := range []struct{ name, req string }{
		{"get.device.info", `{"cmd":"get.device.info"}`},
		{"get.miner.status", `{"cmd":"get.miner.status","param":"summary+pools+edevs"}`},
		{"get.miner.setting", `{"cmd":"get.miner.setting"}`},
	} {
		req := tc.req
		b.Run(tc.name, func(b *testing.B) {
			buf := make([]byte, 0, 16<<10)
			b.ReportAllocs()
			for b.Loop() {
				buf = m.RespondV3([]byte(req), buf[:0])
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

// BenchmarkWebReply: the Antminer HTTP API's bodies, without HTTP and Digest.
func BenchmarkWebReply(b *testing.B) {
	f, err := New(Config{Range: netip.MustParsePrefix("127.1.0.0/28"), Miners: 1, Seed: 1, Mix: mustMix("s19jpro=1")})
	if err != nil {
		b.Fatal(err)
	}
	m := f.Miners()[0]
	for _, path := range []string{"/cgi-bin/get_system_info.cgi", "/cgi-bin/summary.cgi", "/cgi-bin/stats.cgi", "/cgi-bin/get_miner_conf.cgi"} {
		render := webPaths[path]
		b.Run(path[len("/cgi-bin/"):], func(b *testing.B) {
			buf := make([]byte, 0, 16<<10)
			b.ReportAllocs()
			for b.Loop() {
				buf = appendDoc(buf[:0], render(m.snapshot(f.cfg.Clock.Now())), false)
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}
