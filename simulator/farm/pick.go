package farm

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sort"
)

// Selector chooses miners for an outage drill (the control API's /faults): every miner in
// Range, of Model, or listed in Miners (the criteria given must all hold), then, when Count is
// set, that many of them in an order fixed by the seed, so the same selector picks the same
// miners again (set with POST, clear with DELETE).
type Selector struct {
	Range  netip.Prefix // zero: any address
	Model  string       // "": any model
	Miners []netip.Addr // empty: any miner
	Count  int          // 0: all that match
}

// pickSalt fixes the order Count picks in (scenario selections use their own salts).
const pickSalt = 0x70696b

// Pick returns the miners the selector chooses, in address order. It fails on a selector that
// names nothing (no criterion at all), a model or miner the farm does not have, a range outside
// the farm's, a count above what matches, or a selection that is empty.
func (f *Farm) Pick(sel Selector) ([]*Miner, error) {
	if !sel.Range.IsValid() && sel.Model == "" && len(sel.Miners) == 0 && sel.Count == 0 {
		return nil, errors.New("select miners with range, model, miners or count")
	}
	if sel.Count < 0 {
		return nil, fmt.Errorf("count %d must be at least 1", sel.Count)
	}
	if sel.Count > len(f.miners) {
		return nil, fmt.Errorf("count %d is more than the farm's %d miners", sel.Count, len(f.miners))
	}
	if len(sel.Miners) > len(f.miners) {
		return nil, fmt.Errorf("%d miners listed, the farm has %d", len(sel.Miners), len(f.miners))
	}
	if sel.Range.IsValid() {
		sel.Range = sel.Range.Masked()
		if !sel.Range.Addr().Is4() || !f.cfg.Range.Overlaps(sel.Range) {
			return nil, fmt.Errorf("range %s is outside the farm's %s", sel.Range, f.cfg.Range)
		}
	}
	if sel.Model != "" {
		if _, ok := LookupModel(sel.Model); !ok {
			return nil, fmt.Errorf("unknown model %q (known: %v)", sel.Model, ModelKeys())
		}
	}
	var listed map[netip.Addr]bool
	if len(sel.Miners) > 0 {
		listed = make(map[netip.Addr]bool, len(sel.Miners))
		for _, a := range sel.Miners {
			if _, ok := f.byAddr[a]; !ok {
				return nil, fmt.Errorf("no miner at %s (range %s)", a, f.cfg.Range)
			}
			listed[a] = true
		}
	}
	var pool []*Miner
	for _, m := range f.miners {
		if sel.Range.IsValid() && !sel.Range.Contains(m.addr) {
			continue
		}
		if sel.Model != "" && m.model.Key != sel.Model {
			continue
		}
		if listed != nil && !listed[m.addr] {
			continue
		}
		pool = append(pool, m)
	}
	if len(pool) == 0 {
		return nil, errors.New("the selector matches no miner")
	}
	if sel.Count == 0 {
		return pool, nil
	}
	if sel.Count > len(pool) {
		return nil, fmt.Errorf("count %d, but only %d miners match", sel.Count, len(pool))
	}
	rng := rand.New(rand.NewPCG(f.cfg.Seed, pickSalt))
	rng.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
	out := pool[:sel.Count]
	sort.Slice(out, func(i, j int) bool { return out[i].index < out[j].index })
	return out, nil
}
