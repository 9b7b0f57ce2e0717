package dialect

import (
	"regexp"

	"github.com/minefarm/cgminer-stack/exporter/miner"
)

// Expect is what a module says a healthy miner has. Set values override the model table.
type Expect struct {
	Boards        int
	ChipsPerBoard int
	Fans          int
	Nominal       float64 // H/s
	Pools         []PoolPattern
	// FeePools are the firmware fee pools the config knows; nil keeps Read's DefaultFeePools.
	FeePools FeePools
}

// PoolPattern matches a pool the operator configured. A nil pattern matches anything; patterns
// match the whole string.
type PoolPattern struct {
	URL  *regexp.Regexp
	User *regexp.Regexp
}

func (p PoolPattern) matches(pool miner.Pool) bool {
	return (p.URL == nil || p.URL.MatchString(pool.URL)) && (p.User == nil || p.User.MatchString(pool.User))
}

// Apply writes the expectations into a snapshot: counts, nominal hashrate, which pools are the
// firmware's fee pools, and for every pool whether it is expected: one the module expects, or
// a fee pool of the miner's firmware (which only its firmware and endpoint make it, never its name).
func (e Expect) Apply(s *miner.Snapshot) {
	if e.Boards > 0 {
		s.BoardsExpected = miner.Some(float64(e.Boards))
		for len(s.Boards) < e.Boards {
			s.Boards = append(s.Boards, miner.Board{Index: len(s.Boards)})
		}
	}
	if e.Fans > 0 {
		s.FansExpected = miner.Some(float64(e.Fans))
	}
	if e.Nominal > 0 {
		s.HashrateNominal = miner.Some(e.Nominal)
	}
	if e.ChipsPerBoard > 0 {
		for i := range s.Boards {
			s.Boards[i].ChipsExpected = miner.Some(float64(e.ChipsPerBoard))
		}
	}
	if e.Nominal > 0 {
		// The module's rating replaces the firmware's per-board ideal too.
		for i := range s.Boards {
			s.Boards[i].HashrateNominal = miner.F{}
		}
		fillBoardNominal(s)
	}
	if e.FeePools != nil {
		e.FeePools.Mark(s)
	}
	if len(e.Pools) == 0 {
		return
	}
	for i := range s.Pools {
		p := &s.Pools[i]
		p.Expected = boolF(p.DevFee || e.expects(*p))
	}
}

// expects reports whether one of the module's pool patterns matches the pool.
func (e Expect) expects(p miner.Pool) bool {
	if p.Cut {
		return false // the part cut off could name any pool
	}
	for _, pat := range e.Pools {
		if pat.matches(p) {
			return true
		}
	}
	return false
}
