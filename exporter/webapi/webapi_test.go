package webapi

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minefarm/cgminer-stack/exporter/cgminer"
	"github.com/minefarm/cgminer-stack/exporter/internal/fakeminer"
)

const password = "Circle-of-Life-42"

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "modern", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func antminerWeb(t testing.TB) *fakeminer.Web {
	return &fakeminer.Web{User: "root", Password: password, Realm: "antMiner Configuration", Replies: map[string][]byte{
		"/cgi-bin/get_system_info.cgi": fixture(t, "antminer-web/antminer-s21-20240711_get_system_info_pretty.json"),
		"/cgi-bin/summary.cgi":         fixture(t, "antminer-web/antminer-s21-20240711_summary_pretty.json"),
		"/cgi-bin/get_miner_conf.cgi":  fixture(t, "antminer-web/antminer-s21-20240711_get_miner_conf_pretty.json"),
		"/cgi-bin/stats.cgi":           fixture(t, "antminer-web/antminer-s21-20240711_stats_pretty.json"),
	}}
}

func braiinsWeb(t testing.TB) *fakeminer.Web {
	const dir = "braiins-os/antminer-s21pro-bosplus-26.04_api-v1-"
	return &fakeminer.Web{User: "root", Password: password, TokenTTL: 3600, Replies: map[string][]byte{
		"/api/v1/miner/details":           fixture(t, dir+"miner-details_sorted.json"),
		"/api/v1/miner/hw/hashboards":     fixture(t, dir+"miner-hw-hashboards_sorted.json"),
		"/api/v1/miner/errors":            fixture(t, dir+"miner-errors_sorted.json"),
		"/api/v1/performance/tuner-state": fixture(t, dir+"performance-tuner-state_sorted.json"),
	}}
}

func vnishWeb(t testing.TB) *fakeminer.Web {
	return &fakeminer.Web{Password: password, Replies: map[string][]byte{
		"/api/v1/info":    fixture(t, "vnish/antminer-s21pro-vnish-1.2.7_api-v1-info.json"),
		"/api/v1/summary": fixture(t, "vnish/antminer-s21pro-vnish-1.2.7_api-v1-summary.json"),
	}}
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return c
}

// Stock Antminer over real Digest on loopback: the first request is challenged, the rest reuse
// the nonce with a counting nc (five requests for four endpoints), MD5 and SHA-256 alike.
func TestAntminerDigest(t *testing.T) {
	for _, alg := range []string{"MD5", "SHA-256"} {
		t.Run(alg, func(t *testing.T) {
			w := antminerWeb(t)
			w.Algorithm = alg
			addr := w.Start(t)
			res, err := (&Client{}).Read(ctx(t), Target{API: Antminer, Scheme: "http", Addr: addr, Username: "root", Password: password, KeepRaw: true})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range Reads[Antminer] {
				if res.Reply(e).Kind() != cgminer.Object {
					t.Errorf("%s: %v", e.Name(), res.Errors[e.Name()])
				}
			}
			if got := res.Reply(AntminerSystemInfo).StrKey("serinum"); got != "SMTTATUBDJAAI00A5" {
				t.Errorf("serinum %q", got)
			}
			if n := w.Requests.Load(); n != 5 {
				t.Errorf("%d requests for 4 endpoints, want 5 (one challenge)", n)
			}
			ncs := []string{}
			for _, a := range w.Authorizations {
				if i := strings.Index(a, "nc="); i >= 0 {
					ncs = append(ncs, a[i+3:i+11])
				}
				if !strings.Contains(a, "algorithm="+alg) && a != "" {
					t.Errorf("answered with another algorithm: %s", a)
				}
			}
			if strings.Join(ncs, ",") != "00000001,00000002,00000003,00000004" {
				t.Errorf("nc %v", ncs)
			}
			cmds := res.Commands()
			if len(cmds) != 4 || !cmds["web:summary"] || !cmds["web:get_miner_conf"] {
				t.Errorf("commands %v", cmds)
			}
			for _, ex := range res.Exchanges {
				if ex.Request == AntminerMinerConf.Request() && ex.Raw != nil {
					t.Error("get_miner_conf (pool passwords) kept raw for debug output")
				}
				if ex.Request == AntminerSummary.Request() && ex.Raw == nil {
					t.Error("summary not kept raw with KeepRaw")
				}
			}
		})
	}
}

