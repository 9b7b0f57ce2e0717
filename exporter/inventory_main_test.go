package main

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/minefarm/cgminer-stack/exporter/internal/fakeminer"
)

// The binary keeps the inventory across a restart: a probe does not write the file, shutdown
// does (version 2, the miner's protocol and family in it), and the restarted exporter's first
// probe of the known LuxOS miner is one exchange, not the two an unknown one costs.
func TestBinaryInventoryAcrossRestart(t *testing.T) {
	replies := map[string][]byte{}
	for _, c := range []string{"version", "summary", "pools", "stats", "devs", "temps", "fans", "power"} {
		b, err := os.ReadFile(filepath.Join("testdata", "cgminer-api", "luxos", "antminer-s19kpro-luxos-2025.4.8_"+c+"_sorted.json"))
		if err != nil {
			t.Fatal(err)
		}
		replies[c] = bytes.TrimRight(b, "\x00\n")
	}
	var conns atomic.Int64
	ln := fakeminer.Listen(t, "127.0.0.1:0", func(c net.Conn, req []byte) {
		conns.Add(1)
		c.Write(append(append([]byte(nil), fakeminer.Answer(replies, fakeminer.Command(req))...), 0))
	})
	miner := ln.Addr().String()
	_, port, _ := net.SplitHostPort(miner)

	bin := buildExporter(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "cgminer.yml")
	if err := os.WriteFile(cfg, []byte("allowed_targets: [127.0.0.0/8]\nmodules: {default: {port: "+port+"}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "inventory.json")
	run := func() (*exec.Cmd, string) {
		addr := freeAddr(t)
		cmd := exec.Command(bin, "--config.file="+cfg, "--web.listen-address="+addr, "--discovery.state-file="+state, "--inventory.save-interval=1h")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
		waitUp(t, "http://"+addr)
		return cmd, "http://" + addr + "/probe?target=127.0.0.1"
	}
	stop := func(cmd *exec.Cmd) {
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the exporter did not stop on SIGTERM")
		}
	}

	cmd, probe := run()
	if code, body := httpGet(t, probe); code != 200 || !strings.Contains(body, "cgminer_power_watts 1051") {
		t.Fatalf("probe: %d\n%s", code, body)
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("first probe of an unknown LuxOS: %d connections, want 2", n)
	}
	if _, err := os.Stat(state); err == nil {
		t.Error("a probe wrote the inventory file")
	}
	stop(cmd)
	data, err := os.ReadFile(state)
	if err != nil {
		t.Fatalf("no inventory file after shutdown: %v", err)
	}
	var file struct {
		Version int `json:"version"`
		Miners  []struct{ Address, Protocol, Family, Model string }
	}
	if err := json.Unmarshal(data, &file); err != nil || file.Version != 2 || len(file.Miners) != 1 ||
		file.Miners[0].Address != miner || file.Miners[0].Protocol != "cgminer" || file.Miners[0].Family != "luxos" {
		t.Fatalf("inventory file (%v):\n%s", err, data)
	}

	_, probe = run()
	before := conns.Load()
	if code, body := httpGet(t, probe); code != 200 || !strings.Contains(body, "cgminer_power_watts 1051") {
		t.Fatalf("probe after the restart: %d\n%s", code, body)
	}
	if n := conns.Load() - before; n != 1 {
		t.Errorf("first probe after the restart: %d connections, want 1", n)
	}
}
