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