// A spent nonce (stale=true) costs one more challenge round, not a failure.
func TestAntminerStaleNonce(t *testing.T) {
	w := antminerWeb(t)
	w.NonceUses = 2
	addr := w.Start(t)
	res, err := (&Client{}).Read(ctx(t), Target{API: Antminer, Scheme: "http", Addr: addr, Username: "root", Password: password})
	if err != nil || len(res.Replies) != 4 {
		t.Fatalf("%v %v", err, res.Errors)
	}
	if n := w.Requests.Load(); n != 6 {
		t.Errorf("%d requests, want 6 (a second challenge after two uses)", n)
	}
}

// A wrong password fails the read with auth_failed after one challenge round, asks nothing
// more, and no error or exchange shows the password.
func TestAntminerWrongPassword(t *testing.T) {
	w := antminerWeb(t)
	addr := w.Start(t)
	res, err := (&Client{}).Read(ctx(t), Target{API: Antminer, Scheme: "http", Addr: addr, Username: "root", Password: "wrong-" + password, KeepRaw: true})
	if cgminer.ReasonOf(err) != ReasonAuth {
		t.Fatalf("err %v", err)
	}
	if n := w.Requests.Load(); n != 2 {
		t.Errorf("%d requests, want 2 (challenge, refused answer; nothing after)", n)
	}
	if len(res.Errors) != 4 || len(res.Replies) != 0 {
		t.Errorf("errors %v", res.Errors)
	}
	noSecret(t, res, "wrong-"+password)
}

func noSecret(t *testing.T, res *Result, secrets ...string) {
	t.Helper()
	var all bytes.Buffer
	fmt.Fprintf(&all, "%v %+v %#v", res, res, res)
	for _, e := range res.Errors {
		fmt.Fprintln(&all, e)
	}
	for _, ex := range res.Exchanges {
		fmt.Fprintln(&all, ex.Request, string(ex.Raw), ex.Err)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(all.String(), s) {
			t.Errorf("a secret shows: %s", all.String())
		}
	}
}

// Braiins OS: one login, the token sent with each GET; the next read with that token logs in no
// more; a token the firmware no longer knows is dropped and replaced by one new login.
func TestBraiinsToken(t *testing.T) {
	w := braiinsWeb(t)
	addr := w.Start(t)
	c := &Client{Now: func() time.Time { return time.Unix(1_800_000_000, 0) }}
	target := Target{API: Braiins, Scheme: "http", Addr: addr, Username: "root", Password: password, KeepRaw: true}
	res, err := c.Read(ctx(t), target)
	if err != nil || len(res.Replies) != 4 {
		t.Fatalf("%v %v", err, res.Errors)
	}
	if res.Token == nil || res.Token.Value.Reveal() != w.Token || !res.Token.Expires.Equal(time.Unix(1_800_000_000+3240, 0)) {
		t.Fatalf("token %+v", res.Token)
	}
	if w.Logins.Load() != 1 || w.Requests.Load() != 5 {
		t.Errorf("logins %d requests %d", w.Logins.Load(), w.Requests.Load())
	}
	if got := res.Reply(BraiinsDetails).StrKey("serial_number"); got != "THQGFKUBDJIAH0E9G" {
		t.Errorf("serial %q", got)
	}
	if !res.Commands()["web:auth/login"] {
		t.Errorf("commands %v", res.Commands())
	}
	noSecret(t, res, password, w.Token)

	target.Token = res.Token.Value
	res, err = c.Read(ctx(t), target)
	if err != nil || res.Token != nil || res.DropToken || w.Logins.Load() != 1 {
		t.Fatalf("with the kept token: %v token %+v drop %v logins %d", err, res.Token, res.DropToken, w.Logins.Load())
	}

	target.Token = "forgotten-by-a-reboot"
	res, err = c.Read(ctx(t), target)
	if err != nil || !res.DropToken || res.Token == nil || w.Logins.Load() != 2 {
		t.Fatalf("stale token: %v token %+v drop %v logins %d", err, res.Token, res.DropToken, w.Logins.Load())
	}
}

