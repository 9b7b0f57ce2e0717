package probe

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/minefarm/cgminer-stack/exporter/cgminer"
	"github.com/minefarm/cgminer-stack/exporter/config"
	"github.com/minefarm/cgminer-stack/exporter/internal/fakeminer"
	"github.com/minefarm/cgminer-stack/exporter/inventory"
)

// miner is a fake miner on a loopback port: it answers each request from a map of command →
// reply bytes (joined requests are answered the way cgminer does), after an optional delay.
type fakeMiner struct {
	conns   atomic.Int64
	delay   time.Duration
	replies map[string][]byte
	raw     []byte // when set, every connection gets exactly these bytes
	hang    bool
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "cgminer-api", name))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.TrimRight(b, "\x00\n")
}

func startMiner(t *testing.T, m *fakeMiner) string {
	t.Helper()
	ln := fakeminer.Listen(t, "127.0.0.1:0", func(c net.Conn, req []byte) {
		m.conns.Add(1)
		if m.hang {
			select {
			case <-t.Context().Done():
			case <-time.After(10 * time.Second):
			}
			return
		}
		if m.delay > 0 {
			time.Sleep(m.delay)
		}
		if m.raw != nil {
			c.Write(m.raw)
			return
		}
		c.Write(append(m.answer(fakeminer.Command(req)), 0))
	})
	return ln.Addr().String()
}

func (m *fakeMiner) answer(cmd string) []byte { return fakeminer.Answer(m.replies, cmd) }

func s19(t *testing.T) *fakeMiner {
	dir := "bmminer-antminer/antminer-s19pro-49.0.1.3_"
	return &fakeMiner{replies: map[string][]byte{
		"version": fixture(t, dir+"version_pyformat.json"),
		"summary": fixture(t, dir+"summary_pyformat.json"),
		"pools":   fixture(t, dir+"pools_pyformat.json"),
		"stats":   fixture(t, dir+"stats_pyformat.json"),
		"devs":    fixture(t, dir+"devs_pyformat.json"),
	}}
}

// onLoopback prefixes a config with what a test on loopback needs: loopback is not among the
// default allowed ranges, and the fake miners' ports are not the modules' 4028.
func onLoopback(yml string, addrs ...string) string {
	return "allowed_targets: [127.0.0.0/8]\n" + withPorts(yml, addrs...)
}

// withPorts prefixes a config with allowed_ports naming the ports of addrs.
func withPorts(yml string, addrs ...string) string {
	var ports []string
	for _, a := range addrs {
		_, p, _ := net.SplitHostPort(a)
		ports = append(ports, p)
	}
	return "allowed_ports: [" + strings.Join(ports, ", ") + "]\n" + yml
}

func testConfig(t *testing.T, yml string) *config.Config {
	t.Helper()
	c, err := config.Parse([]byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newHandler(t *testing.T, cfg *config.Config) (*Handler, *prometheus.Registry) {
	return newHandlerOpts(t, cfg, Options{TimeoutOffset: 500 * time.Millisecond})
}

func newHandlerOpts(t *testing.T, cfg *config.Config, o Options) (*Handler, *prometheus.Registry) {
	reg := prometheus.NewRegistry()
	h := New(func() *config.Config { return cfg }, newProber(inventory.New(inventory.Options{})), slog.New(slog.NewTextHandler(io.Discard, nil)), reg, o)
	return h, reg
}

// newProber reads the cgminer API with a real client and keeps what it learns in inv.
func newProber(inv *inventory.Inventory) *Prober {
	return NewProber(inv, map[string]Reader{config.ProtocolCGMiner: CGMiner(&cgminer.Client{})})
}

func get(t *testing.T, h http.Handler, query string, header http.Header) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest("GET", "/probe?"+query, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result(), rec.Body.String()
}

func metricValue(body, series string) (string, bool) {
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, series+" ") {
			return strings.TrimPrefix(line, series+" "), true
		}
	}
	return "", false
}

