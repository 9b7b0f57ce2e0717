package probe

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Hostile callers of /probe: what one client sends must not change what another gets, stall the
// handler past its own deadline, or tie up the slots other miners' probes need.

func scrapeHeader(secs string) http.Header {
	return http.Header{"X-Prometheus-Scrape-Timeout-Seconds": {secs}}
}

// waitFor polls cond until it holds (the test fails after 5 s).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// probesOf counts the probes holding or waiting for a miner (the per-target semaphore's users).
func (h *Handler) probesOf(addr string) int {
	h.targets.mu.Lock()
	defer h.targets.mu.Unlock()
	if e, ok := h.targets.m[addr]; ok {
		return e.refs
	}
	return 0
}

func TestProbeDeadlines(t *testing.T) {
	type request struct {
		query  string // %[1]s is the slow miner's address, %[2]s the healthy one's
		header string
	}
	tests := []struct {
		name    string
		slow    func(t *testing.T) *fakeMiner
		maxConc int
		// started first, one after the other, each once the slow miner has one more probe
		// holding or awaiting it
		background []request
		// a hostile client repeating this request every 50 ms while the probe under test runs
		storm *request
		probe request
		// what the probe under test must see
		up, reason string
		// the probe under test must come back while the background probes still run
		beforeBackground bool
	}{
		{
			name: "a shorter deadline's timeout is not shared with a longer one",
			slow: func(t *testing.T) *fakeMiner { m := s19(t); m.delay = 400 * time.Millisecond; return m },
			background: []request{
				{query: "target=%[1]s", header: "0.6"}, // 0.6 s − 0.5 s offset: 100 ms, the minimum
			},
			probe: request{query: "target=%[1]s", header: "5"},
			up:    "1",
		},
		{
			name:  "a storm of short deadlines does not starve Prometheus's probe",
			slow:  func(t *testing.T) *fakeMiner { m := s19(t); m.delay = 400 * time.Millisecond; return m },
			storm: &request{query: "target=%[1]s", header: "0.6"},
			background: []request{
				{query: "target=%[1]s", header: "0.6"},
			},
			probe: request{query: "target=%[1]s", header: "5"},
			up:    "1",
		},
		{
			name: "a follower with a shorter deadline stops waiting at its own",
			slow: func(t *testing.T) *fakeMiner { return &fakeMiner{hang: true} },
			background: []request{
				{query: "target=%[1]s", header: "3"},
			},
			probe:            request{query: "target=%[1]s", header: "0.8"},
			up:               "0",
			reason:           "timeout",
			beforeBackground: true,
		},
		{
			name:    "probes queued behind a hanging miner hold no global slot",
			slow:    func(t *testing.T) *fakeMiner { return &fakeMiner{hang: true} },
			maxConc: 2,
			background: []request{
				{query: "target=%[1]s&module=a", header: "3"},
				{query: "target=%[1]s&module=b", header: "3"}, // another module: its own flight, queued for the miner
			},
			probe:            request{query: "target=%[2]s", header: "2"},
			up:               "1",
			beforeBackground: true,
		},
		{
			name:    "a debug probe queued behind a hanging miner holds no global slot",
			slow:    func(t *testing.T) *fakeMiner { return &fakeMiner{hang: true} },
			maxConc: 2,
			background: []request{
				{query: "target=%[1]s&module=a", header: "3"},
				{query: "target=%[1]s&module=a&debug=true", header: "3"},
			},
			probe:            request{query: "target=%[2]s", header: "2"},
			up:               "1",
			beforeBackground: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			slow := startMiner(t, tc.slow(t))
			healthy := startMiner(t, s19(t))
			cfg := testConfig(t, onLoopback("modules: {default: {dialect: antminer, timeout: 10s}, a: {dialect: antminer}, b: {dialect: antminer}}", slow, healthy))
			h, _ := newHandlerOpts(t, cfg, Options{TimeoutOffset: 500 * time.Millisecond, MaxConcurrent: tc.maxConc})
			q := func(r request) string { return fmt.Sprintf(r.query, slow, healthy) }

			var bg sync.WaitGroup
			bgDone := make(chan struct{})
			for i, r := range tc.background {
				bg.Add(1)
				go func() { defer bg.Done(); get(t, h, q(r), scrapeHeader(r.header)) }()
				waitFor(t, fmt.Sprintf("background probe %d to reach the miner", i+1), func() bool { return h.probesOf(slow) >= i+1 })
			}
			go func() { bg.Wait(); close(bgDone) }()
			stop := make(chan struct{})
			var storm sync.WaitGroup
			if tc.storm != nil {
				storm.Add(1)
				go func() {
					defer storm.Done()
					for {
						select {
						case <-stop:
							return
						case <-time.After(50 * time.Millisecond):
							storm.Add(1)
							go func() { defer storm.Done(); get(t, h, q(*tc.storm), scrapeHeader(tc.storm.header)) }()
						}
					}
				}()
			}

			resp, body := get(t, h, q(tc.probe), scrapeHeader(tc.probe.header))
			close(stop)
			storm.Wait()
			if tc.beforeBackground {
				select {
				case <-bgDone:
					t.Error("the probe came back only once the background probes had ended")
				default:
				}
			}
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if v, _ := metricValue(body, "cgminer_up"); v != tc.up {
				t.Errorf("cgminer_up = %q, want %s\n%s", v, tc.up, body)
			}
			if tc.reason != "" {
				if v, _ := metricValue(body, `cgminer_probe_error_info{reason="`+tc.reason+`"}`); v != "1" {
					t.Errorf("no reason %s:\n%s", tc.reason, body)
				}
			}
			<-bgDone
		})
	}
}