// VNish: the unlock password alone, then Bearer.
func TestVNishUnlock(t *testing.T) {
	w := vnishWeb(t)
	addr := w.Start(t)
	res, err := (&Client{}).Read(ctx(t), Target{API: VNish, Scheme: "http", Addr: addr, Password: password})
	if err != nil || len(res.Replies) != 2 {
		t.Fatalf("%v %v", err, res.Errors)
	}
	if got := res.Reply(VNishInfo).Get("system").Get("network_status").StrKey("mac"); got != "02:95:23:B3:E0:79" {
		t.Errorf("mac %q", got)
	}
	if res.Token == nil || time.Until(res.Token.Expires) > DefaultTokenTTL {
		t.Errorf("token %+v", res.Token)
	}
	last := w.Authorizations[len(w.Authorizations)-1]
	if last != "Bearer "+w.Token {
		t.Errorf("Authorization %q", last)
	}
}

// A refused login is auth_failed, asks no endpoint, and is counted.
func TestLoginRefused(t *testing.T) {
	for _, api := range []string{Braiins, VNish} {
		t.Run(api, func(t *testing.T) {
			w := braiinsWeb(t)
			addr := w.Start(t)
			c := NewClient(0, nil)
			res, err := c.Read(ctx(t), Target{API: api, Scheme: "http", Addr: addr, Username: "root", Password: "nope-" + password})
			if cgminer.ReasonOf(err) != ReasonAuth || w.Requests.Load() != 1 {
				t.Fatalf("%v after %d requests", err, w.Requests.Load())
			}
			if res.Commands()["web:auth/login"] || res.Commands()["web:unlock"] {
				t.Errorf("commands %v", res.Commands())
			}
			noSecret(t, res, "nope-"+password)
		})
	}
}

// A firmware without the REST API (Braiins OS before 25.07: the login is a 404) costs one
// request per read, not one per endpoint.
func TestLoginNotFound(t *testing.T) {
	var requests int
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests++
		mu.Unlock()
		http.NotFound(w, r)
	}))
	defer srv.Close()
	res, err := (&Client{}).Read(ctx(t), Target{API: Braiins, Scheme: "http", Addr: strings.TrimPrefix(srv.URL, "http://"), Username: "root", Password: password})
	if cgminer.ReasonOf(err) != ReasonHTTP || requests != 1 || len(res.Exchanges) != 1 || len(res.Errors) != 5 {
		t.Errorf("%v: %d requests, %d exchanges, errors %v", err, requests, len(res.Exchanges), res.Errors)
	}
}

