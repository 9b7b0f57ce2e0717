package price

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Results of one fetch, the result label of price_source_fetches_total.
const (
	ResultOK           = "ok"
	ResultTimeout      = "timeout"
	ResultNetworkError = "network_error"
	ResultHTTPError    = "http_error"
	ResultTooLarge     = "too_large"
	ResultBadJSON      = "bad_json"
	ResultNoField      = "no_field"
	ResultNotANumber   = "not_a_number"
	ResultImplausible  = "implausible"
)

var results = []string{ResultOK, ResultTimeout, ResultNetworkError, ResultHTTPError, ResultTooLarge,
	ResultBadJSON, ResultNoField, ResultNotANumber, ResultImplausible}

// Options are what a Source needs besides its config.
type Options struct {
	// Client sends the requests (default: one that follows at most 3 redirects).
	Client *http.Client
	// Now is the clock (default time.Now), for max_age.
	Now func() time.Time
	// Logger gets one line per failed fetch.
	Logger *slog.Logger
	// UserAgent is sent with each request.
	UserAgent string
}

// Source keeps the last number each URL gave and serves it, or the constant, as metrics.
type Source struct {
	cfg     *Config
	client  *http.Client
	now     func() time.Time
	logger  *slog.Logger
	agent   string
	fetches *prometheus.CounterVec

	mu  sync.Mutex
	got map[string]reading // by value name
}

type reading struct {
	v  float64
	at time.Time
}

// New makes the Source of cfg; register it (a prometheus.Collector) and call Run.
func New(cfg *Config, o Options) *Source {
	if o.Client == nil {
		o.Client = &http.Client{CheckRedirect: func(_ *http.Request, via []*http.Request) error {
			if len(via) >= 3 {
				return errors.New("more than 3 redirects")
			}
			return nil
		}}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.UserAgent == "" {
		o.UserAgent = "price_exporter"
	}
	s := &Source{cfg: cfg, client: o.Client, now: o.Now, logger: o.Logger, agent: o.UserAgent, got: map[string]reading{},
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "price_source_fetches_total",
			Help: "Requests to the configured price URLs, by value and result.",
		}, []string{"value", "result"})}
	for name, v := range s.values() {
		if v.URL != "" {
			for _, r := range results {
				s.fetches.WithLabelValues(name, r)
			}
		}
	}
	return s
}

// values are the configured values by name: hashprice, or coin and network_difficulty.
func (s *Source) values() map[string]*Value {
	if s.cfg.Hashprice != nil {
		return map[string]*Value{"hashprice": s.cfg.Hashprice}
	}
	return map[string]*Value{"coin": s.cfg.Coin.Price, "network_difficulty": s.cfg.Coin.NetworkDifficulty}
}

// Run fetches every URL now and then every refresh until ctx ends.
func (s *Source) Run(ctx context.Context) {
	t := time.NewTicker(time.Duration(s.cfg.Refresh))
	defer t.Stop()
	for {
		s.Fetch(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Fetch asks each configured URL once and keeps what it gave; a failure keeps the previous
// number (served until max_age) and is counted and logged.
func (s *Source) Fetch(ctx context.Context) {
	for name, v := range s.values() {
		if v.URL == "" {
			continue
		}
		n, result, err := s.fetch(ctx, name, v)
		s.fetches.WithLabelValues(name, result).Inc()
		if err != nil {
			s.logger.Warn("price fetch failed; serving the last value or the constant", "value", name, "url", v.URL, "result", result, "err", err)
			continue
		}
		s.mu.Lock()
		s.got[name] = reading{v: n, at: s.now()}
		s.mu.Unlock()
	}
}

func (s *Source) fetch(ctx context.Context, name string, v *Value) (float64, string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(v.Timeout))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.URL, nil)
	if err != nil {
		return 0, ResultNetworkError, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", s.agent)
	if v.BearerTokenFile != "" {
		token, err := v.bearerToken()
		if err != nil {
			return 0, ResultNetworkError, err
		}
		req.Header.Set("Authorization", "Bearer "+token.Reveal())
	}
	resp, err := s.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return 0, ResultTimeout, err
		}
		return 0, ResultNetworkError, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, v.MaxBytes))
		return 0, ResultHTTPError, fmt.Errorf("status %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, v.MaxBytes+1))
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return 0, ResultTimeout, err
		}
		return 0, ResultNetworkError, err
	}
	if int64(len(body)) > v.MaxBytes {
		return 0, ResultTooLarge, fmt.Errorf("answer over max_bytes %d", v.MaxBytes)
	}
	n, result, err := extract(body, v.Field)
	if err != nil {
		return 0, result, err
	}
	if !plausible(name, n) {
		return 0, ResultImplausible, fmt.Errorf("%g is outside %g to %g", n, bounds[name][0], bounds[name][1])
	}
	return n, ResultOK, nil
}

