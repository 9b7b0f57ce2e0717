package web

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// clientFrom makes a client whose connections come from the given loopback address (127.0.0.x),
// so that a test can be several sources.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

func (f *fixture) login(c *http.Client, user, pass string) (int, http.Header) {
	f.t.Helper()
	req, _ := http.NewRequest("GET", f.url+"/api/v1/tasks?limit=1", nil)
	req.SetBasicAuth(user, pass)
	resp, err := c.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

// A bcrypt check in progress must not hold up a login the cache already knows (it used to run
// under the cache's lock: 300 parallel wrong passwords made a valid login take 17 s).
func TestBcryptDoesNotBlockCachedLogins(t *testing.T) {
	f := newFixture(t, map[string]string{"alice": hash(t, "pw"), "bob": hash(t, "pw-b")}, func(o *Options) {
		o.Login = LoginLimits{Workers: 2, SourceBurst: 100}
	})
	if code, _ := f.login(http.DefaultClient, "alice", "pw"); code != 200 {
		t.Fatalf("first login: %d", code)
	}
	started, release := make(chan struct{}, 8), make(chan struct{})
	real := f.srv.auth.compare
	f.srv.auth.compare = func(h, p []byte) error {
		started <- struct{}{}
		<-release
		return real(h, p)
	}
	var wg sync.WaitGroup
	for range 2 { // every worker busy with a wrong password
		wg.Go(func() {
			if code, _ := f.login(http.DefaultClient, "bob", "wrong"); code != 401 {
				t.Errorf("wrong password: %d", code)
			}
		})
	}
	<-started
	<-started
	done := make(chan int, 1)
	go func() { code, _ := f.login(http.DefaultClient, "alice", "pw"); done <- code }()
	select {
	case code := <-done:
		if code != 200 {
			t.Fatalf("cached login: %d", code)
		}
	case <-time.After(20 * time.Second): // a liveness bound, not a speed check: it never returns if blocked
		t.Fatal("a cached login waited for bcrypt checks in progress")
	}
	close(release)
	wg.Wait()
}

// No more than Workers bcrypt checks run at once; beyond Workers+Queue waiting, 429 at once.
func TestBcryptWorkIsBounded(t *testing.T) {
	f := newFixture(t, map[string]string{"alice": hash(t, "pw")}, func(o *Options) {
		o.Login = LoginLimits{Workers: 2, Queue: 3, SourceBurst: 1000, UserBurst: 1000}
	})
	var running, peak atomic.Int32
	release := make(chan struct{})
	entered := make(chan struct{}, 100)
	real := f.srv.auth.compare
	f.srv.auth.compare = func(h, p []byte) error {
		n := running.Add(1)
		for {
			m := peak.Load()
			if n <= m || peak.CompareAndSwap(m, n) {
				break
			}
		}
		entered <- struct{}{}
		<-release
		running.Add(-1)
		return real(h, p)
	}
	const n = 20
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			code, h := f.login(http.DefaultClient, fmt.Sprintf("user%d", i), "x")
			if code == 429 && h.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
			codes <- code
		})
	}
	<-entered
	<-entered
	// 2 running + 3 waiting; the other 15 were refused without waiting.
	refused := 0
	for refused < n-5 {
		if c := <-codes; c != 429 {
			t.Fatalf("got %d while the pool was full, want 429", c)
		}
		refused++
	}
	close(release)
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != 401 {
			t.Fatalf("queued check: %d, want 401", c)
		}
	}
	if p := peak.Load(); p != 2 {
		t.Fatalf("%d bcrypt checks at once, want 2", p)
	}
}

