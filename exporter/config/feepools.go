package config

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/minefarm/cgminer-stack/exporter/dialect"
)

// FeePool is the top-level `fee_pools:` entry of one firmware: the share of the miner's work its
// developer fee may take and the endpoints the firmware mines that fee on. A pool is a fee pool
// only when the miner runs that firmware and the pool's URL (and worker, where given) is one of
// these endpoints; its name or priority never makes it one.
//
//	fee_pools:
//	  vnish:
//	    share: 0.03
//	    endpoints:
//	      - url: DevFee            # the placeholder VNish lists instead of its real endpoint
//	        user: DevFee           # anchored regular expression; empty: any worker
//	  hiveon: ~                    # no fee pools (drops a default entry)
//
// An entry replaces the default entry of its firmware (dialect.DefaultFeePools); firmware not
// listed keeps its default.
type FeePool struct {
	// Share is a fraction (0.03 = 3 %), 0 to dialect.MaxFeeShare.
	Share     *float64      `yaml:"share"`
	Endpoints []FeeEndpoint `yaml:"endpoints"`
}

// FeeEndpoint is "host:port" (a scheme is allowed) or the placeholder the firmware lists.
type FeeEndpoint struct {
	URL  string `yaml:"url"`
	User string `yaml:"user,omitempty"`
}

// setFeePools validates the fee_pools block, fills in the defaults for the firmware it does not
// name (so GET /config shows what is in force), and hands the result to every module.
func (c *Config) setFeePools() error {
	if len(c.FeePools) > dialect.MaxFeeFirmwares {
		return fmt.Errorf("fee_pools: %d firmware, at most %d", len(c.FeePools), dialect.MaxFeeFirmwares)
	}
	fees := dialect.DefaultFeePools()
	names := make([]string, 0, len(c.FeePools))
	for fw := range c.FeePools {
		names = append(names, fw)
	}
	sort.Strings(names)
	for _, fw := range names {
		if !slices.Contains(dialect.Firmwares, fw) {
			return fmt.Errorf("fee_pools: unknown firmware %q (one of %v)", fw, dialect.Firmwares)
		}
		fp := c.FeePools[fw]
		if fp == nil {
			delete(fees, fw)
			continue
		}
		if fp.Share == nil || math.IsNaN(*fp.Share) || *fp.Share < 0 || *fp.Share > dialect.MaxFeeShare {
			return fmt.Errorf("fee_pools: %s: share must be set, from 0 to %g (a fraction: 0.03 is 3 %%)", fw, dialect.MaxFeeShare)
		}
		if len(fp.Endpoints) > dialect.MaxFeeEndpoints {
			return fmt.Errorf("fee_pools: %s: %d endpoints, at most %d", fw, len(fp.Endpoints), dialect.MaxFeeEndpoints)
		}
		d := dialect.FeePool{Share: *fp.Share}
		for i, e := range fp.Endpoints {
			de, err := dialect.NewFeeEndpoint(e.URL, e.User)
			if err != nil {
				return fmt.Errorf("fee_pools: %s: endpoint %d: %w", fw, i, err)
			}
			d.Endpoints = append(d.Endpoints, de)
		}
		fees[fw] = d
	}
	// What is in force, for GET /config: the defaults too, and a dropped one as null.
	shown := make(map[string]*FeePool, len(fees)+len(c.FeePools))
	for fw, fp := range c.FeePools {
		if fp == nil {
			shown[fw] = nil
		}
	}
	for fw, d := range fees {
		share := d.Share
		fp := &FeePool{Share: &share, Endpoints: []FeeEndpoint{}}
		for _, e := range d.Endpoints {
			fp.Endpoints = append(fp.Endpoints, FeeEndpoint{URL: e.URL, User: e.User})
		}
		shown[fw] = fp
	}
	c.FeePools = shown
	for _, m := range c.Modules {
		m.Expect.fees = fees
	}
	return nil
}
