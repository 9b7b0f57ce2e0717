package probe

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/minefarm/cgminer-stack/exporter/config"
	"github.com/minefarm/cgminer-stack/exporter/internal/fakeminer"
	"github.com/minefarm/cgminer-stack/exporter/inventory"
	"github.com/minefarm/cgminer-stack/exporter/webapi"
)

const webPassword = "w3b-Pa55word-xyz"

func modern(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "modern", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// antminerWeb is the stock Antminer cgi of the S21 captures behind real Digest on loopback.
func antminerWeb(t testing.TB) *fakeminer.Web {
	return &fakeminer.Web{User: "root", Password: webPassword, Realm: "antMiner Configuration", Replies: map[string][]byte{
		"/cgi-bin/get_system_info.cgi": modern(t, "antminer-web/antminer-s21-20240711_get_system_info_pretty.json"),
		"/cgi-bin/summary.cgi":         modern(t, "antminer-web/antminer-s21-20240711_summary_pretty.json"),
		"/cgi-bin/get_miner_conf.cgi":  modern(t, "antminer-web/antminer-s21-20240711_get_miner_conf_pretty.json"),
		"/cgi-bin/stats.cgi":           modern(t, "antminer-web/antminer-s21-20240711_stats_pretty.json"),
	}}
}

// webSetup is a miner on loopback: its cgminer API and its web server, with a module whose web
// block reads the password from a file, and a handler whose logs are kept.
type webSetup struct {
	h      *Handler
	prober *Prober
	inv    *inventory.Inventory
	addr   string // the cgminer API's host:port, the probe's target
	web    string // the web server's host:port
	logs   *bytes.Buffer
	reg    *prometheus.Registry
}

func newWebSetup(t *testing.T, m *fakeMiner, w *fakeminer.Web, password, extra string) *webSetup {
	t.Helper()
	addr := startMiner(t, m)
	webAddr := w.Start(t)
	_, webPort, _ := net.SplitHostPort(webAddr)
	pwFile := filepath.Join(t.TempDir(), "web.pass")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, onLoopback(fmt.Sprintf(`
modules:
  default:
    web: {password_file: %q, port: %s%s}
`, pwFile, webPort, extra), addr))
	logs := &bytes.Buffer{}
	inv := inventory.New(inventory.Options{})
	reg := prometheus.NewRegistry()
	prober := newProber(inv).WithWeb(webapi.NewClient(4, reg))
	h := New(func() *config.Config { return cfg }, prober, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), reg,
		Options{TimeoutOffset: 500 * time.Millisecond})
	return &webSetup{h: h, prober: prober, inv: inv, addr: addr, web: webAddr, logs: logs, reg: reg}
}

func expectSeries(t *testing.T, body string, want map[string]string) {
	t.Helper()
	for series, v := range want {
		got, ok := metricValue(body, series)
		if v == "" {
			if ok {
				t.Errorf("%s present (%s), want absent", series, got)
			}
			continue
		}
		if !ok || got != v {
			t.Errorf("%s = %q (present %v), want %s", series, got, ok, v)
		}
	}
}

