// Package price is the price source of the economics dashboard: the hashprice (what a TH/s earns
// in a day) or a coin price from a configured URL, the electricity tariff per site and the
// purchase price of each miner model from its configuration, served as Prometheus metrics so the
// dashboards compute revenue, cost and payback in PromQL. Every value has a configured constant,
// which is what it serves while the URL is unset, unreachable or its answer is older than max_age,
// so the dashboards work offline.
package price

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"os"
	"regexp"
	"time"

	"go.yaml.in/yaml/v3"
)

// Secret is a string that never shows itself in logs or marshalled config.
type Secret string

const redacted = "<secret>"

func (s Secret) String() string                { return redacted }
func (s Secret) GoString() string              { return redacted }
func (s Secret) LogValue() slog.Value          { return slog.StringValue(redacted) }
func (s Secret) MarshalYAML() (any, error)     { return redacted, nil }
func (s Secret) MarshalText() ([]byte, error)  { return []byte(redacted), nil }
func (s Secret) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(redacted)) }

// Reveal returns the secret itself, for the one place that sends it.
func (s Secret) Reveal() string { return string(s) }

// Config is the whole file (dashboards/price.yml).
type Config struct {
	// Currency labels every price ("USD").
	Currency string `yaml:"currency"`
	// Refresh is how often the URLs are asked (default 10m, 1m to 24h).
	Refresh Duration `yaml:"refresh"`
	// MaxAge is how long a fetched value is served after the last successful fetch (default 6h);
	// after that the constant is served again.
	MaxAge Duration `yaml:"max_age"`
	// Hashprice (currency per TH/s per day), or Coin to derive it from the coin's price: exactly one.
	Hashprice *Value `yaml:"hashprice"`
	Coin      *Coin  `yaml:"coin"`
	// Electricity is the tariff in currency per kWh.
	Electricity Electricity `yaml:"electricity"`
	// PurchasePrices is what one miner of each model cost (currency), by cgminer_info's model.
	PurchasePrices map[string]float64 `yaml:"purchase_prices"`
}

// Coin turns a coin price into a hashprice: price × block_reward × 86400 × 10¹² / (difficulty × 2³²).
type Coin struct {
	Price             *Value  `yaml:"price"`
	NetworkDifficulty *Value  `yaml:"network_difficulty"`
	BlockReward       float64 `yaml:"block_reward"` // coins per block, fees included
}

// Electricity is the tariff: Default for every site, Sites for those that differ.
type Electricity struct {
	Default *float64           `yaml:"default"`
	Sites   map[string]float64 `yaml:"sites"`
}

// Value is a constant, optionally replaced by a number read from a URL's JSON answer.
type Value struct {
	// Value is served while URL is unset or has not answered within max_age.
	Value float64 `yaml:"value"`
	// URL is asked with GET; the answer must be JSON (at most MaxBytes).
	URL string `yaml:"url"`
	// Field is the dotted path to the number in the answer: "data.hashprice", "0.price" (array
	// indexes as numbers); the number may be a JSON number or a string holding one.
	Field string `yaml:"field"`
	// BearerTokenFile holds a token sent as "Authorization: Bearer …".
	BearerTokenFile string `yaml:"bearer_token_file"`
	// Timeout of one request (default 10s, at most 1m).
	Timeout Duration `yaml:"timeout"`
	// MaxBytes an answer may have (default 64 KiB, at most 1 MiB).
	MaxBytes int64 `yaml:"max_bytes"`
}

// Bounds of what a value may be: beyond them a configured constant is refused and a fetched
// number is "implausible" (and the constant served instead).
var bounds = map[string][2]float64{
	"hashprice":          {0, 1e4},  // currency per TH/s per day; BTC's has stayed under 5 USD
	"coin":               {0, 1e9},  // currency per coin
	"network_difficulty": {0, 1e20}, // Bitcoin's was 1.3e14 in 2025
	"electricity":        {0, 100},  // currency per kWh, 0 allowed (own power)
	"purchase":           {0, 1e8},  // currency per miner
	"block_reward":       {0, 1e6},  // coins per block
}

// plausible reports whether v is finite and within kind's bounds (exclusive below, except for the
// tariff, which may be 0).
func plausible(kind string, v float64) bool {
	b := bounds[kind]
	if math.IsNaN(v) || math.IsInf(v, 0) || v > b[1] {
		return false
	}
	if kind == "electricity" {
		return v >= b[0]
	}
	return v > b[0]
}

// Duration is a time.Duration written as "10m" in YAML.
type Duration time.Duration

// UnmarshalYAML reads a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalYAML writes it back as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

var (
	currencyRe = regexp.MustCompile(`^[A-Za-z0-9._-]{1,16}$`)
	fieldRe    = regexp.MustCompile(`^[A-Za-z0-9_$@-]+(\.[A-Za-z0-9_$@-]+){0,15}$`)
)

// Limits on what the file may hold: every model and site becomes a series.
const (
	maxSites      = 1000
	maxModels     = 1000
	maxLabelBytes = 128
)

