package wm3_test

import (
	"net"
	"testing"
	"time"

	"github.com/minefarm/cgminer-stack/exporter/wm3"
)

// BenchmarkQueryLoopback is one probe's three exchanges (device info, status, settings) against
// a loopback miner answering from the M60S captures: connections, frames and envelopes.
func BenchmarkQueryLoopback(b *testing.B) {
	status := []byte(`{"code":0,"desc":"get.miner.status","msg":{"summary":{"elapsed":50000,"hash-realtime":171.259},"pools":[],"edevs":[]},"when":1}`)
	replies := map[string][]byte{
		"get.device.info":                      capture(b, "m60s-vk40-20251209.16.rel2_get.device.info+error-code_sorted.json"),
		"get.miner.status:summary+pools+edevs": status,
		"get.miner.setting":                    []byte(`{"code":0,"desc":"get.miner.setting","msg":{"power-mode":"normal"},"when":1}`),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				n, _ := c.Read(buf)
				var r request
				if n > 4 {
					r = parseRequestQuiet(buf[4:n])
				}
				_, _ = c.Write(frame(replies[r.String()]))
			}()
		}
	}()
	var c wm3.Client
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Query(b.Context(), ln.Addr().String(), wm3.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