// A stock Antminer with web credentials: the probe reads 4028 and, alongside, the cgi over real
// Digest; the crew's identity (serial, MAC, board serials) comes from the web API, the rest
// from 4028, each web endpoint has its command series, and the inventory learns the serial.
func TestProbeAntminerWeb(t *testing.T) {
	s := newWebSetup(t, s19(t), antminerWeb(t), webPassword, "")
	resp, body := get(t, s.h, "target="+s.addr, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	expectSeries(t, body, map[string]string{
		"cgminer_up":                         "1",
		"cgminer_hashrate_hashes_per_second": "1.1056689e+14", // 4028's
		`cgminer_device_info{mac="02:50:53:09:da:d9",serial="SMTTATUBDJAAI00A5"}`: "1",
		`cgminer_board_info{board="1",serial="SMTTYRHBDJAAI019D"}`:                "1",
		`cgminer_board_info{board="3",serial="SMTTYRHBDJAAI019S"}`:                "1",
		`cgminer_command_success{command="web:get_system_info"}`:                  "1",
		`cgminer_command_success{command="web:summary"}`:                          "1",
		`cgminer_command_success{command="web:get_miner_conf"}`:                   "1",
		`cgminer_command_success{command="web:stats"}`:                            "1",
		`cgminer_command_success{command="summary"}`:                              "1",
		"cgminer_sleeping": "0",
	})
	if r, _ := s.inv.Get(s.addr); r.Serial != "SMTTATUBDJAAI00A5" || r.MAC != "02:50:53:09:da:d9" {
		t.Errorf("inventory %+v", r)
	}
	if n := testutil.ToFloat64(s.h.probes.WithLabelValues("default", "success")); n != 1 {
		t.Errorf("probes_total{success} %v", n)
	}
}

// A wrong password: the web part fails with auth_failed after one challenge round, the probe
// stands (cgminer_up 1, 4028's metrics), the web commands say 0, the debug page says why, and
// neither the metrics, the debug page nor the log shows the password.
func TestProbeAntminerWebWrongPassword(t *testing.T) {
	w := antminerWeb(t)
	const wrong = "not-the-" + webPassword
	s := newWebSetup(t, s19(t), w, wrong, "")
	_, body := get(t, s.h, "target="+s.addr, nil)
	expectSeries(t, body, map[string]string{
		"cgminer_up":     "1",
		"cgminer_boards": "3",
		`cgminer_command_success{command="web:summary"}`: "0",
		`cgminer_command_success{command="summary"}`:     "1",
		`cgminer_device_info{mac="",serial=""}`:          "",
	})
	if strings.Contains(body, "probe_error_info") {
		t.Errorf("a web failure made the probe fail:\n%s", body)
	}
	if n := w.Requests.Load(); n != 2 {
		t.Errorf("%d web requests, want 2 (challenge, refusal, then nothing)", n)
	}
	_, debug := get(t, s.h, "target="+s.addr+"&debug=true", nil)
	if !strings.Contains(debug, "Web API antminer at "+s.web+": auth_failed") || !strings.Contains(debug, "cgminer_up 1") {
		t.Errorf("debug page:\n%s", debug)
	}
	if !strings.Contains(s.logs.String(), "web API gave no usable reply") || !strings.Contains(s.logs.String(), "auth_failed") {
		t.Errorf("log:\n%s", s.logs.String())
	}
	if n := counterValue(t, s.reg, "cgminer_exporter_web_reads_total", `api="antminer",result="auth_failed"`); n != 2 {
		t.Errorf("web_reads_total{auth_failed} %v", n)
	}
	for name, text := range map[string]string{"metrics": body, "debug": debug, "log": s.logs.String()} {
		if strings.Contains(text, wrong) {
			t.Errorf("%s shows the password", name)
		}
	}
}

// The debug page keeps the web replies but never get_miner_conf's (the pool passwords).
func TestProbeWebDebugNoSecrets(t *testing.T) {
	s := newWebSetup(t, s19(t), antminerWeb(t), webPassword, "")
	_, debug := get(t, s.h, "target="+s.addr+"&debug=true", nil)
	if !strings.Contains(debug, "Web API antminer at "+s.web+": answered") || !strings.Contains(debug, `"serinum": "SMTTATUBDJAAI00A5"`) ||
		!strings.Contains(debug, `request "GET /cgi-bin/get_miner_conf.cgi"`) {
		t.Errorf("debug page:\n%s", debug)
	}
	for _, secret := range []string{webPassword, "test-password"} {
		if strings.Contains(debug, secret) || strings.Contains(s.logs.String(), secret) {
			t.Errorf("%q shows in the debug page or the log", secret)
		}
	}
}

func braiinsMiner(t *testing.T) *fakeMiner {
	return &fakeMiner{replies: map[string][]byte{
		"version": fixture(t, "bosminer-braiins/braiins-os-25.05-boser_version.json"),
		"summary": fixture(t, "bosminer-braiins/s9-bosminer-0.2.0_summary.json"),
		"pools":   fixture(t, "bosminer-braiins/s9-bosminer-0.2.0_pools.json"),
		"devs":    fixture(t, "bosminer-braiins/s9-bosminer-plus-am1-s9-0.4.0_devs.json"),
	}}
}

func braiinsWeb(t testing.TB) *fakeminer.Web {
	const dir = "braiins-os/antminer-s21pro-bosplus-26.04_api-v1-"
	return &fakeminer.Web{User: "root", Password: webPassword, TokenTTL: 3600, Replies: map[string][]byte{
		"/api/v1/miner/details":           modern(t, dir+"miner-details_sorted.json"),
		"/api/v1/miner/hw/hashboards":     modern(t, dir+"miner-hw-hashboards_sorted.json"),
		"/api/v1/miner/errors":            modern(t, dir+"miner-errors_sorted.json"),
		"/api/v1/performance/tuner-state": modern(t, dir+"performance-tuner-state_sorted.json"),
	}}
}

// Braiins OS: the probe logs in once and keeps the token in the inventory (the next probe sends
// it, no login); after the firmware forgets it (a reboot) one new login. Its current run's
// errors are faults; its serial is the device's.
func TestProbeBraiinsWeb(t *testing.T) {
	w := braiinsWeb(t)
	s := newWebSetup(t, braiinsMiner(t), w, webPassword, "")
	s.prober.now = func() time.Time { return time.Date(2026, 3, 22, 16, 0, 0, 0, time.UTC) }
	_, body := get(t, s.h, "target="+s.addr, nil)
	expectSeries(t, body, map[string]string{
		"cgminer_up": "1",
		`cgminer_device_info{mac="02:8f:77:ec:e7:e0",serial="THQGFKUBDJIAH0E9G"}`:                    "1",
		`cgminer_fault{board="1",code="hashboard_fault",component="hashboard",severity="critical"}`:  "1",
		`cgminer_fault{board="",code="hashboard_voltage",component="hashboard",severity="critical"}`: "1",
		`cgminer_command_success{command="web:auth/login"}`:                                          "1",
		`cgminer_command_success{command="web:miner/errors"}`:                                        "1",
	})
	if w.Logins.Load() != 1 {
		t.Fatalf("%d logins", w.Logins.Load())
	}
	_, body = get(t, s.h, "target="+s.addr, nil)
	if w.Logins.Load() != 1 {
		t.Errorf("the second probe logged in again (%d logins): the token is kept per miner", w.Logins.Load())
	}
	if _, ok := metricValue(body, `cgminer_command_success{command="web:auth/login"}`); ok {
		t.Errorf("a login series without a login:\n%s", body)
	}
	w.Token = "after-a-reboot"
	_, body = get(t, s.h, "target="+s.addr, nil)
	expectSeries(t, body, map[string]string{`cgminer_command_success{command="web:auth/login"}`: "1", `cgminer_command_success{command="web:miner/details"}`: "1"})
	if w.Logins.Load() != 2 {
		t.Errorf("%d logins after the token was forgotten, want 2", w.Logins.Load())
	}
	if tok, ok := s.inv.Token(s.addr, tokenKey(webapi.Braiins, testConfigWeb(s)), s.prober.now()); !ok || tok != "after-a-reboot" {
		t.Errorf("inventory token %q %v", tok, ok)
	}
	if strings.Contains(s.logs.String(), "after-a-reboot") || strings.Contains(s.logs.String(), webPassword) {
		t.Errorf("the log shows a secret:\n%s", s.logs.String())
	}
}

func testConfigWeb(s *webSetup) *config.Web { return s.h.cfg().Modules["default"].Web }

// VNish on 4028 (firmware vnish) gets the VNish API.
func TestProbeVNishWeb(t *testing.T) {
	m := &fakeMiner{replies: map[string][]byte{
		"version": fixture(t, "vnish/antminer-s17plus-vnish-2.0.3_version.json"),
		"stats":   fixture(t, "vnish/antminer-s17plus-vnish-2.0.3_stats.json"),
		"pools":   fixture(t, "vnish/antminer-s17plus-vnish-2.0.3_pools.json"),
	}}
	w := &fakeminer.Web{Password: webPassword, Replies: map[string][]byte{
		"/api/v1/info":    modern(t, "vnish/antminer-s21pro-vnish-1.2.7_api-v1-info.json"),
		"/api/v1/summary": modern(t, "vnish/antminer-s21pro-vnish-1.2.7_api-v1-summary.json"),
	}}
	s := newWebSetup(t, m, w, webPassword, "")
	_, body := get(t, s.h, "target="+s.addr, nil)
	expectSeries(t, body, map[string]string{
		"cgminer_up": "1",
		`cgminer_device_info{mac="02:95:23:b3:e0:79",serial=""}`: "1",
		`cgminer_command_success{command="web:unlock"}`:          "1",
		`cgminer_command_success{command="web:info"}`:            "1",
	})
}

// The web part shares the probe's deadline: a web server that stalls costs at most the web
// timeout, and the probe answers with 4028's metrics.
func TestProbeWebStalls(t *testing.T) {
	addr := startMiner(t, s19(t))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { <-t.Context().Done(); c.Close() }()
		}
	}()
	_, webPort, _ := net.SplitHostPort(ln.Addr().String())
	cfg := testConfig(t, onLoopback(fmt.Sprintf("modules: {default: {timeout: 3s, web: {password: x, port: %s, timeout: 300ms}}}", webPort), addr))
	h := New(func() *config.Config { return cfg }, newProber(inventory.New(inventory.Options{})).WithWeb(&webapi.Client{}), slog.New(slog.NewTextHandler(io.Discard, nil)), nil, Options{})
	_, body := get(t, h, "target="+addr, nil)
	expectSeries(t, body, map[string]string{"cgminer_up": "1", `cgminer_command_success{command="web:get_system_info"}`: "0", `cgminer_command_success{command="web:summary"}`: "0"})
}

