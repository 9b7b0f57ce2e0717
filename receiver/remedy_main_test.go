package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minefarm/cgminer-stack/receiver/store/sqlite"
	"github.com/minefarm/cgminer-stack/simulator/farm"
)

// TestRemedyConfigCheck: --config.check reads the remediation config too; a broken one stops the
// receiver.
func TestRemedyConfigCheck(t *testing.T) {
	bin := buildBinary(t)
	bad := filepath.Join(t.TempDir(), "remedy.yml")
	if err := os.WriteFile(bad, []byte("allowed_targets: [10.0.0.0/8]\nrules:\n  - {name: r, mode: reboot}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file string
		code int
		log  string
	}{
		{"remedy/testdata/remedy.yml", 0, "config is valid"},
		{"remedy.yml", 0, "config is valid"}, // the demo's
		{bad, 1, `mode \"reboot\"`},
		{"/nonexistent/remedy.yml", 1, "cannot load remedy config"},
	} {
		out, err := exec.Command(bin, "--config.file=receiver.yml", "--web.config.file=web.yml", "--config.check",
			"--remedy.config.file="+tc.file).CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tc.code || !strings.Contains(string(out), tc.log) {
			t.Errorf("%s: exit %d, want %d, log %s", tc.file, code, tc.code, out)
		}
	}
}

// TestRemedyRestartsThroughTheReceiver: the receiver binary with a remediation config restarts a
// simulated miner whose MinerNoHashrate task persists (store-only checks, no Prometheus), records
// it in the task's history and counts it in /metrics.
func TestRemedyRestartsThroughTheReceiver(t *testing.T) {
	mix, _ := farm.ParseMix("s19jpro=1")
	p := netip.MustParsePrefix("127.77.30.0/30")
	port := freePortOn(t, "127.77.30.1")
	f, err := farm.New(farm.Config{Range: p, Miners: 1, Mix: mix, Seed: 1, Port: port, AllowRestart: true, RestartDelay: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := f.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := f.Miners()[0]
	if _, err := m.SetFault(farm.ZeroHashrate); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "remedy.yml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`allowed_targets: [127.77.30.0/30]
allowed_ports: [%d]
interval: 1s
rules:
  - {name: drill, mode: restart, after_checks: 2}
`, port)), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "r.db")
	addr := freeAddr(t)
	proc := start(t, buildBinary(t), addr, db, "--remedy.config.file="+cfg)
	body, _ := json.Marshal(map[string]any{"version": "4", "status": "firing", "receiver": "repair", "groupKey": "g",
		"alerts": []map[string]any{{"status": "firing", "startsAt": "2026-11-22T08:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
			"labels": map[string]string{"alertname": "MinerNoHashrate", "instance": m.Endpoint(), "site": "site-a",
				"severity": "warning", "category": "hashrate"}}}})
	if code, err := post(addr, body); err != nil || code != 200 {
		t.Fatalf("webhook: %d %v", code, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(m.Faults()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no restart within 20 s:\n%s", proc.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var text string
	for text == "" && time.Now().Before(deadline) {
		st, err := sqlite.Open(context.Background(), db)
		if err != nil {
			t.Fatal(err)
		}
		_ = st.SQL().QueryRow(`SELECT text FROM events WHERE kind = 'remediation'`).Scan(&text)
		st.Close()
		time.Sleep(50 * time.Millisecond)
	}
	if want := "remediation: restart sent to " + m.Endpoint() + ` (reply: {"STATUS":"RESTART","id":1})`; !strings.HasPrefix(text, want) {
		t.Errorf("history %q, want %q…", text, want)
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `repair_receiver_remediations_total{result="sent"} 1`) ||
		!strings.Contains(string(b), `repair_receiver_remediations_total{result="refused"} 0`) {
		t.Errorf("metrics:\n%s", grep(string(b), "remediations"))
	}
}

func freePortOn(t *testing.T, ip string) int {
	t.Helper()
	a := freeAddrOn(t, ip)
	ap := netip.MustParseAddrPort(a)
	return int(ap.Port())
}

func freeAddrOn(t *testing.T, ip string) string {
	t.Helper()
	l, err := net.Listen("tcp4", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
