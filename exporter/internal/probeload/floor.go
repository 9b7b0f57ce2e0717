package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"
)

// floorCommand is what the floor exporter sends: the joined command cgminer_exporter sends an
// Antminer it knows.
const floorCommand = `{"command":"version+summary+pools+stats+devs"}`

// serveFloor runs the floor exporter on addr: GET /probe?target=IP:PORT dials the target (loopback
// only), sends floorCommand, reads the reply to its NUL (1 MiB at most, 10 s deadline) and answers
// two lines. Nothing is parsed, checked beyond that or exposed: it is the least an exporter of the
// multi-target pattern can do per probe over HTTP and TCP, the floor the others are measured by.
func serveFloor(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if a, perr := netip.ParseAddr(host); err != nil || perr != nil || !a.IsLoopback() {
		return fmt.Errorf("--floor-serve %q: must be a loopback host:port", addr)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /probe", func(w http.ResponseWriter, r *http.Request) {
		target := r.URL.Query().Get("target")
		ap, err := netip.ParseAddrPort(target)
		if err != nil || !ap.Addr().IsLoopback() {
			http.Error(w, "target must be a loopback IP:PORT", http.StatusBadRequest)
			return
		}
		n, err := floorExchange(target)
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		up := "1"
		if err != nil {
			up = "0"
		}
		_, _ = io.WriteString(w, "probe_success "+up+"\nprobe_reply_bytes "+strconv.Itoa(n)+"\n")
	})
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	return srv.ListenAndServe()
}

func floorExchange(target string) (int, error) {
	// Without TCP keep-alive, as cgminer_exporter dials: the floor is the least a probe costs.
	d := net.Dialer{Timeout: 10 * time.Second, KeepAlive: -1}
	c, err := d.Dial("tcp", target)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, floorCommand); err != nil {
		return 0, err
	}
	buf := make([]byte, 0, 8192)
	for len(buf) < 1<<20 {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := c.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if i := bytes.IndexByte(buf[len(buf)-n:], 0); i >= 0 {
			return len(buf) - n + i, nil
		}
		if err != nil {
			if errors.Is(err, io.EOF) && len(buf) > 0 {
				return len(buf), nil
			}
			return len(buf), err
		}
	}
	return len(buf), errors.New("reply larger than 1 MiB")
}