// Failures are throttled per user name too, whichever address they come from; other users and
// other addresses are unaffected.
func TestLoginThrottlePerUserAndSource(t *testing.T) {
	f := newFixture(t, map[string]string{"alice": hash(t, "pw"), "bob": hash(t, "pw-b"), "carol": hash(t, "pw-c")}, func(o *Options) {
		o.Login = LoginLimits{SourceBurst: 4, UserBurst: 6}
	})
	for i := range 3 { // 3 sources × 2 wrong passwords for alice
		c := clientFrom(fmt.Sprintf("127.0.0.%d", 10+i))
		for range 2 {
			if code, _ := f.login(c, "alice", "wrong"); code != 401 {
				t.Fatalf("wrong password: %d", code)
			}
		}
	}
	fresh := clientFrom("127.0.0.20")
	code, h := f.login(fresh, "alice", "pw")
	if code != 429 {
		t.Fatalf("alice from a fresh address after 6 failures: %d, want 429", code)
	}
	if s, err := strconv.Atoi(h.Get("Retry-After")); err != nil || s < 1 || s > 10 {
		t.Fatalf("Retry-After %q", h.Get("Retry-After"))
	}
	if code, _ := f.login(fresh, "bob", "pw-b"); code != 200 {
		t.Fatalf("bob from a fresh address: %d", code)
	}
	// An unknown user name counts as a failure like a wrong password.
	src := clientFrom("127.0.0.30")
	for i := range 4 {
		if code, _ := f.login(src, fmt.Sprintf("nobody%d", i), "x"); code != 401 {
			t.Fatalf("unknown user: %d", code)
		}
	}
	if code, _ := f.login(src, "carol", "pw-c"); code != 429 {
		t.Fatalf("after 4 failures from one address: %d", code)
	}
	// A login the cache knows (bob's, above) still works from a throttled address.
	if code, _ := f.login(src, "bob", "pw-b"); code != 200 {
		t.Fatalf("cached login from a throttled address: %d", code)
	}
	// Long names and passwords are refused and counted without bcrypt.
	src = clientFrom("127.0.0.40")
	if code, _ := f.login(src, strings.Repeat("u", 100), "x"); code != 401 {
		t.Fatalf("long name: %d", code)
	}
	if code, _ := f.login(src, "bob", strings.Repeat("p", 2000)); code != 401 {
		t.Fatalf("long password: %d", code)
	}
}

// The dummy hash compared for an unknown user has the highest cost among the users, so a wrong
// name costs as much as a wrong password.
func TestDummyHashCost(t *testing.T) {
	mk := func(cost int) string {
		h, err := bcrypt.GenerateFromPassword([]byte("x"), cost)
		if err != nil {
			t.Fatal(err)
		}
		return string(h)
	}
	c4, c5, c6 := mk(4), mk(5), mk(6)
	for _, tc := range []struct {
		name  string
		users map[string]string
		cost  int // 0: no dummy
		err   bool
	}{
		{"none", nil, 0, false},
		{"one", map[string]string{"a": c5}, 5, false},
		{"mixed", map[string]string{"a": c4, "b": c6, "c": c5}, 6, false},
		{"not a hash", map[string]string{"a": "plain"}, 0, true},
		{"long name", map[string]string{strings.Repeat("a", 65): c4}, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := NewUsers(tc.users)
			if tc.err {
				if err == nil {
					t.Fatal("accepted")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.cost == 0 {
				if u.dummy != nil {
					t.Fatal("dummy hash without users")
				}
				return
			}
			cost, err := bcrypt.Cost(u.dummy)
			if err != nil || cost != tc.cost {
				t.Fatalf("dummy cost %d (%v), want %d", cost, err, tc.cost)
			}
			if h, known := u.hash("nobody"); known || string(h) != string(u.dummy) {
				t.Fatal("unknown user not checked against the dummy")
			}
		})
	}
}

// However many sources and names a flood uses, the buckets keep at most Tracked keys; a refilled
// bucket is forgotten first; a throttled key stays throttled while it is tracked.
func TestBucketsAreBounded(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := newBuckets(2, 10*time.Second, 100)
	for i := range 100000 {
		b.reserve(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), t0)
	}
	if n := b.len(); n > 100 {
		t.Fatalf("%d keys tracked, want at most 100", n)
	}
	b = newBuckets(2, 10*time.Second, 100)
	for _, tc := range []struct {
		at       time.Duration
		key      string
		allowed  bool
		waitOver time.Duration
	}{
		{0, "a", true, 0},
		{0, "a", true, 0},
		{0, "a", false, 9 * time.Second},
		{5 * time.Second, "a", false, 4 * time.Second},
		{10 * time.Second, "a", true, 0},
		{10 * time.Second, "a", false, 9 * time.Second},
		{10 * time.Second, "b", true, 0},
	} {
		r, wait := b.reserve(tc.key, t0.Add(tc.at))
		if (r != nil) != tc.allowed || (!tc.allowed && wait <= tc.waitOver) {
			t.Fatalf("%s at %s: allowed=%v wait=%s; want allowed=%v wait>%s", tc.key, tc.at, r != nil, wait, tc.allowed, tc.waitOver)
		}
	}
	// A refund gives the token back (a successful login is not a failure).
	r, _ := b.reserve("c", t0)
	b.refund(r, t0)
	for range 2 {
		if r, _ := b.reserve("c", t0); r == nil {
			t.Fatal("refund did not return the token")
		}
	}
	// Keys whose bucket is full again are dropped as new ones arrive.
	b = newBuckets(2, time.Second, 1000)
	for i := range 500 {
		b.reserve(fmt.Sprint("old", i), t0)
	}
	for i := range 500 {
		b.reserve(fmt.Sprint("new", i), t0.Add(time.Hour))
	}
	if n := b.len(); n > 600 {
		t.Fatalf("%d keys: refilled ones were not forgotten", n)
	}
}

