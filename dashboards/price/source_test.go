package price

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/minefarm/cgminer-stack/dashboards/check"
)

// gather returns every sample the source exports, keyed name{label="value",…} (labels sorted).
func gather(t *testing.T, s *Source) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(s); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			sort.Strings(ls)
			v := m.GetGauge().GetValue()
			if m.Counter != nil {
				v = m.GetCounter().GetValue()
			}
			out[mf.GetName()+"{"+strings.Join(ls, ",")+"}"] = v
		}
	}
	return out
}

// fake is a loopback stand-in for a price API: it answers each request with the handler's reply
// and counts requests.
func fake(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func reply(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

func mustParse(t *testing.T, yml string) *Config {
	t.Helper()
	c, err := Parse([]byte(yml))
	if err != nil {
		t.Fatalf("%v\n%s", err, yml)
	}
	return c
}

// One fetch of a hashprice URL per case: what is served, whether it counts as fetched, and the
// result counted. A failure serves the constant 0.05.
func TestFetchHashprice(t *testing.T) {
	tests := []struct {
		name   string
		field  string
		h      http.HandlerFunc
		want   float64
		result string
	}{
		{"number", "data.hashprice", reply(200, `{"data":{"hashprice":0.0485,"unit":"USD/TH/day"}}`), 0.0485, ResultOK},
		{"number as a string", "hashprice", reply(200, `{"hashprice":" 0.051 "}`), 0.051, ResultOK},
		{"array index", "data.1.v", reply(200, `{"data":[{"v":1},{"v":0.06}]}`), 0.06, ResultOK},
		{"server error", "x", reply(503, `{"x":0.07}`), 0.05, ResultHTTPError},
		{"redirect loop", "x", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, r.URL.Path, http.StatusFound) }, 0.05, ResultNetworkError},
		{"not JSON", "x", reply(200, `<html>rate limited</html>`), 0.05, ResultBadJSON},
		{"truncated JSON", "x", reply(200, `{"x": 0.0`), 0.05, ResultBadJSON},
		{"field missing", "data.hashprice", reply(200, `{"data":{"price":1}}`), 0.05, ResultNoField},
		{"index out of range", "data.5", reply(200, `{"data":[1,2]}`), 0.05, ResultNoField},
		{"path through a number", "x.y", reply(200, `{"x":3}`), 0.05, ResultNoField},
		{"an object, not a number", "x", reply(200, `{"x":{"v":1}}`), 0.05, ResultNotANumber},
		{"text", "x", reply(200, `{"x":"n/a"}`), 0.05, ResultNotANumber},
		{"a huge number string", "x", reply(200, `{"x":"`+strings.Repeat("9", 400)+`"}`), 0.05, ResultNotANumber},
		{"NaN", "x", reply(200, `{"x":"NaN"}`), 0.05, ResultImplausible},
		{"infinite", "x", reply(200, `{"x":"+Inf"}`), 0.05, ResultImplausible},
		{"overflow", "x", reply(200, `{"x":1e400}`), 0.05, ResultNotANumber},
		{"negative", "x", reply(200, `{"x":-0.04}`), 0.05, ResultImplausible},
		{"zero", "x", reply(200, `{"x":0}`), 0.05, ResultImplausible},
		{"absurd", "x", reply(200, `{"x":123456}`), 0.05, ResultImplausible},
		{"over max_bytes", "x", reply(200, `{"x":0.07,"pad":"`+strings.Repeat("p", 2000)+`"}`), 0.05, ResultTooLarge},
		{"slower than the timeout", "x", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			reply(200, `{"x":0.07}`)(w, r)
		}, 0.05, ResultTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, hits := fake(t, tt.h)
			c := mustParse(t, fmt.Sprintf("hashprice: {value: 0.05, url: %q, field: %q, timeout: 300ms, max_bytes: 1024}\nelectricity: {default: 0.06}\n", srv.URL+"/hp", tt.field))
			var logs bytes.Buffer
			s := New(c, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			s.Fetch(context.Background())
			got := gather(t, s)
			if v := got[`price_hashprice_per_terahash_day{currency="USD"}`]; v != tt.want {
				t.Errorf("hashprice %g, want %g", v, tt.want)
			}
			fetched := got[`price_value_fetched{value="hashprice"}`]
			if want := b2f(tt.result == ResultOK); fetched != want {
				t.Errorf("price_value_fetched %g, want %g", fetched, want)
			}
			if v := got[fmt.Sprintf(`price_source_fetches_total{result=%q,value="hashprice"}`, tt.result)]; v != 1 {
				t.Errorf("fetches_total{result=%q} = %g, want 1; all: %v", tt.result, v, got)
			}
			if hits.Load() == 0 {
				t.Error("the fake was never asked")
			}
			if tt.result != ResultOK && !strings.Contains(logs.String(), "result="+tt.result) {
				t.Errorf("no log line with result=%s: %q", tt.result, logs.String())
			}
		})
	}
}