// extract reads the number at a dotted path of a JSON document.
func extract(body []byte, field string) (float64, string, error) {
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return 0, ResultBadJSON, err
	}
	cur := doc
	for _, key := range strings.Split(field, ".") {
		switch node := cur.(type) {
		case map[string]any:
			next, ok := node[key]
			if !ok {
				return 0, ResultNoField, fmt.Errorf("no %q in %q", key, field)
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(key)
			if err != nil || i < 0 || i >= len(node) {
				return 0, ResultNoField, fmt.Errorf("no index %q (of %d) in %q", key, len(node), field)
			}
			cur = node[i]
		default:
			return 0, ResultNoField, fmt.Errorf("%q of %q is not an object or array", key, field)
		}
	}
	var text string
	switch n := cur.(type) {
	case json.Number:
		text = n.String()
	case string:
		text = strings.TrimSpace(n)
	default:
		return 0, ResultNotANumber, fmt.Errorf("%q is %T, not a number", field, cur)
	}
	if len(text) > 64 {
		return 0, ResultNotANumber, fmt.Errorf("%q: a %d-byte number", field, len(text))
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return 0, ResultNotANumber, fmt.Errorf("%q: %w", field, err)
	}
	return f, ResultOK, nil
}

// current is the value served for name: the fetched number while it is younger than max_age,
// else the constant.
func (s *Source) current(name string, v *Value) (float64, bool, time.Time) {
	s.mu.Lock()
	r, ok := s.got[name]
	s.mu.Unlock()
	if ok && s.now().Sub(r.at) <= time.Duration(s.cfg.MaxAge) {
		return r.v, true, r.at
	}
	return v.Value, false, r.at
}

var (
	hashpriceDesc = prometheus.NewDesc("price_hashprice_per_terahash_day",
		"What one TH/s earns in a day (currency per TH/s per day): fetched, derived from the coin, or the constant.", []string{"currency"}, nil)
	coinDesc = prometheus.NewDesc("price_coin",
		"The coin's price (currency per coin), when the hashprice is derived from it.", []string{"currency"}, nil)
	difficultyDesc = prometheus.NewDesc("price_network_difficulty",
		"The coin's network difficulty, when the hashprice is derived from the coin.", nil, nil)
	rewardDesc = prometheus.NewDesc("price_block_reward_coins",
		"Coins per block, fees included (configured), when the hashprice is derived from the coin.", nil, nil)
	tariffDesc = prometheus.NewDesc("price_electricity_per_kwh",
		"Electricity tariff (currency per kWh); site empty for every site not configured on its own.", []string{"currency", "site"}, nil)
	purchaseDesc = prometheus.NewDesc("price_miner_purchase",
		"What one miner of the model cost (currency), by cgminer_info's model.", []string{"currency", "model"}, nil)
	fetchedDesc = prometheus.NewDesc("price_value_fetched",
		"1 while the value served comes from its URL (fetched within max_age), 0 while it is the configured constant.", []string{"value"}, nil)
	lastSuccessDesc = prometheus.NewDesc("price_source_last_success_timestamp_seconds",
		"When the value's URL last gave a usable number.", []string{"value"}, nil)
)

// Describe implements prometheus.Collector.
func (s *Source) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{hashpriceDesc, coinDesc, difficultyDesc, rewardDesc, tariffDesc, purchaseDesc, fetchedDesc, lastSuccessDesc} {
		ch <- d
	}
	s.fetches.Describe(ch)
}

// hashesPerTHDay is 86400 s × 10¹² H/s: a TH/s's hashes in a day.
const hashesPerTHDay = 86400 * 1e12

// Collect implements prometheus.Collector.
func (s *Source) Collect(ch chan<- prometheus.Metric) {
	cur := s.cfg.Currency
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for name, v := range s.values() {
		n, fetched, at := s.current(name, v)
		gauge(fetchedDesc, b2f(fetched), name)
		if !at.IsZero() {
			gauge(lastSuccessDesc, float64(at.UnixMilli())/1000, name)
		}
		switch name {
		case "hashprice":
			gauge(hashpriceDesc, n, cur)
		case "coin":
			gauge(coinDesc, n, cur)
		case "network_difficulty":
			gauge(difficultyDesc, n)
		}
	}
	if c := s.cfg.Coin; c != nil {
		price, _, _ := s.current("coin", c.Price)
		diff, _, _ := s.current("network_difficulty", c.NetworkDifficulty)
		gauge(rewardDesc, c.BlockReward)
		// One hash earns reward / (difficulty × 2³²) coins.
		gauge(hashpriceDesc, price*c.BlockReward*hashesPerTHDay/(diff*4294967296), cur)
	}
	gauge(tariffDesc, *s.cfg.Electricity.Default, cur, "")
	for site, v := range s.cfg.Electricity.Sites {
		gauge(tariffDesc, v, cur, site)
	}
	for model, v := range s.cfg.PurchasePrices {
		gauge(purchaseDesc, v, cur, model)
	}
	s.fetches.Collect(ch)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
