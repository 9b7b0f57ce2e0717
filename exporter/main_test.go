package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func buildExporter(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "cgminer_exporter")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func waitUp(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(base + "/-/healthy"); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("exporter did not come up")
}

// The binary: --config.check, the endpoints, reload by POST and by SIGHUP, and a bad config on
// reload keeping the old one.
func TestBinary(t *testing.T) {
	bin := buildExporter(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "cgminer.yml")
	write := func(s string) {
		if err := os.WriteFile(cfg, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("modules: {alpha: {timeout: 3s}}\n")

	if err := exec.Command(bin, "--config.file="+cfg, "--config.check").Run(); err != nil {
		t.Fatalf("--config.check on a good file: %v", err)
	}
	bad := filepath.Join(dir, "bad.yml")
	_ = os.WriteFile(bad, []byte("modules: {alpha: {timeot: 3s}}\n"), 0o644)
	if err := exec.Command(bin, "--config.file="+bad, "--config.check").Run(); err == nil {
		t.Fatal("--config.check accepted an unknown key")
	}

	addr := freeAddr(t)
	cmd := exec.Command(bin, "--config.file="+cfg, "--web.listen-address="+addr, "--discovery.state-file="+filepath.Join(dir, "inv.json"))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	base := "http://" + addr
	waitUp(t, base)

	if code, body := httpGet(t, base+"/"); code != 200 || !strings.Contains(body, "cgminer_exporter") {
		t.Errorf("landing page: %d", code)
	}
	if code, body := httpGet(t, base+"/config"); code != 200 || !strings.Contains(body, "alpha") {
		t.Errorf("/config: %d %s", code, body)
	}
	if code, _ := httpGet(t, base+"/probe?target=8.8.8.8"); code != 400 {
		t.Errorf("probe outside allowed_targets: %d", code)
	}
	if code, body := httpGet(t, base+"/probe?target=127.0.0.1:1&module=alpha"); code != 200 || !strings.Contains(body, `cgminer_probe_error_info{reason="connection_refused"} 1`) {
		t.Errorf("probe of a closed port: %d %s", code, body)
	}
	if code, body := httpGet(t, base+"/sd"); code != 200 || strings.TrimSpace(body) != "[]" {
		t.Errorf("/sd without discovery: %d %q", code, body)
	}
	if resp, err := http.Get(base + "/-/reload"); err == nil {
		if resp.StatusCode == http.StatusOK {
			t.Error("GET /-/reload answered 200: reload must be POST only")
		}
		resp.Body.Close()
	}

	// POST /-/reload picks up a new module.
	write("modules: {beta: {timeout: 3s}}\n")
	resp, err := http.Post(base+"/-/reload", "", nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("reload: %v %v", err, resp)
	}
	resp.Body.Close()
	if _, body := httpGet(t, base+"/config"); !strings.Contains(body, "beta") {
		t.Errorf("reload did not take: %s", body)
	}
	// A bad file fails the reload, keeps the old config and says so in the metrics.
	write("modules: {gamma: {timeot: 3s}}\n")
	resp, _ = http.Post(base+"/-/reload", "", nil)
	if resp.StatusCode != 500 {
		t.Errorf("bad reload answered %d", resp.StatusCode)
	}
	resp.Body.Close()
	if _, body := httpGet(t, base+"/config"); !strings.Contains(body, "beta") {
		t.Errorf("bad reload replaced the config: %s", body)
	}
	if _, body := httpGet(t, base+"/metrics"); !strings.Contains(body, "cgminer_exporter_config_last_reload_successful 0") {
		t.Error("reload failure not in the metrics")
	}
	// SIGHUP reloads too.
	write("modules: {delta: {timeout: 3s}}\n")
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, body := httpGet(t, base+"/config")
		if strings.Contains(body, "delta") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP did not reload: %s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, body := httpGet(t, base+"/metrics"); !strings.Contains(body, "cgminer_exporter_config_last_reload_successful 1") ||
		!strings.Contains(body, `cgminer_exporter_probes_total{module="alpha",result="connection_refused"} 1`) {
		t.Errorf("self-metrics:\n%s", grep(body, "cgminer_exporter_"))
	}
}

func grep(s, sub string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			fmt.Fprintln(&b, l)
		}
	}
	return b.String()
}