// A fetched value is served until max_age after the last success, through failures; then the
// constant again.
func TestMaxAge(t *testing.T) {
	var fail atomic.Bool
	srv, _ := fake(t, func(w http.ResponseWriter, r *http.Request) {
		if fail.Load() {
			reply(500, `{}`)(w, r)
			return
		}
		reply(200, `{"hp":0.08}`)(w, r)
	})
	c := mustParse(t, fmt.Sprintf("refresh: 10m\nmax_age: 1h\nhashprice: {value: 0.05, url: %q, field: hp}\nelectricity: {default: 0.06}\n", srv.URL))
	now := time.Unix(1_800_000_000, 0)
	s := New(c, Options{Now: func() time.Time { return now }})
	s.Fetch(context.Background())
	fail.Store(true)
	steps := []struct {
		after   time.Duration
		want    float64
		fetched float64
	}{
		{0, 0.08, 1},
		{59 * time.Minute, 0.08, 1}, // failing since, still within max_age
		{61 * time.Minute, 0.05, 0},
	}
	start := now
	for _, st := range steps {
		now = start.Add(st.after)
		s.Fetch(context.Background())
		got := gather(t, s)
		if v := got[`price_hashprice_per_terahash_day{currency="USD"}`]; v != st.want {
			t.Errorf("after %s: hashprice %g, want %g", st.after, v, st.want)
		}
		if v := got[`price_value_fetched{value="hashprice"}`]; v != st.fetched {
			t.Errorf("after %s: fetched %g, want %g", st.after, v, st.fetched)
		}
		if v := got[`price_source_last_success_timestamp_seconds{value="hashprice"}`]; v != float64(start.Unix()) {
			t.Errorf("after %s: last success %g, want %d", st.after, v, start.Unix())
		}
	}
}

