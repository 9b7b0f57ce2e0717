package webapi

import (
	"context"
	"testing"
)

// BenchmarkReadAntminer is one read of the stock Antminer cgi over loopback with real Digest:
// four endpoints, five requests, one connection (the fake server's work included).
func BenchmarkReadAntminer(b *testing.B) {
	addr := antminerWeb(b).Start(b)
	c := &Client{}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Read(context.Background(), Target{API: Antminer, Scheme: "http", Addr: addr, Username: "root", Password: password}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadBraiins is one read of the Braiins OS REST API with a kept token: four requests.
func BenchmarkReadBraiins(b *testing.B) {
	w := braiinsWeb(b)
	addr := w.Start(b)
	c := &Client{}
	res, err := c.Read(context.Background(), Target{API: Braiins, Scheme: "http", Addr: addr, Username: "root", Password: password})
	if err != nil {
		b.Fatal(err)
	}
	tok := res.Token.Value
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Read(context.Background(), Target{API: Braiins, Scheme: "http", Addr: addr, Username: "root", Password: password, Token: tok}); err != nil {
			b.Fatal(err)
		}
	}
}
