package config

import (
	"strings"
	"testing"

	"github.com/minefarm/cgminer-stack/exporter/miner"
)

func TestFeePoolsErrors(t *testing.T) {
	for name, yml := range map[string]string{
		"unknown firmware":  "fee_pools: {vnsih: {share: 0.03, endpoints: [{url: DevFee}]}}",
		"no share":          "fee_pools: {vnish: {endpoints: [{url: DevFee}]}}",
		"share in percent":  "fee_pools: {vnish: {share: 3, endpoints: [{url: DevFee}]}}",
		"negative share":    "fee_pools: {vnish: {share: -0.01, endpoints: [{url: DevFee}]}}",
		"nan share":         "fee_pools: {vnish: {share: .nan, endpoints: [{url: DevFee}]}}",
		"host without port": "fee_pools: {hiveon: {share: 0.02, endpoints: [{url: fee.example.com}]}}",
		"credentials":       "fee_pools: {hiveon: {share: 0.02, endpoints: [{url: 'stratum+tcp://a@fee.example.com:3333'}]}}",
		"path":              "fee_pools: {hiveon: {share: 0.02, endpoints: [{url: 'fee.example.com:3333/x'}]}}",
		"bad port":          "fee_pools: {hiveon: {share: 0.02, endpoints: [{url: 'fee.example.com:0'}]}}",
		"empty url":         "fee_pools: {hiveon: {share: 0.02, endpoints: [{user: x}]}}",
		"bad user regexp":   "fee_pools: {hiveon: {share: 0.02, endpoints: [{url: 'fee.example.com:3333', user: '('}]}}",
		"unknown key":       "fee_pools: {hiveon: {share: 0.02, endpoint: []}}",
		"too many":          "fee_pools: {hiveon: {share: 0.02, endpoints: [" + strings.Repeat("{url: 'a.example:1'},", 65) + "]}}",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse([]byte(yml)); err == nil {
				t.Errorf("accepted: %s", yml)
			}
		})
	}
}

// TestFeePools: the defaults without configuration, an entry replacing a default, a new
// firmware, a default dropped with null; every module gets them, and GET /config shows what
// is in force and reads back the same.
func TestFeePools(t *testing.T) {
	pool := func(url, user string) miner.Pool { return miner.Pool{URL: url, User: user} }
	vnishFee := pool("DevFee", "DevFee")
	hiveonFee := pool("stratum+tcp://fee.hiveon.example:4444", "hiveon.fee")
	rwglrFee := pool("*", "*")
	for _, tc := range []struct {
		name string
		yml  string
		want map[string][]miner.Pool // firmware → the pools it recognises (of the three above)
		drop map[string][]miner.Pool // firmware → pools it must not recognise
	}{
		{"defaults", "", map[string][]miner.Pool{"vnish": {vnishFee}, "custom": {rwglrFee}},
			map[string][]miner.Pool{"hiveon": {hiveonFee, vnishFee}, "stock": {vnishFee, rwglrFee}}},
		{"replace and add", `
fee_pools:
  vnish: {share: 0.018, endpoints: [{url: DevFee, user: DevFee}, {url: 'vnish-fee.example:3333'}]}
  hiveon: {share: 0.02, endpoints: [{url: 'stratum+tcp://fee.hiveon.example:4444', user: 'hiveon\.fee'}]}
`, map[string][]miner.Pool{"vnish": {vnishFee, pool("stratum+ssl://vnish-fee.example:3333", "anyone")}, "hiveon": {hiveonFee}, "custom": {rwglrFee}},
			map[string][]miner.Pool{"hiveon": {pool("stratum+tcp://fee.hiveon.example:4444", "thief")}}},
		{"drop", "fee_pools: {vnish: ~, custom: {share: 0.03, endpoints: []}}", nil,
			map[string][]miner.Pool{"vnish": {vnishFee}, "custom": {rwglrFee}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.yml + "\nmodules: {m: {}}"))
			if err != nil {
				t.Fatal(err)
			}
			check := func(c *Config) {
				t.Helper()
				for _, name := range []string{DefaultModule, "m"} {
					fees := c.Modules[name].Expectations().FeePools
					if fees == nil {
						t.Fatalf("module %s: no fee pools", name)
					}
					for fw, ps := range tc.want {
						for _, p := range ps {
							if !fees.Recognises(fw, p) {
								t.Errorf("module %s, %s: %s as %s not recognised", name, fw, p.URL, p.User)
							}
						}
					}
					for fw, ps := range tc.drop {
						for _, p := range ps {
							if fees.Recognises(fw, p) {
								t.Errorf("module %s, %s: %s as %s recognised", name, fw, p.URL, p.User)
							}
						}
					}
				}
			}
			check(c)
			out, err := Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(out), "fee_pools:") {
				t.Errorf("GET /config does not show fee_pools:\n%s", out)
			}
			again, err := Parse(out)
			if err != nil {
				t.Fatalf("GET /config output does not parse: %v\n%s", err, out)
			}
			check(again)
		})
	}
	c, _ := Parse([]byte("fee_pools: {vnish: {share: 0.018, endpoints: [{url: DevFee, user: DevFee}]}}"))
	if got := *c.FeePools["vnish"].Share; got != 0.018 {
		t.Errorf("vnish share %v", got)
	}
	if got := *c.FeePools["blissz"].Share; got != 0.03 {
		t.Errorf("default blissz share %v not shown", got)
	}
}