func TestProbeS19(t *testing.T) {
	addr := startMiner(t, s19(t))
	cfg := testConfig(t, onLoopback(`
modules:
  default:
    expect:
      pools: [{url: 'stratum\+tcp://btc\.global\.luxor\.tech:700', user: 'satokierepair\..*'}]
`, addr))
	h, reg := newHandler(t, cfg)
	resp, body := get(t, h, "target="+addr, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	for series, want := range map[string]string{
		"cgminer_up":                                    "1",
		"cgminer_boards":                                "3",
		"cgminer_hashrate_hashes_per_second":            "1.1056689e+14",
		`cgminer_board_chips{board="3"}`:                "114", // chain_acn3: boards are the chain numbers
		`cgminer_command_success{command="devdetails"}`: "0",
		`cgminer_pool_expected{pool="0",url="stratum+tcp://btc.global.luxor.tech:700",user="satokierepair.H04YK"}`: "1",
	} {
		if got, ok := metricValue(body, series); !ok || got != want {
			t.Errorf("%s = %q (present %v), want %s", series, got, ok, want)
		}
	}
	if n := testutil.ToFloat64(h.probes.WithLabelValues("default", "success")); n != 1 {
		t.Errorf("probes_total{result=success} = %v", n)
	}
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}
}

func TestProbeFailures(t *testing.T) {
	refused := func() string {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		a := ln.Addr().String()
		ln.Close()
		return a
	}()
	tests := []struct {
		name   string
		miner  *fakeMiner
		addr   string
		header http.Header
		reason string
		within time.Duration
	}{
		{name: "refused", addr: refused, reason: "connection_refused", within: time.Second},
		{name: "hang", miner: &fakeMiner{hang: true}, header: http.Header{"X-Prometheus-Scrape-Timeout-Seconds": {"1.5"}}, reason: "timeout", within: 1500 * time.Millisecond},
		{name: "garbage", miner: &fakeMiner{raw: []byte("\x17\x03\x03 not an api\n")}, reason: "not_cgminer_api", within: time.Second},
		{name: "truncated", miner: &fakeMiner{raw: []byte(`{"STATUS":[{"STATUS":"S","When":1,"Code":11,"Msg":"Summary"}],"SUMMARY":[{"Elapsed":1`)}, reason: "truncated_reply", within: time.Second},
		{name: "empty", miner: &fakeMiner{raw: []byte{}}, reason: "empty_reply", within: time.Second},
		{name: "oversized", miner: &fakeMiner{raw: append([]byte(`{"STATUS":[{"STATUS":"S"}],"X":"`), bytes.Repeat([]byte("a"), 2<<20)...)}, reason: "reply_too_large", within: 2 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := tc.addr
			if tc.miner != nil {
				addr = startMiner(t, tc.miner)
			}
			h, _ := newHandler(t, testConfig(t, onLoopback("modules: {default: {timeout: 5s}}", addr)))
			start := time.Now()
			resp, body := get(t, h, "target="+addr, tc.header)
			if took := time.Since(start); took > tc.within {
				t.Errorf("probe took %s, beyond its deadline %s", took, tc.within)
			}
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if v, _ := metricValue(body, "cgminer_up"); v != "0" {
				t.Errorf("cgminer_up = %q", v)
			}
			if v, ok := metricValue(body, `cgminer_probe_error_info{reason="`+tc.reason+`"}`); !ok || v != "1" {
				t.Errorf("no error reason %s in\n%s", tc.reason, body)
			}
		})
	}
}

func TestProbeBadRequests(t *testing.T) {
	h, _ := newHandler(t, testConfig(t, "allowed_targets: [127.0.0.0/8]"))
	for _, q := range []string{"", "target=10.1.2.3", "target=127.0.0.1&module=nope", "target=127.0.0.1:99999", "target=8.8.8.8:4028"} {
		t.Run(q, func(t *testing.T) {
			resp, body := get(t, h, q, nil)
			if resp.StatusCode != 400 {
				t.Errorf("status %d, want 400: %s", resp.StatusCode, body)
			}
		})
	}
}