// Logins are bounded: many miners at once never have more than MaxLogins logins in flight, and
// concurrent reads of one miner share one login.
func TestLoginsBounded(t *testing.T) {
	t.Run("global cap", func(t *testing.T) {
		var servers []*fakeminer.Web
		var addrs []string
		// One server stands for many miners: each its own address as the client sees it.
		shared := braiinsWeb(t)
		shared.LoginDelay = 20 * time.Millisecond
		real := shared.Start(t)
		servers = append(servers, shared)
		for i := range 12 {
			addrs = append(addrs, fmt.Sprintf("10.0.0.%d:80", i+1))
		}
		c := &Client{MaxLogins: 3, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, real)
		}}
		var wg sync.WaitGroup
		for _, a := range addrs {
			wg.Go(func() {
				if _, err := c.Read(ctx(t), Target{API: Braiins, Scheme: "http", Addr: a, Username: "root", Password: password}); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if got := servers[0].MaxLogins.Load(); got > 3 || servers[0].Logins.Load() != 12 {
			t.Errorf("%d logins at once (cap 3), %d in all", got, servers[0].Logins.Load())
		}
	})
	t.Run("one miner", func(t *testing.T) {
		w := braiinsWeb(t)
		w.LoginDelay = 50 * time.Millisecond
		addr := w.Start(t)
		c := &Client{}
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if _, err := c.Read(ctx(t), Target{API: Braiins, Scheme: "http", Addr: addr, Username: "root", Password: password}); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if n := w.Logins.Load(); n != 1 {
			t.Errorf("%d logins for 8 concurrent reads of one miner", n)
		}
	})
}

// Hostile servers: every bound holds, and each failure has its reason.
func TestHostileServer(t *testing.T) {
	big := bytes.Repeat([]byte(" "), MaxBodyBytes)
	tests := []struct {
		name    string
		handler http.HandlerFunc
		reason  cgminer.Reason
	}{
		{"redirect not followed", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://198.51.100.1/elsewhere", http.StatusFound)
		}, ReasonHTTP},
		{"not found", http.NotFound, ReasonHTTP},
		{"server error", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "x", 500) }, ReasonHTTP},
		{"HTML page", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>login</html>")) }, ReasonNotWeb},
		{"body too large, announced", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", fmt.Sprint(MaxBodyBytes+10))
			w.Write(append([]byte("{"), big...))
		}, cgminer.ReasonTooLarge},
		{"body too large, chunked", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("{"))
			w.(http.Flusher).Flush()
			w.Write(big)
			w.Write(big)
		}, cgminer.ReasonTooLarge},
		{"headers too large", func(w http.ResponseWriter, r *http.Request) {
			for i := range 40 {
				w.Header().Set(fmt.Sprintf("X-Junk-%d", i), strings.Repeat("j", 1000))
			}
			w.Write([]byte("{}"))
		}, cgminer.ReasonTooLarge},
		{"truncated JSON", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"minertype":"Antminer`)) }, cgminer.ReasonTruncated},
		{"401 without Digest", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("WWW-Authenticate", `Basic realm="x"`)
			w.WriteHeader(401)
		}, ReasonAuth},
		{"401 forever", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("WWW-Authenticate", `Digest realm="x", nonce="`+fmt.Sprint(time.Now().UnixNano())+`", qop="auth", stale=true`)
			w.WriteHeader(401)
		}, ReasonAuth},
		{"stalls", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }, cgminer.ReasonTimeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var requests int
			var mu sync.Mutex
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				requests++
				mu.Unlock()
				tc.handler(w, r)
			}))
			defer srv.Close()
			c, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			res, err := (&Client{}).Read(c, Target{API: Antminer, Scheme: "http", Addr: strings.TrimPrefix(srv.URL, "http://"), Username: "root", Password: password})
			if got := cgminer.ReasonOf(err); got != tc.reason {
				t.Errorf("reason %s (%v), want %s", got, err, tc.reason)
			}
			mu.Lock()
			defer mu.Unlock()
			if tc.name == "401 forever" && requests != 2 {
				t.Errorf("%d requests: one challenge round, then stop", requests)
			}
			if tc.reason == cgminer.ReasonTimeout && requests != 1 {
				t.Errorf("%d requests after a timeout", requests)
			}
			noSecret(t, res, password)
		})
	}
}

// A refused connection is connection_refused and stops the read at once.
func TestRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	res, err := (&Client{}).Read(ctx(t), Target{API: Braiins, Scheme: "http", Addr: addr, Username: "root", Password: password})
	if cgminer.ReasonOf(err) != cgminer.ReasonRefused || len(res.Exchanges) != 1 {
		t.Fatalf("%v, %d exchanges", err, len(res.Exchanges))
	}
}

// Each read closes its connection: many reads leave no goroutine or connection behind.
func TestReadsLeaveNothing(t *testing.T) {
	addr := antminerWeb(t).Start(t)
	c := &Client{}
	read := func() {
		if _, err := c.Read(ctx(t), Target{API: Antminer, Scheme: "http", Addr: addr, Username: "root", Password: password}); err != nil {
			t.Fatal(err)
		}
	}
	read()
	time.Sleep(50 * time.Millisecond)
	before := runtime.NumGoroutine()
	for range 50 {
		read()
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+2 {
		t.Errorf("%d goroutines after 50 reads, %d before", n, before)
	}
}
