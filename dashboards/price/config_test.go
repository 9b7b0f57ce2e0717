package price

import (
	"path/filepath"
	"strings"
	"testing"
)

// The configuration docker-compose.yml mounts loads.
func TestShippedConfig(t *testing.T) {
	c, err := Load(filepath.Join("..", "price.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Hashprice == nil || c.Hashprice.URL != "" {
		t.Errorf("the shipped config must work offline (a constant hashprice, no URL): %+v", c.Hashprice)
	}
	if len(c.PurchasePrices) == 0 {
		t.Error("no purchase prices: the payback panel would be empty")
	}
}

func TestParseErrors(t *testing.T) {
	const tariff = "electricity: {default: 0.06}\n"
	tests := []struct {
		name, yml, want string
	}{
		{"unknown key", "hashprise: {value: 1}\n" + tariff, "field hashprise not found"},
		{"neither", tariff, "neither hashprice nor coin"},
		{"both", "hashprice: {value: 0.05}\ncoin: {price: {value: 1}, network_difficulty: {value: 1}, block_reward: 1}\n" + tariff, "give one"},
		{"no tariff", "hashprice: {value: 0.05}\n", "electricity.default"},
		{"negative tariff", "hashprice: {value: 0.05}\nelectricity: {default: -1}\n", "electricity.default"},
		{"site tariff absurd", "hashprice: {value: 0.05}\nelectricity: {default: 0.1, sites: {a: 1000}}\n", `sites["a"]`},
		{"zero hashprice", "hashprice: {value: 0}\n" + tariff, "the constant must be"},
		{"NaN hashprice", "hashprice: {value: .nan}\n" + tariff, "the constant must be"},
		{"coin without difficulty", "coin: {price: {value: 1}, block_reward: 3}\n" + tariff, "price and network_difficulty"},
		{"coin without reward", "coin: {price: {value: 1}, network_difficulty: {value: 1}}\n" + tariff, "block_reward"},
		{"field without url", "hashprice: {value: 0.05, field: x}\n" + tariff, "need a url"},
		{"ftp url", "hashprice: {value: 0.05, url: 'ftp://x/y', field: x}\n" + tariff, "http(s) URL"},
		{"user in url", "hashprice: {value: 0.05, url: 'https://u:p@x/y', field: x}\n" + tariff, "no user info"},
		{"no field", "hashprice: {value: 0.05, url: 'https://x/y'}\n" + tariff, "field"},
		{"deep field", "hashprice: {value: 0.05, url: 'https://x/y', field: " + strings.Repeat("a.", 16) + "a}\n" + tariff, "field"},
		{"timeout", "hashprice: {value: 0.05, url: 'https://x/y', field: x, timeout: 5m}\n" + tariff, "timeout"},
		{"max_bytes", "hashprice: {value: 0.05, url: 'https://x/y', field: x, max_bytes: 10485760}\n" + tariff, "max_bytes"},
		{"missing token file", "hashprice: {value: 0.05, url: 'https://x/y', field: x, bearer_token_file: /nonexistent/t}\n" + tariff, "bearer_token_file"},
		{"refresh too fast", "refresh: 10s\nhashprice: {value: 0.05}\n" + tariff, "refresh"},
		{"max_age under refresh", "refresh: 1h\nmax_age: 10m\nhashprice: {value: 0.05}\n" + tariff, "max_age"},
		{"currency", "currency: 'US Dollar'\nhashprice: {value: 0.05}\n" + tariff, "currency"},
		{"purchase price", "hashprice: {value: 0.05}\npurchase_prices: {S9: -5}\n" + tariff, "purchase_prices"},
		{"model name", "hashprice: {value: 0.05}\npurchase_prices: {'" + strings.Repeat("m", 200) + "': 5}\n" + tariff, "1 to 128 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	c := mustParse(t, "hashprice: {value: 0.05, url: 'https://x/y', field: a.b}\nelectricity: {default: 0}\n")
	if c.Currency != "USD" || c.Refresh.String() != "10m0s" || c.MaxAge.String() != "6h0m0s" ||
		c.Hashprice.Timeout.String() != "10s" || c.Hashprice.MaxBytes != 64<<10 {
		t.Errorf("defaults: %+v %+v", c, c.Hashprice)
	}
}