// The scrape-timeout header only ever shortens the module's timeout, and anything but a plain
// finite number of seconds is ignored.
func TestScrapeTimeout(t *testing.T) {
	const module, offset = 10 * time.Second, 500 * time.Millisecond
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"", module},
		{"5", 4500 * time.Millisecond},
		{"9.5", 9 * time.Second},
		{"10.5", module},
		{"60", module},
		{"0.6", minTimeout},
		{"0.2", minTimeout},
		{"1e-300", minTimeout},
		{"0", module},
		{"-1", module},
		{"NaN", module},
		{"nan", module},
		{"Inf", module},
		{"+Inf", module},
		{"-Inf", module},
		{"infinity", module},
		{"1e400", module},
		{"1e300", module},
		{"9.3e9", module},
		{"9223372036.9", module},
		{"abc", module},
		{"5s", module},
		{" 5", module},
		{strings.Repeat("1", 400), module},
		{"0." + strings.Repeat("0", 400) + "5", module},
	} {
		t.Run(tc.header, func(t *testing.T) {
			if got := scrapeTimeout(tc.header, module, offset); got != tc.want {
				t.Errorf("scrapeTimeout(%q) = %s, want %s", tc.header, got, tc.want)
			}
		})
	}
}

// banner is a TCP service that is not a miner: it sends its banner and closes.
func banner(t *testing.T, text string) string {
	t.Helper()
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
			c.Write([]byte(text))
			c.Close()
		}
	}()
	return ln.Addr().String()
}