// The web port is the module's: a target may name it only under a module with a web block,
// and only that module dials it.
func TestWebPortPolicy(t *testing.T) {
	cfg := testConfig(t, `
modules:
  s21: {web: {password: x}}
`)
	if _, err := Target(t.Context(), cfg, cfg.Modules["s21"], "10.1.2.3:80"); err != nil {
		t.Errorf("s21 may name its web port: %v", err)
	}
	if _, err := Target(t.Context(), cfg, cfg.Modules["default"], "10.1.2.3:80"); err == nil {
		t.Error("default (no web block) may name port 80")
	}
}

// Without a web block, or for a firmware with no web API, nothing is asked.
func TestWebNotAsked(t *testing.T) {
	w := antminerWeb(t)
	webAddr := w.Start(t)
	_, webPort, _ := net.SplitHostPort(webAddr)
	addr := startMiner(t, s19(t))
	for name, tc := range map[string]struct {
		yml  string
		want string
	}{
		"no web block":         {"modules: {default: {}}", ""},
		"forced, wrong api":    {fmt.Sprintf("modules: {default: {web: {api: vnish, password: x, port: %s}}}", webPort), "auth_failed"},
		"auto, stock antminer": {fmt.Sprintf("modules: {default: {web: {password: %s, port: %s}}}", webPassword, webPort), "answered"},
	} {
		t.Run(name, func(t *testing.T) {
			before := w.Requests.Load()
			cfg := testConfig(t, onLoopback(tc.yml, addr))
			h := New(func() *config.Config { return cfg }, newProber(inventory.New(inventory.Options{})).WithWeb(&webapi.Client{}), slog.New(slog.NewTextHandler(io.Discard, nil)), nil, Options{})
			_, debug := get(t, h, "target="+addr+"&debug=true", nil)
			asked := w.Requests.Load() > before
			switch {
			case tc.want == "" && (asked || strings.Contains(debug, "Web API")):
				t.Errorf("asked without a web block:\n%s", debug)
			case tc.want != "" && !strings.Contains(debug, tc.want):
				t.Errorf("want %s:\n%s", tc.want, debug)
			}
		})
	}
}

// counterValue reads one series of reg's metrics (0 when absent).
func counterValue(t *testing.T, reg *prometheus.Registry, name, labels string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			if strings.Join(ls, ",") == labels {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