// Without a URL nothing is asked, and the constants, the tariffs and the purchase prices are
// served as configured.
func TestConstants(t *testing.T) {
	c := mustParse(t, `
currency: EUR
hashprice: {value: 0.045}
electricity:
  default: 0.07
  sites: {site-a: 0.05, site-b: 0}
purchase_prices:
  Antminer S19j Pro: 1400
  Whatsminer M30S: 900.5
`)
	s := New(c, Options{Client: &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
		t.Fatal("a request without a URL")
		return nil, nil
	})}})
	s.Fetch(context.Background())
	got := gather(t, s)
	want := map[string]float64{
		`price_hashprice_per_terahash_day{currency="EUR"}`:               0.045,
		`price_value_fetched{value="hashprice"}`:                         0,
		`price_electricity_per_kwh{currency="EUR",site=""}`:              0.07,
		`price_electricity_per_kwh{currency="EUR",site="site-a"}`:        0.05,
		`price_electricity_per_kwh{currency="EUR",site="site-b"}`:        0,
		`price_miner_purchase{currency="EUR",model="Antminer S19j Pro"}`: 1400,
		`price_miner_purchase{currency="EUR",model="Whatsminer M30S"}`:   900.5,
	}
	if len(got) != len(want) {
		t.Errorf("got %d samples, want %d: %v", len(got), len(want), got)
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %g (present %v), want %g", k, g, ok, v)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// The coin mode derives the hashprice from the coin's price and the network difficulty, fetched
// or constant each on its own, and sends the bearer token.
func TestCoin(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var auth atomic.Value
	srv, _ := fake(t, func(w http.ResponseWriter, r *http.Request) {
		auth.Store(r.Header.Get("Authorization"))
		reply(200, `{"bitcoin":{"usd":100000}}`)(w, r)
	})
	c := mustParse(t, fmt.Sprintf(`
coin:
  price: {value: 50000, url: %q, field: bitcoin.usd, bearer_token_file: %q}
  network_difficulty: {value: 1.2e14}
  block_reward: 3.125
electricity: {default: 0.06}
`, srv.URL, tokenFile))
	if s := fmt.Sprintf("%v %+v", c.Coin.Price, *c.Coin.Price); strings.Contains(s, "s3cret") {
		t.Errorf("the token shows in %s", s)
	}
	s := New(c, Options{})
	before := gather(t, s)[`price_hashprice_per_terahash_day{currency="USD"}`]
	s.Fetch(context.Background())
	got := gather(t, s)
	if a, _ := auth.Load().(string); a != "Bearer s3cret" {
		t.Errorf("Authorization %q", a)
	}
	want := 100000 * 3.125 * 86400 * 1e12 / (1.2e14 * math.Pow(2, 32))
	if v := got[`price_hashprice_per_terahash_day{currency="USD"}`]; math.Abs(v-want) > 1e-12 {
		t.Errorf("hashprice %g, want %g", v, want)
	}
	if math.Abs(before-want/2) > 1e-12 {
		t.Errorf("hashprice from the constants %g, want %g", before, want/2)
	}
	for k, v := range map[string]float64{
		`price_coin{currency="USD"}`:                      100000,
		`price_network_difficulty{}`:                      1.2e14,
		`price_block_reward_coins{}`:                      3.125,
		`price_value_fetched{value="coin"}`:               1,
		`price_value_fetched{value="network_difficulty"}`: 0,
	} {
		if got[k] != v {
			t.Errorf("%s = %g, want %g", k, got[k], v)
		}
	}
}

// Run asks at once and stops with its context.
func TestRun(t *testing.T) {
	srv, hits := fake(t, reply(200, `{"hp":0.09}`))
	c := mustParse(t, fmt.Sprintf("hashprice: {value: 0.05, url: %q, field: hp}\nelectricity: {default: 0.06}\n", srv.URL))
	s := New(c, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for hits.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop")
	}
	if v := gather(t, s)[`price_hashprice_per_terahash_day{currency="USD"}`]; v != 0.09 {
		t.Errorf("hashprice %g after Run", v)
	}
}

// dashboards/README.md's metric table (what the dashboards' check accepts) is what the exporter
// exposes, in both modes, with a URL fetched.
func TestReadmeMetricTable(t *testing.T) {
	known := check.Known{}
	if err := known.AddMarkdownFile(filepath.Join("..", "README.md")); err != nil {
		t.Fatal(err)
	}
	srv, _ := fake(t, reply(200, `{"v":0.05}`))
	exposed := map[string]bool{}
	for _, yml := range []string{
		fmt.Sprintf("hashprice: {value: 0.05, url: %q, field: v}\nelectricity: {default: 0.06}\npurchase_prices: {S9: 50}\n", srv.URL),
		fmt.Sprintf("coin: {price: {value: 1, url: %q, field: v}, network_difficulty: {value: 1}, block_reward: 1}\nelectricity: {default: 0.06}\n", srv.URL),
	} {
		s := New(mustParse(t, yml), Options{})
		s.Fetch(context.Background())
		for k := range gather(t, s) {
			name, _, _ := strings.Cut(k, "{")
			exposed[name] = true
		}
	}
	for n := range exposed {
		if _, ok := known[n]; !ok {
			t.Errorf("%s is exposed but not in dashboards/README.md's metric table", n)
		}
	}
	for _, n := range known.Names() {
		if !exposed[n] {
			t.Errorf("dashboards/README.md lists %s, which the exporter does not expose", n)
		}
	}
}
