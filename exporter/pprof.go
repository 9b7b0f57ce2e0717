//go:build pprof

package main

import (
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
)

// A build with -tags pprof serves net/http/pprof on the loopback address that
// CGMINER_EXPORTER_PPROF names (e.g. 127.0.0.1:6060), on its own listener and mux, for profiling
// under load (BENCHMARKS.md). The release build has none of it.
func init() {
	addr := os.Getenv("CGMINER_EXPORTER_PPROF")
	if addr == "" {
		return
	}
	host, _, err := net.SplitHostPort(addr)
	if a, perr := netip.ParseAddr(host); err != nil || perr != nil || !a.IsLoopback() {
		panic("CGMINER_EXPORTER_PPROF must be a loopback host:port")
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		panic(err)
	}
	go func() { _ = http.Serve(ln, mux) }()
}
