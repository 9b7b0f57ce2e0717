package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
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
	// Loopback is not allowed unless listed, nor a port that no module names.
	write := func(s string) {
		if err := os.WriteFile(cfg, []byte("allowed_targets: [127.0.0.0/8]\nallowed_ports: [1]\n"+s), 0o644); err != nil {
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
	for _, tc := range []struct {
		query string
		want  int
	}{
		{"target=127.0.0.1:22&module=alpha", 400},
		{"target=127.0.0.1:1&target=127.0.0.1:2&module=alpha", 400},
		{"target=localhost:1&module=alpha", 400},
		{"target=127.0.0.1:1&module=alpha&x=" + strings.Repeat("a", 3000), 414},
	} {
		if code, body := httpGet(t, base+"/probe?"+tc.query); code != tc.want {
			t.Errorf("/probe?%.80s: %d, want %d: %s", tc.query, code, tc.want, body)
		}
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

	// A browser's cross-origin POST cannot reload.
	write("modules: {beta: {timeout: 3s}}\n")
	req, _ := http.NewRequest("POST", base+"/-/reload", nil)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "http://evil.example")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin reload: %v %v", err, resp)
	} else {
		resp.Body.Close()
	}
	if _, body := httpGet(t, base+"/config"); strings.Contains(body, "beta") {
		t.Error("a cross-origin POST reloaded the config")
	}
	// POST /-/reload picks up a new module.
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

// POST /-/reload: refused to a browser's cross-origin request, and to another host unless the
// web config names basic-auth users now (not when the exporter started) and the caller is one.
func TestReloadGuard(t *testing.T) {
	withUsers := "basic_auth_users:\n  admin: $2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi\n"
	tests := []struct {
		name      string
		webConfig string // "" for no --web.config.file
		later     string // the web config rewritten after start, when set
		remote    string
		user      string // basic auth user sent, when set
		header    map[string]string
		want      int
	}{
		{name: "loopback", remote: "127.0.0.1:5000", want: 200},
		{name: "IPv6 loopback", remote: "[::1]:5000", want: 200},
		{name: "another host without users", remote: "10.0.0.9:5000", want: 403},
		{name: "another host as a user", webConfig: withUsers, remote: "10.0.0.9:5000", user: "admin", want: 200},
		{name: "another host without credentials", webConfig: withUsers, remote: "10.0.0.9:5000", want: 403},
		{name: "another host as an unknown user", webConfig: withUsers, remote: "10.0.0.9:5000", user: "mallory", want: 403},
		{name: "users removed after start", webConfig: withUsers, later: "{}\n", remote: "10.0.0.9:5000", user: "admin", want: 403},
		{name: "web config unreadable after start", webConfig: withUsers, later: "basic_auth_users: [\n", remote: "10.0.0.9:5000", user: "admin", want: 403},
		{name: "users added after start", webConfig: "{}\n", later: withUsers, remote: "10.0.0.9:5000", user: "admin", want: 200},
		{name: "cross-site browser request", remote: "127.0.0.1:5000", header: map[string]string{"Sec-Fetch-Site": "cross-site"}, want: 403},
		{name: "same-site browser request from another origin", remote: "127.0.0.1:5000", header: map[string]string{"Sec-Fetch-Site": "same-site"}, want: 403},
		{name: "foreign Origin", remote: "127.0.0.1:5000", header: map[string]string{"Origin": "http://evil.example"}, want: 403},
		{name: "same-origin browser request", remote: "127.0.0.1:5000", header: map[string]string{"Sec-Fetch-Site": "same-origin"}, want: 200},
		{name: "own Origin", remote: "127.0.0.1:5000", header: map[string]string{"Origin": "http://exporter.example:9154"}, want: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			file := ""
			if tc.webConfig != "" {
				file = filepath.Join(t.TempDir(), "web.yml")
				if err := os.WriteFile(file, []byte(tc.webConfig), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			reloads := 0
			h := reloadHandler(file, func() error { reloads++; return nil })
			if tc.later != "" {
				if err := os.WriteFile(file, []byte(tc.later), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			req := httptest.NewRequest("POST", "http://exporter.example:9154/-/reload", nil)
			req.RemoteAddr = tc.remote
			if tc.user != "" {
				req.SetBasicAuth(tc.user, "secret") // the toolkit has checked the password
			}
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Errorf("status %d, want %d: %s", rec.Code, tc.want, rec.Body.String())
			}
			if want := map[bool]int{true: 1, false: 0}[tc.want == 200]; reloads != want {
				t.Errorf("%d reloads, want %d", reloads, want)
			}
		})
	}
}

// Every server timeout is set, and the write timeout outlasts the longest probe a module allows.
func TestServerTimeouts(t *testing.T) {
	srv := newServer(http.NotFoundHandler(), 500*time.Millisecond)
	for name, d := range map[string]time.Duration{
		"ReadHeaderTimeout": srv.ReadHeaderTimeout, "ReadTimeout": srv.ReadTimeout,
		"WriteTimeout": srv.WriteTimeout, "IdleTimeout": srv.IdleTimeout,
	} {
		if d <= 0 {
			t.Errorf("%s not set", name)
		}
	}
	if srv.WriteTimeout <= maxModuleTimeout+500*time.Millisecond {
		t.Errorf("WriteTimeout %s does not outlast a %s probe", srv.WriteTimeout, maxModuleTimeout)
	}
	if srv.MaxHeaderBytes <= 0 || srv.MaxHeaderBytes > 1<<20 {
		t.Errorf("MaxHeaderBytes %d", srv.MaxHeaderBytes)
	}
}