// What a target may be: an IP literal in allowed_targets on its module's port (or one that
// allowed_ports lists); a name only with allow_hostnames; and debug output never shows what a
// service that is not a miner said.
func TestProbeTargetPolicy(t *testing.T) {
	miner := startMiner(t, s19(t))
	_, minerPort, _ := net.SplitHostPort(miner)
	ssh := banner(t, "SSH-2.0-OpenSSH_9.6p1 Debian-4\r\n")
	tests := []struct {
		name   string
		yml    string
		query  string
		status int
		has    []string // in the body
		hasNot []string
	}{
		{name: "loopback is not allowed by default", yml: withPorts("", miner), query: "target=" + miner, status: 400},
		{name: "IPv6 loopback is not allowed by default", yml: withPorts("", miner), query: "target=[::1]:" + minerPort, status: 400},
		{name: "loopback when listed", yml: onLoopback("", miner), query: "target=" + miner, status: 200, has: []string{"cgminer_up 1"}},
		{name: "a port the module does not name", yml: "allowed_targets: [127.0.0.0/8]", query: "target=" + miner, status: 400, has: []string{"port"}},
		{name: "ssh port", yml: onLoopback("", miner), query: "target=127.0.0.1:22", status: 400},
		{name: "the module's own port", yml: "allowed_targets: [127.0.0.0/8]\nmodules: {m: {port: " + minerPort + "}}", query: "target=127.0.0.1&module=m", status: 200, has: []string{"cgminer_up 1"}},
		{name: "another module's port", yml: "allowed_targets: [127.0.0.0/8]\nmodules: {m: {port: " + minerPort + "}}", query: "target=" + miner, status: 400},
		{name: "a hostname without allow_hostnames", yml: onLoopback("", miner), query: "target=localhost:" + minerPort, status: 400, has: []string{"allow_hostnames"}},
		{name: "a hostname with allow_hostnames", yml: withPorts("allow_hostnames: true\nallowed_targets: [127.0.0.0/8, '::1']", miner), query: "target=localhost:" + minerPort, status: 200},
		{name: "a malformed hostname is not looked up", yml: onLoopback("allow_hostnames: true", miner), query: "target=bad%20name.example:" + minerPort, status: 400},
		{name: "a target longer than a host name can be", yml: onLoopback("allow_hostnames: true", miner), query: "target=" + strings.Repeat("a", 300), status: 400},
		{name: "a zoned IPv6 address", yml: withPorts("allowed_targets: ['fe80::/10']", miner), query: "target=[fe80::1%25lo]:" + minerPort, status: 400},
		{
			name: "debug output does not echo another service's banner", yml: onLoopback("", ssh), query: "target=" + ssh + "&debug=true", status: 200,
			has: []string{"not cgminer API", "cgminer_up 0"}, hasNot: []string{"OpenSSH", "SSH-2.0"},
		},
		{
			name: "debug output shows a miner's reply", yml: onLoopback("", miner), query: "target=" + miner + "&debug=true", status: 200,
			has: []string{`"STATUS"`, "Antminer S19 Pro", "cgminer_up 1"},
		},
		{
			name: "max_reply_bytes is applied", yml: onLoopback("modules: {default: {dialect: antminer, max_reply_bytes: 200}}", miner), query: "target=" + miner, status: 200,
			has: []string{"cgminer_up 0", `cgminer_probe_error_info{reason="reply_too_large"} 1`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newHandler(t, testConfig(t, tc.yml))
			resp, body := get(t, h, tc.query, nil)
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			for _, s := range tc.has {
				if !strings.Contains(body, s) {
					t.Errorf("body lacks %q:\n%s", s, body)
				}
			}
			for _, s := range tc.hasNot {
				if strings.Contains(body, s) {
					t.Errorf("body has %q:\n%s", s, body)
				}
			}
		})
	}
}