// Concurrent probes of one miner share one set of requests: an HA pair of Prometheus servers
// must not double the load on the miner's single-threaded API.
func TestProbeCoalescing(t *testing.T) {
	m := s19(t)
	m.delay = 200 * time.Millisecond
	addr := startMiner(t, m)
	h, _ := newHandler(t, testConfig(t, onLoopback("modules: {default: {dialect: antminer}}", addr)))
	var wg sync.WaitGroup
	bodies := make([]string, 8)
	for i := range bodies {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, bodies[i] = get(t, h, "target="+addr, nil)
		}(i)
	}
	wg.Wait()
	if n := m.conns.Load(); n != 1 {
		t.Errorf("8 concurrent probes made %d connections, want 1", n)
	}
	for i, b := range bodies {
		if v, _ := metricValue(b, "cgminer_up"); v != "1" {
			t.Errorf("probe %d: cgminer_up %q", i, v)
		}
	}
}

// The first probe identifies the family and asks the family's extra commands; later probes send
// everything in one joined request.
func TestProbeFamilyCache(t *testing.T) {
	dir := "luxos/antminer-s19kpro-luxos-2025.4.8_"
	m := &fakeMiner{replies: map[string][]byte{}}
	for _, c := range []string{"version", "summary", "pools", "stats", "devs", "temps", "fans", "power"} {
		m.replies[c] = fixture(t, dir+c+"_sorted.json")
	}
	addr := startMiner(t, m)
	h, _ := newHandler(t, testConfig(t, onLoopback("", addr)))
	_, body := get(t, h, "target="+addr, nil)
	if v, _ := metricValue(body, "cgminer_power_watts"); v != "1051" {
		t.Fatalf("first probe did not fetch LuxOS power: %q", v)
	}
	first := m.conns.Load()
	_, body = get(t, h, "target="+addr, nil)
	if v, _ := metricValue(body, "cgminer_power_watts"); v != "1051" {
		t.Fatalf("second probe lost power: %q", v)
	}
	if n := m.conns.Load() - first; n != 1 {
		t.Errorf("second probe made %d connections, want 1 joined request (first made %d)", n, first)
	}
}

func TestProbeDebug(t *testing.T) {
	addr := startMiner(t, s19(t))
	h, _ := newHandler(t, testConfig(t, onLoopback("", addr)))
	resp, body := get(t, h, "target="+addr+"&debug=true", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, "Logs for the probe") || !strings.Contains(body, "Antminer S19 Pro") ||
		!strings.Contains(body, "cgminer_up 1") || !strings.Contains(body, `request "version+summary+pools+stats+devs+devdetails"`) {
		t.Fatalf("debug output lacks log, raw replies or metrics:\n%s", body)
	}
}

// promtool check metrics finds nothing to complain about in real probe output.
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool, err := execLookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: install Debian's prometheus package (make tools)")
	}
	addr := startMiner(t, s19(t))
	h, _ := newHandler(t, testConfig(t, onLoopback(`modules: {default: {expect: {pools: [{url: 'x'}]}}}`, addr)))
	_, body := get(t, h, "target="+addr, nil)
	out, err := runWithInput(promtool, body, "check", "metrics")
	if err != nil || strings.TrimSpace(out) != "" {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

// A limit that cuts what the miner sent is exported and logged once, at Warn, per probe.
func TestProbeTruncationLoggedOnce(t *testing.T) {
	addr := startMiner(t, s19(t))
	cfg := testConfig(t, onLoopback(`
modules:
  default:
    limits: {pools: 1}
`, addr))
	var logBuf bytes.Buffer
	h := New(func() *config.Config { return cfg }, newProber(inventory.New(inventory.Options{})), slog.New(slog.NewTextHandler(&logBuf, nil)), prometheus.NewRegistry(),
		Options{TimeoutOffset: 500 * time.Millisecond})
	resp, body := get(t, h, "target="+addr, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if got, ok := metricValue(body, `cgminer_probe_truncated{what="pools"}`); !ok || got != "1" {
		t.Errorf(`cgminer_probe_truncated{what="pools"} = %q (present %v), want 1`, got, ok)
	}
	if n := strings.Count(body, "cgminer_pool_up{"); n != 1 {
		t.Errorf("%d pools exported, want 1 (the limit)", n)
	}
	log := logBuf.String()
	if n := strings.Count(log, "exceeded the module's limits"); n != 1 || !strings.Contains(log, "level=WARN") || !strings.Contains(log, "target="+addr) {
		t.Errorf("want one Warn line naming the target, got %d in:\n%s", n, log)
	}
}
