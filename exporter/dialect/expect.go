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

// Apply writes the expectations into a snapshot: counts, nominal hashrate, and for every pool
// that is not a firmware fee pool whether it is one the operator expects.
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
	if len(e.Pools) == 0 {
		return
	}
	for i := range s.Pools {
		p := &s.Pools[i]
		if p.DevFee {
			continue
		}
		ok := false
		for _, pat := range e.Pools {
			if pat.matches(*p) {
				ok = true
				break
			}
		}
		p.Expected = boolF(ok)
	}
}
