package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigCheck(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yml")
	if err := os.WriteFile(bad, []byte("hashprice: {value: -1}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want int
	}{
		{[]string{"--config.file=../../price.yml", "--config.check"}, 0},
		{[]string{"--config.file=" + bad, "--config.check"}, 1},
		{[]string{"--config.file=/nonexistent/price.yml", "--config.check"}, 1},
		{[]string{"--no-such-flag"}, 2},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			if got := run(context.Background(), append(tt.args, "--log.level=error")); got != tt.want {
				t.Errorf("exit %d, want %d", got, tt.want)
			}
		})
	}
}

// The exporter on loopback serves the shipped config's prices on /metrics and stops with its
// context, exiting 0.
func TestServe(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, []string{"--config.file=../../price.yml", "--web.listen-address=" + addr, "--log.level=error"})
	}()
	var body string
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range []string{
		`price_hashprice_per_terahash_day{currency="USD"} 0.045`,
		`price_electricity_per_kwh{currency="USD",site=""} 0.06`,
		`price_electricity_per_kwh{currency="USD",site="site-a"} 0.055`,
		`price_miner_purchase{currency="USD",model="Antminer S19j Pro"} 1400`,
		`price_value_fetched{value="hashprice"} 0`,
		`price_exporter_build_info{`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics has no %s", want)
		}
	}
	resp, err := http.Get("http://" + addr + "/-/healthy")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("/-/healthy: %v %v", resp, err)
	}
	if resp != nil {
		resp.Body.Close()
	}
	cancel()
	select {
	case code := <-exit:
		if code != 0 {
			t.Errorf("exit %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not stop")
	}
}