// Load reads and checks a config file; unknown keys are errors.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Parse is Load on the file's bytes. Token files are read here too, so a missing one fails at start.
func Parse(data []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, err
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *Config) check() error {
	if c.Currency == "" {
		c.Currency = "USD"
	}
	if !currencyRe.MatchString(c.Currency) {
		return fmt.Errorf("currency %q: 1-16 of A-Z a-z 0-9 . _ -", c.Currency)
	}
	if c.Refresh == 0 {
		c.Refresh = Duration(10 * time.Minute)
	}
	if c.Refresh < Duration(time.Minute) || c.Refresh > Duration(24*time.Hour) {
		return fmt.Errorf("refresh %s: 1m to 24h (the URLs are somebody else's API)", time.Duration(c.Refresh))
	}
	if c.MaxAge == 0 {
		c.MaxAge = Duration(6 * time.Hour)
	}
	if c.MaxAge < c.Refresh || c.MaxAge > Duration(30*24*time.Hour) {
		return fmt.Errorf("max_age %s: from refresh to 30 days", time.Duration(c.MaxAge))
	}
	switch {
	case c.Hashprice != nil && c.Coin != nil:
		return errors.New("hashprice and coin: give one (coin derives the hashprice)")
	case c.Hashprice == nil && c.Coin == nil:
		return errors.New("neither hashprice nor coin: give one, at least its constant value")
	case c.Hashprice != nil:
		if err := c.Hashprice.check("hashprice"); err != nil {
			return fmt.Errorf("hashprice: %w", err)
		}
	default:
		if c.Coin.Price == nil || c.Coin.NetworkDifficulty == nil {
			return errors.New("coin: price and network_difficulty are both needed")
		}
		if err := c.Coin.Price.check("coin"); err != nil {
			return fmt.Errorf("coin.price: %w", err)
		}
		if err := c.Coin.NetworkDifficulty.check("network_difficulty"); err != nil {
			return fmt.Errorf("coin.network_difficulty: %w", err)
		}
		if !plausible("block_reward", c.Coin.BlockReward) {
			return fmt.Errorf("coin.block_reward %g: more than 0, at most %g", c.Coin.BlockReward, bounds["block_reward"][1])
		}
	}
	if c.Electricity.Default == nil {
		return errors.New("electricity.default: the tariff of every site not listed under sites (currency per kWh)")
	}
	if !plausible("electricity", *c.Electricity.Default) {
		return fmt.Errorf("electricity.default %g: 0 to %g per kWh", *c.Electricity.Default, bounds["electricity"][1])
	}
	if len(c.Electricity.Sites) > maxSites {
		return fmt.Errorf("electricity.sites: %d sites, at most %d", len(c.Electricity.Sites), maxSites)
	}
	for site, v := range c.Electricity.Sites {
		if err := label("electricity.sites", site); err != nil {
			return err
		}
		if !plausible("electricity", v) {
			return fmt.Errorf("electricity.sites[%q] %g: 0 to %g per kWh", site, v, bounds["electricity"][1])
		}
	}
	if len(c.PurchasePrices) > maxModels {
		return fmt.Errorf("purchase_prices: %d models, at most %d", len(c.PurchasePrices), maxModels)
	}
	for model, v := range c.PurchasePrices {
		if err := label("purchase_prices", model); err != nil {
			return err
		}
		if !plausible("purchase", v) {
			return fmt.Errorf("purchase_prices[%q] %g: more than 0, at most %g", model, v, bounds["purchase"][1])
		}
	}
	return nil
}

func label(where, v string) error {
	if v == "" || len(v) > maxLabelBytes {
		return fmt.Errorf("%s: name %q: 1 to %d bytes", where, v, maxLabelBytes)
	}
	return nil
}

func (v *Value) check(kind string) error {
	if !plausible(kind, v.Value) {
		return fmt.Errorf("value %g: the constant must be more than %g and at most %g", v.Value, bounds[kind][0], bounds[kind][1])
	}
	if v.URL == "" {
		if v.Field != "" || v.BearerTokenFile != "" || v.Timeout != 0 || v.MaxBytes != 0 {
			return errors.New("field, bearer_token_file, timeout and max_bytes need a url")
		}
		return nil
	}
	u, err := url.Parse(v.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return fmt.Errorf("url %q: an http(s) URL with a host and no user info (use bearer_token_file)", v.URL)
	}
	if !fieldRe.MatchString(v.Field) {
		return fmt.Errorf("field %q: a dotted path of at most 16 keys or indexes (data.hashprice)", v.Field)
	}
	if v.Timeout == 0 {
		v.Timeout = Duration(10 * time.Second)
	}
	if v.Timeout < Duration(100*time.Millisecond) || v.Timeout > Duration(time.Minute) {
		return fmt.Errorf("timeout %s: 100ms to 1m", time.Duration(v.Timeout))
	}
	if v.MaxBytes == 0 {
		v.MaxBytes = 64 << 10
	}
	if v.MaxBytes < 16 || v.MaxBytes > 1<<20 {
		return fmt.Errorf("max_bytes %d: 16 to 1048576", v.MaxBytes)
	}
	if v.BearerTokenFile != "" {
		if _, err := v.bearerToken(); err != nil {
			return err
		}
	}
	return nil
}

// bearerToken reads the token file (at each request, so a rotated token is picked up).
func (v *Value) bearerToken() (Secret, error) {
	b, err := os.ReadFile(v.BearerTokenFile)
	if err != nil {
		return "", fmt.Errorf("bearer_token_file: %w", err)
	}
	if len(b) > 4096 {
		return "", fmt.Errorf("bearer_token_file %s: over 4 KiB", v.BearerTokenFile)
	}
	return Secret(bytes.TrimSpace(b)), nil
}