// The request itself is bounded: one target, module and debug each, a short query string, and
// debug probes (which echo replies and cannot share a probe in flight) rate-limited.
func TestProbeRequestBounds(t *testing.T) {
	miner := startMiner(t, s19(t))
	tests := []struct {
		name   string
		query  string
		status int
	}{
		{name: "one of each", query: "target=" + miner + "&module=default", status: 200},
		{name: "two targets", query: "target=" + miner + "&target=10.0.0.1", status: 400},
		{name: "two modules", query: "target=" + miner + "&module=default&module=default", status: 400},
		{name: "two debug", query: "target=" + miner + "&debug=false&debug=true", status: 400},
		{name: "a bad escape", query: "target=" + miner + "&module=%zz", status: 400},
		{name: "a long query", query: "target=" + miner + "&x=" + strings.Repeat("a", 5000), status: http.StatusRequestURITooLong},
		{name: "many parameters", query: "target=" + miner + strings.Repeat("&x=1", 600), status: http.StatusRequestURITooLong},
	}
	h, _ := newHandler(t, testConfig(t, onLoopback("", miner)))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := get(t, h, tc.query, nil)
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
		})
	}
	t.Run("debug rate", func(t *testing.T) {
		// The default limit: 1 per second, burst 5. Twenty back to back get at most a few through.
		h, _ := newHandler(t, testConfig(t, onLoopback("", miner)))
		codes := map[int]int{}
		start := time.Now()
		for range 20 {
			resp, _ := get(t, h, "target="+miner+"&debug=true", nil)
			codes[resp.StatusCode]++
		}
		allowed := 5 + int(time.Since(start).Seconds()) + 1
		if codes[200] < 5 || codes[200] > allowed || codes[200]+codes[http.StatusTooManyRequests] != 20 {
			t.Errorf("status codes %v; want 5 to %d of 200, the rest 429", codes, allowed)
		}
		if n := testutil.ToFloat64(h.debugLimited); int(n) != codes[http.StatusTooManyRequests] {
			t.Errorf("debug_probes_limited_total = %v, want %d", n, codes[http.StatusTooManyRequests])
		}
		// Probes without debug are not limited.
		for range 10 {
			if resp, _ := get(t, h, "target="+miner, nil); resp.StatusCode != 200 {
				t.Fatalf("probe without debug: %d", resp.StatusCode)
			}
		}
	})
	t.Run("debug off", func(t *testing.T) {
		h, _ := newHandlerOpts(t, testConfig(t, onLoopback("", miner)), Options{DebugRate: -1})
		if resp, _ := get(t, h, "target="+miner+"&debug=true", nil); resp.StatusCode != http.StatusForbidden {
			t.Errorf("debug probe with debug off: %d", resp.StatusCode)
		}
	})
}

// A client that hangs up does not leave its probe running: once nobody waits for a run it is
// cancelled, and the miner's slot and the global slot are free again long before its deadline.
// A run somebody still waits for goes on.
func TestProbeAbandoned(t *testing.T) {
	for _, tc := range []struct {
		name     string
		follower bool // a second client with the same deadline stays
	}{
		{name: "alone"},
		{name: "with a follower", follower: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			slow := startMiner(t, &fakeMiner{hang: true})
			h, _ := newHandler(t, testConfig(t, onLoopback("modules: {default: {dialect: antminer, timeout: 20s}}", slow)))
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				req := httptest.NewRequest("GET", "/probe?target="+slow, nil).WithContext(ctx)
				h.ServeHTTP(httptest.NewRecorder(), req)
			}()
			waitFor(t, "the probe to reach the miner", func() bool { return h.probesOf(slow) == 1 })
			followerDone := make(chan string, 1)
			if tc.follower {
				go func() { _, body := get(t, h, "target="+slow, scrapeHeader("1.5")); followerDone <- body }()
				waitFor(t, "the follower to join", func() bool { return h.flights.waiting(slow+"|default") == 2 })
			}
			cancel()
			returned := func() bool {
				select {
				case <-done:
					return true
				default:
					return false
				}
			}
			waitFor(t, "the handler of the client that hung up to return", returned)
			if tc.follower {
				// The follower still gets the run's outcome at its own deadline, not a cancellation.
				if h.probesOf(slow) != 1 {
					t.Error("the run was cancelled while a follower waited for it")
				}
				body := <-followerDone
				if v, _ := metricValue(body, `cgminer_probe_error_info{reason="timeout"}`); v != "1" {
					t.Errorf("follower:\n%s", body)
				}
			}
			waitFor(t, "the abandoned probe to let go of the miner", func() bool { return h.probesOf(slow) == 0 && len(h.sem) == 0 })
		})
	}
}

// waiting is how many callers wait for the run in flight for key.
func (g *flightGroup) waiting(key string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if f, ok := g.m[key]; ok {
		return f.waiters
	}
	return 0
}