func TestLoginCacheExpiresAndIsBounded(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &loginCache{ttl: time.Minute, m: newLRU[time.Time](10)}
	c.add("k", t0)
	if !c.ok("k", t0.Add(59*time.Second)) || c.ok("k", t0.Add(61*time.Second)) || c.ok("other", t0) {
		t.Fatal("cache expiry")
	}
	for i := range 1000 {
		c.add(fmt.Sprint(i), t0)
	}
	if c.m.len() != 10 {
		t.Fatalf("%d cached", c.m.len())
	}
}

func TestSourceKey(t *testing.T) {
	for _, tc := range []struct{ remote, want string }{
		{"127.0.0.1:5000", "127.0.0.1"},
		{"[::ffff:10.0.0.1]:80", "10.0.0.1"},
		{"[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff::1]:443", "2001:db8:1:2::/64"},
		{"garbage", "?"},
	} {
		if got := sourceKey(tc.remote); got != tc.want {
			t.Errorf("sourceKey(%q) = %q, want %q", tc.remote, got, tc.want)
		}
	}
}

// BenchmarkLoginUnderFlood: a valid (cached) login while 300 clients send distinct wrong passwords
// from one address. Before: every bcrypt check ran under the cache's lock (21.6 s per valid login
// on the 2-core test machine).
func BenchmarkLoginUnderFlood(b *testing.B) {
	f := newFixture(b, map[string]string{"alice": hashCost(b, "pw", 10), "bob": hashCost(b, "pw-b", 10)})
	if code, _ := f.login(http.DefaultClient, "alice", "pw"); code != 200 {
		b.Fatal(code)
	}
	var seq atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for range 300 {
		wg.Go(func() {
			c := &http.Client{}
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, "GET", f.url+"/api/v1/tasks?limit=1", nil)
				req.SetBasicAuth("bob", fmt.Sprint("wrong", seq.Add(1))) // distinct: no cache helps
				if resp, err := c.Do(req); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		})
	}
	for b.Loop() {
		if code, _ := f.login(http.DefaultClient, "alice", "pw"); code != 200 {
			b.Fatal(code)
		}
	}
	cancel()
	wg.Wait()
}

func hashCost(t testing.TB, pw string, cost int) string {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}
